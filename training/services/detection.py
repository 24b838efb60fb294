"""Detectors in the model loop: their training data (people's boxes), images from disk,
evaluation on the eval split (COCO AP), box thresholds and the promotion decision.

Which inputs a detector learns from: those whose latest trusted accepted annotation (see
``training.selectors``) either has boxes, or has no label at all: a person's explicit
"nothing to box here", which teaches the detector what is not an object. An annotation
with whole-image labels and no box says nothing about boxes, so in a project with both
kinds of groups such an input is left out.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from django.conf import settings
from django.db.models import Count, Q
from PIL import Image

from labeling.models import Input, Project, Region, Split
from labeling.selectors import label_choices
from labeling.services.errors import ServiceError
from labeling.storage import media_path
from training.ml.features import image_open
from training.ml.promotion import promotion_decide
from training.model_types import TypeSpec
from training.models import MLModel, ModelVersion
from training.selectors import trusted_accepted

# decode JPEGs at about this multiple of the network's input size (then resized exactly)
DECODE_MARGIN = 2


def box_concepts(project: Project) -> list[int]:
    """The concepts a detector of the project finds: the leaves of its box groups, in
    taxonomy order (a detector's class i is the i-th)."""
    return [c.id for c in label_choices(project) if c.regions]


@dataclass
class BoxSet:
    """Inputs with their boxes, as a detector trains or is evaluated on them."""

    ids: list[int]
    files: list[str]
    targets: list[tuple[np.ndarray, np.ndarray]]  # normalised boxes (k, 4), class indexes

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def boxes(self) -> int:
        return sum(len(classes) for _, classes in self.targets)


def box_examples(
    project: Project, concepts: list[int], *, split: str, input_ids: list[int] | None = None
) -> BoxSet:
    """The split's inputs a detector learns from (see the module), with their boxes."""
    annotations = trusted_accepted(project).filter(input__split=split)
    if input_ids is not None:
        annotations = annotations.filter(input_id__in=input_ids)
    latest = dict(annotations.order_by("input_id", "id").values_list("input_id", "id"))
    counted = (
        annotations.filter(id__in=latest.values())
        .annotate(
            box_count=Count("regions", distinct=True), label_count=Count("labels", distinct=True)
        )
        .filter(Q(box_count__gt=0) | Q(label_count=0))
        .values_list("id", "input_id")
    )
    chosen = dict(counted)  # annotation id -> input id
    column = {concept_id: i for i, concept_id in enumerate(concepts)}
    boxes: dict[int, list] = {input_id: [] for input_id in chosen.values()}
    regions = Region.objects.filter(
        annotation_id__in=list(chosen), parent__isnull=True, concept_id__in=concepts
    ).values_list("annotation_id", "concept_id", "x", "y", "w", "h")
    for annotation_id, concept_id, x, y, w, h in regions.iterator(chunk_size=10000):
        boxes[chosen[annotation_id]].append((column[concept_id], x, y, w, h))
    ids = sorted(boxes)
    files = dict(Input.objects.filter(id__in=ids).values_list("id", "file"))
    targets = []
    for input_id in ids:
        rows = np.asarray(boxes[input_id], dtype=np.float64).reshape(-1, 5)
        targets.append((rows[:, 1:].astype(np.float32), rows[:, 0].astype(np.int64)))
    return BoxSet(ids, [files[i] for i in ids], targets)


class InputImages(Sequence):
    """Stored images as people see them (EXIF applied), in RGB, each decoded when asked for
    at reduced scale (JPEG: no smaller than ``image_size * DECODE_MARGIN``): a training run
    over thousands of inputs holds a batch of images, not the split."""

    def __init__(self, files: list[str], image_size: int):
        self.files, self.image_size = list(files), image_size

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index):
        if isinstance(index, slice):
            return InputImages(self.files[index], self.image_size)
        edge = self.image_size * DECODE_MARGIN
        return image_open(media_path(self.files[index]), edge).convert("RGB")


def images_loader(files: list[str], image_size: int) -> Callable[[int], Image.Image]:
    """Image ``i`` as people see it (EXIF applied), in RGB, decoded at reduced scale."""
    return InputImages(files, image_size).__getitem__


def images_load(files: list[str], image_size: int) -> list[Image.Image]:
    load = images_loader(files, image_size)
    return [load(i) for i in range(len(files))]


@dataclass(frozen=True)
class Evaluation:
    metrics: dict
    thresholds: dict


