"""Pure review rules: which tier takes an annotation, consensus, Cohen's and Fleiss' kappa.

No database: these are the functions of ``labeling.review_rules``.
"""

import pytest

from labeling.review_rules import (
    ALL,
    DISAGREEMENTS,
    MODEL_DOUBT,
    MODEL_SPOT_CHECK,
    SAMPLE,
    Facts,
    TierRule,
    cohen_kappa,
    consensus,
    draw,
    fleiss_kappa,
    next_tier,
    tier_takes,
    tier_unreached,
)

HUMAN = Facts(id=1)
HUMAN_DISAGREEING = Facts(id=2, disagreement=True)
MODEL_DOUBTFUL = Facts(id=3, from_model=True, model_band="doubt")
MODEL_SURE = Facts(id=4, from_model=True, model_band="auto")

IDS = range(10_000)


def sampled(rule: TierRule, **facts) -> set[int]:
    return {i for i in IDS if tier_takes(rule, Facts(id=i, **facts))}


# ---------------------------------------------------------------------------- tier_takes


def test_all_takes_human_annotations_and_model_doubts_but_not_sure_model_labels():
    rule = TierRule(1, ALL)
    assert tier_takes(rule, HUMAN)
    assert tier_takes(rule, HUMAN_DISAGREEING)
    assert tier_takes(rule, MODEL_DOUBTFUL)
    assert not tier_takes(rule, MODEL_SURE)


@pytest.mark.parametrize("rate", [0.1, 0.3, 0.75])
def test_sample_takes_about_its_rate_of_annotations(rate):
    taken = sampled(TierRule(1, SAMPLE, rate))
    assert abs(len(taken) / len(IDS) - rate) < 0.02


def test_sample_is_the_same_on_every_run_and_differs_between_tiers():
    first = sampled(TierRule(1, SAMPLE, 0.2))
    assert sampled(TierRule(1, SAMPLE, 0.2)) == first
    assert [draw(i, 1) for i in range(50)] == [draw(i, 1) for i in range(50)]
    # Tier 2 draws its own sample, so it does not see exactly what tier 1 saw.
    assert sampled(TierRule(2, SAMPLE, 0.2)) != first


def test_sample_rate_zero_takes_none_and_one_takes_all():
    assert sampled(TierRule(1, SAMPLE, 0.0)) == set()
    assert sampled(TierRule(1, SAMPLE, 1.0)) == set(IDS)


def test_disagreements_takes_only_annotations_others_disagree_with():
    rule = TierRule(1, DISAGREEMENTS)
    assert tier_takes(rule, HUMAN_DISAGREEING)
    assert not tier_takes(rule, HUMAN)
    assert not tier_takes(rule, MODEL_DOUBTFUL)


def test_model_doubt_takes_only_model_annotations_in_the_doubt_band():
    rule = TierRule(1, MODEL_DOUBT)
    assert tier_takes(rule, MODEL_DOUBTFUL)
    assert not tier_takes(rule, MODEL_SURE)
    assert not tier_takes(rule, HUMAN)
    assert not tier_takes(rule, Facts(id=5, disagreement=True, model_band="doubt"))


def test_model_spot_check_samples_only_the_models_automatic_labels():
    rule = TierRule(1, MODEL_SPOT_CHECK, 0.25)
    taken = sampled(rule, from_model=True, model_band="auto")
    assert abs(len(taken) / len(IDS) - 0.25) < 0.02
    assert sampled(rule, from_model=True, model_band="doubt") == set()
    assert sampled(rule) == set()  # human annotations


def test_unknown_mode_is_refused():
    with pytest.raises(ValueError, match="unknown review mode"):
        tier_takes(TierRule(1, "sometimes"), HUMAN)


# ---------------------------------------------------------------------------- next_tier


def test_next_tier_walks_up_the_tiers_then_accepts():
    rules = [TierRule(1, ALL), TierRule(2, ALL)]
    assert next_tier(0, rules, HUMAN) == 1
    assert next_tier(1, rules, HUMAN) == 2
    assert next_tier(2, rules, HUMAN) is None


