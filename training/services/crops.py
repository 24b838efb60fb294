"""A classifier on crops: its examples are the boxes people labeled, each cut out of its
image and embedded with the project's backbone, as a workflow's image cropper and embedder
do with a detector's boxes (detector -> cropper -> embedder -> this classifier).

Which boxes: the regions of each input's latest trusted accepted annotation (see
``training.selectors``). A top-level region and its children (classifications on the same
box, e.g. "mask" on a "face") make one example: the crop of the box, labeled with every one
of their concepts the classifier's layout has. Crops are embedded at training time (a few
hundred boxes take seconds with the backbone on a CPU); they are not stored.
"""

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from django.conf import settings

from labeling.models import Input, Project, Region
from labeling.storage import media_path
from training.ml.features import CROP_DECODE_EDGE, crop_box, embedder, image_open, pictures_crop
from training.ml.layout import Layout
from training.selectors import trusted_accepted

# images decoded and crops embedded per step (bounded memory, progress between steps)
CROP_BATCH = 64


@dataclass
class CropSet:
    """Labeled boxes of one split, in a fixed order (input id, then drawing order)."""

    region_ids: list[int]  # the top-level region of each example
    input_ids: list[int]
    boxes: list[tuple[float, float, float, float]]  # normalised (x, y, w, h)
    labels: dict[int, set[int]]  # region id -> the layout's concepts on that box

    def __len__(self) -> int:
        return len(self.region_ids)


def crop_examples(
    project: Project, layout: Layout, *, split: str, input_ids: list[int] | None = None
) -> CropSet:
    """The split's labeled boxes a classifier on crops learns from (see the module)."""
    annotations = trusted_accepted(project).filter(input__split=split)
    if input_ids is not None:
        annotations = annotations.filter(input_id__in=input_ids)
    latest = dict(annotations.order_by("input_id", "id").values_list("input_id", "id"))
    wanted = set(layout.concept_ids)
    rows = (
        Region.objects.filter(annotation_id__in=list(latest.values()))
        .order_by("annotation__input_id", "position", "id")
        .values_list("id", "parent_id", "annotation__input_id", "concept_id", "x", "y", "w", "h")
    )
    roots: dict[int, tuple[int, tuple]] = {}  # region id -> (input id, box)
    labels: dict[int, set[int]] = {}
    for region_id, parent_id, input_id, concept_id, x, y, w, h in rows.iterator(chunk_size=10000):
        root = parent_id or region_id
        if parent_id is None:
            roots[region_id] = (input_id, (x, y, w, h))
        if concept_id in wanted:
            labels.setdefault(root, set()).add(concept_id)
    kept = [r for r in roots if labels.get(r)]
    return CropSet(
        region_ids=kept,
        input_ids=[roots[r][0] for r in kept],
        boxes=[roots[r][1] for r in kept],
        labels={r: labels[r] for r in kept},
    )


def crops_embed(
    crops: CropSet, progress: Callable[[float], None] = lambda fraction: None
) -> np.ndarray:
    """(n, d) backbone vectors of the crops, as a workflow's embedder gives them for a
    detector's boxes (the same decoding, pixel box and crop: ``training.ml.features``)."""
    inputs = Input.objects.filter(id__in=set(crops.input_ids)).values_list(
        "id", "file", "width", "height"
    )
    stored = {pk: (file, (width, height)) for pk, file, width, height in inputs}
    embed = embedder(settings.TRAINING_BACKBONE)
    vectors = []
    for start in range(0, len(crops), CROP_BATCH):
        ids = crops.input_ids[start : start + CROP_BATCH]
        boxes = crops.boxes[start : start + CROP_BATCH]
        pictures, sizes, rows, pixels, last = [], [], [], [], None
        for input_id, box in zip(ids, boxes, strict=True):
            file, size = stored[input_id]
            if input_id != last:  # an image's boxes are in a row: decode it once
                pictures.append(image_open(media_path(file), CROP_DECODE_EDGE).convert("RGB"))
                sizes.append(size)
                last = input_id
            rows.append(len(pictures) - 1)
            pixels.append(crop_box(box, *size))
        vectors.append(embed(pictures_crop(pictures, sizes, rows, pixels)))
        progress(min(1.0, (start + CROP_BATCH) / len(crops)))
    if not vectors:
        return np.zeros((0, 0), dtype=np.float32)
    return np.concatenate(vectors).astype(np.float32)
