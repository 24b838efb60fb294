"""The order in which annotators see inputs: margins, clusters, priorities, nearest neighbours.

No database: ``training.ml.active`` on synthetic embeddings.
"""

import numpy as np
import pytest

from training.ml.active import interleave, margins, nearest, priorities
from training.ml.layout import Layout

# Columns 0-2: an exclusive group; column 3: a single.
LAYOUT = Layout.from_choices([(1, 10), (2, 10), (3, 10), (4, None)])
BLOBS, PER_BLOB = 4, 25


def blob_features(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Four tight blobs pointing in four different directions (k-means sees directions)."""
    rng = np.random.default_rng(seed)
    blob = np.repeat(np.arange(BLOBS), PER_BLOB)
    rng.shuffle(blob)
    x = rng.normal(0.0, 0.1, (len(blob), 8))
    x[np.arange(len(blob)), blob] += 10.0
    return x.astype(np.float32), blob


def random_probs(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    group = rng.dirichlet(np.ones(3), n)
    return np.column_stack([group, rng.random(n)])


# ---------------------------------------------------------------------------- margins


def test_given_a_coin_toss_or_a_sure_input_then_margins_are_zero_and_near_one():
    probs = np.array(
        [
            [0.50, 0.50, 0.00, 0.999],  # the group is a coin toss
            [0.99, 0.005, 0.005, 0.999],  # sure of everything
            [0.98, 0.01, 0.01, 0.50],  # the single is a coin toss
            [0.70, 0.20, 0.10, 0.99],  # fairly sure
        ]
    )

    result = margins(probs, LAYOUT)

    assert result[0] == 0.0
    assert result[1] == pytest.approx(0.985)
    assert result[2] == 0.0
    assert result[3] == pytest.approx(0.5)


def test_given_only_singles_or_nothing_then_margins_follow_the_singles_or_are_one():
    singles = Layout.from_choices([(1, None), (2, None)])
    empty = Layout.from_choices([])

    assert margins(np.array([[0.9, 0.2], [0.1, 0.0]]), singles).tolist() == pytest.approx(
        [0.6, 0.8]
    )
    assert margins(np.zeros((3, 0)), empty).tolist() == [1.0, 1.0, 1.0]


# ---------------------------------------------------------------------------- interleave


def test_given_two_clusters_then_interleave_takes_them_in_turn_by_key():
    assign = np.array([0, 0, 1, 1, 1])
    key = np.array([0.5, 0.1, 0.3, 0.2, 0.9])

    position = interleave(assign, key)

    # round 0: input 1 (0.1), input 3 (0.2); round 1: input 2 (0.3), input 0 (0.5); then 4
    assert position.tolist() == [3, 0, 2, 1, 4]


def test_given_random_clusters_then_interleave_positions_are_a_permutation():
    rng = np.random.default_rng(1)
    assign = rng.integers(0, 7, 300)
    key = rng.random(300)

    position = interleave(assign, key)

    assert sorted(position.tolist()) == list(range(300))


# ---------------------------------------------------------------------------- priorities


def test_given_uncertainty_then_the_least_sure_come_first_within_each_cluster():
    features, blob = blob_features()
    probs = random_probs(len(features))
    margin = margins(probs, LAYOUT)

    priority = priorities("uncertainty", features, probs, LAYOUT, clusters_k=BLOBS)

    for b in range(BLOBS):
        members = np.flatnonzero(blob == b)
        by_priority = members[np.argsort(-priority[members])]
        assert np.all(np.diff(margin[by_priority]) >= 0)


def test_given_uncertainty_then_the_first_k_cover_k_different_clusters():
    features, blob = blob_features()
    probs = random_probs(len(features))

    priority = priorities("uncertainty", features, probs, LAYOUT, clusters_k=BLOBS)

    first = np.argsort(-priority)[:BLOBS]
    assert set(blob[first].tolist()) == set(range(BLOBS))
    # the very first is the least sure input of all
    assert first[0] == np.argmin(margins(probs, LAYOUT))


def test_given_diversity_then_the_first_positions_cover_every_blob():
    features, blob = blob_features(seed=2)

    priority = priorities("diversity", features, None, None, clusters_k=BLOBS)

    first = np.argsort(-priority)[:BLOBS]
    assert set(blob[first].tolist()) == set(range(BLOBS))
    assert priority.max() == 1.0
    assert (priority > 0).all() and (priority <= 1).all()


def test_given_uncertainty_without_a_model_then_it_is_the_diversity_order():
    features, _ = blob_features(seed=3)

    without_model = priorities("uncertainty", features, None, None, clusters_k=BLOBS)
    diversity = priorities("diversity", features, None, None, clusters_k=BLOBS)

    np.testing.assert_array_equal(without_model, diversity)


def test_given_random_then_every_priority_is_zero():
    features, _ = blob_features()

    assert priorities("random", features, random_probs(100), LAYOUT).tolist() == [0.0] * 100


def test_given_an_unknown_strategy_then_priorities_refuse():
    features, _ = blob_features()

    with pytest.raises(ValueError, match="nope"):
        priorities("nope", features, None, None)


def test_given_no_inputs_then_priorities_are_empty():
    assert priorities("diversity", np.zeros((0, 8)), None, None).shape == (0,)


# ---------------------------------------------------------------------------- nearest


def test_given_a_query_from_the_set_then_nearest_returns_its_own_row_first():
    features, blob = blob_features()

    indexes, similarity = nearest(features[7], features, 5)

    assert indexes[0] == 7
    assert similarity[0] == pytest.approx(1.0, abs=1e-6)
    assert np.all(np.diff(similarity) <= 0)
    # its neighbours are in its own blob
    assert (blob[indexes] == blob[7]).all()


def test_given_more_wanted_than_there_are_then_nearest_returns_them_all():
    features = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])

    indexes, similarity = nearest(np.array([2.0, 0.1]), features, 10)

    assert indexes.tolist() == [0, 2, 1]
    assert len(similarity) == 3


def test_given_no_features_then_nearest_is_empty():
    indexes, similarity = nearest(np.ones(4), np.zeros((0, 4)), 3)

    assert len(indexes) == 0 and len(similarity) == 0
