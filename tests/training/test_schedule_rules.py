"""Pure scheduling rules: when a project's classifier is due for a new version, and which
review tier a model's new annotation waits in.

No database: ``training.services.schedule.retrain_due`` and
``labeling.review_rules.model_first_tier``.
"""

from datetime import UTC, datetime, timedelta

import pytest

from labeling.review_rules import (
    ALL,
    DISAGREEMENTS,
    MODEL_DOUBT,
    MODEL_SPOT_CHECK,
    SAMPLE,
    TierRule,
    model_first_tier,
)
from training.services.schedule import RetrainState, retrain_due

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def due(new_labels: int, last_queued_at=None, *, min_labels=10, every_minutes=60) -> bool:
    state = RetrainState(new_labels=new_labels, last_queued_at=last_queued_at)
    return retrain_due(state, min_labels=min_labels, every_minutes=every_minutes, now=NOW)


# ---------------------------------------------------------------------------- retrain_due


@pytest.mark.parametrize("every_minutes", [0, -5])
def test_given_the_schedule_is_off_then_nothing_is_ever_due(every_minutes):
    assert not due(10_000, None, every_minutes=every_minutes)
    assert not due(10_000, NOW - timedelta(days=30), every_minutes=every_minutes)


def test_given_too_few_new_labels_then_no_version_is_due():
    assert not due(9, None, min_labels=10)
    assert due(10, None, min_labels=10)


def test_given_no_new_label_then_no_version_is_due_even_with_a_zero_minimum():
    assert not due(0, None, min_labels=0)
    assert due(1, None, min_labels=0)


def test_given_no_version_yet_then_the_first_is_due_at_once():
    assert due(10, None, every_minutes=24 * 60)


def test_given_a_recent_version_then_the_next_waits_for_the_period():
    assert not due(500, NOW - timedelta(minutes=59), every_minutes=60)
    assert due(500, NOW - timedelta(minutes=60), every_minutes=60)
    assert due(500, NOW - timedelta(hours=5), every_minutes=60)


def test_given_the_period_has_passed_then_enough_labels_are_still_needed():
    assert not due(3, NOW - timedelta(days=2), min_labels=10, every_minutes=60)


# ---------------------------------------------------------------------------- model_first_tier


@pytest.mark.parametrize(
    ("rules", "tier"),
    [
        ([TierRule(1, SAMPLE, 0.1), TierRule(2, MODEL_DOUBT), TierRule(3, ALL)], 2),
        ([TierRule(3, ALL), TierRule(2, DISAGREEMENTS)], 3),
        # the rules are taken by tier number, not in the order given
        ([TierRule(4, ALL), TierRule(2, MODEL_DOUBT)], 2),
        ([TierRule(1, MODEL_SPOT_CHECK, 0.5), TierRule(2, SAMPLE, 0.5)], 1),
        ([], 1),
    ],
)
def test_given_a_doubtful_suggestion_then_it_waits_in_the_first_tier_that_takes_doubt(rules, tier):
    assert model_first_tier("doubt", False, rules) == tier
    # being drawn for a spot check changes nothing for a doubt
    assert model_first_tier("doubt", True, rules) == tier


def test_given_no_tier_takes_doubt_then_a_doubtful_suggestion_waits_in_tier_1():
    rules = [TierRule(2, DISAGREEMENTS), TierRule(3, MODEL_SPOT_CHECK, 0.2)]

    assert model_first_tier("doubt", False, rules) == 1


@pytest.mark.parametrize(
    ("rules", "tier"),
    [
        ([TierRule(1, MODEL_DOUBT), TierRule(2, MODEL_SPOT_CHECK, 0.1), TierRule(3, ALL)], 2),
        ([TierRule(1, MODEL_DOUBT), TierRule(3, ALL)], 3),
        ([TierRule(5, MODEL_SPOT_CHECK, 0.1), TierRule(2, ALL)], 2),
        ([TierRule(1, MODEL_DOUBT), TierRule(2, SAMPLE, 0.5)], 1),
        ([], 1),
    ],
)
def test_given_a_spot_checked_automatic_label_then_it_waits_in_the_first_checking_tier(rules, tier):
    assert model_first_tier("auto", True, rules) == tier


@pytest.mark.parametrize(
    "rules",
    [[], [TierRule(1, ALL)], [TierRule(1, MODEL_SPOT_CHECK, 1.0), TierRule(2, MODEL_DOUBT)]],
)
def test_given_an_automatic_label_not_drawn_then_it_is_accepted_at_once(rules):
    assert model_first_tier("auto", False, rules) is None


@pytest.mark.parametrize("spot_checked", [False, True])
def test_given_a_low_input_then_there_is_no_review_tier(spot_checked):
    rules = [TierRule(1, ALL), TierRule(2, MODEL_DOUBT), TierRule(3, MODEL_SPOT_CHECK, 1.0)]

    assert model_first_tier("low", spot_checked, rules) is None
