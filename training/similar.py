"""Reads for "find similar": the inputs nearest to an input or to any vector.

A project with an index (training/services/search_index.py) is searched through it,
memory-mapped: a query reads the centroids and a few lists, not every vector. Embeddings
stored after the index was written are compared exactly beside it, so a new input is found
before the worker has added it. Without an index (a small project, or one whose file is
missing or damaged: logged, and a rebuild queued) the search is exact, over the project's
vectors in chunks.
"""

import logging
import threading
from dataclasses import dataclass

import numpy as np
from django.conf import settings

from training.ml import vector_index
from training.ml.features import from_stored
from training.services import search_index
from training.services.search_index import IndexRecord

logger = logging.getLogger(__name__)

_open: dict[int, tuple[str, object]] = {}  # project id -> (file name, mapped index)
_open_lock = threading.Lock()


def _mapped(project_id: int, record: IndexRecord):
    """The record's index, memory-mapped once per process (a new file replaces the old)."""
    with _open_lock:
        held = _open.get(project_id)
        if held and held[0] == record.file:
            return held[1]
        index = vector_index.index_read(search_index.index_dir() / record.file)
        _open[project_id] = (record.file, index)
        return index


def _merge(*found: list[tuple[int, float]], k: int) -> list[tuple[int, float]]:
    best: dict[int, float] = {}
    for rows in found:
        for input_id, similarity in rows:
            best[input_id] = max(similarity, best.get(input_id, -2.0))
    return sorted(best.items(), key=lambda row: (-row[1], row[0]))[:k]


def _exact(project_id: int, query: np.ndarray, k: int) -> list[tuple[int, float]]:
    found: list[tuple[int, float]] = []
    for ids, vectors in search_index.embedding_chunks(project_id):
        found = _merge(found, vector_index.exact_search(ids, vectors, query, k), k=k)
    return found


def _indexed(project_id: int, query: np.ndarray, k: int) -> list[tuple[int, float]] | None:
    """Through the index, or None when there is no usable one."""
    record = search_index.record_read(project_id)
    if record is None or record.backbone != settings.TRAINING_BACKBONE:
        return None
    if record.dim != query.shape[-1]:
        return None
    try:
        index = _mapped(project_id, record)
    except RuntimeError as exc:
        logger.error(
            "search index of project %s (%s) unreadable, searching exactly until it is rebuilt: %s",
            project_id,
            record.file,
            exc,
        )
        search_index.search_index_request(project_id)
        return None
    found = vector_index.index_search(index, query, k, nprobe=settings.TRAINING_SEARCH_NPROBE)
    ids, vectors = search_index.embeddings_after(project_id, record.max_embedding_id)
    return _merge(found, vector_index.exact_search(ids, vectors, query, k), k=k)


def nearest_input_ids(project_id: int, vector, k: int) -> list[tuple[int, float]]:
    """(input id, cosine similarity) of the k stored inputs nearest to ``vector``, best
    first. Inputs deleted since the index was written may be among them."""
    query = np.asarray(vector, dtype=np.float32).reshape(-1)
    found = _indexed(project_id, query, k)
    if found is not None:
        return found
    return _exact(project_id, query, k)


@dataclass(frozen=True)
class ProjectSearch:
    """A project's stored inputs as a workflow's search index (visual-searcher)."""

    project_id: int

    def search(self, query: np.ndarray, k: int) -> list[tuple[int, float]]:
        return nearest_input_ids(self.project_id, query, k)


def similar_to_vector(
    *, project_id: int, vector, k: int = 12, exclude: set[int] | frozenset = frozenset()
) -> list[tuple[object, float]]:
    """(Input, similarity) of the k inputs of the project nearest to ``vector``."""
    from labeling.models import Input

    # room for the excluded ones and for inputs deleted since the index was written
    found = [
        (i, s)
        for i, s in nearest_input_ids(project_id, vector, 2 * k + len(exclude))
        if i not in exclude
    ]
    inputs = Input.objects.in_bulk([i for i, _ in found])
    return [(inputs[i], s) for i, s in found if i in inputs][:k]


def similar_inputs(input, k: int = 12) -> list[tuple[object, float]]:
    """The inputs nearest to this one in embedding space; [] while it has no embedding."""
    row = (
        search_index.current_embeddings(input.project_id)
        .filter(input_id=input.id)
        .values_list("vector", flat=True)
        .first()
    )
    if row is None:
        return []
    return similar_to_vector(
        project_id=input.project_id, vector=from_stored([row])[0], k=k, exclude={input.id}
    )
