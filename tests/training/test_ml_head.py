"""The context classifier head: trained with torch on tiny data, applied with numpy.

No database: ``training.ml.head`` on a few hundred synthetic embeddings.
"""

import numpy as np
import pytest

from training.ml.head import Head, HeadParams, class_weights, decision_scores, train_head
from training.ml.layout import Layout

# Columns 0-2: an exclusive "colour" group (concepts 1, 2, 3); column 3: a "night" single (4).
LAYOUT = Layout.from_choices([(1, 100), (2, 100), (3, 100), (4, None)])
COLOUR, NIGHT = (1, 2, 3), 4


def blobs(n: int, seed: int):
    """Embeddings (n, 6) and label sets: two Gaussian blobs per colour, next to each other on a
    circle (so a linear head can separate the colours), and "night" on the sign of dim 2."""
    rng = np.random.default_rng(seed)
    angles = np.deg2rad(np.arange(6) * 60.0)
    centres = 4.0 * np.stack([np.cos(angles), np.sin(angles)], axis=1)
    blob = rng.integers(0, 6, n)
    colour = blob // 2  # blobs 0,1 → colour 0; 2,3 → 1; 4,5 → 2
    night = rng.random(n) < 0.3
    x = rng.normal(0.0, 0.5, (n, 6))
    x[:, :2] += centres[blob]
    x[:, 2] += np.where(night, 3.0, -3.0)
    label_sets = [
        {COLOUR[c]} | ({NIGHT} if is_night else set())
        for c, is_night in zip(colour, night, strict=True)
    ]
    return x.astype(np.float32), label_sets, colour, night


@pytest.fixture(scope="module")
def data():
    train_x, train_sets, _, _ = blobs(300, seed=1)
    test_x, _, test_colour, test_night = blobs(200, seed=2)
    y, known = LAYOUT.targets(train_sets)
    return train_x, y, known, test_x, test_colour, test_night


@pytest.fixture(scope="module")
def linear_head(data) -> Head:
    train_x, y, known, *_ = data
    return train_head(train_x, y, known, LAYOUT)


def accuracy(head: Head, test_x, test_colour, test_night) -> tuple[float, float]:
    probs = head.probabilities(test_x)
    colour_right = probs[:, [0, 1, 2]].argmax(axis=1) == test_colour
    night_right = (probs[:, 3] > 0.5) == test_night
    return float(colour_right.mean()), float(night_right.mean())


def test_given_separable_blobs_when_training_a_linear_head_then_held_out_points_are_right(
    data, linear_head
):
    *_, test_x, test_colour, test_night = data

    colour_accuracy, night_accuracy = accuracy(linear_head, test_x, test_colour, test_night)

    assert colour_accuracy >= 0.98
    assert night_accuracy >= 0.98


def test_given_a_hidden_layer_when_training_then_the_head_also_learns(data):
    train_x, y, known, test_x, test_colour, test_night = data

    head = train_head(train_x, y, known, LAYOUT, HeadParams(hidden=16))

    assert [w.shape for w, _ in head.layers] == [(6, 16), (16, 4)]
    colour_accuracy, night_accuracy = accuracy(head, test_x, test_colour, test_night)
    assert colour_accuracy >= 0.98
    assert night_accuracy >= 0.98


def test_given_inputs_without_a_colour_when_training_then_the_group_still_learns(data):
    # Half the inputs say nothing about the colour: the mask keeps them out of its loss
    # (were they counted as "none of the options", the group could not be learned).
    train_x, y, known, test_x, test_colour, test_night = data
    y, known = y.copy(), known.copy()
    y[::2, :3] = 0
    known[::2, :3] = False

    head = train_head(train_x, y, known, LAYOUT)

    colour_accuracy, _ = accuracy(head, test_x, test_colour, test_night)
    assert colour_accuracy >= 0.98


