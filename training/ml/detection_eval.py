"""Held-out evaluation of a detector: COCO's AP from pycocotools, and per-class thresholds.

Boxes are normalised (x, y, w, h), (x, y) the top-left corner, as ``detector`` gives them;
IoU does not depend on the scale, so COCO's code runs on them as they are (only its "all"
area range is read). Ground truth per image: (boxes (k, 4), class indexes (k,)); predictions
per image: (boxes (k, 4), scores (k,), class indexes (k,)).

Two ways of calling a detection right, each named where it is used:

- AP (``map50``, ``map``, per-class ``ap50``, the PR curves) is pycocotools' COCOeval:
  101-point interpolated precision, at most ``MAX_DETECTIONS`` detections per image.
- Precision and recall at a score threshold, and ``box_thresholds``, match *greedily by
  score*: within an image, a class's detections are taken from the highest score down, and
  each is right when its IoU with a not yet matched true box of its class is >= 0.5 (it then
  takes the one it overlaps most). Because the best detections are matched first, whether a
  detection is right does not depend on the threshold, so one matching serves every cut.
  A detection of a class the image does not have is wrong; a true box no detection matched
  is missed.

numpy and pycocotools only (no torch).
"""

import contextlib
import io
from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from training.ml.metrics import curve
from training.ml.thresholds import Tuned, tune_group

IOU = 0.5
MAX_DETECTIONS = 100
RECALL_POINTS = np.linspace(0.0, 1.0, 101)  # COCO's recall grid

Truth = tuple[np.ndarray, np.ndarray]
Prediction = tuple[np.ndarray, np.ndarray, np.ndarray]


def evaluate_detections(
    truth: Sequence[Truth],
    predictions: Sequence[Prediction],
    num_classes: int,
    *,
    score_threshold: float = 0.5,
) -> dict:
    """mAP@0.5, mAP@[.5:.95] (COCO), per class AP@0.5 and AP@[.5:.95], the PR curves at
    IoU 0.5 (per class and their mean, on COCO's 101 recall points), and per class the
    precision and recall of the detections scoring >= ``score_threshold`` (greedy
    matching, see the module). A class without true boxes has AP None and is left out of
    the means; mAP is None when no class has any."""
    if len(truth) != len(predictions):
        raise ValueError("truth and predictions must cover the same images")
    precision = _coco_precision(truth, predictions, num_classes)  # (T, R, K)
    has_truth = np.array([(_count_truth(truth, k) > 0) for k in range(num_classes)], dtype=bool)
    ap50 = [float(precision[0, :, k].mean()) if has_truth[k] else None for k in range(num_classes)]
    ap = [float(precision[:, :, k].mean()) if has_truth[k] else None for k in range(num_classes)]
    curves = [precision[0, :, k].tolist() if has_truth[k] else None for k in range(num_classes)]
    per_class = []
    for k in range(num_classes):
        scores, right, true_boxes = match_class(truth, predictions, k)
        kept = scores >= score_threshold
        hits, detections = int(right[kept].sum()), int(kept.sum())
        per_class.append(
            {
                "ap50": ap50[k],
                "ap": ap[k],
                "true_boxes": true_boxes,
                "detections": detections,
                "hits": hits,
                "precision": hits / detections if detections else None,
                "recall": hits / true_boxes if true_boxes else None,
            }
        )
    overall = precision[0][:, has_truth].mean(axis=1).tolist() if has_truth.any() else None
    return {
        "map50": float(np.mean([a for a in ap50 if a is not None])) if has_truth.any() else None,
        "map": float(np.mean([a for a in ap if a is not None])) if has_truth.any() else None,
        "score_threshold": score_threshold,
        "per_class": per_class,
        "pr_curve": {
            "recall": RECALL_POINTS.round(2).tolist(),
            "overall": overall,
            "per_class": curves,
        },
        "images": len(truth),
    }


def box_thresholds(
    truth: Sequence[Truth],
    predictions: Sequence[Prediction],
    num_classes: int,
    target: float,
    *,
    warmup: int = 5,
    min_kept: int = 1,
    confidence: float = 0.0,
) -> list[Tuned]:
    """Per class, the score from which its detections are kept automatically: the same rule
    as ``thresholds.tune_group`` for classification (walk the detections from the highest
    score down; past ``warmup`` of them, stop at the first cut whose precision falls below
    ``target``; at least ``min_kept`` detections must rest above it and, with
    ``confidence``, the lower bound of their precision must reach the target, the classes'
    evidence pooled as the detector's automatic boxes are one set; None when out of
    reach), with a detection right when greedy matching at IoU 0.5 says so (see the
    module). Recall is over the class's true boxes (a box no detection found counts as
    missed); coverage is the share of the class's detections kept."""
    matched = [match_class(truth, predictions, k) for k in range(num_classes)]
    found = tune_group(
        [(scores, right) for scores, right, _ in matched],
        target,
        warmup=warmup,
        min_kept=min_kept,
        confidence=confidence,
        pooled=True,
    )
    tuned = []
    for (scores, right, true_boxes), result in zip(matched, found, strict=True):
        if result.threshold is not None:
            hits = int(right[scores >= result.threshold].sum())
            result = replace(result, recall=hits / true_boxes if true_boxes else None)
        else:
            result = replace(result, recall=0.0 if true_boxes else None)
        tuned.append(result)
    return tuned


