"""Shared parts of the benchmarks that run the portal's code in-process: the machine line,
timers around functions, synthetic images, the Pillow limit and seeded rows.

Import it after ``django.setup()`` (it imports the portal's models). The HTTP benchmarks'
own shared parts are in ``httpbench``.
"""

import io
import os
import platform
import subprocess
import time
from collections import defaultdict
from collections.abc import Callable

import numpy as np
from django.conf import settings
from django.db import connection
from PIL import Image

from labeling.ingest.images import inspect_image
from labeling.models import (
    Annotation,
    AnnotationLabel,
    AnnotationSource,
    AnnotationStatus,
    Concept,
    Input,
    InputStatus,
    Project,
    QueueSlot,
    Split,
)
from labeling.services.taxonomy import concept_create
from training.models import Embedding

DIM, CLASSES, CHUNK = 1280, 10, 10_000  # synthetic embeddings: width, classes, rows a chunk


def machine() -> str:
    """CPU model, cores and Python version, for a benchmark's ``machine:`` line."""
    try:
        lscpu = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        model = next(ln.split(":", 1)[1].strip() for ln in lscpu.splitlines() if "Model name" in ln)
    except (OSError, StopIteration):
        model = platform.processor() or platform.machine()
    return f"{model}, {os.cpu_count()} cores, python {platform.python_version()}"


class Timers:
    """Seconds spent in wrapped functions, by label (the calls themselves are unchanged).

    ``Timers(module, names)`` wraps those functions of ``module`` at once; leaving its
    ``with`` block, or ``restore()``, puts every original back."""

    def __init__(self, module=None, names: list[str] = ()):
        self.seconds: dict[str, float] = defaultdict(float)
        self._undo: list[tuple[object, str, Callable]] = []
        for name in names:
            self.wrap(module, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.restore()

    def wrap(self, owner, name: str, label: str | None = None) -> None:
        """Replace ``owner.name`` by a timed version, counted under ``label`` (or ``name``)."""
        original = getattr(owner, name)
        setattr(owner, name, self.timed(label or name, original))
        self._undo.append((owner, name, original))

    def restore(self) -> None:
        for owner, name, original in reversed(self._undo):
            setattr(owner, name, original)
        self._undo.clear()

    def timed(self, label: str, original: Callable) -> Callable:
        def timed(*args, **kwargs):
            start = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                self.seconds[label] += time.perf_counter() - start

        return timed


def noisy_image(seed: int, width: int, height: int, fmt: str = "JPEG") -> bytes:
    """A distinct photo-like image (a gradient blended with noise) that does not compress to
    nothing; JPEGs at quality 90."""
    image = Image.linear_gradient("L").resize((width, height)).convert("RGB")
    noise = Image.effect_noise((width, height), 30 + seed % 40).convert("RGB")
    image = Image.blend(image, noise, 0.5)
    image.putpixel((0, 0), (seed % 256, seed // 256 % 256, 1))
    buffer = io.BytesIO()
    image.save(buffer, fmt, **({"quality": 90} if fmt == "JPEG" else {}))
    return buffer.getvalue()


def pillow_seconds(files: list[tuple[str, bytes]]) -> float:
    """Seconds Pillow alone needs to validate and thumbnail the (name, bytes) ``files``
    (``inspect_image``): the limit of an ingest path, with no hashing, disk or database."""
    start = time.perf_counter()
    for _, data in files:
        inspect_image(
            data,
            max_bytes=settings.LABELING_MAX_IMAGE_BYTES,
            max_pixels=settings.LABELING_MAX_IMAGE_PIXELS,
            thumb_size=settings.LABELING_THUMBNAIL_SIZE,
        )
    return time.perf_counter() - start


def digit_group(project: Project, actor) -> list[Concept]:
    """An exclusive group "digit" with the options "0" to "9"; returns the options."""
    parent = concept_create(project=project, name="digit", exclusive=True, actor=actor)
    return [
        concept_create(project=project, name=str(d), parent=parent, actor=actor)
        for d in range(CLASSES)
    ]


def fake_input(project: Project, number: int, **columns) -> Input:
    """The ``number``-th input of a seeded project, unsaved: an 8x8 PNG by its row, with no
    file behind it; ``columns`` override any value."""
    return Input(
        **{
            "project": project,
            "sha256": f"{project.id:08x}{number:056x}",
            "original_name": f"{number}.png",
            "file": f"bench/{number}.png",
            "thumbnail": f"bench/{number}.png",
            "format": "PNG",
            "width": 8,
            "height": 8,
            "byte_size": 100,
            "split": Split.TRAIN,
            **columns,
        }
    )


def accepted_labels(
    project: Project, author, inputs: list[Input], concept_ids: list[int], source: str
) -> None:
    """One accepted annotation per input, each with one label, ``concept_ids`` in order."""
    annotations = Annotation.objects.bulk_create(
        [
            Annotation(
                project=project,
                input_id=row.id,
                author=author,
                source=source,
                status=AnnotationStatus.ACCEPTED,
            )
            for row in inputs
        ],
        batch_size=2000,
    )
    AnnotationLabel.objects.bulk_create(
        [
            AnnotationLabel(annotation_id=a.id, concept_id=c)
            for a, c in zip(annotations, concept_ids, strict=True)
        ],
        batch_size=5000,
    )


def seed_embedded(
    project: Project, admin, *, labeled: int, unlabeled: int, spread: float, seed: int
) -> np.ndarray:
    """Fills ``project`` with the ``digit`` group and ``labeled`` + ``unlabeled`` inputs (one
    in five in the eval split), each with a stored embedding: a synthetic ``DIM``-d vector
    from one Gaussian cluster per class (centres scaled by ``spread``), stored as float16 like
    the real ones. The first ``labeled`` inputs get an accepted imported label (their class),
    the others an open queue slot. Returns the true class of every unlabeled input, in id
    order."""
    concept_ids = [option.id for option in digit_group(project, admin)]
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((CLASSES, DIM)).astype(np.float32) * spread
    truth = []
    total = labeled + unlabeled
    for start in range(0, total, CHUNK):
        size = min(CHUNK, total - start)
        classes = rng.integers(CLASSES, size=size)
        vectors = centres[classes] + rng.standard_normal((size, DIM), dtype=np.float32)
        is_labeled = np.arange(start, start + size) < labeled
        inputs = Input.objects.bulk_create(
            [
                fake_input(
                    project,
                    i,
                    split=Split.EVAL if i % 5 == 0 else Split.TRAIN,
                    status=InputStatus.LABELED if is_labeled[i - start] else InputStatus.UNLABELED,
                )
                for i in range(start, start + size)
            ],
            batch_size=2000,
        )
        Embedding.objects.bulk_create(
            [
                Embedding(
                    input_id=row.id,
                    project=project,
                    backbone="efficientnet_lite0",
                    vector=vector.astype(np.float16).tobytes(),
                )
                for row, vector in zip(inputs, vectors, strict=True)
            ],
            batch_size=2000,
        )
        done = [(row, c) for row, c, lab in zip(inputs, classes, is_labeled, strict=True) if lab]
        accepted_labels(
            project,
            admin,
            [row for row, _ in done],
            [concept_ids[c] for _, c in done],
            source=AnnotationSource.IMPORT,
        )
        QueueSlot.objects.bulk_create(
            [
                QueueSlot(project=project, input_id=row.id, number=0)
                for row, lab in zip(inputs, is_labeled, strict=True)
                if not lab
            ],
            batch_size=5000,
        )
        truth.extend(classes[~is_labeled].tolist())
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
    return np.array(truth)
