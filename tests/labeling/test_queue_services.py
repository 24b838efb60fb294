"""The annotator queue: leases, submissions, lost leases and drafts, skip, undo, fix, overlap."""

from datetime import timedelta

import pytest
from django.utils import timezone
from factories import InputFactory, MembershipFactory, UserFactory

from labeling.models import (
    Annotation,
    AnnotationDraft,
    AnnotationStatus,
    InputStatus,
    QueueSlot,
    Role,
    Skip,
)
from labeling.services.errors import ServiceError
from labeling.services.ingest import input_ingest
from labeling.services.projects import project_update
from labeling.services.queue import (
    Outcome,
    annotation_relabel,
    annotation_submit,
    annotation_undo,
    draft_resubmit,
    input_skip,
    queue_next,
    queue_slots_open,
)
from labeling.services.taxonomy import concept_archive, concept_create

pytestmark = pytest.mark.django_db


@pytest.fixture
def concepts(project, admin):
    """An exclusive "Species" (Robin or Sparrow) and a free-standing "Blurry" flag."""
    species = concept_create(project=project, name="Species", actor=admin, exclusive=True)
    return {
        "robin": concept_create(project=project, name="Robin", parent=species, actor=admin),
        "sparrow": concept_create(project=project, name="Sparrow", parent=species, actor=admin),
        "blurry": concept_create(project=project, name="Blurry", actor=admin),
    }


@pytest.fixture
def robin(concepts):
    return [concepts["robin"].id]


def annotator_in(project, username: str):
    user = UserFactory(username=username)
    MembershipFactory(project=project, user=user, role=Role.ANNOTATOR)
    return user


@pytest.fixture
def bob(project):
    return annotator_in(project, "bob_annotator")


@pytest.fixture
def carol(project):
    return annotator_in(project, "carol_annotator")


def queued_input(project, **kwargs):
    """An input row with its ``overlap`` open slots, as ingest leaves it."""
    input = InputFactory(project=project, **kwargs)
    queue_slots_open(input=input, overlap=project.overlap)
    return input


def set_project(project, **fields):
    return project_update(project=project, **fields)


def submit(project, user, input, concept_ids, **kwargs):
    return annotation_submit(
        project=project, user=user, input=input, concept_ids=concept_ids, **kwargs
    )


def labeled(project, user, concept, input=None):
    """An annotation by ``user`` with one label, on a new input unless one is given."""
    input = input or queued_input(project)
    return submit(project, user, input, [concept.id]).annotation


def later(project, now=None):
    """A moment just after a lease taken at ``now`` ran out."""
    return (now or timezone.now()) + timedelta(minutes=project.lease_minutes, seconds=1)


# ---------------------------------------------------------------------------- next


def test_next_leases_one_input_for_the_project_lease_time(project, annotator):
    set_project(project, lease_minutes=15)
    inputs = {queued_input(project).id, queued_input(project).id}
    now = timezone.now()

    slot = queue_next(project=project, user=annotator, now=now)

    assert slot.input_id in inputs
    assert (slot.leased_to, slot.leased_until) == (annotator, now + timedelta(minutes=15))
    assert QueueSlot.objects.filter(leased_to__isnull=False).count() == 1


def test_asking_again_returns_the_input_already_held(project, annotator):
    queued_input(project)
    queued_input(project)

    first = queue_next(project=project, user=annotator)
    again = queue_next(project=project, user=annotator)

    assert again.id == first.id
    assert QueueSlot.objects.filter(leased_to=annotator).count() == 1


def test_two_annotators_get_different_inputs_with_overlap_one(project, annotator, bob, carol):
    queued_input(project)
    queued_input(project)

    anna_slot = queue_next(project=project, user=annotator)
    bob_slot = queue_next(project=project, user=bob)

    assert anna_slot.input_id != bob_slot.input_id
    assert queue_next(project=project, user=carol) is None


def test_with_overlap_two_one_input_goes_to_two_different_annotators(
    project, annotator, bob, carol
):
    set_project(project, overlap=2)
    input = queued_input(project)

    anna_slot = queue_next(project=project, user=annotator)
    bob_slot = queue_next(project=project, user=bob)

    assert anna_slot.input_id == bob_slot.input_id == input.id
    assert anna_slot.id != bob_slot.id
    assert queue_next(project=project, user=carol) is None