def test_given_a_trained_head_then_group_columns_sum_to_one_and_singles_are_in_0_1(
    data, linear_head
):
    *_, test_x, _, _ = data

    probs = linear_head.probabilities(test_x)

    assert probs.shape == (200, 4)
    np.testing.assert_allclose(probs[:, :3].sum(axis=1), 1.0, rtol=1e-5)
    assert ((probs[:, 3] > 0) & (probs[:, 3] < 1)).all()
    # The single is independent of the group: it does not take part in the group's sum.
    assert not np.allclose(probs.sum(axis=1), 1.0)


def test_given_a_trained_head_when_round_tripping_through_bytes_then_probabilities_match(
    data, linear_head
):
    *_, test_x, _, _ = data

    again = Head.from_bytes(linear_head.to_bytes(), LAYOUT)

    np.testing.assert_array_equal(again.probabilities(test_x), linear_head.probabilities(test_x))


def test_given_a_hidden_head_when_round_tripping_through_bytes_then_probabilities_match(data):
    train_x, y, known, test_x, _, _ = data
    head = train_head(train_x, y, known, LAYOUT, HeadParams(hidden=8, steps=20))

    again = Head.from_bytes(head.to_bytes(), LAYOUT)

    assert len(again.layers) == 2
    np.testing.assert_array_equal(again.probabilities(test_x), head.probabilities(test_x))


def test_given_probabilities_when_scoring_decisions_then_only_a_groups_top_option_counts():
    probs = np.array(
        [
            [0.2, 0.5, 0.3, 0.9],
            [0.6, 0.1, 0.3, 0.05],
        ],
        dtype=np.float32,
    )

    scores = decision_scores(probs, LAYOUT)

    np.testing.assert_array_equal(
        scores,
        np.array([[0.0, 0.5, 0.0, 0.9], [0.6, 0.0, 0.0, 0.05]], dtype=np.float32),
    )
    # The input is left as it was.
    assert probs[0, 0] == np.float32(0.2)


def test_given_a_rare_option_and_a_rare_single_then_their_class_weights_are_bigger():
    # 8 inputs of colour 1, 2 of colour 2, none of colour 3; "night" on 2 of the 10.
    label_sets = [{1}] * 8 + [{2, 4}] * 2
    y, known = LAYOUT.targets(label_sets)

    weights = class_weights(y, known, LAYOUT)

    # balanced: n / (options × count) → 10 / (3 × 8), 10 / (3 × 2), 10 / (3 × max(0, 1))
    np.testing.assert_allclose(weights[:3], [10 / 24, 10 / 6, 10 / 3], rtol=1e-6)
    assert weights[1] > weights[0]
    # a single's weight is negatives / positives
    assert weights[3] == pytest.approx(8 / 2)


def test_given_extreme_imbalance_then_class_weights_are_clipped():
    label_sets = [{1}] * 1000 + [{2, 4}]
    y, known = LAYOUT.targets(label_sets)

    weights = class_weights(y, known, LAYOUT)

    assert weights.min() >= 0.1
    assert weights.max() == pytest.approx(50.0)


def test_given_a_progress_callback_when_training_then_it_sees_fractions_in_0_1(data):
    train_x, y, known, *_ = data
    seen: list[float] = []

    train_head(train_x, y, known, LAYOUT, HeadParams(steps=100), progress=seen.append)

    assert seen == [0.0, 0.25, 0.5, 0.75]
    assert all(0 <= f < 1 for f in seen)


def test_given_a_progress_callback_that_raises_when_training_then_training_stops(data):
    train_x, y, known, *_ = data
    calls = []

    def stop(fraction):
        calls.append(fraction)
        if fraction > 0:
            raise InterruptedError

    with pytest.raises(InterruptedError):
        train_head(train_x, y, known, LAYOUT, HeadParams(steps=1000), progress=stop)
    assert len(calls) == 2


def test_given_the_same_seed_when_training_twice_then_the_heads_are_equal(data):
    train_x, y, known, test_x, _, _ = data
    params = HeadParams(steps=30, batch_size=64)

    first = train_head(train_x, y, known, LAYOUT, params)
    second = train_head(train_x, y, known, LAYOUT, params)

    np.testing.assert_allclose(first.probabilities(test_x), second.probabilities(test_x))
