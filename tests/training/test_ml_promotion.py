"""The promotion rule: a new version goes live unless it does worse than the active one.

No database: ``training.ml.promotion.promotion_decide`` on hand-picked scores.
"""

import json

import pytest

from training.ml.promotion import Decision, promotion_decide

TOLERANCE = 0.005


def decide(ours, theirs, active_number=3, **kwargs) -> Decision:
    return promotion_decide(
        ours=ours, theirs=theirs, tolerance=TOLERANCE, active_number=active_number, **kwargs
    )


def test_given_no_active_version_then_the_first_version_goes_live():
    decision = decide(0.41, None, active_number=None)

    assert decision == Decision(
        promoted=True,
        reason="Promoted: the first version of this model.",
        compared_with=None,
        ours=0.41,
        theirs=None,
    )


def test_given_no_active_version_then_even_a_missing_score_goes_live():
    assert decide(None, None, active_number=None).promoted


def test_given_a_better_version_then_it_goes_live_and_says_both_scores():
    decision = decide(0.92, 0.88)

    assert decision.promoted
    assert decision.compared_with == 3
    assert decision.reason == (
        "Promoted: macro F1 0.920 on the eval split vs 0.880 for version 3 on the same inputs."
    )


@pytest.mark.parametrize("ours", [0.88, 0.8751, 0.875])
def test_given_a_version_worse_by_at_most_the_tolerance_then_it_goes_live(ours):
    assert decide(ours, 0.88).promoted


@pytest.mark.parametrize("ours", [0.8749, 0.5, 0.0])
def test_given_a_version_worse_by_more_than_the_tolerance_then_it_stays_out(ours):
    decision = decide(ours, 0.88)

    assert not decision.promoted
    assert decision.reason == (
        f"Not promoted: macro F1 {ours:.3f} on the eval split is below the active version 3's "
        "0.880 on the same inputs."
    )


def test_given_no_score_for_the_new_version_then_it_does_not_replace_a_scored_one():
    decision = decide(None, 0.88)

    assert not decision.promoted
    assert "macro F1 0.000" in decision.reason


def test_given_the_active_version_has_no_score_on_these_inputs_then_the_new_one_goes_live():
    decision = decide(0.7, None)

    assert decision.promoted
    assert decision.reason == (
        "Promoted: macro F1 0.700 on the eval split vs 0.000 for version 3 on the same inputs."
    )


def test_given_another_metric_then_the_reason_names_it():
    assert decide(0.5, 0.9, metric="mAP").reason.startswith("Not promoted: mAP 0.500")


def test_given_a_decision_then_it_is_stored_as_the_json_the_version_has_always_held():
    stored = decide(0.5, 0.9).to_dict()

    assert stored == {
        "promoted": False,
        "reason": stored["reason"],
        "compared_with": 3,
        "ours": 0.5,
        "theirs": 0.9,
    }
    assert json.loads(json.dumps(stored)) == stored