def test_an_annotator_never_gets_the_same_input_twice_even_after_submitting(
    project, annotator, robin
):
    set_project(project, overlap=2)
    input = queued_input(project)
    queue_next(project=project, user=annotator)

    submit(project, annotator, input, robin)

    assert QueueSlot.objects.filter(input=input, annotation__isnull=True).count() == 1
    assert queue_next(project=project, user=annotator) is None
    assert queue_next(project=project, user=annotator, now=later(project)) is None


def test_an_expired_lease_returns_the_input_to_the_queue(project, annotator, bob):
    input = queued_input(project)
    now = timezone.now()
    queue_next(project=project, user=annotator, now=now)

    assert queue_next(project=project, user=bob, now=now) is None
    bob_slot = queue_next(project=project, user=bob, now=later(project, now))

    assert bob_slot.input_id == input.id
    assert bob_slot.leased_to == bob


def test_queue_is_empty_when_every_input_is_done(project, annotator, robin):
    inputs = [queued_input(project) for _ in range(3)]

    for _ in inputs:
        slot = queue_next(project=project, user=annotator)
        assert submit(project, annotator, slot.input, robin).outcome is Outcome.CREATED

    assert queue_next(project=project, user=annotator) is None
    assert Annotation.objects.filter(author=annotator).count() == 3
    assert {a.input_id for a in Annotation.objects.all()} == {i.id for i in inputs}


def test_higher_priority_slots_are_served_first(project, annotator):
    queued_input(project)
    urgent = queued_input(project)
    QueueSlot.objects.filter(input=urgent).update(priority=0.9)

    assert queue_next(project=project, user=annotator).input_id == urgent.id


# ---------------------------------------------------------------------------- submit


def test_submission_on_a_held_lease_is_created_with_its_labels(project, annotator, concepts):
    input = queued_input(project)
    queue_next(project=project, user=annotator)

    result = submit(project, annotator, input, [concepts["robin"].id, concepts["blurry"].id])

    assert result.outcome is Outcome.CREATED
    assert result.message == "Saved."
    labels = set(result.annotation.labels.values_list("concept_id", flat=True))
    assert labels == {concepts["robin"].id, concepts["blurry"].id}
    slot = QueueSlot.objects.get(input=input)
    assert (slot.annotation, slot.leased_until) == (result.annotation, None)


def test_submission_on_an_expired_lease_nobody_took_is_accepted(project, annotator, robin):
    input = queued_input(project)
    now = timezone.now()
    queue_next(project=project, user=annotator, now=now)

    result = submit(project, annotator, input, robin, now=later(project, now))

    assert result.outcome is Outcome.CREATED
    assert QueueSlot.objects.get(input=input).annotation == result.annotation


def test_submission_after_someone_else_took_the_slot_is_kept_as_a_draft(
    project, annotator, bob, concepts
):
    input = queued_input(project)
    now = timezone.now()
    queue_next(project=project, user=annotator, now=now)
    queue_next(project=project, user=bob, now=later(project, now))
    labels = [concepts["sparrow"].id, concepts["blurry"].id]

    result = submit(project, annotator, input, labels, now=later(project, now))

    assert result.outcome is Outcome.LOST
    assert "another annotator took it" in result.message
    assert not Annotation.objects.filter(author=annotator).exists()
    draft = AnnotationDraft.objects.get(user=annotator, input=input)
    assert (result.draft, draft.concept_ids, draft.project) == (draft, labels, project)
    assert QueueSlot.objects.get(input=input).leased_to == bob


def test_a_lost_draft_is_resubmitted_once_the_overlap_opens_a_place(project, annotator, bob, robin):
    input = queued_input(project)
    now = timezone.now()
    queue_next(project=project, user=annotator, now=now)
    queue_next(project=project, user=bob, now=later(project, now))
    draft = submit(project, annotator, input, robin, now=later(project, now)).draft
    assert draft_resubmit(draft=draft, user=annotator).outcome is Outcome.LOST

    set_project(project, overlap=2)
    result = draft_resubmit(draft=draft, user=annotator)

    assert result.outcome is Outcome.CREATED
    assert result.annotation.author == annotator
    assert list(result.annotation.labels.values_list("concept_id", flat=True)) == robin
    assert not AnnotationDraft.objects.filter(user=annotator).exists()


