"""The layout: which output column is which label, and what a label set says about each.

Pure numpy: ``training.ml.layout``, no database.
"""

import numpy as np

from training.ml.layout import Layout

# Taxonomy order: a colour group (10, 11, 12), a "blurry" single (20), a size group (30, 31),
# a "night" single (40). Group ids are the exclusive parents' ids.
CHOICES = [(10, 1), (11, 1), (20, None), (12, 1), (30, 2), (31, 2), (40, None)]


def test_given_choices_when_building_then_groups_and_singles_hold_column_indexes():
    layout = Layout.from_choices(CHOICES)

    assert layout.concept_ids == (10, 11, 20, 12, 30, 31, 40)
    assert layout.width == 7
    # A group keeps its options in taxonomy order, even when a single sits between them.
    assert layout.groups == ((0, 1, 3), (4, 5))
    assert layout.singles == (2, 6)


def test_given_a_layout_when_asking_for_a_column_then_concept_and_group_are_found():
    layout = Layout.from_choices(CHOICES)

    assert layout.column(12) == 3
    assert layout.group_of(3) == (0, 1, 3)
    assert layout.group_of(5) == (4, 5)
    assert layout.group_of(2) is None


def test_given_only_singles_when_building_then_there_are_no_groups():
    layout = Layout.from_choices([(7, None), (8, None)])

    assert layout.groups == ()
    assert layout.singles == (0, 1)


def test_given_label_sets_when_making_targets_then_chosen_labels_are_ones():
    layout = Layout.from_choices(CHOICES)

    y, _ = layout.targets([{11, 20}, {30}, set()])

    assert y.dtype == np.float32
    np.testing.assert_array_equal(
        y,
        [
            [0, 1, 1, 0, 0, 0, 0],
            [0, 0, 0, 0, 1, 0, 0],
            [0, 0, 0, 0, 0, 0, 0],
        ],
    )


def test_given_no_option_of_a_group_chosen_then_the_group_is_unknown_and_singles_known():
    layout = Layout.from_choices(CHOICES)

    _, known = layout.targets([{11, 20}, {30}, set()])

    np.testing.assert_array_equal(
        known,
        [
            # colour chosen, size not: the size group says nothing
            [True, True, True, True, False, False, True],
            # size chosen, colour not
            [False, False, True, False, True, True, True],
            # nothing chosen: both singles are known absent, no group is known
            [False, False, True, False, False, False, True],
        ],
    )


def test_given_labels_outside_the_layout_when_making_targets_then_they_are_ignored():
    layout = Layout.from_choices(CHOICES)

    y, known = layout.targets([{999, 40}])

    np.testing.assert_array_equal(y, [[0, 0, 0, 0, 0, 0, 1]])
    assert not known[0, [0, 1, 3, 4, 5]].any()


def test_given_a_layout_when_round_tripping_through_a_dict_then_it_is_equal():
    layout = Layout.from_choices(CHOICES)

    data = layout.to_dict()
    again = Layout.from_dict(data)

    assert data == {
        "concept_ids": [10, 11, 20, 12, 30, 31, 40],
        "groups": [[0, 1, 3], [4, 5]],
        "singles": [2, 6],
    }
    assert again == layout
    assert again.targets([{12}])[1].tolist() == layout.targets([{12}])[1].tolist()
