"""The project dashboard: inputs by split and status, labels per concept, imbalance warning."""

import pytest
from factories import InputFactory, annotation_with_labels

from labeling.models import AnnotationStatus, InputStatus, Split
from labeling.selectors import imbalance_warning, project_dashboard
from labeling.services.taxonomy import concept_archive, concept_create


def test_no_imbalance_warning_when_counts_are_close():
    assert imbalance_warning({"cat": 50, "dog": 40, "bird": 10}) == ""


def test_warning_when_the_rarest_concept_has_under_a_tenth_of_the_largest():
    warning = imbalance_warning({"cat": 100, "dog": 40, "bird": 9})

    assert "“bird” has 9 labels" in warning
    assert "“cat” (100)" in warning


def test_exactly_a_tenth_is_not_a_warning():
    assert imbalance_warning({"cat": 100, "bird": 10}) == ""


def test_concept_without_any_label_next_to_labeled_ones_is_a_warning():
    assert "“bird” has 0 labels" in imbalance_warning({"cat": 5, "bird": 0})


@pytest.mark.parametrize("counts", [{}, {"cat": 100}, {"cat": 0, "dog": 0}])
def test_no_warning_with_fewer_than_two_concepts_or_no_labels(counts):
    assert imbalance_warning(counts) == ""


@pytest.mark.django_db
def test_dashboard_counts_inputs_by_split_and_status(project):
    InputFactory.create_batch(3, project=project, split=Split.TRAIN)
    InputFactory(project=project, split=Split.TRAIN, status=InputStatus.LABELED)
    InputFactory.create_batch(2, project=project, split=Split.EVAL, status=InputStatus.IN_REVIEW)
    InputFactory(split=Split.TRAIN)  # another project's input

    dashboard = project_dashboard(project)

    assert dashboard.total_inputs == 6
    by_split = {label: (counts, total) for label, counts, total in dashboard.split_status}
    assert by_split["Train"] == ({"unlabeled": 3, "in_review": 0, "labeled": 1}, 4)
    assert by_split["Eval"] == ({"unlabeled": 0, "in_review": 2, "labeled": 0}, 2)


@pytest.mark.django_db
def test_dashboard_of_an_empty_project_shows_zeros(project):
    dashboard = project_dashboard(project)

    assert dashboard.total_inputs == 0
    assert [total for _, _, total in dashboard.split_status] == [0, 0]
    assert dashboard.label_bars == []
    assert dashboard.imbalance == ""


@pytest.mark.django_db
def test_dashboard_shows_accepted_labels_per_active_leaf_concept(project, admin):
    # given Animal > {Cat, Dog, Bird (archived)} and Plant (a leaf at the root)
    animal = concept_create(project=project, name="Animal", actor=admin)
    cat = concept_create(project=project, name="Cat", parent=animal, actor=admin)
    dog = concept_create(project=project, name="Dog", parent=animal, actor=admin)
    bird = concept_create(project=project, name="Bird", parent=animal, actor=admin)
    concept_create(project=project, name="Plant", actor=admin)
    for _ in range(30):
        annotation_with_labels(input=InputFactory(project=project), concepts=[cat])
    for _ in range(2):
        annotation_with_labels(input=InputFactory(project=project), concepts=[dog, bird])
    # labels waiting for review or rejected do not count
    annotation_with_labels(
        input=InputFactory(project=project),
        concepts=[dog],
        status=AnnotationStatus.PENDING_REVIEW,
    )
    annotation_with_labels(
        input=InputFactory(project=project), concepts=[dog], status=AnnotationStatus.REJECTED
    )
    concept_archive(concept=bird, actor=admin)

    dashboard = project_dashboard(project)

    bars = {bar.concept.name: (bar.count, round(bar.percent)) for bar in dashboard.label_bars}
    assert bars == {"Cat": (30, 100), "Dog": (2, 7), "Plant": (0, 0)}
    assert "“Plant” has 0 labels" in dashboard.imbalance


@pytest.mark.django_db
def test_parent_whose_children_are_all_archived_counts_as_a_leaf(project, admin):
    animal = concept_create(project=project, name="Animal", actor=admin)
    cat = concept_create(project=project, name="Cat", parent=animal, actor=admin)
    annotation_with_labels(input=InputFactory(project=project), concepts=[animal])
    concept_archive(concept=cat, actor=admin)

    dashboard = project_dashboard(project)

    assert [(bar.concept.name, bar.count) for bar in dashboard.label_bars] == [("Animal", 1)]
