"""Gold items: an admin sets a known answer; the input leaves the normal queue; clearing
makes it a normal input again."""

import pytest
from factories import InputFactory, MembershipFactory, UserFactory

from labeling.models import (
    Annotation,
    AnnotationSource,
    AnnotationStatus,
    InputStatus,
    QueueSlot,
    Role,
)
from labeling.services.errors import ServiceError
from labeling.services.gold import input_gold_clear, input_gold_set
from labeling.services.projects import project_update
from labeling.services.queue import queue_next, queue_slots_open
from labeling.services.taxonomy import concept_create

pytestmark = pytest.mark.django_db


@pytest.fixture
def concepts(project, admin):
    """An exclusive "Species" (Robin or Sparrow) and a free-standing "Blurry" flag."""
    species = concept_create(project=project, name="Species", actor=admin, exclusive=True)
    return {
        "species": species,
        "robin": concept_create(project=project, name="Robin", parent=species, actor=admin),
        "sparrow": concept_create(project=project, name="Sparrow", parent=species, actor=admin),
        "blurry": concept_create(project=project, name="Blurry", actor=admin),
    }


@pytest.fixture
def two_per_input(project):
    # No random gold serving in these tests: the queue is read as plain work.
    return project_update(project=project, overlap=2, gold_rate=0.0)


def queued_input(project):
    input = InputFactory(project=project)
    queue_slots_open(input=input, overlap=project.overlap)
    return input


def open_slots(input) -> int:
    return QueueSlot.objects.filter(input=input, annotation__isnull=True).count()


def test_gold_set_stores_the_answer_and_takes_the_input_out_of_the_queue(
    project, two_per_input, admin, annotator, concepts
):
    # given an input waiting for two annotators
    input = queued_input(project)
    assert open_slots(input) == 2

    # when the admin marks it gold with Robin + Blurry
    input_gold_set(
        input=input, concept_ids=[concepts["blurry"].id, concepts["robin"].id], actor=admin
    )

    # then it holds the answer, counts as labeled and has no open slot left
    input.refresh_from_db()
    assert input.gold_concept_ids == sorted([concepts["robin"].id, concepts["blurry"].id])
    assert input.status == InputStatus.LABELED
    assert open_slots(input) == 0
    assert queue_next(project=project, user=annotator) is None


def test_gold_set_keeps_annotations_already_made(project, two_per_input, admin, concepts):
    input = queued_input(project)
    done = Annotation.objects.create(
        project=project, input=input, source=AnnotationSource.HUMAN, author=admin
    )
    QueueSlot.objects.filter(input=input, number=0).update(annotation=done)

    input_gold_set(input=input, concept_ids=[concepts["robin"].id], actor=admin)

    assert list(QueueSlot.objects.filter(input=input).values_list("annotation_id", flat=True)) == [
        done.id
    ]


@pytest.mark.parametrize(
    "pick, message",
    [
        (lambda c: [], "at least one"),
        (lambda c: [c["robin"].id, c["sparrow"].id], "pick one"),
        (lambda c: [c["species"].id], "Unknown or archived"),  # a parent is not pickable
        (lambda c: [999_999], "Unknown or archived"),
    ],
)
def test_gold_set_checks_the_answer_like_a_submission(project, admin, concepts, pick, message):
    input = queued_input(project)

    with pytest.raises(ServiceError, match=message):
        input_gold_set(input=input, concept_ids=pick(concepts), actor=admin)

    input.refresh_from_db()
    assert input.gold_concept_ids is None
    assert open_slots(input) == 1


def test_gold_set_refuses_a_concept_of_another_project(project, other_project, admin, concepts):
    foreign = concept_create(
        project=other_project, name="Trout", actor=other_project.memberships.get().user
    )
    input = queued_input(project)

    with pytest.raises(ServiceError):
        input_gold_set(input=input, concept_ids=[foreign.id], actor=admin)


