"""What becomes of an input given the active version's probabilities: auto, doubt or low.

No database: ``training.ml.routing.route`` on hand-made probabilities.
"""

import numpy as np

from training.ml.layout import Layout
from training.ml.routing import box_levels, effective_thresholds, image_band, route

# Columns 0-2: an exclusive group (concepts 1, 2, 3); column 3: a single (concept 4).
LAYOUT = Layout.from_choices([(1, 10), (2, 10), (3, 10), (4, None)])
# Concept 3's target precision was out of reach: it has no threshold.
THRESHOLDS = [0.8, 0.8, None, 0.7]
BAND = 0.1  # doubt from 0.7 (0.8 - band), 0.6 for the single, 0.9 (1 - band) for concept 3


def labelled(labels: np.ndarray) -> list[set[int]]:
    return [set(np.flatnonzero(row).tolist()) for row in labels]


def test_given_a_sure_group_and_single_then_the_input_is_auto_with_both_labels():
    probs = np.array([[0.85, 0.10, 0.05, 0.75], [0.85, 0.10, 0.05, 0.20]])

    bands, labels = route(probs, LAYOUT, THRESHOLDS, BAND)

    assert bands.tolist() == ["auto", "auto"]
    # a single well under its threshold is simply absent
    assert labelled(labels) == [{0, 3}, {0}]


def test_given_a_group_just_under_its_threshold_then_the_input_is_doubt():
    probs = np.array([[0.75, 0.20, 0.05, 0.90]])

    bands, labels = route(probs, LAYOUT, THRESHOLDS, BAND)

    assert bands.tolist() == ["doubt"]
    assert labelled(labels) == [{0, 3}]


def test_given_a_sure_group_and_a_doubtful_single_then_the_input_is_doubt():
    probs = np.array([[0.90, 0.05, 0.05, 0.65]])

    bands, labels = route(probs, LAYOUT, THRESHOLDS, BAND)

    assert bands.tolist() == ["doubt"]
    # the suggestion carries the doubtful label for the reviewer to confirm
    assert labelled(labels) == [{0, 3}]


def test_given_a_group_below_the_doubt_band_then_the_input_is_low_with_no_labels():
    # the single is sure, but the group is not: the input stays with the annotators
    probs = np.array([[0.50, 0.40, 0.10, 0.95], [0.69, 0.30, 0.01, 0.95]])

    bands, labels = route(probs, LAYOUT, THRESHOLDS, BAND)

    assert bands.tolist() == ["low", "low"]
    assert not labels.any()


def test_given_a_threshold_exactly_reached_then_it_counts_as_auto():
    probs = np.array([[0.8, 0.15, 0.05, 0.7]])

    bands, _ = route(probs, LAYOUT, [0.8, 0.8, None, 0.7], BAND)

    assert bands.tolist() == ["auto"]


def test_given_no_threshold_then_the_option_is_never_auto_but_confident_ones_are_doubt():
    probs = np.array(
        [
            [0.000, 0.001, 0.999, 0.0],  # as sure as can be: still only a suggestion
            [0.040, 0.010, 0.950, 0.0],  # at or above 1 - band
            [0.100, 0.050, 0.850, 0.0],  # below 1 - band
        ]
    )

    bands, labels = route(probs, LAYOUT, THRESHOLDS, BAND)

    assert bands.tolist() == ["doubt", "doubt", "low"]
    assert labelled(labels) == [{2}, {2}, set()]


def test_given_a_single_without_threshold_then_a_confident_one_holds_an_input_in_doubt():
    probs = np.array([[0.95, 0.03, 0.02, 0.97], [0.95, 0.03, 0.02, 0.5]])

    bands, labels = route(probs, LAYOUT, [0.8, 0.8, 0.8, None], BAND)

    assert bands.tolist() == ["doubt", "auto"]
    assert labelled(labels) == [{0, 3}, {0}]


