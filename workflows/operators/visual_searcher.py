"""``visual-searcher``: each input's nearest stored inputs by cosine similarity (exact).

The candidates are an index the caller puts in the run's context under a name (``index``
param: ``project`` for this project's inputs, another name for another project the user
can see). Queries are compared with every candidate in chunks, so memory stays bounded; the
k best at or above ``min_similarity`` are kept, best first (ties by candidate order).
"""

from dataclasses import dataclass

import numpy as np

from workflows.params import Param
from workflows.ports import Matches, PortType
from workflows.spec import NodeKind, Port

CHUNK_CELLS = 4_000_000  # similarities computed at once (32 MB of float64)


@dataclass(frozen=True, eq=False)
class SearchIndex:
    ids: np.ndarray  # (M,)
    vectors: np.ndarray  # (M, D)


def _unit(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float64)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return np.divide(vectors, norms, out=np.zeros_like(vectors), where=norms > 0)


def nearest(queries: np.ndarray, index: SearchIndex, *, k: int, min_similarity: float) -> Matches:
    queries = _unit(queries)
    candidates = _unit(index.vectors)
    n, m = len(queries), len(candidates)
    k_eff = min(k, m)
    ids = np.full((n, k), -1, dtype=np.asarray(index.ids).dtype if m else np.int64)
    similarity = np.full((n, k), np.nan)
    counts = np.zeros(n, dtype=np.int64)
    if k_eff == 0 or n == 0:
        return Matches(ids, similarity, counts)
    step = max(1, CHUNK_CELLS // max(m, 1))
    for start in range(0, n, step):
        sims = queries[start : start + step] @ candidates.T
        top = np.argpartition(-sims, k_eff - 1, axis=1)[:, :k_eff]
        top_sims = np.take_along_axis(sims, top, axis=1)
        order = np.lexsort((top, -top_sims), axis=1)  # best first, then candidate order
        top = np.take_along_axis(top, order, axis=1)
        top_sims = np.take_along_axis(top_sims, order, axis=1)
        ok = top_sims >= min_similarity
        rows = slice(start, start + len(sims))
        ids[rows, :k_eff] = np.where(ok, np.asarray(index.ids)[top], ids[rows, :k_eff])
        similarity[rows, :k_eff] = np.where(ok, top_sims, np.nan)
        counts[rows] = ok.sum(axis=1)
    return Matches(ids, similarity, counts)


def _run(inputs, params, node_id, context) -> dict:
    index = context.indexes.get(params["index"])
    if index is None:
        raise ValueError(f"no search index {params['index']!r} was given to this run")
    matches = nearest(
        inputs["embedding"], index, k=params["k"], min_similarity=params["min_similarity"]
    )
    return {"matches": matches}


KIND = NodeKind(
    name="visual-searcher",
    title="Visual searcher",
    inputs=(Port("embedding", PortType.EMBEDDING, "The inputs' vectors."),),
    outputs=(Port("matches", PortType.MATCHES, "Nearest stored inputs, best first."),),
    params=(
        Param("k", int, 10, "How many neighbours per input.", 1, 1000),
        Param("min_similarity", float, 0.5, "Least cosine similarity of a match.", -1.0, 1.0),
        Param("index", str, "project", "Which stored inputs: this project's, or another's."),
    ),
    run=_run,
)
