"""Held-out evaluation: counts, precision/recall/F1, ROC AUC, PR curves, confusion matrices.

No database: ``training.ml.metrics`` on hand-made scores.
"""

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from training.ml.head import decision_scores
from training.ml.layout import Layout
from training.ml.metrics import GRID, Counts, confusion, counts_at, curve, evaluate, roc_auc

# ---------------------------------------------------------------------------- roc_auc


@pytest.mark.parametrize("seed", range(5))
def test_given_random_scores_with_ties_then_roc_auc_equals_sklearns(seed):
    rng = np.random.default_rng(seed)
    # Scores on a coarse grid, so many positives and negatives share a score.
    scores = rng.integers(0, 10, 200) / 10.0
    truth = rng.random(200) < 0.3 + 0.04 * scores * 10

    assert roc_auc(scores, truth) == pytest.approx(roc_auc_score(truth, scores), abs=1e-12)


def test_given_perfect_and_reversed_scores_then_roc_auc_is_one_and_zero():
    truth = np.array([0, 0, 1, 1])

    assert roc_auc(np.array([0.1, 0.2, 0.8, 0.9]), truth) == 1.0
    assert roc_auc(np.array([0.9, 0.8, 0.2, 0.1]), truth) == 0.0
    # every score tied: ties count half
    assert roc_auc(np.full(4, 0.5), truth) == 0.5


@pytest.mark.parametrize("truth", [[1, 1, 1], [0, 0, 0]])
def test_given_only_one_class_then_roc_auc_is_none(truth):
    assert roc_auc(np.array([0.2, 0.5, 0.9]), np.array(truth)) is None


# ---------------------------------------------------------------------------- counts


SCORES = np.array([0.9, 0.8, 0.7, 0.6, 0.4, 0.3, 0.2, 0.1])
TRUTH = np.array([1, 1, 0, 1, 1, 0, 0, 0])


def test_given_a_threshold_then_counts_precision_recall_and_f1_are_as_by_hand():
    counts = counts_at(SCORES, TRUTH, 0.5)

    # predicted: 0.9, 0.8, 0.7, 0.6 → three right, one wrong; 0.4 is a missed positive
    assert counts == Counts(tp=3, fp=1, fn=1, tn=3)
    assert counts.precision == pytest.approx(3 / 4)
    assert counts.recall == pytest.approx(3 / 4)
    assert counts.f1 == pytest.approx(3 / 4)


def test_given_a_threshold_equal_to_a_score_then_that_score_is_predicted():
    assert counts_at(SCORES, TRUTH, 0.4) == Counts(tp=4, fp=1, fn=0, tn=3)


def test_given_uneven_precision_and_recall_then_f1_is_their_harmonic_mean():
    counts = counts_at(SCORES, TRUTH, 0.75)  # 0.9 and 0.8: both right, two positives missed

    assert (counts.precision, counts.recall) == (1.0, 0.5)
    assert counts.f1 == pytest.approx(2 * 1.0 * 0.5 / 1.5)


def test_given_nothing_predicted_then_precision_is_none_and_f1_zero():
    counts = counts_at(SCORES, TRUTH, 0.95)

    assert counts.precision is None
    assert counts.recall == 0.0
    assert counts.f1 == 0.0


def test_given_no_positives_and_nothing_predicted_then_f1_is_none():
    counts = Counts(tp=0, fp=0, fn=0, tn=5)

    assert counts.precision is None
    assert counts.recall is None
    assert counts.f1 is None


# ---------------------------------------------------------------------------- curve


def test_given_scores_then_coverage_never_rises_with_the_threshold():
    rng = np.random.default_rng(3)
    scores = rng.random(300)
    truth = rng.random(300) < scores

    result = curve(scores, truth)

    coverage = result["coverage"]
    assert len(coverage) == len(result["thresholds"]) == len(GRID)
    assert all(a >= b for a, b in zip(coverage, coverage[1:], strict=False))
    assert coverage[0] == 1.0
    recall = result["recall"]
    assert all(a >= b for a, b in zip(recall, recall[1:], strict=False))


def test_given_a_zero_threshold_then_every_scored_input_counts_but_zero_scores_do_not():
    # a zero decision score is a group option that is not the top choice: never labeled
    truth = np.array([1, 0, 0, 1, 0, 0, 0])
    scores = np.array([0.9, 0.0, 0.3, 0.6, 0.2, 0.7, 0.1])

    result = curve(scores, truth)

    assert result["thresholds"][0] == 0.0
    assert result["precision"][0] == round(2 / 6, 4)
    assert result["coverage"][0] == round(6 / 7, 4)
    assert result["recall"][0] == 1.0