def test_someone_elses_draft_cannot_be_resubmitted(project, annotator, bob, robin):
    input = queued_input(project)
    draft = AnnotationDraft.objects.create(
        project=project, input=input, user=annotator, concept_ids=robin
    )

    with pytest.raises(ServiceError, match="someone else's"):
        draft_resubmit(draft=draft, user=bob)


def test_the_same_submission_twice_makes_one_annotation(project, annotator, robin):
    input = queued_input(project)
    queue_next(project=project, user=annotator)

    first = submit(project, annotator, input, robin, client_token="tok-1")
    again = submit(project, annotator, input, robin, client_token="tok-1")

    assert (first.outcome, again.outcome) == (Outcome.CREATED, Outcome.REPEATED)
    assert again.annotation == first.annotation
    assert again.message == "Already submitted."
    assert Annotation.objects.filter(input=input).count() == 1


def test_a_second_submission_for_the_same_input_is_a_repeat(project, annotator, concepts):
    set_project(project, overlap=2)
    input = queued_input(project)
    queue_next(project=project, user=annotator)

    first = submit(project, annotator, input, [concepts["robin"].id], client_token="a")
    second = submit(project, annotator, input, [concepts["sparrow"].id], client_token="b")

    assert second.outcome is Outcome.REPEATED
    assert second.annotation == first.annotation
    assert Annotation.objects.filter(input=input).count() == 1
    assert QueueSlot.objects.filter(input=input, annotation__isnull=True).count() == 1


def test_without_review_an_annotation_is_accepted_and_the_input_labeled(project, annotator, robin):
    input = queued_input(project)
    queue_next(project=project, user=annotator)

    annotation = submit(project, annotator, input, robin).annotation

    assert (annotation.status, annotation.review_tier) == (AnnotationStatus.ACCEPTED, 0)
    input.refresh_from_db()
    assert input.status == InputStatus.LABELED


def test_with_review_the_input_is_in_review_once_every_slot_is_filled(
    project, annotator, bob, robin
):
    set_project(project, review_tiers=1, overlap=2)
    input = queued_input(project)
    queue_next(project=project, user=annotator)
    queue_next(project=project, user=bob)

    first = submit(project, annotator, input, robin).annotation
    input.refresh_from_db()
    # with two annotators per input, the first waits (tier 0) for the other's labels
    assert (first.status, first.review_tier) == (AnnotationStatus.PENDING_REVIEW, 0)
    assert input.status == InputStatus.UNLABELED

    submit(project, bob, input, robin)
    input.refresh_from_db()
    first.refresh_from_db()
    assert input.status == InputStatus.IN_REVIEW
    assert (first.status, first.review_tier) == (AnnotationStatus.PENDING_REVIEW, 1)


def test_time_spent_and_dictionary_versions_are_stored(project, annotator, robin):
    input = queued_input(project)
    queue_next(project=project, user=annotator)

    annotation = submit(
        project, annotator, input, robin, time_spent_ms=4200, dictionary_versions={robin[0]: 3}
    ).annotation

    annotation.refresh_from_db()
    assert annotation.time_spent_ms == 4200
    assert annotation.dictionary_versions == {str(robin[0]): 3}


def test_labels_with_an_archived_concept_are_refused(project, admin, annotator, concepts):
    input = queued_input(project)
    queue_next(project=project, user=annotator)
    concept_archive(concept=concepts["blurry"], actor=admin)

    with pytest.raises(ServiceError, match="Unknown or archived"):
        submit(project, annotator, input, [concepts["robin"].id, concepts["blurry"].id])

    assert not Annotation.objects.exists()


def test_two_options_of_one_single_choice_are_refused(project, annotator, concepts):
    input = queued_input(project)

    with pytest.raises(ServiceError, match="pick one"):
        submit(project, annotator, input, [concepts["robin"].id, concepts["sparrow"].id])


def test_an_input_of_another_project_is_refused(project, other_project, annotator, robin):
    foreign = queued_input(other_project)

    with pytest.raises(ServiceError, match="not in this project"):
        submit(project, annotator, foreign, robin)

    assert not Annotation.objects.exists()