def test_next_tier_skips_tiers_that_do_not_take_the_annotation():
    rules = [TierRule(1, DISAGREEMENTS), TierRule(2, MODEL_DOUBT), TierRule(3, ALL)]
    assert next_tier(0, rules, HUMAN) == 3
    assert next_tier(0, rules, HUMAN_DISAGREEING) == 1
    assert next_tier(1, rules, HUMAN_DISAGREEING) == 3
    assert next_tier(0, rules, MODEL_DOUBTFUL) == 2
    assert next_tier(0, rules, MODEL_SURE) is None


def test_next_tier_reads_rules_in_tier_order_whatever_order_they_come_in():
    rules = [TierRule(3, ALL), TierRule(1, DISAGREEMENTS), TierRule(2, ALL)]
    assert next_tier(0, rules, HUMAN) == 2


def test_without_tiers_everything_is_accepted_at_once():
    assert next_tier(0, [], HUMAN) is None


# ---------------------------------------------------------------------------- consensus

ROBIN, SPARROW, BLURRY = frozenset({1}), frozenset({2}), frozenset({1, 3})


def test_consensus_when_everyone_agrees():
    assert consensus([ROBIN, ROBIN, ROBIN], majority=0) == ROBIN


def test_consensus_needs_everyone_when_majority_is_zero():
    assert consensus([ROBIN, ROBIN, SPARROW], majority=0) is None


def test_consensus_by_a_majority_of_two_out_of_three():
    assert consensus([ROBIN, SPARROW, ROBIN], majority=2) == ROBIN


def test_no_consensus_when_no_label_set_reaches_the_majority():
    assert consensus([ROBIN, SPARROW, BLURRY], majority=2) is None
    assert consensus([], majority=0) is None


def test_consensus_compares_whole_label_sets():
    assert consensus([ROBIN, BLURRY], majority=0) is None


# ---------------------------------------------------------------------------- kappa


def test_cohen_kappa_of_the_textbook_example_is_0_4():
    # Wikipedia, "Cohen's kappa": 50 proposals, A and B both yes 20, A yes B no 5,
    # A no B yes 10, both no 15: p_o = 0.7, p_e = 0.5, kappa = 0.4.
    pairs = [("yes", "yes")] * 20 + [("yes", "no")] * 5 + [("no", "yes")] * 10 + [("no", "no")] * 15
    assert cohen_kappa(pairs) == pytest.approx(0.4)


def test_cohen_kappa_of_perfect_agreement_is_1():
    assert cohen_kappa([("a", "a"), ("b", "b"), ("a", "a")]) == pytest.approx(1.0)
    assert cohen_kappa([("a", "a")] * 4) == 1.0  # one category only: agreement is all there is


def test_cohen_kappa_of_no_items_is_unknown():
    assert cohen_kappa([]) is None


# Fleiss (1971), as on Wikipedia's "Fleiss' kappa": 10 subjects, 14 raters, 5 categories.
FLEISS_TABLE = [
    [0, 0, 0, 0, 14],
    [0, 2, 6, 4, 2],
    [0, 0, 3, 5, 6],
    [0, 3, 9, 2, 0],
    [2, 2, 8, 1, 1],
    [7, 7, 0, 0, 0],
    [3, 2, 6, 3, 0],
    [2, 5, 3, 2, 2],
    [6, 5, 2, 1, 0],
    [0, 2, 2, 3, 7],
]


def test_fleiss_kappa_of_the_textbook_example_is_0_210():
    ratings = [{c: n for c, n in enumerate(row) if n} for row in FLEISS_TABLE]
    assert fleiss_kappa(ratings) == pytest.approx(0.210, abs=0.0005)


def test_fleiss_kappa_of_perfect_agreement_is_1():
    assert fleiss_kappa([{"a": 3}, {"b": 3}, {"a": 3}]) == pytest.approx(1.0)


def test_fleiss_kappa_refuses_items_with_different_numbers_of_raters():
    with pytest.raises(ValueError, match="same number"):
        fleiss_kappa([{"a": 3}, {"a": 1, "b": 1}])


def test_fleiss_kappa_refuses_a_single_rater():
    with pytest.raises(ValueError, match="same number"):
        fleiss_kappa([{"a": 1}, {"b": 1}])


def test_fleiss_kappa_of_no_ratings_is_unknown():
    assert fleiss_kappa([]) is None


def test_a_reviewer_tier_above_the_project_tiers_is_unreached():
    assert tier_unreached(1, 0)
    assert tier_unreached(3, 2)
    assert not tier_unreached(2, 2)
    assert not tier_unreached(None, 0)  # not a reviewer
