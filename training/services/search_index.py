"""The project's search index: built and kept up to date on a worker, read by everyone.

Files under ``TRAINING_SEARCH_DIR`` (``PORTAL_DATA_DIR/indexes``):

- ``project-<id>-<stamp>.faiss``: the index (training/ml/vector_index.py), ids = input ids;
- ``project-<id>.json``: which file is current and what it covers (backbone, vector count,
  largest embedding id). Written after the index, atomically, so a reader never sees a
  record pointing at a half-written file. Readers compare it with the database: embeddings
  newer than it are searched exactly beside the index (never silently stale), and the
  worker adds them on its next update.
- ``project-<id>.pending``: an update is queued (debounce: one at a time per project).

Projects with fewer than ``TRAINING_SEARCH_EXACT_BELOW`` vectors have no index: exact
search over their vectors is exact and fast enough.
"""

import fcntl
import json
import logging
import os
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
from django.conf import settings
from django.db import transaction
from django.db.models import Count, Max

from training.ml import vector_index
from training.ml.features import from_stored
from training.models import Embedding

logger = logging.getLogger(__name__)

CHUNK = 20_000  # vectors read from the database at a time
PENDING_FOR_S = 600  # a queued update older than this is taken as lost, and queued again


@dataclass(frozen=True)
class IndexRecord:
    file: str
    backbone: str
    dim: int
    count: int  # vectors in the index
    max_embedding_id: int  # every good embedding up to this id is in it
    trained_for: int  # vectors the lists were sized and trained for
    built_at: float
    # all the project's embedding rows then (failed ones and other backbones too), and the
    # newest row's id: what the scheduler compares, from the project's index alone
    rows: int = 0
    max_row_id: int = 0


def index_dir() -> Path:
    return Path(settings.TRAINING_SEARCH_DIR)


def _record_path(project_id: int) -> Path:
    return index_dir() / f"project-{project_id}.json"


def _pending_path(project_id: int) -> Path:
    return index_dir() / f"project-{project_id}.pending"


def record_read(project_id: int) -> IndexRecord | None:
    """What the project's index covers; None if it has none (or the record is unreadable)."""
    try:
        return IndexRecord(**json.loads(_record_path(project_id).read_text()))
    except FileNotFoundError:
        return None
    except (OSError, ValueError, TypeError) as exc:
        logger.error("search index record of project %s is unreadable: %s", project_id, exc)
        return None


def _record_write(project_id: int, record: IndexRecord | None) -> None:
    path = _record_path(project_id)
    if record is None:
        path.unlink(missing_ok=True)
        return
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    partial.write_text(json.dumps(asdict(record)))
    os.replace(partial, path)


def current_embeddings(project_id: int):
    """The vectors search covers: good ones, of the backbone in use."""
    return Embedding.objects.filter(
        project_id=project_id, error="", backbone=settings.TRAINING_BACKBONE
    )


def embeddings_after(project_id: int, embedding_id: int, upto: int | None = None):
    """(input ids, vectors) stored after ``embedding_id`` (an index's newest), up to the
    embedding id ``upto`` where given."""
    current = current_embeddings(project_id).filter(id__gt=embedding_id)
    if upto is not None:
        current = current.filter(id__lte=upto)
    rows = list(current.order_by().values_list("input_id", "vector"))
    return np.array([r[0] for r in rows], dtype=np.int64), from_stored([r[1] for r in rows])


def embedding_chunks(project_id: int, *, upto: int | None = None):
    """(input ids, float32 vectors) of the project's current embeddings (up to the embedding
    id ``upto`` where given), ``CHUNK`` at a time in id order: bounded memory at any size."""
    current = current_embeddings(project_id)
    if upto is not None:
        current = current.filter(id__lte=upto)
    last = 0
    while True:
        rows = list(
            current.filter(id__gt=last)
            .order_by("id")
            .values_list("id", "input_id", "vector")[:CHUNK]
        )
        if not rows:
            return
        last = rows[-1][0]
        yield np.array([r[1] for r in rows], dtype=np.int64), from_stored([r[2] for r in rows])


# ---------------------------------------------------------------------------- updates


def _rows(project_id: int) -> tuple[int, int]:
    """(rows, newest id) of the project's embeddings: read from an index, cheap at any size."""
    summary = Embedding.objects.filter(project_id=project_id).aggregate(
        n=Count("id"), last=Max("id")
    )
    return summary["n"], summary["last"] or 0


def _coverage(project_id: int) -> tuple[int, int]:
    summary = current_embeddings(project_id).aggregate(n=Count("id"), last=Max("id"))
    return summary["n"], summary["last"] or 0


def _sample(project_id: int, size: int, seed: int = 0) -> np.ndarray:
    """A random sample of the project's vectors, to train the lists on."""
    ids = np.array(list(current_embeddings(project_id).values_list("id", flat=True)))
    chosen = np.random.default_rng(seed).choice(ids, size=min(size, len(ids)), replace=False)
    vectors = []
    for start in range(0, len(chosen), 5000):
        part = current_embeddings(project_id).filter(id__in=chosen[start : start + 5000].tolist())
        vectors.append(from_stored(list(part.values_list("vector", flat=True))))
    return np.concatenate(vectors)


