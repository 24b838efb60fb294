"""Nearest neighbours by cosine similarity: exact (numpy) for small sets, an inverted-file
index (FAISS ``IVF<n>,SQfp16``) for large ones. No Django here.

How the index works, and why this one:

- Vectors are normalised, so the inner product is the cosine similarity.
- k-means splits the vectors into ``nlist`` ≈ √n lists (trained on a sample, 10
  iterations); each vector is stored, as float16 (what the portal stores anyway), in the
  list of its nearest centroid, under its own id (the input id).
- A query compares itself with the centroids, then exactly with every vector of the
  ``nprobe`` nearest lists: ~nprobe·√n vectors instead of n (32 of 1,000 lists at 1M).
- The file is read with ``IO_FLAG_MMAP_IFC``: the lists are mapped, not copied, so a web
  process holds only the centroids and the pages its queries touched (shared with every
  other process on the machine, and given back by the kernel under pressure).
- New vectors are added to their lists without retraining; ids are removed in place.
  Retrain (a full rebuild) when the set has grown far past what the centroids saw.

An HNSW graph (usearch, hnswlib) answers a little faster, but builds at a few hundred
1280-d vectors a second on two cores: hours at 1M, where this builds in minutes.
"""

import math
import os
from pathlib import Path

import numpy as np

KMEANS_ITERATIONS = 10
TRAIN_POINTS_PER_LIST = 32  # k-means sample: this many vectors per list (FAISS wants 39+)
MAX_LISTS = 4096
GROWTH_BEFORE_RETRAIN = 2.0  # rebuild once the set is this many times what was trained


def unit_rows(vectors: np.ndarray) -> np.ndarray:
    """float32 rows scaled to length 1 (zero rows stay zero)."""
    x = np.asarray(vectors, dtype=np.float32)
    if x.ndim == 1:
        x = x[None, :]
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return np.divide(x, norms, out=np.zeros_like(x), where=norms > 0)


def exact_search(
    ids: np.ndarray, vectors: np.ndarray, query: np.ndarray, k: int
) -> list[tuple[int, float]]:
    """(id, cosine similarity) of the k rows nearest to ``query``, best first, ties by row."""
    if not len(ids) or k <= 0:
        return []
    similarity = unit_rows(vectors) @ unit_rows(query)[0]
    k = min(k, len(ids))
    top = np.argpartition(-similarity, k - 1)[:k]
    top = top[np.lexsort((top, -similarity[top]))]
    return [(int(ids[i]), float(similarity[i])) for i in top]


def list_count(n: int) -> int:
    """How many lists for ``n`` vectors: about √n, at least 1."""
    return max(1, min(MAX_LISTS, round(math.sqrt(n))))


def train_size(nlist: int) -> int:
    """How many sample vectors k-means needs for ``nlist`` lists."""
    return TRAIN_POINTS_PER_LIST * nlist


def index_train(sample: np.ndarray, total: int, *, seed: int = 0):
    """An empty IVF index with ``list_count(total)`` lists trained on ``sample`` (at least
    ``train_size`` of them where the set has that many)."""
    import faiss

    x = unit_rows(sample)
    nlist = min(list_count(total), len(x))
    index = faiss.index_factory(x.shape[1], f"IVF{nlist},SQfp16", faiss.METRIC_INNER_PRODUCT)
    index.cp.niter = KMEANS_ITERATIONS
    index.cp.seed = seed
    index.cp.min_points_per_centroid = 1  # small projects: no warning, no refusal
    index.train(x)
    return index


def index_build(ids: np.ndarray, vectors: np.ndarray, *, seed: int = 0):
    """A trained IVF index holding ``vectors`` under ``ids`` (all in memory: for tests and
    small sets; the service trains on a sample and adds chunk by chunk)."""
    n = len(ids)
    rows = np.random.default_rng(seed).choice(
        n, size=min(n, train_size(list_count(n))), replace=False
    )
    index = index_train(np.asarray(vectors)[np.sort(rows)], n, seed=seed)
    index_add(index, ids, vectors)
    return index


def index_add(index, ids: np.ndarray, vectors: np.ndarray) -> None:
    """Put new vectors into their lists (the centroids stay as trained)."""
    if len(ids):
        index.add_with_ids(unit_rows(vectors), np.asarray(ids, dtype=np.int64))


def index_remove(index, ids) -> int:
    """Take these ids out; returns how many were there."""
    ids = np.asarray(list(ids), dtype=np.int64)
    return int(index.remove_ids(ids)) if len(ids) else 0


def index_write(index, path: Path) -> None:
    """Write atomically: a reader sees the old file or the new one, never half of one."""
    import faiss

    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    faiss.write_index(index, str(partial))
    os.replace(partial, path)


def index_read(path: Path, *, mapped: bool = True):
    """The index at ``path``: memory-mapped and read-only (for queries), or loaded whole to
    be changed. Raises RuntimeError on a missing or damaged file."""
    import faiss

    flags = faiss.IO_FLAG_MMAP_IFC | faiss.IO_FLAG_READ_ONLY if mapped else 0
    return faiss.read_index(str(path), flags)


def index_search(index, query: np.ndarray, k: int, *, nprobe: int) -> list[tuple[int, float]]:
    """(id, cosine similarity) of the approximate k nearest, best first."""
    if k <= 0 or index.ntotal == 0:
        return []
    import faiss

    params = faiss.SearchParametersIVF(nprobe=min(nprobe, index.nlist))
    similarity, ids = index.search(unit_rows(query), k, params=params)
    return [(int(i), float(s)) for i, s in zip(ids[0], similarity[0], strict=True) if i >= 0]


def needs_retrain(count: int, trained_for: int) -> bool:
    """Whether the lists were sized for a set much smaller than ``count``."""
    return count > GROWTH_BEFORE_RETRAIN * max(trained_for, 1) and list_count(count) > list_count(
        trained_for
    )
