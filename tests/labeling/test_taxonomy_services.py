"""Taxonomy services: concepts are created, renamed, moved, archived and merged, never lost."""

import pytest
from factories import InputFactory, annotation_with_labels

from labeling.models import Annotation, AnnotationLabel, Concept, ConceptChange, ConceptSynonym
from labeling.services.errors import ServiceError
from labeling.services.taxonomy import (
    concept_archive,
    concept_create,
    concept_merge,
    concept_move,
    concept_rename,
    concept_reorder,
    concept_restore,
    concept_synonym_add,
    concept_synonym_remove,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def create(project, admin):
    def create(name: str, parent: Concept | None = None, **kwargs) -> Concept:
        return concept_create(project=project, name=name, parent=parent, actor=admin, **kwargs)

    return create


def sibling_names(project, parent=None) -> list[str]:
    return list(
        Concept.objects.filter(project=project, parent=parent)
        .order_by("position", "id")
        .values_list("name", flat=True)
    )


def test_create_root_and_children_in_order(project, create, admin):
    animal = create("Animal")
    cat = create("Cat", parent=animal)
    dog = create("Dog", parent=animal)

    assert (animal.parent, animal.key) == (None, "animal")
    assert (cat.parent, dog.parent) == (animal, animal)
    assert sibling_names(project, animal) == ["Cat", "Dog"]
    change = ConceptChange.objects.get(concept=cat)
    assert (change.action, change.actor, change.details["parent"]) == ("create", admin, "Animal")


def test_key_is_made_from_the_name(create):
    assert create("Red-tailed  Hawk!").key == "red-tailed_hawk"


def test_duplicate_key_among_siblings_is_refused(create):
    animal = create("Animal")
    create("Cat", parent=animal)

    with pytest.raises(ServiceError, match="A concept named “Cat” exists here."):
        create("cat", parent=animal)


def test_duplicate_root_key_is_refused(create):
    create("Animal")

    with pytest.raises(ServiceError, match="A concept named “(Animal|Cat)” exists here."):
        create("ANIMAL")


def test_archived_concept_still_holds_its_key_and_the_message_says_so(create, admin):
    animal = create("Animal")
    concept_archive(concept=create("Cat", parent=animal), actor=admin)

    with pytest.raises(ServiceError, match=r"\(archived\)"):
        create("Cat", parent=animal)


def test_same_key_under_different_parents_is_allowed(create):
    animal, toy = create("Animal"), create("Toy")

    cat_animal = create("Cat", parent=animal)
    cat_toy = create("Cat", parent=toy)

    assert cat_animal.key == cat_toy.key == "cat"


def test_concept_needs_a_name(create):
    with pytest.raises(ServiceError):
        create("   ")


def test_parent_from_another_project_is_refused(create, other_project, admin):
    foreign = concept_create(project=other_project, name="Fish", actor=admin)

    with pytest.raises(ServiceError, match="not an active concept of this project"):
        create("Trout", parent=foreign)


def test_rename_records_old_and_new_name(create, admin):
    cat = create("Cat")

    concept_rename(concept=cat, name="House cat", actor=admin)

    cat.refresh_from_db()
    assert (cat.name, cat.key) == ("House cat", "cat")
    change = ConceptChange.objects.filter(concept=cat, action="rename").get()
    assert (change.details["old"], change.details["new"]) == ("Cat", "House cat")


def test_rename_to_a_siblings_key_is_refused(create, admin):
    cat = create("Cat")
    create("Dog")

    with pytest.raises(ServiceError, match="A concept named “Dog” exists here."):
        concept_rename(concept=cat, name="Cat", key="dog", actor=admin)


def test_reorder_moves_a_concept_up_and_down_among_its_siblings(project, create, admin):
    for name in ["A", "B", "C"]:
        create(name)
    c = Concept.objects.get(name="C")
    a = Concept.objects.get(name="A")

    concept_reorder(concept=c, offset=-1, actor=admin)
    assert sibling_names(project) == ["A", "C", "B"]

    concept_reorder(concept=a, offset=+1, actor=admin)
    assert sibling_names(project) == ["C", "A", "B"]


def test_reorder_past_the_ends_changes_nothing(project, create, admin):
    first, _ = create("A"), create("B")

    concept_reorder(concept=first, offset=-1, actor=admin)

    assert sibling_names(project) == ["A", "B"]
    assert not ConceptChange.objects.filter(action="reorder").exists()


def test_move_puts_the_concept_last_under_its_new_parent(project, create, admin):
    animal, plant = create("Animal"), create("Plant")
    create("Tree", parent=plant)
    cat = create("Cat", parent=animal)

    concept_move(concept=cat, parent=plant, actor=admin)

    assert sibling_names(project, plant) == ["Tree", "Cat"]
    assert sibling_names(project, animal) == []


@pytest.mark.parametrize("under", ["itself", "child", "grandchild"])
def test_move_under_itself_or_its_descendants_is_refused(create, admin, under):
    animal = create("Animal")
    cat = create("Cat", parent=animal)
    kitten = create("Kitten", parent=cat)
    parent = {"itself": animal, "child": cat, "grandchild": kitten}[under]

    with pytest.raises(ServiceError, match="cannot move under itself"):
        concept_move(concept=animal, parent=parent, actor=admin)

    animal.refresh_from_db()
    assert animal.parent is None


def test_move_next_to_a_concept_with_the_same_key_is_refused(create, admin):
    animal, toy = create("Animal"), create("Toy")
    create("Cat", parent=animal)
    toy_cat = create("Cat", parent=toy)

    with pytest.raises(ServiceError, match="A concept named “(Animal|Cat)” exists here."):
        concept_move(concept=toy_cat, parent=animal, actor=admin)


def test_synonyms_are_unique_in_a_project_ignoring_case_and_spaces(create, admin):
    cat, dog = create("Cat"), create("Dog")
    concept_synonym_add(concept=cat, name="Kitty", actor=admin)

    with pytest.raises(ServiceError, match="already a synonym of “Cat”"):
        concept_synonym_add(concept=dog, name="  KITTY ", actor=admin)

    assert list(cat.synonyms.values_list("name", flat=True)) == ["Kitty"]
    assert not dog.synonyms.exists()


def test_removed_synonym_can_be_used_again(create, admin):
    cat, dog = create("Cat"), create("Dog")
    synonym = concept_synonym_add(concept=cat, name="pet", actor=admin)

    concept_synonym_remove(synonym=synonym, actor=admin)
    concept_synonym_add(concept=dog, name="Pet", actor=admin)

    assert list(ConceptSynonym.objects.values_list("concept__name", "name")) == [("Dog", "Pet")]


def test_archive_hides_the_concept_and_its_children_but_keeps_labels(project, create, admin):
    animal = create("Animal")
    cat = create("Cat", parent=animal)
    kitten = create("Kitten", parent=cat)
    annotation = annotation_with_labels(input=InputFactory(project=project), concepts=[cat])

    concept_archive(concept=animal, actor=admin)

    for concept in (animal, cat, kitten):
        concept.refresh_from_db()
        assert concept.is_archived
    assert list(annotation.labels.values_list("concept", flat=True)) == [cat.id]
    assert ConceptChange.objects.filter(action="archive").count() == 3


def test_restore_makes_an_archived_concept_active_again(create, admin):
    cat = create("Cat")
    concept_archive(concept=cat, actor=admin)

    concept_restore(concept=cat, actor=admin)

    cat.refresh_from_db()
    assert not cat.is_archived
    assert ConceptChange.objects.filter(concept=cat, action="restore").exists()


def test_child_cannot_be_restored_while_its_parent_is_archived(create, admin):
    animal = create("Animal")
    cat = create("Cat", parent=animal)
    concept_archive(concept=animal, actor=admin)
    cat.refresh_from_db()

    with pytest.raises(ServiceError, match="parent concept first"):
        concept_restore(concept=cat, actor=admin)


@pytest.fixture
def merge_setup(project, create):
    """Animal > {Cat, Kitty > {Kitten}}; Kitty labels inputs 0-2, Cat labels inputs 1-3."""
    animal = create("Animal")
    cat = create("Cat", parent=animal)
    kitty = create("Kitty", parent=animal)
    kitten = create("Kitten", parent=kitty)
    inputs = InputFactory.create_batch(4, project=project)
    annotations = [
        annotation_with_labels(input=inputs[0], concepts=[kitty]),
        annotation_with_labels(input=inputs[1], concepts=[kitty, cat]),
        annotation_with_labels(input=inputs[2], concepts=[cat, kitty, animal]),
        annotation_with_labels(input=inputs[3], concepts=[cat]),
    ]
    return cat, kitty, kitten, annotations


def test_merge_moves_every_label_to_the_target_once(merge_setup, admin):
    cat, kitty, _, annotations = merge_setup

    concept_merge(source=kitty, target=cat, actor=admin)

    assert Annotation.objects.filter(id__in=[a.id for a in annotations]).count() == 4
    for annotation in annotations:
        assert annotation.labels.filter(concept=cat).count() == 1
        assert not annotation.labels.filter(concept=kitty).exists()
    # other labels of the annotations are untouched
    assert annotations[2].labels.count() == 2
    assert AnnotationLabel.objects.filter(concept=cat).count() == 4


def test_merged_concept_stays_archived_pointing_at_its_survivor(merge_setup, admin):
    cat, kitty, _, _ = merge_setup

    concept_merge(source=kitty, target=cat, actor=admin)

    kitty.refresh_from_db()
    assert kitty.is_archived
    assert kitty.merged_into == cat
    with pytest.raises(ServiceError, match="merged into another concept"):
        concept_restore(concept=kitty, actor=admin)


def test_merged_concept_name_and_synonyms_become_synonyms_of_the_target(merge_setup, admin):
    cat, kitty, _, _ = merge_setup
    concept_synonym_add(concept=kitty, name="Puss", actor=admin)

    concept_merge(source=kitty, target=cat, actor=admin)

    assert set(cat.synonyms.values_list("name", flat=True)) == {"Kitty", "Puss"}


def test_merge_moves_the_children_of_the_source_to_the_target(merge_setup, admin):
    cat, kitty, kitten, _ = merge_setup

    concept_merge(source=kitty, target=cat, actor=admin)

    kitten.refresh_from_db()
    assert kitten.parent == cat
    assert not kitten.is_archived


def test_merge_is_recorded_on_both_concepts(merge_setup, admin):
    cat, kitty, _, _ = merge_setup

    concept_merge(source=kitty, target=cat, actor=admin)

    on_source = ConceptChange.objects.get(concept=kitty, action="merge")
    on_target = ConceptChange.objects.get(concept=cat, action="merge")
    assert on_source.details["into"] == "Cat"
    assert on_target.details["absorbed"] == "Kitty"


def test_merge_refused_when_a_moved_child_would_clash_and_nothing_changes(
    merge_setup, create, admin
):
    cat, kitty, kitten, _ = merge_setup
    create("Kitten", parent=cat)

    with pytest.raises(ServiceError, match="A concept named “Kitten” exists here."):
        concept_merge(source=kitty, target=cat, actor=admin)

    kitty.refresh_from_db()
    kitten.refresh_from_db()
    assert not kitty.is_archived
    assert kitten.parent == kitty
    assert AnnotationLabel.objects.filter(concept=kitty).count() == 3


def test_merging_across_projects_is_refused(merge_setup, other_project, admin):
    _, kitty, _, _ = merge_setup
    fish = concept_create(project=other_project, name="Fish", actor=admin)

    with pytest.raises(ServiceError, match="different projects"):
        concept_merge(source=kitty, target=fish, actor=admin)

    kitty.refresh_from_db()
    assert not kitty.is_archived


def test_merging_into_its_own_child_or_itself_is_refused(merge_setup, admin):
    _, kitty, kitten, _ = merge_setup

    with pytest.raises(ServiceError, match="own children"):
        concept_merge(source=kitty, target=kitten, actor=admin)
    with pytest.raises(ServiceError, match="different concept"):
        concept_merge(source=kitty, target=kitty, actor=admin)


def test_merging_into_an_archived_concept_is_refused(merge_setup, admin):
    cat, kitty, _, _ = merge_setup
    concept_archive(concept=cat, actor=admin)
    cat.refresh_from_db()

    with pytest.raises(ServiceError, match="Only active concepts"):
        concept_merge(source=kitty, target=cat, actor=admin)
