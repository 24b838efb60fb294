"""Pure box rules: checks, conversions both ways, IoU, Hungarian matching, NMS."""

import math

import numpy as np
import pytest

from labeling.boxes import (
    InvalidBox,
    box_checked,
    boxes_agreement,
    boxes_match,
    from_clarifai,
    from_coco,
    from_pixels,
    from_yolo,
    iou_matrix,
    nms,
    to_clarifai,
    to_coco,
    to_pixels,
    to_yolo,
)

BOX = (0.1, 0.2, 0.3, 0.4)


@pytest.mark.parametrize(
    ("box", "message"),
    [
        ((0.1, 0.1, 0.0, 0.2), "width and a height"),
        ((0.1, 0.1, 0.2, -0.1), "width and a height"),
        ((math.nan, 0.1, 0.2, 0.2), "finite"),
        ((0.1, math.inf, 0.2, 0.2), "finite"),
        ((1.2, 0.1, 0.2, 0.2), "outside the image"),
        ((-0.5, 0.1, 0.4, 0.2), "outside the image"),
        (("a", 0.1, 0.2, 0.2), "four numbers"),
    ],
)
def test_a_box_that_cannot_be_stored_says_why(box, message):
    with pytest.raises(InvalidBox, match=message):
        box_checked(*box)


def test_a_box_partly_off_the_image_is_clipped_and_says_so():
    box, clipped = box_checked(0.9, -0.1, 0.2, 0.3)
    assert clipped
    assert box.as_tuple() == pytest.approx((0.9, 0.0, 0.1, 0.2))
    inside, changed = box_checked(*BOX)
    assert not changed and inside.as_tuple() == BOX


def test_conversions_round_trip():
    width, height = 640, 480
    assert from_coco(to_coco(BOX, width, height), width, height).as_tuple() == pytest.approx(BOX)
    assert from_yolo(*to_yolo(BOX)).as_tuple() == pytest.approx(BOX)
    assert from_clarifai(to_clarifai(BOX)).as_tuple() == pytest.approx(BOX)
    x0, y0, x1, y1 = to_pixels(BOX, width, height)
    assert (x0, y0, x1, y1) == (64, 96, 256, 288)
    assert from_pixels(x0, y0, x1, y1, width, height).as_tuple() == pytest.approx(BOX)


def test_conversions_use_each_formats_own_conventions():
    assert to_coco(BOX, 100, 50) == pytest.approx([10, 10, 30, 20])  # pixels, top-left
    assert to_yolo(BOX) == pytest.approx((0.25, 0.4, 0.3, 0.4))  # centre first
    assert to_clarifai(BOX) == pytest.approx(
        {"top_row": 0.2, "left_col": 0.1, "bottom_row": 0.6, "right_col": 0.4}
    )


def test_a_clarifai_box_without_its_four_sides_is_refused():
    with pytest.raises(InvalidBox, match="top_row"):
        from_clarifai({"top_row": 0.1})


def test_iou_of_known_boxes():
    a = np.array([[0, 0, 0.5, 0.5], [0, 0, 0.2, 0.2]])
    b = np.array([[0, 0, 0.5, 0.5], [0.25, 0, 0.5, 0.5], [0.6, 0.6, 0.1, 0.1]])
    iou = iou_matrix(a, b)
    assert iou.shape == (2, 3)
    assert iou[0, 0] == pytest.approx(1.0)
    assert iou[0, 1] == pytest.approx(0.125 / 0.375)  # half overlaps: 1/3
    assert iou[0, 2] == 0
    assert iou[1, 0] == pytest.approx(0.04 / 0.25)
    assert iou_matrix(np.zeros((0, 4)), b).shape == (0, 3)


def test_hungarian_matching_beats_greedy():
    # Greedy by best IoU would pair a0 with b0 (0.6) and leave a1 with nothing above 0.5;
    # the best assignment pairs a0-b1 and a1-b0.
    a = np.array([[0.0, 0.0, 0.4, 0.4], [0.2, 0.0, 0.4, 0.4]])
    b = np.array([[0.12, 0.0, 0.4, 0.4], [0.0, 0.0, 0.36, 0.4]])
    matches = boxes_match(a, b, min_iou=0.5)
    assert sorted((m.a, m.b) for m in matches) == [(0, 1), (1, 0)]
    assert all(m.iou >= 0.5 for m in matches)


def test_matching_keeps_concepts_apart_and_drops_weak_pairs():
    a = np.array([[0, 0, 0.5, 0.5], [0.5, 0.5, 0.5, 0.5]])
    b = np.array([[0, 0, 0.5, 0.5], [0.55, 0.55, 0.1, 0.1]])
    matches = boxes_match(a, b, min_iou=0.5, a_concepts=[1, 2], b_concepts=[2, 2])
    assert matches == []  # same place, other concept; same concept, too little overlap
    assert [(m.a, m.b) for m in boxes_match(a, b, min_iou=0.5)] == [(0, 0)]


def test_agreement_is_the_f1_of_the_matching():
    a = np.array([[0, 0, 0.5, 0.5], [0.5, 0.5, 0.4, 0.4]])
    b = np.array([[0, 0, 0.5, 0.5]])
    assert boxes_agreement(a, b, min_iou=0.5) == pytest.approx(2 * 1 / 3)
    assert boxes_agreement(np.zeros((0, 4)), np.zeros((0, 4)), min_iou=0.5) == 1.0


def test_nms_keeps_the_best_of_overlapping_boxes():
    boxes = np.array([[0, 0, 0.5, 0.5], [0.02, 0, 0.5, 0.5], [0.6, 0.6, 0.2, 0.2]])
    scores = np.array([0.7, 0.9, 0.5])
    assert list(nms(boxes, scores, max_iou=0.5)) == [1, 2]
    assert list(nms(boxes, scores, max_iou=0.99)) == [1, 0, 2]
    assert list(nms(np.zeros((0, 4)), np.zeros(0), max_iou=0.5)) == []
