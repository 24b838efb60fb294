"""Per-concept thresholds tuned to a target precision on the eval split.

No database: ``training.ml.thresholds.tune_threshold`` on hand-made and random scores.
"""

import numpy as np
import pytest

from training.ml.thresholds import Tuned, tune_group, tune_threshold

# 50 scores from 0.99 down to 0.50, one apart.
SCORES = np.round(np.arange(99, 49, -1) / 100, 2)


def truth_with_negatives(*ranks: int) -> np.ndarray:
    truth = np.ones(len(SCORES), dtype=bool)
    truth[list(ranks)] = False
    return truth


def test_given_a_false_positive_after_warmup_then_the_threshold_stops_just_above_it():
    # The 9th best score (0.91) is wrong: 8/9 = 0.889 is below the target.
    truth = truth_with_negatives(8)

    tuned = tune_threshold(SCORES, truth, 0.9, warmup=5)

    assert tuned == Tuned(
        threshold=0.92,
        precision=1.0,
        recall=8 / 49,
        coverage=8 / 50,
        kept=8,
        evidence=8,
        evidence_hits=8,
    )


def test_given_precision_recovers_further_down_then_the_first_dip_still_decides():
    # After the dip at 0.91, 9/10 = 0.9 reaches the target again and stays above it to the
    # end; the walk must not buy that coverage.
    truth = truth_with_negatives(8)

    tuned = tune_threshold(SCORES, truth, 0.9, warmup=5)

    assert tuned.threshold == 0.92
    assert tune_threshold(SCORES, truth, 0.85, warmup=5).threshold == 0.50


def test_given_a_dip_during_warmup_then_the_walk_goes_on():
    # The second score is wrong: 1/2 .. 3/4 are below 0.8 but inside the warmup of 5.
    truth = truth_with_negatives(1)

    tuned = tune_threshold(SCORES, truth, 0.8, warmup=5)

    assert tuned.threshold == 0.50
    assert tuned.kept == 50
    assert tuned.precision == pytest.approx(49 / 50)
    assert tuned.recall == 1.0
    assert tuned.coverage == 1.0


def test_given_no_warmup_then_an_early_dip_stops_the_walk():
    truth = truth_with_negatives(1)

    tuned = tune_threshold(SCORES, truth, 0.8, warmup=0)

    assert (tuned.threshold, tuned.kept, tuned.precision) == (0.99, 1, 1.0)


def test_given_an_unreachable_target_then_there_is_no_threshold():
    # Every other input is wrong: precision hovers around 0.5.
    truth = np.arange(len(SCORES)) % 2 == 1

    tuned = tune_threshold(SCORES, truth, 0.9)

    assert tuned == Tuned(
        threshold=None, precision=None, recall=0.0, coverage=0.0, kept=0, missing="target"
    )


def test_given_no_positives_then_there_is_no_threshold_and_no_recall():
    tuned = tune_threshold(SCORES, np.zeros(len(SCORES), dtype=bool), 0.0)

    assert tuned.threshold is None
    assert tuned.recall is None
    assert tuned.kept == 0


def test_given_tied_scores_then_a_cut_never_splits_them():
    # Three inputs share 0.9 and one of them is wrong: a cut between them would reach 100 %
    # precision on paper, yet routing at 0.9 would take all three.
    scores = np.array([0.9, 0.9, 0.9, 0.8, 0.7, 0.6])
    truth = np.array([1, 1, 0, 1, 1, 1], dtype=bool)

    strict = tune_threshold(scores, truth, 0.9, warmup=0)
    loose = tune_threshold(scores, truth, 0.6, warmup=0)

    assert strict.threshold is None
    assert (loose.threshold, loose.kept) == (0.6, 6)


def test_given_zero_scores_then_they_are_never_kept():
    # A group option that is not the top choice scores 0: never an automatic label.
    scores = np.array([0.9, 0.8, 0.0, 0.0])
    truth = np.ones(4, dtype=bool)

    tuned = tune_threshold(scores, truth, 0.5)

    assert (tuned.threshold, tuned.kept, tuned.recall, tuned.coverage) == (0.8, 2, 0.5, 0.5)


