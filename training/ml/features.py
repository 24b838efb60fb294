"""The feature extractors a project's embeddings can come from, by name."""

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageOps


@dataclass(frozen=True)
class Embedder:
    """Images to vectors in two steps, so a pipeline can run them side by side: ``prepare``
    (Pillow and numpy: resize, scale, stack into an array) and ``run`` (the network)."""

    prepare: Callable[[Sequence[Image.Image]], np.ndarray]
    run: Callable[[np.ndarray], np.ndarray]

    def __call__(self, images: Sequence[Image.Image]) -> np.ndarray:
        return self.run(self.prepare(images))


def _as_is(prepared: np.ndarray) -> np.ndarray:
    return prepared


# Every embedder resizes to at most this edge (the backbone's input), so a JPEG is decoded
# at the smallest scale (1/2, 1/4, 1/8) that still covers it: a 4000x3000 photo costs what a
# 500x375 one does. Ingest and on-demand prediction decode the same way, so their vectors
# agree.
DECODE_EDGE = 224


def image_open(path, edge: int = DECODE_EDGE) -> Image.Image:
    """The image at ``path`` as people see it (EXIF orientation applied, as ingest records
    its size and boxes are drawn), decoded at reduced scale where the format allows (JPEG:
    no smaller than ``edge``; for embedding by default), loaded; the file is closed."""
    with Image.open(path) as image:
        image.draft("RGB", (edge, edge))
        image.load()
        return ImageOps.exif_transpose(image)


def embedder(name: str) -> Embedder:
    if name == "efficientnet_lite0":
        from training.ml import backbone

        return Embedder(prepare=backbone.preprocess, run=backbone.forward)
    if name == "efficientnet_lite0_int8":  # its vectors differ: stored under their own name
        from training.ml import backbone

        return Embedder(prepare=backbone.preprocess, run=backbone.forward_int8)
    if name == "pixels16":
        from training.ml import pixels

        return Embedder(prepare=pixels.embed, run=_as_is)
    raise ValueError(
        f"Unknown backbone {name!r}: efficientnet_lite0, efficientnet_lite0_int8 or pixels16."
    )


def embedder_without_torch(name: str) -> Embedder | None:
    """The backbone's embedder for a process that keeps torch out (the web server): ONNX
    Runtime on the export a worker checked and cached; None while there is none, or for
    another backbone (ask a worker then)."""
    from training.ml import backbone

    int8 = {backbone.NAME: False, backbone.NAME_INT8: True}.get(name)
    if int8 is None:
        return None
    run = backbone.runner_without_torch(int8=int8)
    return Embedder(prepare=backbone.preprocess, run=run) if run is not None else None


# Images whose regions are cropped are decoded no smaller than this (a crop of a large photo
# keeps enough pixels for the backbone's 224).
CROP_DECODE_EDGE = 448


def crop_box(box, width: int, height: int) -> tuple[int, int, int, int]:
    """A normalised (x, y, w, h) box as pixels (x0, y0, x1, y1; x1, y1 exclusive) of a
    ``width`` x ``height`` image, floored / ceiled and clipped: the workflow's image cropper
    with no margin (``workflows.operators.image_cropper`` keeps its own copy, since the
    workflow core imports nothing from training; a test checks both agree)."""
    x, y, w, h = (float(v) for v in box)
    x0 = min(max(math.floor(x * width), 0), width)
    y0 = min(max(math.floor(y * height), 0), height)
    x1 = min(max(math.ceil((x + w) * width), 0), width)
    y1 = min(max(math.ceil((y + h) * height), 0), height)
    return x0, y0, x1, y1


def pictures_crop(pictures: Sequence[Image.Image], sizes, rows, boxes) -> list[Image.Image]:
    """Crop pixel ``boxes`` (x0, y0, x1, y1 in the recorded ``sizes[row]``, width and height
    as people see the image) out of ``pictures[row]``, which may be decoded smaller: the
    crops a classifier on crops sees, in training and in a workflow alike."""
    cut = []
    for row, box in zip(rows, boxes, strict=True):
        picture = pictures[int(row)]
        width, height = sizes[int(row)]
        sx, sy = picture.width / width, picture.height / height
        x0, y0, x1, y1 = box
        left, top = int(x0 * sx), int(y0 * sy)
        cut.append(
            picture.crop((left, top, max(int(x1 * sx), left + 1), max(int(y1 * sy), top + 1)))
        )
    return cut


def to_stored(vectors: np.ndarray) -> list[bytes]:
    return [row.astype(np.float16).tobytes() for row in vectors]


def from_stored(blobs: Sequence[bytes]) -> np.ndarray:
    """(n, dim) float32 from stored float16 rows (all the same length)."""
    if not blobs:
        return np.zeros((0, 0), dtype=np.float32)
    joined = b"".join(bytes(b) for b in blobs)
    return np.frombuffer(joined, dtype=np.float16).reshape(len(blobs), -1).astype(np.float32)
