"""Boxes: checks, conversions, overlap, matching and suppression. Pure numpy (and scipy's
assignment solver); no Django.

A box is stored normalised: ``(x, y, w, h)`` with ``x, y`` its top-left corner, all four as
fractions of the image's width and height in the orientation people see it (EXIF applied).
Pixel coordinates follow from the input's width and height. The formats we read and write
are converted here, each both ways:

- pixels: ``(x0, y0, x1, y1)``, x1/y1 exclusive, as drawn on screen;
- COCO ``bbox``: ``[x, y, width, height]`` in pixels;
- YOLO: ``(cx, cy, w, h)`` normalised, the centre first;
- Clarifai ``bounding_box``: ``{top_row, left_col, bottom_row, right_col}`` normalised.
"""

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

# Tolerance for a box drawn a hair past the image's edge: clipped, not refused.
EDGE_SLACK = 1e-6


class InvalidBox(ValueError):
    """The box cannot be stored; the message says why, in words a person understands."""


@dataclass(frozen=True)
class Box:
    x: float
    y: float
    w: float
    h: float

    def as_tuple(self) -> tuple[float, float, float, float]:
        return (self.x, self.y, self.w, self.h)


def box_checked(x: float, y: float, w: float, h: float) -> tuple[Box, bool]:
    """The box clipped to the image, and whether clipping changed it. InvalidBox when a
    coordinate is not a finite number, the size is zero or negative, or nothing of the box
    lies on the image."""
    try:
        values = [float(v) for v in (x, y, w, h)]
    except (TypeError, ValueError):
        raise InvalidBox("a box needs four numbers: x, y, width and height") from None
    if not all(math.isfinite(v) for v in values):
        raise InvalidBox("a box coordinate is not a finite number")
    x, y, w, h = values
    if w <= 0 or h <= 0:
        raise InvalidBox("a box must have a width and a height above zero")
    x0, y0, x1, y1 = max(x, 0.0), max(y, 0.0), min(x + w, 1.0), min(y + h, 1.0)
    if x1 <= x0 or y1 <= y0:
        raise InvalidBox("the box lies outside the image")
    clipped = Box(x0, y0, x1 - x0, y1 - y0)
    changed = any(abs(a - b) > EDGE_SLACK for a, b in zip(clipped.as_tuple(), values, strict=True))
    return (clipped, True) if changed else (Box(x, y, w, h), False)


# ---------------------------------------------------------------------------- conversions


def to_pixels(box: Sequence[float], width: int, height: int) -> tuple[int, int, int, int]:
    """``(x0, y0, x1, y1)`` in whole pixels (x1, y1 exclusive), rounded to the nearest."""
    x, y, w, h = box
    return (
        round(x * width),
        round(y * height),
        round((x + w) * width),
        round((y + h) * height),
    )


def from_pixels(x0: float, y0: float, x1: float, y1: float, width: int, height: int) -> Box:
    return Box(x0 / width, y0 / height, (x1 - x0) / width, (y1 - y0) / height)


def to_coco(box: Sequence[float], width: int, height: int) -> list[float]:
    x, y, w, h = box
    return [x * width, y * height, w * width, h * height]


def from_coco(bbox: Sequence[float], width: int, height: int) -> Box:
    x, y, w, h = (float(v) for v in bbox)
    return Box(x / width, y / height, w / width, h / height)


def to_yolo(box: Sequence[float]) -> tuple[float, float, float, float]:
    x, y, w, h = box
    return (x + w / 2, y + h / 2, w, h)


def from_yolo(cx: float, cy: float, w: float, h: float) -> Box:
    return Box(cx - w / 2, cy - h / 2, w, h)


def to_clarifai(box: Sequence[float]) -> dict[str, float]:
    x, y, w, h = box
    return {"top_row": y, "left_col": x, "bottom_row": y + h, "right_col": x + w}


def from_clarifai(bounding_box: dict) -> Box:
    try:
        top, left = float(bounding_box["top_row"]), float(bounding_box["left_col"])
        bottom, right = float(bounding_box["bottom_row"]), float(bounding_box["right_col"])
    except (KeyError, TypeError, ValueError):
        raise InvalidBox(
            "bounding_box needs top_row, left_col, bottom_row and right_col as numbers"
        ) from None
    return Box(left, top, right - left, bottom - top)