@pytest.mark.parametrize("role", [Role.ANNOTATOR, Role.REVIEWER])
def test_only_admins_set_or_clear_gold(project, admin, concepts, role):
    user = UserFactory()
    MembershipFactory(project=project, user=user, role=role, review_tier=1)
    input = queued_input(project)

    with pytest.raises(ServiceError, match="admins"):
        input_gold_set(input=input, concept_ids=[concepts["robin"].id], actor=user)
    input_gold_set(input=input, concept_ids=[concepts["robin"].id], actor=admin)
    with pytest.raises(ServiceError, match="admins"):
        input_gold_clear(input=input, actor=user)


def test_gold_clear_puts_the_input_back_in_the_queue(
    project, two_per_input, admin, annotator, concepts
):
    # given a gold item
    input = queued_input(project)
    input_gold_set(input=input, concept_ids=[concepts["robin"].id], actor=admin)

    # when the admin clears it
    input_gold_clear(input=input, actor=admin)

    # then it is a normal unlabeled input with its two slots, served to annotators again
    input.refresh_from_db()
    assert input.gold_concept_ids is None
    assert input.status == InputStatus.UNLABELED
    assert open_slots(input) == 2
    assert queue_next(project=project, user=annotator).input == input


def test_gold_clear_drops_the_slots_gold_checks_filled(project, two_per_input, admin, concepts):
    # given a gold item two annotators were scored on, in slots the queue made for them
    input = queued_input(project)
    input_gold_set(input=input, concept_ids=[concepts["robin"].id], actor=admin)
    checks = []
    for number, correct in enumerate([True, False]):
        check = Annotation.objects.create(
            project=project,
            input=input,
            author=UserFactory(),
            source=AnnotationSource.HUMAN,
            status=AnnotationStatus.ACCEPTED if correct else AnnotationStatus.REJECTED,
            gold_correct=correct,
        )
        QueueSlot.objects.create(project=project, input=input, number=number, annotation=check)
        checks.append(check)

    input_gold_clear(input=input, actor=admin)

    # then the scored annotations are kept, and two fresh places wait for normal work
    input.refresh_from_db()
    assert input.status == InputStatus.UNLABELED
    assert open_slots(input) == 2
    assert QueueSlot.objects.filter(input=input).count() == 2
    assert Annotation.objects.filter(id__in=[c.id for c in checks]).count() == 2


def test_gold_clear_keeps_an_input_labeled_the_normal_way_labeled(
    project, two_per_input, admin, concepts
):
    input = queued_input(project)
    Annotation.objects.create(
        project=project,
        input=input,
        source=AnnotationSource.MODEL,
        status=AnnotationStatus.ACCEPTED,
    )
    input_gold_set(input=input, concept_ids=[concepts["robin"].id], actor=admin)

    input_gold_clear(input=input, actor=admin)

    input.refresh_from_db()
    assert input.status == InputStatus.LABELED
    assert open_slots(input) == 0


def test_gold_clear_of_a_normal_input_is_refused(project, admin):
    input = queued_input(project)

    with pytest.raises(ServiceError, match="not a gold item"):
        input_gold_clear(input=input, actor=admin)


def test_a_new_answer_keeps_the_slot_an_annotator_is_working_in(
    project, admin, annotator, concepts
):
    # given a gold item the queue is serving to an annotator right now
    input = queued_input(project)
    input_gold_set(input=input, concept_ids=[concepts["robin"].id], actor=admin)
    QueueSlot.objects.create(project=project, input=input, number=0, leased_to=annotator)

    # when the admin corrects the answer
    input_gold_set(input=input, concept_ids=[concepts["sparrow"].id], actor=admin)

    # then the annotator still holds their place
    input.refresh_from_db()
    assert input.gold_concept_ids == [concepts["sparrow"].id]
    assert QueueSlot.objects.filter(input=input, leased_to=annotator).exists()
