"""The order in which annotators see inputs: a priority per input, higher first. Numpy only.

- ``random``: no preference (the queue's own random order).
- ``diversity``: typical points first, spread over the embedding space: k-means clusters,
  each cluster's members by distance to its centre, the clusters taken in turn.
- ``uncertainty``: margin uncertainty from the active version (1 - the smallest margin over
  the layout's units: top-1 minus top-2 probability in a group, |2p - 1| for a single),
  spread over the same clusters so that one batch does not ask about ten near-copies of one
  hard case. Before there is a model, it is the diversity order.
"""

import numpy as np

from training.ml.layout import Layout

RANDOM, DIVERSITY, UNCERTAINTY = "random", "diversity", "uncertainty"
STRATEGIES = (UNCERTAINTY, DIVERSITY, RANDOM)


def margins(probs: np.ndarray, layout: Layout) -> np.ndarray:
    """Per input, the smallest margin over the units (1 = sure of everything, 0 = a coin toss)."""
    parts = []
    for group in layout.groups:
        block = np.sort(probs[:, list(group)], axis=1)
        parts.append(block[:, -1] - (block[:, -2] if block.shape[1] > 1 else 0.0))
    if layout.singles:
        parts.append(np.abs(2 * probs[:, list(layout.singles)] - 1).min(axis=1))
    if not parts:
        return np.ones(len(probs))
    return np.min(np.stack(parts, axis=1), axis=1)


# k-means++ seeding looks at a sample this big at most: it picks k points, one after the
# other, each from the distances to all candidates, which on 100,000 x 1,280 vectors cost
# seconds per centre.
SEED_SAMPLE = 10_000


def clusters(features: np.ndarray, k: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """k-means assignments and each point's distance to its centre (a few Lloyd rounds on
    normalised vectors, k-means++ seeding)."""
    x = _normalised(features)
    n = len(x)
    k = max(1, min(k, n))
    rng = np.random.default_rng(seed)
    sample = x if n <= SEED_SAMPLE else x[rng.choice(n, SEED_SAMPLE, replace=False)]
    centre = _seed_centres(sample, k, rng)
    x_sq = _row_squares(x)
    for _ in range(10):
        assign = _squared_distances(x, x_sq, centre).argmin(axis=1)
        centre = _means(x, assign, centre)
    distances = _squared_distances(x, x_sq, centre)
    assign = distances.argmin(axis=1)
    return assign, np.sqrt(np.maximum(distances[np.arange(n), assign], 0))


def _seed_centres(x: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """k-means++: each next centre drawn with probability proportional to its squared
    distance from the nearest centre so far."""
    n = len(x)
    centres = [x[rng.integers(n)]]
    closest = ((x - centres[0]) ** 2).sum(axis=1)
    for _ in range(1, k):
        total = closest.sum()
        pick = rng.choice(n, p=closest / total) if total > 0 else rng.integers(n)
        centres.append(x[pick])
        closest = np.minimum(closest, ((x - x[pick]) ** 2).sum(axis=1))
    return np.stack(centres)


def _means(x: np.ndarray, assign: np.ndarray, centre: np.ndarray) -> np.ndarray:
    """Each cluster's mean (one matrix product, no copy per cluster); an empty cluster keeps
    its centre."""
    k = len(centre)
    members = np.zeros((k, len(x)), dtype=x.dtype)
    members[assign, np.arange(len(x))] = 1
    counts = members.sum(axis=1)
    sums = members @ x
    filled = counts > 0
    updated = centre.copy()
    updated[filled] = sums[filled] / counts[filled, None]
    return updated


def interleave(assign: np.ndarray, key: np.ndarray) -> np.ndarray:
    """Positions: within each cluster by ``key`` ascending, then the clusters in turn (the
    cluster with the best first member first). Returns each input's position (0 = first)."""
    order_in_cluster = np.empty(len(assign), dtype=np.int64)
    for c in np.unique(assign):
        members = np.flatnonzero(assign == c)
        ranked = members[np.argsort(key[members], kind="mergesort")]
        order_in_cluster[ranked] = np.arange(len(ranked))
    # round r of the cluster walk holds every cluster's r-th member, best key first
    overall = np.lexsort((key, order_in_cluster))
    position = np.empty(len(assign), dtype=np.int64)
    position[overall] = np.arange(len(assign))
    return position


def priorities(
    strategy: str,
    features: np.ndarray,
    probs: np.ndarray | None,
    layout: Layout | None,
    *,
    clusters_k: int = 20,
    seed: int = 0,
) -> np.ndarray:
    """A priority in [0, 1] per input (higher is served first)."""
    n = len(features)
    if strategy == RANDOM or n == 0:
        return np.zeros(n)
    assign, distance = clusters(features, min(clusters_k, n), seed)
    if strategy == UNCERTAINTY and probs is not None and layout is not None:
        key = margins(probs, layout)
    elif strategy in (UNCERTAINTY, DIVERSITY):
        key = distance
    else:
        raise ValueError(f"unknown strategy {strategy!r}")
    position = interleave(assign, key)
    return 1.0 - position / max(n, 1)


def _row_squares(x: np.ndarray) -> np.ndarray:
    """Each row's squared norm, without an (n, d) temporary."""
    return np.einsum("ij,ij->i", x, x)


def _normalised(features: np.ndarray) -> np.ndarray:
    x = np.asarray(features, dtype=np.float32)
    return x / np.maximum(np.sqrt(_row_squares(x)), 1e-12)[:, None]


def _squared_distances(x: np.ndarray, x_sq: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """(n, k) squared distances; ``x_sq`` is ``_row_squares(x)``, computed once by the caller."""
    return x_sq[:, None] - 2 * (x @ centres.T) + _row_squares(centres)[None, :]


def nearest(query: np.ndarray, features: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Exact cosine nearest neighbours: (indexes, similarities), most similar first."""
    if not len(features):
        return np.array([], dtype=int), np.array([])
    similarity = _normalised(features) @ _normalised(query[None, :])[0]
    k = min(k, len(features))
    top = np.argpartition(-similarity, k - 1)[:k]
    top = top[np.argsort(-similarity[top], kind="mergesort")]
    return top, similarity[top]
