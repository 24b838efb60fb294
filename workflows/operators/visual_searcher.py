"""``visual-searcher``: each input's nearest stored inputs by cosine similarity.

The candidates are an index the caller puts in the run's context under a name (``index``
param: ``project`` for this project's inputs, ``project:<id>`` for another project the user
can see; the app checks that they can, on save and when a run starts). A run's indexes
are those projects' search indexes, the ones "find similar" uses
(``training.similar.ProjectSearch``: approximate above the exact-search size). A
``SearchIndex`` of given vectors is searched exactly: queries are compared with every
candidate in chunks, so memory stays bounded. Either way the k best at or above
``min_similarity`` are kept, best first (ties by candidate order).
"""

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from workflows.params import Param
from workflows.ports import Matches, PortType
from workflows.spec import NodeKind, Port

CHUNK_CELLS = 4_000_000  # similarities computed at once (32 MB of float64)


@dataclass(frozen=True, eq=False)
class SearchIndex:
    ids: np.ndarray  # (M,)
    vectors: np.ndarray  # (M, D)


class Searchable(Protocol):
    def search(self, query: np.ndarray, k: int) -> list[tuple[int, float]]:
        """(id, cosine similarity) of the k nearest, best first."""


def _searched(queries: np.ndarray, index: Searchable, k: int, min_similarity: float) -> Matches:
    ids = np.full((len(queries), k), -1, dtype=np.int64)
    similarity = np.full((len(queries), k), np.nan)
    counts = np.zeros(len(queries), dtype=np.int64)
    for row, query in enumerate(np.asarray(queries, dtype=np.float32)):
        kept = [(i, s) for i, s in index.search(query, k) if s >= min_similarity]
        counts[row] = len(kept)
        ids[row, : len(kept)] = [i for i, _ in kept]
        similarity[row, : len(kept)] = [s for _, s in kept]
    return Matches(ids, similarity, counts)


def _unit(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float64)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return np.divide(vectors, norms, out=np.zeros_like(vectors), where=norms > 0)


def nearest(
    queries: np.ndarray, index: SearchIndex | Searchable, *, k: int, min_similarity: float
) -> Matches:
    if not isinstance(index, SearchIndex):
        return _searched(queries, index, k, min_similarity)
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


THIS_PROJECT = "project"
OTHER_PROJECT = "project:"


def index_project_id(name: str) -> int | None:
    """The id of the other project an ``index`` param names (``project:<id>``); None for
    this project's own inputs or a name of neither form (``_check`` reports those)."""
    rest = name[len(OTHER_PROJECT) :] if name.startswith(OTHER_PROJECT) else ""
    return int(rest) if rest.isascii() and rest.isdigit() and int(rest) > 0 else None


def _check(params: dict) -> list[tuple[str, str]]:
    name = params["index"]
    if name == THIS_PROJECT or index_project_id(name) is not None:
        return []
    return [
        (
            "index",
            f'index must be "project" (this project\'s inputs) or "project:<id>" (another '
            f"project you can see), not {name!r}.",
        )
    ]


def _run(inputs, params, node_id, context) -> dict:
    other = index_project_id(params["index"])
    name = THIS_PROJECT if other is None else f"{OTHER_PROJECT}{other}"  # "project:07" too
    index = context.indexes.get(name)
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
        Param(
            "index",
            str,
            THIS_PROJECT,
            'Which stored inputs: "project" (this project\'s) or "project:<id>" (another '
            "project you can see).",
        ),
    ),
    run=_run,
    check=_check,
)
