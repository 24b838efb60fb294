"""random-sampler: a fixed, seeded draw per input id, the same in any batch."""

import numpy as np

from labeling.review_rules import draw
from workflows.operators.random_sampler import draws, sample


def test_given_ids_and_a_seed_then_draws_match_the_portals_review_draw():
    ids = np.arange(1, 2001)

    ours = draws(ids, -17)

    assert ours.tolist() == [draw(int(i), -17) for i in ids]


def test_given_the_same_id_in_another_batch_then_it_draws_the_same_way():
    everyone = np.arange(1, 1001)
    selection = np.ones(1000, dtype=bool)
    sampled_all, _ = sample(everyone, selection, fraction=0.3, seed=5)

    # the same inputs, in another order and split in two batches
    shuffled = np.random.default_rng(0).permutation(everyone)
    first, second = shuffled[:400], shuffled[400:]
    a, _ = sample(first, np.ones(400, dtype=bool), fraction=0.3, seed=5)
    b, _ = sample(second, np.ones(600, dtype=bool), fraction=0.3, seed=5)

    expected = set(everyone[sampled_all].tolist())
    assert set(first[a].tolist()) | set(second[b].tolist()) == expected


def test_given_a_fraction_then_about_that_share_is_sampled_and_seeds_differ():
    ids = np.arange(1, 20001)
    selection = np.ones(len(ids), dtype=bool)

    one, rest = sample(ids, selection, fraction=0.1, seed=1)
    other, _ = sample(ids, selection, fraction=0.1, seed=2)

    assert 0.09 < one.mean() < 0.11
    assert not (one & rest).any() and (one | rest).all()
    # another seed draws another (nearly independent) sample
    assert (one & other).mean() < 0.02


def test_given_unselected_inputs_then_they_are_neither_sampled_nor_rest():
    ids = np.arange(1, 7)
    selection = np.array([True, False, True, False, True, False])

    sampled, rest = sample(ids, selection, fraction=1.0, seed=0)

    assert sampled.tolist() == selection.tolist()
    assert not rest.any()


def test_given_fraction_zero_then_nothing_is_sampled():
    ids = np.arange(1, 101)

    sampled, rest = sample(ids, np.ones(100, dtype=bool), fraction=0.0, seed=0)

    assert not sampled.any() and rest.all()