# ---------------------------------------------------------------------------- skip


def test_skip_takes_the_input_out_of_that_annotators_queue_only(project, annotator, bob):
    input = queued_input(project)
    queue_next(project=project, user=annotator)

    input_skip(project=project, user=annotator, input=input, reason="Unreadable image")

    slot = QueueSlot.objects.get(input=input)
    assert (slot.leased_to, slot.leased_until) == (None, None)
    assert Skip.objects.get(user=annotator, input=input).reason == "Unreadable image"
    assert queue_next(project=project, user=annotator) is None
    assert queue_next(project=project, user=bob).input_id == input.id


def test_after_a_skip_the_annotator_gets_the_next_input(project, annotator):
    first = queued_input(project)
    second = queued_input(project)
    held = queue_next(project=project, user=annotator).input
    other = second if held == first else first

    input_skip(project=project, user=annotator, input=held)

    assert queue_next(project=project, user=annotator).input_id == other.id


def test_skip_of_another_projects_input_is_refused(project, other_project, annotator):
    with pytest.raises(ServiceError, match="not in this project"):
        input_skip(project=project, user=annotator, input=queued_input(other_project))


# ---------------------------------------------------------------------------- undo


def test_undo_gives_the_input_back_with_its_labels_as_a_draft(project, annotator, concepts):
    input = queued_input(project)
    queue_next(project=project, user=annotator)
    labels = [concepts["sparrow"].id, concepts["blurry"].id]
    submit(project, annotator, input, labels)
    now = timezone.now()

    slot = annotation_undo(project=project, user=annotator, now=now)

    assert slot.input_id == input.id
    assert (slot.annotation, slot.leased_to) == (None, annotator)
    assert slot.leased_until == now + timedelta(minutes=project.lease_minutes)
    assert not Annotation.objects.exists()
    draft = AnnotationDraft.objects.get(user=annotator, input=input)
    assert sorted(draft.concept_ids) == sorted(labels)
    input.refresh_from_db()
    assert input.status == InputStatus.UNLABELED
    assert queue_next(project=project, user=annotator).input_id == input.id


def test_undo_takes_back_the_last_submission(project, annotator, robin):
    first = queued_input(project)
    second = queued_input(project)
    for _ in range(2):
        submit(project, annotator, queue_next(project=project, user=annotator).input, robin)
    last = Annotation.objects.order_by("-id").first()

    annotation_undo(project=project, user=annotator)

    assert list(Annotation.objects.values_list("input_id", flat=True)) == [
        ({first.id, second.id} - {last.input_id}).pop()
    ]


def test_undo_with_nothing_submitted_is_refused(project, annotator):
    with pytest.raises(ServiceError, match="Nothing to undo"):
        annotation_undo(project=project, user=annotator)


def test_undo_of_a_reviewed_annotation_is_refused(project, annotator, robin):
    set_project(project, review_tiers=1)
    input = queued_input(project)
    annotation = submit(project, annotator, input, robin).annotation
    Annotation.objects.filter(id=annotation.id).update(status=AnnotationStatus.ACCEPTED)

    with pytest.raises(ServiceError, match="reviewed"):
        annotation_undo(project=project, user=annotator)

    assert Annotation.objects.filter(id=annotation.id).exists()


def test_undo_of_an_annotation_past_the_first_review_tier_is_refused(project, annotator, robin):
    set_project(project, review_tiers=2)
    input = queued_input(project)
    annotation = submit(project, annotator, input, robin).annotation
    Annotation.objects.filter(id=annotation.id).update(review_tier=2)

    with pytest.raises(ServiceError, match="reviewed"):
        annotation_undo(project=project, user=annotator)


def test_undo_is_only_about_ones_own_annotations(project, annotator, bob, robin):
    input = queued_input(project)
    submit(project, annotator, input, robin)

    with pytest.raises(ServiceError, match="Nothing to undo"):
        annotation_undo(project=project, user=bob)

    assert Annotation.objects.count() == 1


# ---------------------------------------------------------------------------- relabel