def test_given_a_threshold_above_every_score_then_precision_is_none_and_coverage_zero():
    result = curve(np.array([0.2, 0.4]), np.array([1, 0]))

    assert result["thresholds"][-1] == 1.0
    assert result["precision"][-1] is None
    assert result["coverage"][-1] == 0.0
    # at 0.4 only the negative is kept
    at = result["thresholds"].index(0.4)
    assert (result["precision"][at], result["recall"][at], result["coverage"][at]) == (0, 0, 0.5)


# ---------------------------------------------------------------------------- confusion


def test_given_a_group_then_confusion_counts_true_option_by_top_option():
    group = (0, 1, 2)
    y = np.array(
        [[1, 0, 0, 0], [1, 0, 0, 1], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 1, 0], [0, 0, 0, 1]],
        dtype=np.float32,
    )
    known = np.zeros_like(y, dtype=bool)
    known[:5, :3] = True  # the last input says nothing about the group
    known[:, 3] = True
    probs = np.array(
        [
            [0.8, 0.1, 0.1, 0.5],  # 0 → 0
            [0.2, 0.7, 0.1, 0.5],  # 0 → 1
            [0.1, 0.8, 0.1, 0.5],  # 1 → 1
            [0.6, 0.1, 0.3, 0.5],  # 2 → 0
            [0.1, 0.2, 0.7, 0.5],  # 2 → 2
            [0.9, 0.0, 0.1, 0.5],  # unknown: not counted
        ]
    )

    matrix = confusion(probs, y, known, group)

    assert matrix == [[1, 1, 0], [0, 1, 0], [1, 0, 1]]


# ---------------------------------------------------------------------------- evaluate


def test_given_a_layout_when_evaluating_then_the_report_has_per_concept_and_group_metrics():
    layout = Layout.from_choices([(11, 1), (12, 1), (21, None)])
    y, known = layout.targets([{11}, {11, 21}, {12}, {12}, {21}, set()])
    probs = np.array(
        [
            [0.9, 0.1, 0.2],
            [0.7, 0.3, 0.8],
            [0.4, 0.6, 0.6],  # a false "21"
            [0.8, 0.2, 0.1],  # colour 12 taken for 11
            [0.5, 0.5, 0.9],  # the group is unknown here: not in the colour metrics
            [0.3, 0.7, 0.3],
        ]
    )

    report = evaluate(probs, decision_scores(probs, layout), y, known, layout)

    assert set(report) == {"concepts", "confusion", "macro_f1", "macro_auc", "accuracy"}
    assert set(report["concepts"]) == {"11", "12", "21"}
    c11, c12, c21 = (report["concepts"][k] for k in ("11", "12", "21"))
    # colour, over the 4 inputs that name one: 11 predicted on rows 0, 1, 3 (row 3 wrong)
    assert (c11["support"], c11["evaluated"]) == (2, 4)
    assert (c11["precision"], c11["recall"]) == (pytest.approx(2 / 3), 1.0)
    assert (c12["precision"], c12["recall"], c12["f1"]) == (1.0, 0.5, pytest.approx(2 / 3))
    # the single, over all 6 inputs, at 0.5: rows 1, 2, 4 predicted, rows 1 and 4 right
    assert (c21["support"], c21["evaluated"]) == (2, 6)
    assert (c21["precision"], c21["recall"]) == (pytest.approx(2 / 3), 1.0)
    assert report["accuracy"] == pytest.approx(3 / 4)
    assert report["confusion"] == [{"concept_ids": [11, 12], "matrix": [[2, 0], [1, 1]]}]
    assert report["macro_f1"] == pytest.approx(np.mean([0.8, 2 / 3, 0.8]))
    assert c21["curve"]["coverage"][0] == 1.0


def test_given_only_singles_when_evaluating_then_accuracy_is_none_and_no_confusion():
    layout = Layout.from_choices([(5, None)])
    y, known = layout.targets([{5}, set(), {5}])
    probs = np.array([[0.9], [0.2], [0.4]])

    report = evaluate(probs, decision_scores(probs, layout), y, known, layout)

    assert report["accuracy"] is None
    assert report["confusion"] == []
    assert report["macro_auc"] == 1.0
    assert report["concepts"]["5"]["recall"] == 0.5
