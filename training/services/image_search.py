"""Search by image: an uploaded picture -> the project's nearest inputs.

The web process checks and stages the file; a worker (queue ``predict``, the low-latency
one) computes its vector with the project's backbone and leaves it beside the staged file
(``<file>.npy``, or ``<file>.error`` with the reason); the web process waits a short while
for it, then searches the index like "find similar" does. The web process never loads
torch. With an eager Celery (tests, ``CELERY_TASK_ALWAYS_EAGER``) the task runs inline.
"""

import time
from pathlib import Path

import numpy as np
from django.conf import settings

from labeling.ingest.images import human_bytes
from labeling.models import Project
from labeling.services.errors import ServiceError
from labeling.services.ingest import image_stage
from labeling.storage import media_path
from training.ml.features import embedder, image_open
from training.services.search_index import current_embeddings
from training.similar import similar_to_vector

POLL_S = 0.02


def _answer(path: Path, suffix: str) -> Path:
    return path.with_name(path.name + suffix)


def query_embed(*, path: str) -> None:
    """The worker's part: the staged image's vector, or why it has none."""
    staged = media_path(path)
    try:
        vector = embedder(settings.TRAINING_BACKBONE)([image_open(staged)])[0]
    except (OSError, ValueError) as exc:
        _answer(staged, ".error.partial").write_text(str(exc)[:300])
        _answer(staged, ".error.partial").replace(_answer(staged, ".error"))
    else:
        with open(_answer(staged, ".npy.partial"), "wb") as handle:
            np.save(handle, np.asarray(vector, dtype=np.float32))
        _answer(staged, ".npy.partial").replace(_answer(staged, ".npy"))
    finally:
        staged.unlink(missing_ok=True)


def _wait(staged: Path, seconds: float) -> np.ndarray:
    vector_file, error_file = _answer(staged, ".npy"), _answer(staged, ".error")
    deadline = time.monotonic() + seconds
    try:
        while True:
            if vector_file.exists():
                return np.load(vector_file)
            if error_file.exists():
                raise ServiceError(f"This image could not be read: {error_file.read_text()}")
            if time.monotonic() > deadline:
                raise ServiceError(
                    "The embedding worker did not answer in time; try again in a moment."
                )
            time.sleep(POLL_S)
    finally:
        for leftover in (vector_file, error_file, staged):
            leftover.unlink(missing_ok=True)


def image_search(
    *, project: Project, upload, k: int = 12, wait_s: float | None = None
) -> list[tuple[object, float]]:
    """(Input, similarity) of the k inputs nearest to the uploaded image (a file object with
    ``size``). ServiceError says what is wrong: too big, not an image, nothing embedded
    yet, no answer from a worker in time."""
    limit = settings.LABELING_MAX_IMAGE_BYTES
    if upload.size > limit:  # refused before it is read into memory
        raise ServiceError(
            f"The file is {human_bytes(upload.size)}, over the limit of {human_bytes(limit)}."
        )
    if not current_embeddings(project.id).exists():
        raise ServiceError(
            "No input of this project has an embedding yet: search by image works once the "
            "background embedding has run."
        )
    path = image_stage(data=upload.read(), folder=f"searches/{project.id}")
    from training.tasks import query_embed_task

    query_embed_task.delay(path)
    vector = _wait(media_path(path), settings.TRAINING_SEARCH_WAIT_S if wait_s is None else wait_s)
    return similar_to_vector(project_id=project.id, vector=vector, k=k)
