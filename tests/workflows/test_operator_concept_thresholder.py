"""concept-thresholder: per-concept thresholds, comparators, doubt band and the two rules."""

import numpy as np
import pytest

from workflows.operators.concept_thresholder import threshold, thresholds_pick
from workflows.ports import Concepts


def rows(mask) -> list[list[int]]:
    return [np.flatnonzero(r).tolist() for r in mask]


def test_given_table_thresholds_then_passing_concepts_and_inputs_come_out():
    concepts = Concepts.scored([7, 8], np.array([[0.9, 0.2], [0.5, 0.6], [0.1, 0.1]]))
    limits = thresholds_pick(concepts, source="table", table={"7": 0.8, "8": 0.6}, default=None)

    out = threshold(concepts, limits)

    assert rows(out["passed"].labels) == [[0], [1], []]
    assert out["passed_inputs"].tolist() == [True, True, False]
    assert out["failed_inputs"].tolist() == [False, False, True]
    assert out["passed"].thresholds == (0.8, 0.6)


def test_given_greater_then_a_score_equal_to_its_threshold_fails():
    concepts = Concepts.scored([1], np.array([[0.5], [0.51]]))

    at_least = threshold(concepts, (0.5,), comparator="greater-or-equal")
    above = threshold(concepts, (0.5,), comparator="greater")

    assert at_least["passed_inputs"].tolist() == [True, True]
    assert above["passed_inputs"].tolist() == [False, True]


def test_given_less_then_low_scores_pass():
    # e.g. an anomaly score or a distance: small is good
    concepts = Concepts.scored([1, 2], np.array([[0.1, 0.9], [0.4, 0.3]]))

    out = threshold(concepts, (0.2, 0.35), comparator="less")

    assert rows(out["passed"].labels) == [[0], [1]]


def test_given_a_concept_missing_from_the_table_then_the_default_applies():
    concepts = Concepts.scored([1, 2], np.array([[0.6, 0.6]]))

    limits = thresholds_pick(concepts, source="table", table={"1": 0.9}, default=0.5)

    assert limits == (0.9, 0.5)
    assert rows(threshold(concepts, limits)["passed"].labels) == [[1]]


def test_given_tuned_thresholds_then_the_model_versions_own_are_used():
    concepts = Concepts.scored([1, 2], np.array([[0.6, 0.6]]), tuned=(0.7, None))

    assert thresholds_pick(concepts, source="tuned", table={}, default=None) == (0.7, None)


def test_given_no_tuned_thresholds_then_tuned_is_refused_with_a_reason():
    concepts = Concepts.scored([1], np.array([[0.6]]))

    with pytest.raises(ValueError, match="no tuned thresholds"):
        thresholds_pick(concepts, source="tuned", table={}, default=None)


def test_given_a_doubt_band_then_near_misses_are_in_doubt_with_their_labels():
    concepts = Concepts.scored([1, 2], np.array([[0.75, 0.1], [0.95, 0.75], [0.5, 0.5]]))

    out = threshold(concepts, (0.8, 0.8), band=0.1)

    assert out["passed_inputs"].tolist() == [False, True, False]
    assert out["doubt_inputs"].tolist() == [True, False, False]
    assert out["failed_inputs"].tolist() == [False, False, True]
    assert rows(out["doubt"].labels) == [[0], [], []]
    # rule "any": the passing label is written, the doubtful one left out
    assert rows(out["passed"].labels) == [[], [0], []]


def test_given_an_unreachable_threshold_then_only_a_near_certain_score_is_in_doubt():
    concepts = Concepts.scored([1], np.array([[0.85], [0.95]]))

    out = threshold(concepts, (None,), band=0.1)

    assert out["passed_inputs"].tolist() == [False, False]
    assert out["doubt_inputs"].tolist() == [False, True]


def test_given_rule_complete_then_every_exclusive_group_must_pass():
    # columns 0-1: group A, 2-3: group B, 4: a single
    scores = np.array(
        [
            [0.9, 0.1, 0.8, 0.2, 0.1],  # both groups sure: passed
            [0.9, 0.1, 0.6, 0.4, 0.9],  # group B below its band: failed, though A passes
            [0.9, 0.1, 0.75, 0.25, 0.0],  # group B in doubt: doubt
            [0.9, 0.1, 0.8, 0.2, 0.65],  # single in doubt: doubt
        ]
    )
    concepts = Concepts.scored([1, 2, 3, 4, 5], scores, groups=((0, 1), (2, 3)))
    limits = (0.7, 0.7, 0.8, 0.8, 0.7)

    complete = threshold(concepts, limits, band=0.1, rule="complete")
    loose = threshold(concepts, limits, band=0.1, rule="any")

    assert complete["passed_inputs"].tolist() == [True, False, False, False]
    assert complete["doubt_inputs"].tolist() == [False, False, True, True]
    assert rows(complete["passed"].labels) == [[0, 2], [], [], []]
    assert rows(complete["doubt"].labels) == [[], [], [0, 2], [0, 2, 4]]
    assert loose["passed_inputs"].tolist() == [True, True, True, True]


def test_given_an_exclusive_group_then_only_its_top_option_can_be_a_label():
    concepts = Concepts.scored([1, 2], np.array([[0.55, 0.45]]), groups=((0, 1),))

    out = threshold(concepts, (0.4, 0.4))

    assert rows(out["passed"].labels) == [[0]]