def _rebuild(project_id: int, count: int, last_id: int, rows: tuple[int, int]) -> IndexRecord:
    started = time.monotonic()
    nlist = vector_index.list_count(count)
    index = vector_index.index_train(_sample(project_id, vector_index.train_size(nlist)), count)
    for ids, vectors in embedding_chunks(project_id, upto=last_id):
        vector_index.index_add(index, ids, vectors)
    record = search_index_save(project_id, index, last_id, trained_for=count, rows=rows)
    logger.info(
        "search index of project %s rebuilt: %s vectors in %.1f s",
        project_id,
        record.count,
        time.monotonic() - started,
    )
    return record


def search_index_save(
    project_id: int, index, last_id: int, *, trained_for: int, rows: tuple[int, int]
) -> IndexRecord:
    """Make ``index`` the project's current one, covering embeddings up to ``last_id``
    (``rows``: ``_rows`` read before the vectors were)."""
    name = f"project-{project_id}-{time.time_ns()}.faiss"
    vector_index.index_write(index, index_dir() / name)
    old = record_read(project_id)
    record = IndexRecord(
        file=name,
        backbone=settings.TRAINING_BACKBONE,
        dim=index.d,
        count=int(index.ntotal),
        max_embedding_id=last_id,
        trained_for=trained_for,
        built_at=time.time(),
        rows=rows[0],
        max_row_id=rows[1],
    )
    _record_write(project_id, record)
    if old and old.file != name:
        # readers that mapped it keep their mapping; new readers open the new file
        (index_dir() / old.file).unlink(missing_ok=True)
    return record


def _drop(project_id: int) -> None:
    old = record_read(project_id)
    _record_write(project_id, None)
    if old:
        (index_dir() / old.file).unlink(missing_ok=True)


def _usable(record: IndexRecord | None) -> IndexRecord | None:
    """The record, if its file opens and holds vectors of the backbone in use."""
    if record is None or record.backbone != settings.TRAINING_BACKBONE:
        return None
    try:
        vector_index.index_read(index_dir() / record.file)  # mapped: cheap at any size
    except RuntimeError as exc:
        logger.error("search index %s unreadable, rebuilding it: %s", record.file, exc)
        return None
    return record


def search_index_update(*, project_id: int) -> str:
    """Bring the project's index up to date with its embeddings; says what it did.

    New embeddings (ids past the record's) are added to the lists; anything else (an
    input deleted, the backbone changed, a damaged file, a set grown far past what the
    lists were trained for) rebuilds the index from the database."""
    index_dir().mkdir(parents=True, exist_ok=True)
    _pending_path(project_id).unlink(missing_ok=True)
    with open(index_dir() / f"project-{project_id}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one update per project at a time
        rows = _rows(project_id)  # first: a row stored after it makes the record look behind
        count, last_id = _coverage(project_id)
        if count < settings.TRAINING_SEARCH_EXACT_BELOW:
            _drop(project_id)
            return "exact"
        record = _usable(record_read(project_id))
        if record is not None:
            if record.count == count and record.max_embedding_id == last_id:
                if (record.rows, record.max_row_id) != rows:  # only failed or other rows came
                    _record_write(project_id, replace(record, rows=rows[0], max_row_id=rows[1]))
                return "fresh"
            new = (
                current_embeddings(project_id)
                .filter(id__gt=record.max_embedding_id, id__lte=last_id)
                .count()
            )
            grown = vector_index.needs_retrain(count, record.trained_for)
            if record.count + new == count and not grown:
                index = vector_index.index_read(index_dir() / record.file, mapped=False)
                # only up to the count's snapshot: a newer one is the next update's
                ids, vectors = embeddings_after(project_id, record.max_embedding_id, last_id)
                vector_index.index_add(index, ids, vectors)
                search_index_save(
                    project_id, index, last_id, trained_for=record.trained_for, rows=rows
                )
                return f"added {len(ids)}"
        _rebuild(project_id, count, last_id, rows)
        return "rebuilt"


def search_index_request(project_id: int) -> bool:
    """Queue an update of the project's index (after commit), unless one is queued already."""
    pending = _pending_path(project_id)
    index_dir().mkdir(parents=True, exist_ok=True)
    try:
        if time.time() - pending.stat().st_mtime < PENDING_FOR_S:
            return False
    except FileNotFoundError:
        pass
    pending.touch()

    def send() -> None:
        from training.tasks import search_index_update_task

        search_index_update_task.delay(project_id)

    transaction.on_commit(send)
    return True


def projects_needing_index() -> list[int]:
    """Projects whose index is behind their embeddings or whose file is gone (the
    scheduler's check, for deleted inputs and lost updates). Compares row counts from the
    project's database index only: cheap every minute at any size. A project gets its
    first index from ``INPUTS_EMBEDDED``."""
    due = []
    for path in sorted(index_dir().glob("project-*.json")):
        project_id = int(path.stem.removeprefix("project-"))
        record = record_read(project_id)
        if record is None:
            continue
        behind = (record.rows, record.max_row_id) != _rows(project_id)
        if behind or not (index_dir() / record.file).exists():
            due.append(project_id)
    return due