def test_given_two_options_over_their_thresholds_then_only_the_top_one_is_labelled():
    probs = np.array([[0.52, 0.45, 0.03, 0.0]])

    bands, labels = route(probs, LAYOUT, [0.3, 0.3, 0.3, 0.7], BAND)

    assert bands.tolist() == ["auto"]
    assert labelled(labels) == [{0}]


def test_given_many_inputs_then_auto_labels_are_exactly_the_labels_at_or_above_threshold():
    rng = np.random.default_rng(0)
    logits = rng.normal(0, 3, (500, 3))
    group = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    probs = np.column_stack([group, rng.random(500)])
    thresholds = [0.6, 0.7, 0.8, 0.75]

    bands, labels = route(probs, LAYOUT, thresholds, BAND)

    top = probs[:, :3].argmax(axis=1)
    is_top = np.zeros((500, 4), dtype=bool)
    is_top[np.arange(500), top] = True
    is_top[:, 3] = True
    reached = (probs >= thresholds) & is_top
    in_band = (probs >= np.array(thresholds) - BAND) & is_top
    auto, doubt, low = bands == "auto", bands == "doubt", bands == "low"
    assert auto.any() and doubt.any() and low.any()
    np.testing.assert_array_equal(labels[auto], reached[auto])
    np.testing.assert_array_equal(labels[doubt], in_band[doubt])
    assert not labels[low].any()


def test_given_two_groups_then_the_least_sure_group_decides():
    layout = Layout.from_choices([(1, 10), (2, 10), (3, 20), (4, 20)])
    probs = np.array(
        [
            [0.9, 0.1, 0.95, 0.05],  # both auto
            [0.9, 0.1, 0.75, 0.25],  # second in doubt
            [0.9, 0.1, 0.55, 0.45],  # second low
        ]
    )

    bands, _ = route(probs, layout, [0.8] * 4, BAND)

    assert bands.tolist() == ["auto", "doubt", "low"]


def test_given_only_singles_then_one_auto_and_no_doubt_makes_the_input_auto():
    layout = Layout.from_choices([(1, None), (2, None)])
    probs = np.array(
        [
            [0.90, 0.10],  # one auto, one absent
            [0.90, 0.95],  # both auto
            [0.90, 0.75],  # one auto, one in doubt
            [0.75, 0.10],  # only a doubt
            [0.30, 0.20],  # nothing
        ]
    )

    bands, labels = route(probs, layout, [0.8, 0.8], BAND)

    assert bands.tolist() == ["auto", "auto", "doubt", "doubt", "low"]
    assert labelled(labels) == [{0}, {0, 1}, {0, 1}, {0}, set()]


def test_given_no_inputs_then_routing_returns_empty_arrays():
    bands, labels = route(np.zeros((0, 4)), LAYOUT, THRESHOLDS, BAND)

    assert bands.shape == (0,)
    assert labels.shape == (0, 4)


def test_given_a_missing_threshold_then_no_probability_reaches_it():
    limits = effective_thresholds([0.5, None])

    assert limits[0] == 0.5
    assert limits[1] > 1.0


def test_box_levels_pass_doubt_and_drop_per_box():
    scores = np.array([0.95, 0.85, 0.5, 0.92, 0.7])
    limits = np.array([0.9, 0.9, 0.9, np.nan, np.nan])  # nan: the target was out of reach

    levels = box_levels(scores, limits, band=0.2)

    # passes; in doubt (0.2 short); dropped; out of reach but confident (from 1 - band):
    # a suggestion; out of reach and weak: dropped
    assert levels.tolist() == [2, 1, 0, 1, 0]
    assert box_levels(scores, limits, band=0.0).tolist() == [2, 0, 0, 0, 0]


def test_an_image_band_follows_its_boxes():
    assert image_band(np.array([2, 2, 0])) == "auto"
    assert image_band(np.array([2, 1])) == "doubt", "one doubtful box sends it to review"
    assert image_band(np.array([0, 0])) == "low"
    assert image_band(np.array([], dtype=np.int8)) == "low", "nothing found: annotators"
