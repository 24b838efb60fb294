"""Pure queue rules: which labels a submission may carry, keys, and who gets which input."""

from dataclasses import dataclass

import pytest

from labeling.queue_rules import (
    FALLBACK_KEYS,
    RESERVED_KEYS,
    Choice,
    InvalidLabels,
    annotator_offset,
    assign_shortcuts,
    check_labels,
    input_status,
    pick_candidate,
)

SPECIES = 100  # an exclusive parent: its children are the options of one choice
CHOICES = [
    Choice(id=1, name="Robin", group=SPECIES),
    Choice(id=2, name="Sparrow", group=SPECIES),
    Choice(id=3, name="Blurry", group=None),
    Choice(id=4, name="Night", group=None),
]


# ---------------------------------------------------------------------------- check_labels


def test_check_labels_returns_the_chosen_ids_in_order():
    assert check_labels([3, 1], CHOICES) == [3, 1]


def test_check_labels_allows_several_labels_outside_exclusive_groups():
    assert check_labels([1, 3, 4], CHOICES) == [1, 3, 4]


def test_check_labels_drops_repeated_ids():
    assert check_labels([3, 1, 3, 1], CHOICES) == [3, 1]


def test_check_labels_refuses_unknown_ids_and_names_them():
    with pytest.raises(InvalidLabels, match=r"\[99, 98\]"):
        check_labels([1, 99, 98], CHOICES)


def test_check_labels_refuses_an_empty_submission():
    with pytest.raises(InvalidLabels, match="Pick at least one label"):
        check_labels([], CHOICES)


def test_check_labels_refuses_two_options_of_one_single_choice():
    with pytest.raises(InvalidLabels, match="Robin.*Sparrow.*pick one"):
        check_labels([1, 3, 2], CHOICES)


def test_options_of_different_exclusive_groups_go_together():
    choices = [*CHOICES, Choice(id=5, name="Day", group=200), Choice(id=6, name="Dusk", group=200)]

    assert check_labels([2, 6], choices) == [2, 6]


def test_check_labels_accepts_the_same_option_twice():
    assert check_labels([1, 1], CHOICES) == [1]


# ---------------------------------------------------------------------------- assign_shortcuts


def choices_named(*names: str) -> list[Choice]:
    return [Choice(id=i, name=name, group=None) for i, name in enumerate(names, start=1)]


def test_digit_named_choices_keep_their_digit_wherever_they_are():
    choices = choices_named("Cat", "7", "Dog", "1", "0")

    keys = assign_shortcuts(choices)

    assert (keys[2], keys[4], keys[5]) == ("7", "1", "0")
    assert (keys[1], keys[3]) == ("2", "3")  # the first free fallback keys, in order


def test_fallback_keys_are_one_to_nine_zero_then_letters():
    names = [f"Concept {n}" for n in range(12)]

    keys = assign_shortcuts(choices_named(*names))

    assert [keys[i] for i in range(1, 13)] == [*"1234567890", "a", "b"]


def test_single_letter_names_keep_their_letter_case_insensitively():
    keys = assign_shortcuts(choices_named("Long name", "B"))

    assert keys == {1: "1", 2: "b"}


@pytest.mark.parametrize("name", ["S", "u", "d", "?"])
def test_reserved_keys_are_never_given_even_to_a_choice_named_so(name):
    keys = assign_shortcuts(choices_named(name, "Other"))

    assert set(keys.values()).isdisjoint(RESERVED_KEYS)
    assert keys == {1: "1", 2: "2"}


def test_every_key_is_used_once():
    choices = choices_named("1", "Alpha", "a", "2", "Beta", "b")

    keys = assign_shortcuts(choices)

    assert len(set(keys.values())) == len(keys) == 6


def test_more_choices_than_keys_leaves_the_rest_without_one():
    choices = choices_named(*(f"Concept {n}" for n in range(40)))

    keys = assign_shortcuts(choices)

    assert len(keys) == len(FALLBACK_KEYS) > 30
    assert list(keys.values()) == FALLBACK_KEYS
    assert set(keys.values()).isdisjoint(RESERVED_KEYS)
    assert 40 not in keys  # the last choices get no key, the page shows none


def test_no_choices_no_keys():
    assert assign_shortcuts([]) == {}


# ---------------------------------------------------------------------------- annotator_offset


def test_annotator_offset_is_stable_and_in_unit_interval():
    offsets = [annotator_offset(user_id, 7) for user_id in range(1, 50)]

    assert offsets == [annotator_offset(user_id, 7) for user_id in range(1, 50)]
    assert all(0.0 <= offset < 1.0 for offset in offsets)


def test_annotator_offset_differs_across_users_and_projects():
    by_user = {annotator_offset(user_id, 7) for user_id in range(1, 50)}

    assert len(by_user) == 49
    assert annotator_offset(1, 7) != annotator_offset(1, 8)
    assert annotator_offset(1, 2) != annotator_offset(2, 1)


# ---------------------------------------------------------------------------- pick_candidate


@dataclass
class Row:
    name: str
    priority: float = 0.0
    number: int = 0
    random_key: float = 0.5


def test_pick_candidate_of_nothing_is_none():
    assert pick_candidate([], 0.3) is None


def test_higher_priority_wins_over_everything():
    rows = [Row("plain", 0.0, 0, 0.5), Row("urgent", 0.9, 1, 0.1), Row("meh", 0.5, 0, 0.5)]

    assert pick_candidate(rows, 0.5).name == "urgent"


def test_among_equal_priority_the_lower_slot_number_wins():
    rows = [Row("second", number=1, random_key=0.5), Row("first", number=0, random_key=0.9)]

    for offset in (0.0, 0.5, 0.89, 0.95):
        assert pick_candidate(rows, offset).name == "first"


def test_among_equals_the_first_random_key_at_or_after_the_offset_wins():
    rows = [Row("a", random_key=0.1), Row("b", random_key=0.5), Row("c", random_key=0.9)]

    assert pick_candidate(rows, 0.0).name == "a"
    assert pick_candidate(rows, 0.1).name == "a"
    assert pick_candidate(rows, 0.3).name == "b"
    assert pick_candidate(rows, 0.6).name == "c"
    assert pick_candidate(rows, 0.95).name == "a"  # wraps around


def test_pick_candidate_does_not_depend_on_the_order_rows_arrive_in():
    rows = [Row(str(n), random_key=n / 10) for n in range(10)]
    offset = annotator_offset(3, 1)

    assert pick_candidate(rows, offset) is pick_candidate(list(reversed(rows)), offset)


def test_different_annotators_pick_different_equal_candidates():
    rows = [Row(str(n), random_key=n / 10 + 0.05) for n in range(10)]

    picks = {pick_candidate(rows, offset).name for offset in (0.0, 0.3, 0.6, 0.9)}

    assert picks == {"0", "3", "6", "9"}


# ---------------------------------------------------------------------------- input_status


@pytest.mark.parametrize(
    ("filled", "total", "accepted", "status"),
    [
        (0, 1, False, "unlabeled"),
        (1, 2, False, "unlabeled"),
        (2, 2, False, "in_review"),
        (1, 1, False, "in_review"),
        (1, 2, True, "labeled"),
        (0, 0, True, "labeled"),
        (0, 0, False, "unlabeled"),
    ],
)
def test_input_status(filled, total, accepted, status):
    # an input whose slots hold annotations waits for review; an open slot still needs one
    assert input_status(accepted=accepted, waiting=filled > 0, open_slot=filled < total) == status
