"""Detector evaluation: COCO AP (pycocotools), precision and recall at a threshold, and
per-class thresholds, on hand-made boxes whose answers can be worked out by hand.

No database: ``training.ml.detection_eval``. Boxes are normalised (x, y, w, h).
"""

import numpy as np
import pytest

from training.ml.detection_eval import (
    box_curves,
    box_thresholds,
    evaluate_detections,
    iou_matrix,
)

A = [0.1, 0.1, 0.2, 0.2]
B = [0.6, 0.6, 0.3, 0.2]
C = [0.5, 0.1, 0.2, 0.3]
FAR = [0.0, 0.7, 0.1, 0.1]  # overlaps none of them


def truth(*pairs):
    boxes = np.array([b for b, _ in pairs], dtype=np.float32).reshape(-1, 4)
    return boxes, np.array([k for _, k in pairs], dtype=np.int64)


def predicted(*triples):
    boxes = np.array([b for b, _, _ in triples], dtype=np.float32).reshape(-1, 4)
    scores = np.array([s for _, s, _ in triples], dtype=np.float32)
    return boxes, scores, np.array([k for _, _, k in triples], dtype=np.int64)


def test_given_perfect_predictions_then_every_ap_is_one():
    gt = [truth((A, 0), (B, 1)), truth((C, 0))]
    predictions = [predicted((A, 0.9, 0), (B, 0.8, 1)), predicted((C, 0.7, 0))]

    metrics = evaluate_detections(gt, predictions, 2)

    assert metrics["map50"] == pytest.approx(1.0)
    assert metrics["map"] == pytest.approx(1.0)
    assert [row["ap50"] for row in metrics["per_class"]] == [pytest.approx(1.0)] * 2
    assert metrics["pr_curve"]["overall"] == [pytest.approx(1.0)] * 101
    assert metrics["pr_curve"]["recall"][:3] == [0.0, 0.01, 0.02]
    assert metrics["per_class"][0] | {"ap50": 1, "ap": 1} == {
        "ap50": 1,
        "ap": 1,
        "true_boxes": 2,
        "detections": 2,
        "hits": 2,
        "precision": 1.0,
        "recall": 1.0,
    }


def test_given_a_false_positive_scoring_higher_then_ap50_halves():
    # The first detection is wrong (p = 0/1), the second finds the only box (p = 1/2 at
    # recall 1): interpolated precision is 0.5 at every recall point.
    gt = [truth((A, 0))]
    predictions = [predicted((FAR, 0.9, 0), (A, 0.8, 0))]

    metrics = evaluate_detections(gt, predictions, 1)

    assert metrics["map50"] == pytest.approx(0.5)
    assert metrics["pr_curve"]["per_class"][0] == [pytest.approx(0.5)] * 101


def test_given_a_false_positive_between_two_hits_then_ap50_is_the_interpolated_area():
    # hit (p 1, r 0.5), miss, hit (p 2/3, r 1): COCO's 101 recall points give precision 1
    # at recall 0 .. 0.50 (51 points) and 2/3 at 0.51 .. 1.00 (50 points).
    gt = [truth((A, 0), (B, 0))]
    predictions = [predicted((A, 0.9, 0), (FAR, 0.8, 0), (B, 0.7, 0))]

    metrics = evaluate_detections(gt, predictions, 1, score_threshold=0.75)

    expected = (51 * 1.0 + 50 * 2 / 3) / 101
    assert metrics["map50"] == pytest.approx(expected)
    assert metrics["map"] == pytest.approx(expected)  # exact boxes: the same at every IoU
    row = metrics["per_class"][0]
    # at score >= 0.75: the hit and the miss
    assert (row["detections"], row["hits"], row["precision"], row["recall"]) == (2, 1, 0.5, 0.5)


def test_given_a_loose_box_then_it_counts_at_iou_half_but_not_at_stricter_ious():
    # The box is A grown by half its width to the right: IoU = 0.04 / 0.06 = 2/3.
    loose = [0.1, 0.1, 0.3, 0.2]
    gt = [truth((A, 0))]

    metrics = evaluate_detections(gt, [predicted((loose, 0.9, 0))], 1)

    assert iou_matrix(np.array([loose]), np.array([A]))[0, 0] == pytest.approx(2 / 3)
    assert metrics["map50"] == pytest.approx(1.0)
    # hits at IoU 0.50, 0.55, 0.60, 0.65 (4 of COCO's 10 thresholds)
    assert metrics["map"] == pytest.approx(0.4)


def test_given_two_classes_then_ap_is_per_class_and_a_wrong_class_is_a_miss():
    # Class 0 is found; class 1's box is found but called class 0 (a miss for 1, and a
    # false positive for 0 that scores below the hit).
    gt = [truth((A, 0), (B, 1))]
    predictions = [predicted((A, 0.9, 0), (B, 0.6, 0))]

    metrics = evaluate_detections(gt, predictions, 3, score_threshold=0.5)

    ap50 = [row["ap50"] for row in metrics["per_class"]]
    assert ap50[0] == pytest.approx(1.0)  # the false positive comes after full recall
    assert ap50[1] == pytest.approx(0.0)
    assert ap50[2] is None  # no true box of class 2: left out of the mean
    assert metrics["map50"] == pytest.approx(0.5)
    assert metrics["per_class"][0]["precision"] == 0.5
    assert metrics["per_class"][1]["recall"] == 0.0
    assert metrics["per_class"][1]["precision"] is None  # nothing detected as class 1