# ---------------------------------------------------------------------------- overlap


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Intersection over union of every box of ``a`` (n, 4) with every box of ``b`` (m, 4),
    both as (x, y, w, h); (n, m). Boxes without area overlap nothing."""
    a = np.asarray(a, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(b, dtype=np.float64).reshape(-1, 4)
    ax0, ay0 = a[:, 0:1], a[:, 1:2]
    ax1, ay1 = ax0 + a[:, 2:3], ay0 + a[:, 3:4]
    bx0, by0 = b[:, 0], b[:, 1]
    bx1, by1 = bx0 + b[:, 2], by0 + b[:, 3]
    iw = np.clip(np.minimum(ax1, bx1) - np.maximum(ax0, bx0), 0, None)
    ih = np.clip(np.minimum(ay1, by1) - np.maximum(ay0, by0), 0, None)
    inter = iw * ih
    union = (a[:, 2:3] * a[:, 3:4]) + (b[:, 2] * b[:, 3]) - inter
    with np.errstate(invalid="ignore", divide="ignore"):
        iou = np.where(union > 0, inter / union, 0.0)
    return iou


@dataclass(frozen=True)
class Match:
    a: int  # index into the first list
    b: int  # index into the second
    iou: float


def boxes_match(
    a: np.ndarray,
    b: np.ndarray,
    *,
    min_iou: float,
    a_concepts: Sequence | None = None,
    b_concepts: Sequence | None = None,
) -> list[Match]:
    """Pairs of boxes, one from each list, that maximise the total overlap (Hungarian
    matching), keeping pairs with IoU >= ``min_iou``. With concepts given, only boxes of the
    same concept pair up. Each box is in at most one pair."""
    from scipy.optimize import linear_sum_assignment

    iou = iou_matrix(a, b)
    if iou.size == 0:
        return []
    if a_concepts is not None and b_concepts is not None:
        same = (
            np.asarray(a_concepts, dtype=object)[:, None]
            == np.asarray(b_concepts, dtype=object)[None, :]
        )
        iou = np.where(same, iou, 0.0)
    rows, cols = linear_sum_assignment(-iou)
    return [
        Match(int(r), int(c), float(iou[r, c]))
        for r, c in zip(rows, cols, strict=True)
        if iou[r, c] >= min_iou and iou[r, c] > 0
    ]


def boxes_agreement(
    a: np.ndarray,
    b: np.ndarray,
    *,
    min_iou: float,
    a_concepts: Sequence | None = None,
    b_concepts: Sequence | None = None,
) -> float:
    """How far two people's boxes on one image agree: matched pairs over all boxes
    (F1 of the matching; 1.0 when neither drew a box)."""
    n, m = len(np.asarray(a).reshape(-1, 4)), len(np.asarray(b).reshape(-1, 4))
    if n + m == 0:
        return 1.0
    matched = len(boxes_match(a, b, min_iou=min_iou, a_concepts=a_concepts, b_concepts=b_concepts))
    return 2 * matched / (n + m)


def nms(boxes: np.ndarray, scores: np.ndarray, *, max_iou: float) -> np.ndarray:
    """Greedy non-maximum suppression: indexes of the boxes kept, best score first. A box is
    dropped when it overlaps a kept, higher-scoring box by more than ``max_iou``."""
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    order = np.argsort(-np.asarray(scores, dtype=np.float64), kind="stable")
    keep: list[int] = []
    while order.size:
        best = int(order[0])
        keep.append(best)
        if order.size == 1:
            break
        overlap = iou_matrix(boxes[best : best + 1], boxes[order[1:]])[0]
        order = order[1:][overlap <= max_iou]
    return np.asarray(keep, dtype=int)


def boxes_array(boxes: Iterable[Sequence[float]]) -> np.ndarray:
    return np.asarray([tuple(b) for b in boxes], dtype=np.float64).reshape(-1, 4)