def test_given_no_scores_then_there_is_no_threshold():
    tuned = tune_threshold(np.array([]), np.array([], dtype=bool), 0.9)

    assert tuned.threshold is None
    assert tuned.kept == 0


def test_given_a_tuned_threshold_then_to_dict_has_every_field():
    tuned = tune_threshold(SCORES, truth_with_negatives(8), 0.9)

    assert tuned.to_dict() == {
        "threshold": 0.92,
        "precision": 1.0,
        "recall": 8 / 49,
        "coverage": 8 / 50,
        "kept": 8,
        "missing": None,
        "evidence": 8,
        "evidence_hits": 8,
        "bound": None,
        "needed": None,
        "pooled": False,
    }


def check_random_case(seed: int) -> bool:
    """Tune on random scores; check the result; True when a threshold was found."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 80))
    # two decimals: plenty of ties; truth leans on the score, so targets are sometimes met
    scores = np.round(rng.random(n), 2)
    truth = rng.random(n) < scores**0.5
    target = float(rng.uniform(0.5, 1.0))
    warmup = int(rng.integers(0, 10))

    tuned = tune_threshold(scores, truth, target, warmup=warmup)

    if tuned.threshold is None:
        assert tuned.kept == 0
        return False
    kept = scores >= tuned.threshold
    assert truth[kept].mean() >= target
    assert tuned.kept == int(kept.sum())
    assert tuned.precision == pytest.approx(truth[kept].mean())
    assert tuned.coverage == pytest.approx(kept.mean())
    assert tuned.recall == pytest.approx(truth[kept].sum() / truth.sum())
    # no cut above the threshold, past the warmup, fell below the target (the first dip rule)
    for s in np.unique(scores[scores > tuned.threshold]):
        above = scores >= s
        if above.sum() > warmup:
            assert truth[above].mean() >= target
    return True


def test_given_random_scores_then_a_threshold_always_meets_the_target():
    found = 0
    for seed in range(300):
        try:
            found += check_random_case(seed)
        except AssertionError as exc:
            raise AssertionError(f"seed {seed}") from exc

    # the check is not empty: most random cases do get a threshold
    assert found > 200


def test_given_too_few_eval_inputs_above_the_cut_then_there_is_no_threshold():
    # two right answers at the top, then a miss: a cut after two says nothing yet
    scores = np.array([0.99, 0.98, 0.60, 0.50])
    truth = np.array([True, True, False, True])

    assert tune_threshold(scores, truth, 0.99, warmup=0).threshold == 0.98
    no_evidence = tune_threshold(scores, truth, 0.99, warmup=0, min_kept=3)
    assert (no_evidence.threshold, no_evidence.kept, no_evidence.coverage) == (None, 0, 0.0)
    assert no_evidence.missing == "evidence"
    # what the withheld threshold would have rested on is kept, so the page can show it
    assert (no_evidence.evidence, no_evidence.evidence_hits) == (2, 2)
    assert tune_threshold(scores, ~truth, 0.99, warmup=0).missing == "target"


# ---------------------------------------------------------------------------- with a bound


def perfect(n: int, top: float = 0.99) -> tuple[np.ndarray, np.ndarray]:
    """n right answers scoring from ``top`` down to 0.5, then as many wrong ones scoring 0
    (never kept)."""
    scores = np.r_[np.linspace(top, 0.5, n), np.zeros(n)]
    return scores, np.r_[np.ones(n, dtype=bool), np.zeros(n, dtype=bool)]


def test_given_a_bound_then_thirteen_of_thirteen_does_not_prove_a_target_of_0_9():
    scores, truth = perfect(13)

    tuned = tune_threshold(scores, truth, 0.9, warmup=0, confidence=0.95)

    assert tuned.threshold is None and tuned.missing == "evidence"
    assert (tuned.evidence, tuned.evidence_hits) == (13, 13)
    assert tuned.bound == pytest.approx(0.05 ** (1 / 13))  # 0.794
    # 29 of 29 right proves 0.9: 16 more right answers above the cut
    assert tuned.needed == 16
    proven = tune_threshold(*perfect(29), 0.9, warmup=0, confidence=0.95)
    assert proven.threshold == pytest.approx(0.5) and proven.bound >= 0.9


def test_given_a_bound_then_the_threshold_is_the_lowest_cut_that_proves_the_target():
    # 60 right, one miss at rank 40 (precision there 39/40 = 0.975 >= 0.9): every cut passes
    # the point rule; the lowest whose bound reaches 0.9 is taken
    scores = np.linspace(0.99, 0.4, 60)
    truth = np.ones(60, dtype=bool)
    truth[39] = False

    tuned = tune_threshold(scores, truth, 0.9, warmup=0, confidence=0.95)

    kept = scores >= tuned.threshold
    assert tuned.kept == kept.sum() == 60 and tuned.bound >= 0.9
    from training.ml.intervals import precision_lower_bound

    assert tuned.bound == pytest.approx(precision_lower_bound(59, 60))


def test_given_random_scores_then_a_bounded_threshold_always_proves_the_target():
    from training.ml.intervals import precision_lower_bound

    found = 0
    for seed in range(300):
        rng = np.random.default_rng(seed)
        n = int(rng.integers(1, 400))
        scores = np.round(rng.random(n), 3)
        truth = rng.random(n) < scores**0.3
        target = float(rng.uniform(0.5, 0.95))
        tuned = tune_threshold(scores, truth, target, warmup=5, confidence=0.95)
        if tuned.threshold is None:
            assert tuned.kept == 0, seed
            continue
        found += 1
        kept = scores >= tuned.threshold
        assert precision_lower_bound(truth[kept].sum(), kept.sum()) >= target, seed
        assert tuned.bound == pytest.approx(precision_lower_bound(truth[kept].sum(), kept.sum()))
    assert found > 100


def test_given_an_exclusive_group_then_its_pooled_evidence_can_prove_what_each_share_cannot():
    # three concepts with 150 right answers each: alone 150 of 150 proves only 0.980 < 0.99;
    # together 450 of 450 prove 0.9934
    columns = [perfect(150) for _ in range(3)]

    alone = tune_group(columns, 0.99, warmup=0, confidence=0.95)
    pooled = tune_group(columns, 0.99, warmup=0, confidence=0.95, pooled=True)

    assert all(t.threshold is None and t.missing == "evidence" for t in alone)
    assert all(t.needed == 149 for t in alone)  # 299 of 299 alone
    assert all(t.pooled and t.threshold == pytest.approx(0.5) for t in pooled)
    assert pooled[0].bound == pytest.approx(0.05 ** (1 / 450))


def test_given_a_group_with_one_weak_concept_then_the_pool_does_not_carry_it_past_its_target():
    # the third concept misses its own target from its fourth answer on (every fourth is
    # wrong): its only cuts rest on 3 inputs, under min_kept, so it is neither pooled nor
    # accepted; the two others pool
    weak_scores = np.linspace(0.99, 0.5, 40)
    weak_truth = np.arange(40) % 4 != 3
    columns = [perfect(200), perfect(200), (weak_scores, weak_truth)]

    tuned = tune_group(columns, 0.99, warmup=0, min_kept=10, confidence=0.95, pooled=True)

    assert [t.pooled for t in tuned] == [True, True, False]
    assert tuned[2].threshold is None
    assert tuned[0].bound == pytest.approx(0.05 ** (1 / 400))


def test_given_too_little_pooled_evidence_then_each_concept_keeps_its_own_decision():
    columns = [perfect(400), perfect(20), perfect(20)]  # 440 pooled, but the first alone
    # proves 0.99 (400 of 400 -> 0.9925) and the pool of all three does too: every one pooled
    assert all(t.pooled for t in tune_group(columns, 0.99, warmup=0, confidence=0.95, pooled=True))
    small = [perfect(100), perfect(20)]  # 120 of 120 prove 0.9753 only

    tuned = tune_group(small, 0.99, warmup=0, confidence=0.95, pooled=True)

    assert [t.threshold for t in tuned] == [None, None]
    assert [t.pooled for t in tuned] == [False, False]
