"""Embeddings: every input's features, computed in batches in the background.

Resumable by construction: a run takes the inputs that have no embedding yet, a batch at a
time, and commits each batch; a killed run loses at most two batches. One run per project at a
time (``EmbeddingRun``'s heartbeat keeps a second one away).
"""

import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta

import numpy as np
from django.conf import settings
from django.db import models, transaction
from django.utils import timezone

from labeling.models import Input, Project
from labeling.storage import media_path
from training.ml.features import Embedder, embedder, from_stored, image_open, to_stored
from training.models import Embedding, EmbeddingRun

logger = logging.getLogger(__name__)
HEARTBEAT_TIMEOUT = timedelta(minutes=2)


RATE_WINDOW = timedelta(minutes=2)


@dataclass(frozen=True)
class EmbeddingProgress:
    done: int
    total: int
    failed: int
    per_second: float | None = None  # measured over the last couple of minutes

    @property
    def percent(self) -> int:
        return int(100 * self.done / self.total) if self.total else 100

    @property
    def complete(self) -> bool:
        return self.done >= self.total

    @property
    def eta_seconds(self) -> float | None:
        """Time left at the recent rate; None while nothing was measured."""
        if self.complete:
            return 0.0
        if not self.per_second:
            return None
        return (self.total - self.done) / self.per_second


def embedding_rate(stamps: list, now) -> float | None:
    """Inputs per second from the creation times of recent embeddings (batches commit
    together, so the span runs from the first batch seen to now)."""
    if len(stamps) < 2:
        return None
    span = (now - min(stamps)).total_seconds()
    return len(stamps) / span if span > 0 else None


def embedding_progress(project: Project) -> EmbeddingProgress:
    total = Input.objects.filter(project=project).count()
    current = Embedding.objects.filter(project=project, backbone=settings.TRAINING_BACKBONE)
    done = current.count()
    failed = current.exclude(error="").count()
    rate = None
    if done < total:
        now = timezone.now()
        recent = current.filter(created_at__gte=now - RATE_WINDOW).values_list(
            "created_at", flat=True
        )
        rate = embedding_rate(list(recent), now)
    return EmbeddingProgress(done=done, total=total, failed=failed, per_second=rate)


def _missing(project_id: int):
    """Inputs with no embedding, or one from another backbone (the setting changed)."""
    return (
        Input.objects.filter(project_id=project_id)
        .filter(
            models.Q(embedding__isnull=True)
            | ~models.Q(embedding__backbone=settings.TRAINING_BACKBONE)
        )
        .order_by("id")
    )


UPSERT = {
    "update_conflicts": True,
    "unique_fields": ["input"],
    "update_fields": ["backbone", "vector", "error"],
}


def _claim(project_id: int, now) -> bool:
    """Take the project's embedding run unless another live one holds it."""
    with transaction.atomic():
        run, _ = EmbeddingRun.objects.select_for_update().get_or_create(project_id=project_id)
        if run.heartbeat_at and now - run.heartbeat_at < HEARTBEAT_TIMEOUT and not run.done_at:
            return False
        run.heartbeat_at, run.done_at = now, None
        run.save(update_fields=["heartbeat_at", "done_at"])
    return True


@dataclass
class _Decoded:
    inputs: list[Input]
    prepared: np.ndarray | None  # the embedder's input for ``inputs``; None if there are none
    failures: list[tuple[Input, str]]


def _decode(batch: list[Input], embed: Embedder) -> _Decoded:
    """Open a batch's files and prepare them for the network (no database access: this
    runs in the prefetch thread)."""
    inputs, images, failures = [], [], []
    for input in batch:
        try:
            images.append(image_open(media_path(input.file)))
            inputs.append(input)
        except (OSError, ValueError) as exc:
            failures.append((input, str(exc)[:300]))
    prepared = embed.prepare(images) if images else None
    return _Decoded(inputs=inputs, prepared=prepared, failures=failures)


