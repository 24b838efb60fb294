"""Clarifai-style items ({"id": ..., "value": ...}) resolved to concept ids of a project."""

import pytest

from labeling.selectors import concepts_resolve
from labeling.services.taxonomy import concept_archive, concept_create, concept_synonym_add

pytestmark = pytest.mark.django_db


@pytest.fixture
def taxonomy(project, admin):
    """An exclusive "Digit" with options "0" to "9", and flags "Dog" and "Cat"."""
    digit = concept_create(project=project, name="Digit", actor=admin, exclusive=True)
    options = {
        str(n): concept_create(project=project, name=str(n), parent=digit, actor=admin)
        for n in range(10)
    }
    concept_synonym_add(concept=options["3"], name="Three", actor=admin)
    dog = concept_create(project=project, name="Dog", actor=admin)
    concept_synonym_add(concept=dog, name="Puppy", actor=admin)
    return {
        "digit": digit,
        **options,
        "dog": dog,
        "cat": concept_create(project=project, name="Cat", actor=admin),
    }


def resolve(project, *items):
    return concepts_resolve(project, list(items))


@pytest.mark.parametrize("value", ["3", 3, " 3 "])
def test_a_value_picks_the_option_of_an_exclusive_concept(project, taxonomy, value):
    assert resolve(project, {"id": "digit", "value": value}) == ([taxonomy["3"].id], [])


@pytest.mark.parametrize("value", ["three", "Three", "THREE", "  three "])
def test_an_option_is_found_by_its_synonym_ignoring_case(project, taxonomy, value):
    assert resolve(project, {"id": "Digit", "value": value}) == ([taxonomy["3"].id], [])


@pytest.mark.parametrize("key", ["dog", "DOG", "Dog", " dog ", "puppy", "PUPPY"])
def test_an_id_matches_key_name_or_synonym_ignoring_case(project, taxonomy, key):
    assert resolve(project, {"id": key, "value": 1}) == ([taxonomy["dog"].id], [])


@pytest.mark.parametrize("value", [1, True, "1", "true", "True"])
def test_a_true_value_labels_a_plain_concept(project, taxonomy, value):
    assert resolve(project, {"id": "dog", "value": value}) == ([taxonomy["dog"].id], [])


@pytest.mark.parametrize("value", [0, False, "0", "false"])
def test_a_false_value_leaves_a_plain_concept_out(project, taxonomy, value):
    assert resolve(project, {"id": "dog", "value": value}) == ([], [])


def test_a_missing_value_means_labeled(project, taxonomy):
    assert resolve(project, {"id": "cat"}) == ([taxonomy["cat"].id], [])


@pytest.mark.parametrize(("value", "option"), [("1", "1"), (1, "1"), ("0", "0"), (0, "0")])
def test_digit_options_one_and_zero_are_options_not_booleans(project, taxonomy, value, option):
    assert resolve(project, {"id": "digit", "value": value}) == ([taxonomy[option].id], [])


def test_several_items_resolve_together_in_order(project, taxonomy):
    ids, unknown = resolve(
        project,
        {"id": "digit", "value": "7"},
        {"id": "dog", "value": 0},
        {"id": "cat", "value": True},
    )

    assert (ids, unknown) == ([taxonomy["7"].id, taxonomy["cat"].id], [])


def test_unknown_ids_are_reported(project, taxonomy):
    ids, unknown = resolve(project, {"id": "horse", "value": 1}, {"id": "dog", "value": 1})

    assert (ids, unknown) == ([taxonomy["dog"].id], ["horse"])


def test_unknown_options_are_reported_with_their_concept(project, taxonomy):
    ids, unknown = resolve(
        project, {"id": "digit", "value": "eleven"}, {"id": "digit", "value": 42}
    )

    assert (ids, unknown) == ([], ["digit=eleven", "digit=42"])


def test_an_option_must_be_a_child_of_the_exclusive_concept(project, taxonomy):
    """ "puppy" is a synonym of Dog, not of an option of Digit."""
    ids, unknown = resolve(
        project, {"id": "digit", "value": "dog"}, {"id": "digit", "value": "puppy"}
    )

    assert (ids, unknown) == ([], ["digit=dog", "digit=puppy"])


def test_archived_concepts_and_options_are_unknown(project, admin, taxonomy):
    concept_archive(concept=taxonomy["cat"], actor=admin)
    concept_archive(concept=taxonomy["3"], actor=admin)

    ids, unknown = resolve(project, {"id": "cat", "value": 1}, {"id": "digit", "value": "three"})

    assert (ids, unknown) == ([], ["cat", "digit=three"])


def test_concepts_of_another_project_are_unknown(project, other_project, taxonomy):
    ids, unknown = resolve(other_project, {"id": "dog", "value": 1})

    assert (ids, unknown) == ([], ["dog"])


def test_no_items_no_labels(project, taxonomy):
    assert resolve(project) == ([], [])