def box_curves(
    truth: Sequence[Truth], predictions: Sequence[Prediction], num_classes: int
) -> list[dict]:
    """Per class, precision, recall and coverage at each score threshold of the grid the
    classification charts use (``metrics.curve``): a box is right as ``match_class`` says,
    recall counts the class's true boxes (missed ones too), coverage its detections kept."""
    curves = []
    for k in range(num_classes):
        scores, right, true_boxes = match_class(truth, predictions, k)
        curves.append(curve(scores, right, positives=true_boxes))
    return curves


def match_class(
    truth: Sequence[Truth], predictions: Sequence[Prediction], k: int, iou: float = IOU
) -> tuple[np.ndarray, np.ndarray, int]:
    """Class ``k``'s detections over all images: (scores, right or not), and the number of
    its true boxes. Greedy by score within each image (see the module)."""
    all_scores, all_right, true_boxes = [], [], 0
    for (t_boxes, t_classes), (p_boxes, p_scores, p_classes) in zip(
        truth, predictions, strict=True
    ):
        gt = np.asarray(t_boxes, dtype=np.float64).reshape(-1, 4)[np.asarray(t_classes) == k]
        mine = np.asarray(p_classes) == k
        boxes = np.asarray(p_boxes, dtype=np.float64).reshape(-1, 4)[mine]
        scores = np.asarray(p_scores, dtype=np.float64)[mine]
        true_boxes += len(gt)
        order = np.argsort(-scores, kind="mergesort")
        overlaps = iou_matrix(boxes[order], gt)
        taken = np.zeros(len(gt), dtype=bool)
        right = np.zeros(len(order), dtype=bool)
        for i in range(len(order)):
            if not len(gt):
                break
            candidates = np.where(taken, -1.0, overlaps[i])
            best = int(candidates.argmax())
            if candidates[best] >= iou:
                taken[best] = right[i] = True
        all_scores.append(scores[order])
        all_right.append(right)
    if not all_scores:
        return np.zeros(0), np.zeros(0, dtype=bool), 0
    return np.concatenate(all_scores), np.concatenate(all_right), true_boxes


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(len(a), len(b)) IoU of (x, y, w, h) boxes."""
    a = np.asarray(a, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(b, dtype=np.float64).reshape(-1, 4)
    ax1, ay1 = a[:, 0] + a[:, 2], a[:, 1] + a[:, 3]
    bx1, by1 = b[:, 0] + b[:, 2], b[:, 1] + b[:, 3]
    w = np.minimum(ax1[:, None], bx1[None]) - np.maximum(a[:, None, 0], b[None, :, 0])
    h = np.minimum(ay1[:, None], by1[None]) - np.maximum(a[:, None, 1], b[None, :, 1])
    inter = np.clip(w, 0, None) * np.clip(h, 0, None)
    union = (a[:, 2] * a[:, 3])[:, None] + (b[:, 2] * b[:, 3])[None] - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)


def _count_truth(truth: Sequence[Truth], k: int) -> int:
    return int(sum((np.asarray(c) == k).sum() for _, c in truth))


def _coco_precision(truth, predictions, num_classes: int) -> np.ndarray:
    """COCOeval's precision at area "all" and ``MAX_DETECTIONS``: (10 IoUs, 101 recalls,
    classes), 0 where a class has true boxes and no detection reaches that recall, -1
    where it has no true boxes."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    images = [{"id": i + 1} for i in range(len(truth))]
    categories = [{"id": k + 1} for k in range(num_classes)]
    gt_annotations, dt_annotations = [], []
    for i, (boxes, classes) in enumerate(truth):
        for box, k in zip(np.asarray(boxes).reshape(-1, 4), np.asarray(classes), strict=True):
            gt_annotations.append(_annotation(len(gt_annotations) + 1, i + 1, box, k))
    for i, (boxes, scores, classes) in enumerate(predictions):
        for box, score, k in zip(
            np.asarray(boxes).reshape(-1, 4), np.asarray(scores), np.asarray(classes), strict=True
        ):
            annotation = _annotation(len(dt_annotations) + 1, i + 1, box, k)
            annotation["score"] = float(score)
            dt_annotations.append(annotation)
    with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints as it goes
        gt, dt = COCO(), COCO()
        gt.dataset = {"images": images, "categories": categories, "annotations": gt_annotations}
        dt.dataset = {"images": images, "categories": categories, "annotations": dt_annotations}
        gt.createIndex()
        dt.createIndex()
        evaluation = COCOeval(gt, dt, iouType="bbox")
        evaluation.params.maxDets = [1, 10, MAX_DETECTIONS]
        evaluation.evaluate()
        evaluation.accumulate()
    area_all, most = 0, -1
    return evaluation.eval["precision"][:, :, :, area_all, most]


def _annotation(annotation_id: int, image_id: int, box, k) -> dict:
    x, y, w, h = (float(v) for v in box)
    return {
        "id": annotation_id,
        "image_id": image_id,
        "category_id": int(k) + 1,
        "bbox": [x, y, w, h],
        "area": w * h,
        "iscrowd": 0,
    }