def embeddings_compute(*, project_id: int, batch_size: int | None = None) -> int:
    """Embed every input of the project that has none yet; returns how many were stored.

    Three things go on at once, each in its own thread, so the network is never idle
    waiting for the rest: the backbone runs on one batch ("network"), the next batch's files
    are decoded and resized ("decode"), and this thread stores the previous batch's vectors
    and looks up the next inputs (Pillow, torch and ONNX Runtime all release the GIL; the
    database stays on this thread). A killed run loses at most the two batches in flight."""
    batch_size = batch_size or settings.TRAINING_EMBED_BATCH
    if not _claim(project_id, timezone.now()):
        return 0
    backbone = settings.TRAINING_BACKBONE
    embed = embedder(backbone)
    stored = 0

    def next_batch(after: int) -> list[Input]:
        return list(_missing(project_id).filter(id__gt=after)[:batch_size])

    try:
        with (
            ThreadPoolExecutor(max_workers=1, thread_name_prefix="decode") as prefetch,
            ThreadPoolExecutor(max_workers=1, thread_name_prefix="network") as network,
        ):
            batch = next_batch(0)
            pending = prefetch.submit(_decode, batch, embed) if batch else None
            running = None  # (decoded batch, its vectors to come) in the network
            while pending is not None or running is not None:
                started = None
                if pending is not None:
                    decoded = pending.result()
                    started = (decoded, network.submit(_vectors, embed, decoded))
                    after = batch[-1].id
                if running is not None:
                    done, vectors = running
                    _store(project_id, backbone, done, vectors.result())
                    stored += len(done.inputs)
                    EmbeddingRun.objects.filter(project_id=project_id).update(
                        heartbeat_at=timezone.now()
                    )
                running = started
                batch = next_batch(after)  # after the store: takes inputs that came meanwhile
                pending = prefetch.submit(_decode, batch, embed) if batch else None
    finally:
        EmbeddingRun.objects.filter(project_id=project_id).update(done_at=timezone.now())
    return stored


def _vectors(embed: Embedder, decoded: _Decoded):
    return embed.run(decoded.prepared) if decoded.inputs else []


def _store(project_id: int, backbone: str, decoded: _Decoded, vectors) -> None:
    """One batch's vectors, and an empty row with the reason for each file that failed."""
    for input, error in decoded.failures:
        logger.warning("input %s could not be embedded: %s", input.id, error)
    rows = [
        Embedding(input=input, project_id=project_id, backbone=backbone, vector=b"", error=error)
        for input, error in decoded.failures
    ]
    rows += [
        Embedding(input=input, project_id=project_id, backbone=backbone, vector=vector)
        for input, vector in zip(decoded.inputs, to_stored(vectors), strict=True)
    ]
    Embedding.objects.bulk_create(rows, **UPSERT)


def embeddings_load(input_ids) -> tuple[list[int], np.ndarray]:
    """The stored vectors of these inputs (those that have a good one), in the given order."""
    wanted = list(input_ids)
    by_id: dict[int, bytes] = {}
    for start in range(0, len(wanted), 5000):
        chunk = wanted[start : start + 5000]
        current = Embedding.objects.filter(
            input_id__in=chunk, error="", backbone=settings.TRAINING_BACKBONE
        )
        by_id.update(current.values_list("input_id", "vector"))
    ids = [i for i in wanted if i in by_id]
    return ids, from_stored([by_id[i] for i in ids])


def projects_missing_embeddings() -> list[int]:
    return list(
        Input.objects.filter(
            models.Q(embedding__isnull=True)
            | ~models.Q(embedding__backbone=settings.TRAINING_BACKBONE)
        )
        .order_by()  # Input's default ordering would make DISTINCT per input
        .values_list("project_id", flat=True)
        .distinct()
    )


def embeddings_request(project_id: int) -> bool:
    """Ask for the project's new inputs to be embedded (after commit). Nothing is queued
    while a run is going: it takes new inputs until none is left (and the scheduler's tick
    catches whatever arrives as it stops)."""
    run = EmbeddingRun.objects.filter(project_id=project_id).first()
    live = (
        run is not None
        and run.done_at is None
        and run.heartbeat_at is not None
        and timezone.now() - run.heartbeat_at < HEARTBEAT_TIMEOUT
    )
    if live:
        return False

    def send() -> None:
        from training.tasks import embed_project_task

        embed_project_task.delay(project_id)

    transaction.on_commit(send)
    return True


# The scheduler looks for due projects every minute and a first version trains in well under
# a minute on two cores: what a first model needs once every input is embedded.
FIRST_MODEL_AFTER_EMBEDDING_S = 60.0


@dataclass(frozen=True)
class LoopProgress:
    """What a user waits for while a project's inputs are embedded."""

    embeddings: EmbeddingProgress
    waiting_for_first_model: bool  # no version yet, and the schedule will train one

    @property
    def first_model_eta_seconds(self) -> float | None:
        eta = self.embeddings.eta_seconds
        if not self.waiting_for_first_model or eta is None:
            return None
        return eta + FIRST_MODEL_AFTER_EMBEDDING_S

    @property
    def busy(self) -> bool:
        return not self.embeddings.complete


def loop_progress(project: Project) -> LoopProgress:
    from training.models import ModelVersion

    first = (
        project.retrain_every_minutes > 0
        and not ModelVersion.objects.filter(model__project=project).exists()
    )
    return LoopProgress(embedding_progress(project), first)