def test_the_author_fixes_the_labels_of_an_open_annotation(project, annotator, concepts):
    annotation = labeled(project, annotator, concepts["robin"])

    annotation_relabel(annotation=annotation, user=annotator, concept_ids=[concepts["sparrow"].id])

    labels = list(annotation.labels.values_list("concept_id", flat=True))
    assert labels == [concepts["sparrow"].id]


def test_only_the_author_may_fix_an_annotation(project, annotator, bob, concepts):
    annotation = labeled(project, annotator, concepts["robin"])

    with pytest.raises(ServiceError, match="Only its author"):
        annotation_relabel(annotation=annotation, user=bob, concept_ids=[concepts["sparrow"].id])

    assert list(annotation.labels.values_list("concept_id", flat=True)) == [concepts["robin"].id]


def test_a_reviewed_annotation_cannot_be_fixed(project, annotator, concepts):
    set_project(project, review_tiers=1)
    annotation = labeled(project, annotator, concepts["robin"])
    Annotation.objects.filter(id=annotation.id).update(status=AnnotationStatus.REJECTED)

    with pytest.raises(ServiceError, match="reviewed"):
        annotation_relabel(
            annotation=annotation, user=annotator, concept_ids=[concepts["sparrow"].id]
        )


def test_a_fix_with_bad_labels_is_refused_and_keeps_the_old_ones(project, annotator, concepts):
    annotation = labeled(project, annotator, concepts["robin"])

    with pytest.raises(ServiceError, match="Pick at least one"):
        annotation_relabel(annotation=annotation, user=annotator, concept_ids=[])

    assert list(annotation.labels.values_list("concept_id", flat=True)) == [concepts["robin"].id]


# ---------------------------------------------------------------------------- overlap and ingest


def open_slot_numbers(input) -> list[int]:
    slots = QueueSlot.objects.filter(input=input, annotation__isnull=True).order_by("number")
    return list(slots.values_list("number", flat=True))


def test_raising_the_overlap_opens_slots_and_lowering_it_closes_open_ones(
    project, annotator, robin
):
    waiting = queued_input(project)
    done = queued_input(project)
    set_project(project, review_tiers=1)
    submit(project, annotator, done, robin)

    set_project(project, overlap=3)
    assert open_slot_numbers(waiting) == [0, 1, 2]
    assert open_slot_numbers(done) == [1, 2]

    set_project(project, overlap=1)
    assert open_slot_numbers(waiting) == [0]
    assert open_slot_numbers(done) == []
    assert QueueSlot.objects.get(input=done).annotation.author == annotator


def test_lowering_the_overlap_leaves_no_open_slot_beyond_the_overlap(
    project, annotator, bob, carol, robin
):
    """Slot 1 filled first (its annotator was quicker) while slot 0 is still open."""
    set_project(project, overlap=2)
    input = queued_input(project)
    queue_next(project=project, user=annotator)
    assert queue_next(project=project, user=bob).number == 1
    submit(project, bob, input, robin)

    set_project(project, overlap=1)

    assert QueueSlot.objects.filter(input=input).count() == 1
    assert open_slot_numbers(input) == []


def test_lowering_the_overlap_puts_a_fully_annotated_input_in_review(project, annotator, robin):
    set_project(project, review_tiers=1, overlap=2)
    input = queued_input(project)
    submit(project, annotator, input, robin)

    set_project(project, overlap=1)

    input.refresh_from_db()
    assert input.status == InputStatus.IN_REVIEW


def test_raising_the_overlap_brings_an_input_in_review_back_to_the_queue(
    project, annotator, bob, robin
):
    set_project(project, review_tiers=1)
    input = queued_input(project)
    submit(project, annotator, input, robin)
    input.refresh_from_db()
    assert input.status == InputStatus.IN_REVIEW

    set_project(project, overlap=2)

    input.refresh_from_db()
    assert input.status == InputStatus.UNLABELED
    assert queue_next(project=project, user=bob).input_id == input.id


def test_ingest_of_a_new_image_opens_overlap_slots(project, image_bytes):
    set_project(project, overlap=3)

    result = input_ingest(project=project, name="robin.png", data=image_bytes())
    again = input_ingest(project=project, name="copy.png", data=image_bytes())

    assert result.created and not again.created
    assert open_slot_numbers(result.input) == [0, 1, 2]
    assert QueueSlot.objects.count() == 3