def detector_evaluate(
    detector, spec: TypeSpec, evaluation: BoxSet, concepts: list[int], target: float
) -> Evaluation:
    """COCO AP on the eval split, per concept, and each concept's box threshold for the
    target precision (``training.ml.detection_eval``)."""
    from training.ml.detection_eval import box_curves, box_thresholds, evaluate_detections

    images = images_load(evaluation.files, detector.params.image_size)
    predictions = spec.predict(detector, images)
    k = len(concepts)
    tuned = box_thresholds(
        evaluation.targets,
        predictions,
        k,
        target,
        min_kept=settings.TRAINING_THRESHOLD_MIN_KEPT,
        confidence=settings.TRAINING_THRESHOLD_CONFIDENCE,
    )
    report = evaluate_detections(evaluation.targets, predictions, k)
    curves = box_curves(evaluation.targets, predictions, k)
    per_concept = {
        str(concept_id): {
            **report["per_class"][i],
            "pr_curve": report["pr_curve"]["per_class"][i],
            "curve": curves[i],  # by score threshold, for the version page's sliders
        }
        for i, concept_id in enumerate(concepts)
    }
    metrics = {
        "kind": "regions",
        "map50": report["map50"],
        "map": report["map"],
        "per_concept": per_concept,
        "pr_curve": {
            "recall": report["pr_curve"]["recall"],
            "precision": report["pr_curve"]["overall"],
        },
        "score_threshold": report["score_threshold"],
        "eval_images": len(evaluation),
        "eval_boxes": evaluation.boxes,
        "target_precision": target,
    }
    thresholds = {str(concept_id): tuned[i].to_dict() for i, concept_id in enumerate(concepts)}
    return Evaluation(metrics, thresholds)


def detector_promotion(
    model_id: int, spec: TypeSpec, ours: float | None, evaluation: BoxSet, tolerance: float
) -> dict:
    """Whether a new detector may go live: its mAP@0.5 on the eval split not below the
    active version's on the same images by more than ``tolerance``."""
    from training.ml.detection_eval import evaluate_detections

    model = MLModel.objects.select_related("active_version").get(id=model_id)
    active = model.active_version
    theirs = None
    if active is not None and active.head:
        detector = spec.load(bytes(active.head))
        layout = list(active.layout.get("concept_ids", []))
        predictions = spec.predict(
            detector, images_load(evaluation.files, detector.params.image_size)
        )
        theirs = evaluate_detections(evaluation.targets, predictions, len(layout))["map50"]
    return promotion_decide(
        ours=ours,
        theirs=theirs,
        tolerance=tolerance,
        active_number=active.number if active is not None and active.head else None,
        metric="mAP@0.5",
    ).to_dict()


def detector_train(version: ModelVersion, spec: TypeSpec, params: dict, report, tolerance: float):
    """Train, evaluate and decide on a detector version; returns what the run stores
    (``versions.Trained``). ``report(progress, stage)`` records progress and may stop."""
    from training.services.versions import Trained

    project = version.model.project
    concepts = box_concepts(project)
    if not concepts:
        raise ServiceError("The project has no box concepts: make a concept group draw boxes.")
    train = box_examples(project, concepts, split=Split.TRAIN, input_ids=version.input_ids)
    evaluation = box_examples(project, concepts, split=Split.EVAL, input_ids=version.input_ids)
    if len(train) < 2 or not train.boxes:
        raise ServiceError(
            f"Not enough boxed images in the train split: {len(train)} images, {train.boxes} boxes."
        )
    if not len(evaluation) or not evaluation.boxes:
        raise ServiceError("No boxed images in the eval split to evaluate on.")
    report(0.05, spec.train_stage)
    detector = spec.train(
        images=images_loader(train.files, params["image_size"]),
        targets=train.targets,
        num_classes=len(concepts),
        params=params,
        progress=lambda f: report(0.05 + 0.8 * f, spec.train_stage),
    )
    report(0.88, "Evaluating on the eval split")
    evaluated = detector_evaluate(
        detector, spec, evaluation, concepts, version.model.project.target_precision
    )
    counts = {
        "train_inputs": len(train),
        "eval_inputs": len(evaluation),
        "train_boxes": train.boxes,
        "eval_boxes": evaluation.boxes,
        "train_per_concept": _per_concept(train, concepts),
        "eval_per_concept": _per_concept(evaluation, concepts),
        "losses": [round(v, 4) for v in getattr(detector, "losses", [])],
    }
    report(0.95, "Comparing with the live version")
    decision = detector_promotion(
        version.model_id, spec, evaluated.metrics["map50"], evaluation, tolerance
    )
    return Trained(
        counts=counts,
        layout={"concept_ids": concepts, "groups": []},
        artifact=detector.to_bytes(),
        metrics=evaluated.metrics,
        thresholds=evaluated.thresholds,
        decision=decision,
    )


def _per_concept(boxes: BoxSet, concepts: list[int]) -> dict[str, int]:
    counts = np.zeros(len(concepts), dtype=int)
    for _, classes in boxes.targets:
        np.add.at(counts, classes, 1)
    return {str(c): int(counts[i]) for i, c in enumerate(concepts)}