def test_given_two_detections_of_one_box_then_only_the_higher_scoring_one_is_right():
    gt = [truth((A, 0))]
    predictions = [predicted((A, 0.6, 0), (A, 0.9, 0))]

    row = evaluate_detections(gt, predictions, 1, score_threshold=0.0)["per_class"][0]

    assert (row["detections"], row["hits"], row["precision"]) == (2, 1, 0.5)


def test_given_no_detections_at_all_then_ap_is_zero_and_nothing_breaks():
    gt = [truth((A, 0)), truth()]
    empty = predicted()

    metrics = evaluate_detections(gt, [empty, empty], 1)

    assert metrics["map50"] == 0.0
    assert metrics["per_class"][0]["recall"] == 0.0


def test_given_no_true_boxes_then_map_is_none():
    metrics = evaluate_detections([truth()], [predicted((A, 0.9, 0))], 2)

    assert metrics["map50"] is None and metrics["map"] is None
    assert metrics["pr_curve"]["overall"] is None


def test_given_evaluation_then_pycocotools_prints_nothing(capsys):
    evaluate_detections([truth((A, 0))], [predicted((A, 0.9, 0))], 1)

    assert capsys.readouterr().out == ""


# ---------------------------------------------------------------------------- thresholds


def ten_images(wrong: set[int]):
    """Ten images of one box each (class 0), one detection each scoring 0.95, 0.90, ...,
    0.50; the detections of the images in ``wrong`` land far from the box."""
    gt = [truth((A, 0)) for _ in range(10)]
    predictions = [predicted((FAR if i in wrong else A, 0.95 - 0.05 * i, 0)) for i in range(10)]
    return gt, predictions


def test_given_a_miss_after_warmup_then_the_class_threshold_stops_just_above_it():
    gt, predictions = ten_images(wrong={6})  # the 7th detection (0.65) is wrong

    (tuned,) = box_thresholds(gt, predictions, 1, 0.9, warmup=5)

    assert tuned.threshold == pytest.approx(0.70)
    assert (tuned.kept, tuned.precision) == (6, 1.0)
    assert tuned.recall == pytest.approx(6 / 10)  # of the true boxes, not of the detections


def test_given_an_unreachable_target_then_there_is_no_threshold():
    gt, predictions = ten_images(wrong={0, 2, 4, 6, 8})

    (tuned,) = box_thresholds(gt, predictions, 1, 0.9, warmup=0)

    assert tuned.threshold is None and tuned.missing == "target"


def test_given_too_few_detections_above_the_cut_then_the_threshold_is_withheld():
    gt, predictions = ten_images(wrong={3})  # three right, then a miss

    found = box_thresholds(gt, predictions, 1, 0.99, warmup=0)[0]
    withheld = box_thresholds(gt, predictions, 1, 0.99, warmup=0, min_kept=4)[0]

    assert (found.threshold, found.kept) == (pytest.approx(0.85), 3)
    assert (withheld.threshold, withheld.missing, withheld.evidence) == (None, "evidence", 3)


def test_given_boxes_found_but_never_detected_then_recall_counts_them_as_missed():
    # Two images, two boxes each; the detector finds one box per image, perfectly.
    gt = [truth((A, 0), (B, 0)), truth((A, 0), (C, 0))]
    predictions = [predicted((A, 0.9, 0)), predicted((C, 0.8, 0))]

    (tuned,) = box_thresholds(gt, predictions, 1, 0.9, warmup=0)

    assert (tuned.threshold, tuned.precision) == (pytest.approx(0.8), 1.0)
    assert tuned.recall == pytest.approx(0.5)


def test_given_two_classes_then_each_gets_its_own_threshold():
    gt = [truth((A, 0), (B, 1)), truth((C, 1))]
    predictions = [
        predicted((A, 0.9, 0), (B, 0.8, 1)),
        predicted((FAR, 0.95, 1), (C, 0.4, 1)),
    ]

    first, second = box_thresholds(gt, predictions, 2, 0.9, warmup=0)

    assert first.threshold == pytest.approx(0.9)
    # class 1's best detection is wrong: no cut reaches 0.9 past it
    assert second.threshold is None


def test_given_box_curves_then_recall_counts_missed_boxes_and_the_tuned_cut_is_on_them():
    gt, predictions = ten_images(wrong={6})  # the 7th detection (0.65) is wrong
    gt[0] = truth((A, 0), (FAR, 0))  # and one true box nobody found

    (curve,) = box_curves(gt, predictions, 1)
    at = {round(t, 3): i for i, t in enumerate(curve["thresholds"])}

    # from 0.68: six detections kept (0.95 ... 0.70), all right, of 11 true boxes
    assert curve["precision"][at[0.68]] == 1.0
    assert curve["recall"][at[0.68]] == pytest.approx(round(6 / 11, 4))
    assert curve["coverage"][at[0.68]] == pytest.approx(0.6)
    # from 0.63 the wrong one (0.65) comes in
    assert curve["precision"][at[0.63]] == pytest.approx(round(6 / 7, 4))
