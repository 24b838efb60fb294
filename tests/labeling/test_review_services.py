"""Tiered review services: routing through the tiers, decisions, the reviewer queue,
consensus, gold items and bulk approval."""

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from factories import AnnotationFactory, InputFactory, MembershipFactory, UserFactory

from labeling.models import (
    Annotation,
    AnnotationDraft,
    AnnotationLabel,
    AnnotationStatus,
    Input,
    InputStatus,
    Project,
    QueueSlot,
    ReviewDecision,
    ReviewTier,
    Role,
)
from labeling.review_rules import TierRule, correction_changes
from labeling.services.errors import ServiceError
from labeling.services.queue import (
    annotation_submit,
    annotation_undo,
    queue_next,
    queue_slots_close,
    queue_slots_open,
)
from labeling.services.review import (
    review_bulk_approve,
    review_decide,
    review_next,
    review_tiers_configure,
    reviewer_tier,
    tier_rules,
)
from labeling.services.taxonomy import concept_create

pytestmark = pytest.mark.django_db

APPROVE, REJECT, CORRECT, CONSENSUS = (
    ReviewDecision.Action.APPROVE,
    ReviewDecision.Action.REJECT,
    ReviewDecision.Action.CORRECT,
    ReviewDecision.Action.CONSENSUS,
)
PENDING, ACCEPTED, REJECTED, SUPERSEDED = (
    AnnotationStatus.PENDING_REVIEW,
    AnnotationStatus.ACCEPTED,
    AnnotationStatus.REJECTED,
    AnnotationStatus.SUPERSEDED,
)
REASON = "The bird is a sparrow: look at the streaks"


@pytest.fixture
def concepts(project, admin):
    """An exclusive "Species": Robin or Sparrow."""
    species = concept_create(project=project, name="Species", actor=admin, exclusive=True)
    return {
        "robin": concept_create(project=project, name="Robin", parent=species, actor=admin),
        "sparrow": concept_create(project=project, name="Sparrow", parent=species, actor=admin),
    }


@pytest.fixture
def robin(concepts):
    return [concepts["robin"].id]


@pytest.fixture
def sparrow(concepts):
    return [concepts["sparrow"].id]


def member(project, username: str, role: str = Role.ANNOTATOR, tier: int | None = None):
    user = UserFactory(username=username)
    MembershipFactory(project=project, user=user, role=role, review_tier=tier)
    return user


@pytest.fixture
def rita(reviewer):
    """The tier-1 reviewer."""
    return reviewer


@pytest.fixture
def ray(project):
    """A second tier-1 reviewer."""
    return member(project, "ray_reviewer", Role.REVIEWER, tier=1)


@pytest.fixture
def tom(project):
    """The tier-2 reviewer."""
    return member(project, "tom_reviewer", Role.REVIEWER, tier=2)


@pytest.fixture
def bob(project):
    return member(project, "bob_annotator")


@pytest.fixture
def two_tiers(project, concepts):
    """Every human annotation passes tier 1, then tier 2."""
    review_tiers_configure(project=project, tiers=[("all", 1.0), ("all", 1.0)])
    project.refresh_from_db()
    return project


def queued_input(project: Project) -> Input:
    input = InputFactory(project=project)
    queue_slots_open(input=input, overlap=project.overlap)
    return input


def label_next(project: Project, user, concept_ids: list[int]) -> Annotation:
    """The user takes the next input of their queue and submits these labels for it."""
    slot = queue_next(project=project, user=user)
    assert slot is not None, f"{user.username} has nothing to label"
    submission = annotation_submit(
        project=project, user=user, input=slot.input, concept_ids=concept_ids
    )
    return submission.annotation


def decide(annotation: Annotation, reviewer, action: str, **kwargs) -> ReviewDecision:
    return review_decide(annotation=annotation, reviewer=reviewer, action=action, **kwargs)


def fresh(obj):
    obj.refresh_from_db()
    return obj


def labels_of(annotation: Annotation) -> list[int]:
    return sorted(annotation.labels.values_list("concept_id", flat=True))


def trail(annotation: Annotation) -> list[tuple]:
    return [
        (d.tier, d.action, d.reviewer.username if d.reviewer else None, d.reason)
        for d in annotation.decisions.select_related("reviewer")
    ]


# ---------------------------------------------------------------------------- two tiers


def test_a_submission_waits_for_tier_1(two_tiers, annotator, robin):
    input = queued_input(two_tiers)

    annotation = label_next(two_tiers, annotator, robin)

    assert (annotation.status, annotation.review_tier) == (PENDING, 1)
    assert fresh(input).status == InputStatus.IN_REVIEW


def test_tier_1_approval_sends_it_to_tier_2(two_tiers, annotator, rita, robin):
    queued_input(two_tiers)
    annotation = label_next(two_tiers, annotator, robin)

    decision = decide(annotation, rita, APPROVE)

    assert (decision.tier, decision.action, decision.reviewer) == (1, APPROVE, rita)
    assert (fresh(annotation).status, annotation.review_tier) == (PENDING, 2)


def test_tier_2_approval_accepts_it_and_the_input_is_labeled(
    two_tiers, annotator, rita, tom, robin
):
    input = queued_input(two_tiers)
    annotation = label_next(two_tiers, annotator, robin)
    decide(annotation, rita, APPROVE)

    decide(annotation, tom, APPROVE)

    assert fresh(annotation).status == ACCEPTED
    assert fresh(input).status == InputStatus.LABELED
    assert trail(annotation) == [
        (1, APPROVE, "rita_reviewer", ""),
        (2, APPROVE, "tom_reviewer", ""),
    ]


@pytest.mark.parametrize("reason", ["", "   "])
def test_a_rejection_needs_a_reason(two_tiers, annotator, rita, tom, robin, reason):
    queued_input(two_tiers)
    annotation = label_next(two_tiers, annotator, robin)
    decide(annotation, rita, APPROVE)

    with pytest.raises(ServiceError, match="why"):
        decide(annotation, tom, REJECT, reason=reason)

    assert (fresh(annotation).status, annotation.review_tier) == (PENDING, 2)
    assert annotation.decisions.count() == 1


def test_a_rejection_returns_the_input_to_its_annotator_first_with_the_reason(
    two_tiers, annotator, bob, rita, tom, robin
):
    # given anna's annotation approved at tier 1, and more work waiting in the queue
    input = queued_input(two_tiers)
    annotation = label_next(two_tiers, annotator, robin)
    queued_input(two_tiers)
    queued_input(two_tiers)
    decide(annotation, rita, APPROVE)

    # when the tier-2 reviewer rejects it with a reason
    decide(annotation, tom, REJECT, reason=REASON)

    # then it is rejected and its slot is free again, leased to anna
    assert fresh(annotation).status == REJECTED
    slot = QueueSlot.objects.get(input=input)
    assert (slot.annotation_id, slot.leased_to_id) == (None, annotator.id)
    assert slot.leased_until > timezone.now()
    assert fresh(input).status == InputStatus.UNLABELED
    # and a draft keeps her labels with the reason
    draft = AnnotationDraft.objects.get(user=annotator, input=input)
    assert REASON in draft.note
    assert draft.concept_ids == robin
    # and her queue gives her that input before anything else; bob does not get it
    assert queue_next(project=two_tiers, user=annotator).input_id == input.id
    assert queue_next(project=two_tiers, user=bob).input_id != input.id
    assert trail(annotation)[-1] == (2, REJECT, "tom_reviewer", REASON)


def test_a_rejected_input_comes_right_after_the_one_the_annotator_is_on(
    two_tiers, annotator, rita, robin
):
    # given anna submitted an input and, as the label page does, was given the next one,
    # with fresh work still waiting in the queue
    rejected_input = queued_input(two_tiers)
    annotation = label_next(two_tiers, annotator, robin)
    current = queued_input(two_tiers)
    assert queue_next(project=two_tiers, user=annotator).input_id == current.id
    queued_input(two_tiers)

    # when her submission is rejected
    decide(annotation, rita, REJECT, reason=REASON)

    # then a reload keeps the input she is on, and the rejected one comes right after it,
    # before any fresh work
    assert queue_next(project=two_tiers, user=annotator).input_id == current.id
    label_next(two_tiers, annotator, robin)
    assert queue_next(project=two_tiers, user=annotator).input_id == rejected_input.id


def test_a_resubmission_after_rejection_goes_through_the_tiers_again(
    two_tiers, annotator, rita, tom, robin, sparrow
):
    input = queued_input(two_tiers)
    rejected = label_next(two_tiers, annotator, robin)
    decide(rejected, rita, APPROVE)
    decide(rejected, tom, REJECT, reason=REASON)

    # when anna fixes her labels and submits again
    fixed = label_next(two_tiers, annotator, sparrow)

    # then a new annotation starts at tier 1, and the rejected one stays as it was
    assert fixed.id != rejected.id and fixed.input_id == input.id
    assert (fixed.status, fixed.review_tier) == (PENDING, 1)
    assert labels_of(fixed) == sparrow
    assert fresh(rejected).status == REJECTED
    assert not AnnotationDraft.objects.filter(user=annotator, input=input).exists()

    # and it needs both tiers again to be accepted
    decide(fixed, rita, APPROVE)
    assert (fresh(fixed).status, fixed.review_tier) == (PENDING, 2)
    decide(fixed, tom, APPROVE)
    assert fresh(fixed).status == ACCEPTED
    assert fresh(input).status == InputStatus.LABELED
    assert trail(rejected) == [
        (1, APPROVE, "rita_reviewer", ""),
        (2, REJECT, "tom_reviewer", REASON),
    ]
    assert trail(fixed) == [(1, APPROVE, "rita_reviewer", ""), (2, APPROVE, "tom_reviewer", "")]


def test_a_tier_1_correction_supersedes_the_annotation_and_goes_to_tier_2(
    two_tiers, annotator, rita, tom, robin, sparrow
):
    input = queued_input(two_tiers)
    original = label_next(two_tiers, annotator, robin)

    decision = decide(original, rita, CORRECT, concept_ids=sparrow)

    correction = Annotation.objects.get(corrects=original)
    assert fresh(original).status == SUPERSEDED
    assert labels_of(original) == robin  # the original is kept as it was
    assert (correction.author, correction.status, correction.review_tier) == (rita, PENDING, 2)
    assert labels_of(correction) == sparrow
    assert (decision.action, decision.tier, decision.correction) == (CORRECT, 1, correction)
    assert decision.corrected_concept_ids == sparrow
    assert QueueSlot.objects.get(input=input).annotation == correction

    decide(correction, tom, APPROVE)

    assert fresh(correction).status == ACCEPTED
    assert fresh(input).status == InputStatus.LABELED


def test_a_correction_that_keeps_the_labels_is_recorded_as_an_approval(
    two_tiers, annotator, rita, robin
):
    # given a robin waiting at tier 1
    queued_input(two_tiers)
    original = label_next(two_tiers, annotator, robin)

    # when the reviewer "corrects" it to robin again
    decision = decide(original, rita, CORRECT, concept_ids=robin)

    # then it is an approval: no correction written, the original goes on to tier 2
    assert (decision.action, decision.correction) == (APPROVE, None)
    assert not Annotation.objects.filter(corrects=original).exists()
    assert (fresh(original).status, original.review_tier) == (PENDING, 2)
    assert trail(original) == [(1, APPROVE, "rita_reviewer", "")]


def test_correction_changes_is_a_change_of_the_label_set():
    assert not correction_changes(frozenset({1, 2}), frozenset({2, 1}))
    assert correction_changes(frozenset({1}), frozenset({2}))
    assert correction_changes(frozenset({1}), frozenset())


def test_a_correction_is_checked_like_a_submission(two_tiers, annotator, rita, robin, sparrow):
    queued_input(two_tiers)
    original = label_next(two_tiers, annotator, robin)

    with pytest.raises(ServiceError):
        decide(original, rita, CORRECT, concept_ids=robin + sparrow)  # two of one choice

    assert (fresh(original).status, original.review_tier) == (PENDING, 1)
    assert not Annotation.objects.filter(corrects=original).exists()
    assert not original.decisions.exists()


# ---------------------------------------------------------------------------- append-only


def test_a_decision_can_be_neither_changed_nor_deleted(two_tiers, annotator, rita, robin):
    queued_input(two_tiers)
    annotation = label_next(two_tiers, annotator, robin)
    decision = decide(annotation, rita, APPROVE)

    decision.action = REJECT
    with pytest.raises(ValidationError, match="append-only"):
        decision.save()
    with pytest.raises(ValidationError, match="append-only"):
        decision.delete()

    assert trail(annotation) == [(1, APPROVE, "rita_reviewer", "")]


def test_a_second_decision_at_the_same_tier_is_impossible(two_tiers, annotator, rita, robin):
    queued_input(two_tiers)
    annotation = label_next(two_tiers, annotator, robin)
    decide(annotation, rita, APPROVE)

    with pytest.raises(IntegrityError), transaction.atomic():
        ReviewDecision.objects.create(
            project=two_tiers, annotation=annotation, tier=1, reviewer=rita, action=REJECT
        )
    assert annotation.decisions.count() == 1


def test_deciding_an_accepted_annotation_again_is_refused(
    two_tiers, annotator, admin, rita, tom, robin
):
    queued_input(two_tiers)
    annotation = label_next(two_tiers, annotator, robin)
    decide(annotation, rita, APPROVE)
    decide(annotation, tom, APPROVE)

    for reviewer in (tom, admin):
        with pytest.raises(ServiceError, match="not waiting for review"):
            decide(annotation, reviewer, REJECT, reason="changed my mind")

    assert fresh(annotation).status == ACCEPTED
    assert annotation.decisions.count() == 2


def test_the_annotator_cannot_undo_once_a_reviewer_decided(two_tiers, annotator, rita, robin):
    queued_input(two_tiers)
    annotation = label_next(two_tiers, annotator, robin)
    decide(annotation, rita, APPROVE)

    with pytest.raises(ServiceError, match="reviewed"):
        annotation_undo(project=two_tiers, user=annotator)

    assert fresh(annotation).status == PENDING


# ---------------------------------------------------------------------------- who decides


def test_a_reviewer_decides_only_at_their_own_tier(two_tiers, annotator, rita, tom, robin):
    queued_input(two_tiers)
    annotation = label_next(two_tiers, annotator, robin)

    with pytest.raises(ServiceError, match="waits at tier 1; you review tier 2"):
        decide(annotation, tom, APPROVE)
    decide(annotation, rita, APPROVE)
    with pytest.raises(ServiceError, match="waits at tier 2; you review tier 1"):
        decide(annotation, rita, APPROVE)

    assert (fresh(annotation).status, annotation.review_tier) == (PENDING, 2)
    assert review_next(project=two_tiers, user=rita) is None
    assert review_next(project=two_tiers, user=tom) == annotation


def test_nobody_reviews_their_own_annotation(two_tiers, admin, rita, robin):
    # given the admin (who reviews tier 1) labeled an input
    queued_input(two_tiers)
    own = label_next(two_tiers, admin, robin)
    assert reviewer_tier(two_tiers, admin) == 1

    # then their review queue never serves it, and deciding it is refused
    assert review_next(project=two_tiers, user=admin) is None
    with pytest.raises(ServiceError, match="own"):
        decide(own, admin, APPROVE)

    # while another tier-1 reviewer gets it
    assert review_next(project=two_tiers, user=rita) == own


def test_an_annotator_does_not_review(two_tiers, annotator, bob, robin):
    queued_input(two_tiers)
    annotation = label_next(two_tiers, annotator, robin)

    with pytest.raises(ServiceError, match="Only reviewers"):
        review_next(project=two_tiers, user=bob)
    with pytest.raises(ServiceError, match="Only reviewers"):
        decide(annotation, bob, APPROVE)


# ---------------------------------------------------------------------------- reviewer queue


def test_two_reviewers_of_a_tier_get_different_annotations(
    two_tiers, annotator, bob, rita, ray, robin
):
    queued_input(two_tiers)
    queued_input(two_tiers)
    first = label_next(two_tiers, annotator, robin)
    second = label_next(two_tiers, bob, robin)

    rita_gets = review_next(project=two_tiers, user=rita)
    ray_gets = review_next(project=two_tiers, user=ray)

    assert {rita_gets, ray_gets} == {first, second}
    # reloading keeps each on the one they hold
    assert review_next(project=two_tiers, user=rita) == rita_gets
    assert fresh(rita_gets).review_leased_to == rita


def test_a_review_lease_blocks_other_reviewers_until_it_runs_out(
    two_tiers, annotator, rita, ray, robin
):
    queued_input(two_tiers)
    annotation = label_next(two_tiers, annotator, robin)
    now = timezone.now()
    assert review_next(project=two_tiers, user=rita, now=now) == annotation

    # ray gets nothing and may not decide what rita holds
    assert review_next(project=two_tiers, user=ray, now=now) is None
    with pytest.raises(ServiceError, match="Another reviewer"):
        decide(annotation, ray, APPROVE, now=now)
    assert not annotation.decisions.exists()

    # once rita's lease ran out, ray gets it and decides
    later = now + timedelta(minutes=11)
    assert review_next(project=two_tiers, user=ray, now=later) == annotation
    decide(annotation, ray, APPROVE, now=later)
    assert trail(annotation) == [(1, APPROVE, "ray_reviewer", "")]


def test_the_annotator_cannot_undo_while_a_reviewer_holds_it(two_tiers, annotator, rita, robin):
    queued_input(two_tiers)
    annotation = label_next(two_tiers, annotator, robin)
    review_next(project=two_tiers, user=rita)

    with pytest.raises(ServiceError):
        annotation_undo(project=two_tiers, user=annotator)
    assert Annotation.objects.filter(id=annotation.id).exists()


# ---------------------------------------------------------------------------- consensus


@pytest.fixture
def overlap_two(project, concepts):
    """Two annotators per input, one review tier, matching labels accepted by consensus."""
    review_tiers_configure(project=project, tiers=[("all", 1.0)])
    Project.objects.filter(id=project.id).update(overlap=2, consensus_auto_accept=True)
    project.refresh_from_db()
    return project


def test_matching_labels_are_accepted_by_consensus(overlap_two, annotator, bob, rita, robin):
    input = queued_input(overlap_two)

    first = label_next(overlap_two, annotator, robin)
    assert (fresh(first).status, first.review_tier) == (PENDING, 0)  # waits for bob
    second = label_next(overlap_two, bob, robin)

    for annotation in (fresh(first), fresh(second)):
        assert annotation.status == ACCEPTED
        assert not annotation.disagreement
        assert trail(annotation) == [(0, CONSENSUS, None, "")]
    assert fresh(input).status == InputStatus.LABELED
    assert review_next(project=overlap_two, user=rita) is None


def test_different_labels_are_a_disagreement_sent_to_review(
    overlap_two, annotator, bob, rita, robin, sparrow
):
    input = queued_input(overlap_two)

    first = label_next(overlap_two, annotator, robin)
    second = label_next(overlap_two, bob, sparrow)

    for annotation in (fresh(first), fresh(second)):
        assert (annotation.status, annotation.review_tier) == (PENDING, 1)
        assert annotation.disagreement
        assert not annotation.decisions.exists()
    assert fresh(input).status == InputStatus.IN_REVIEW
    assert review_next(project=overlap_two, user=rita) in (first, second)


def test_a_majority_of_two_out_of_three_is_consensus(
    overlap_two, annotator, bob, rita, robin, sparrow
):
    Project.objects.filter(id=overlap_two.id).update(overlap=3, consensus_majority=2)
    overlap_two.refresh_from_db()
    carol = member(overlap_two, "carol_annotator")
    queued_input(overlap_two)

    a = label_next(overlap_two, annotator, robin)
    b = label_next(overlap_two, bob, sparrow)
    c = label_next(overlap_two, carol, robin)

    assert [fresh(x).status for x in (a, b, c)] == [ACCEPTED, PENDING, ACCEPTED]
    assert b.review_tier == 1 and b.disagreement
    assert review_next(project=overlap_two, user=rita) == b


def test_a_resubmission_after_rejection_is_no_consensus_of_one(
    overlap_two, annotator, bob, rita, robin, sparrow
):
    # given anna and bob disagreed, and the reviewer rejected anna's annotation
    input = queued_input(overlap_two)
    rejected = label_next(overlap_two, annotator, robin)
    bobs = label_next(overlap_two, bob, sparrow)
    decide(rejected, rita, REJECT, reason=REASON)

    # when anna submits the same label again, still disagreeing with bob
    again = label_next(overlap_two, annotator, robin)

    # then nobody agreed with her: it waits for review, it is not accepted by "consensus"
    assert again.input_id == input.id
    assert (fresh(again).status, again.review_tier) == (PENDING, 1)
    assert not again.decisions.filter(action=CONSENSUS).exists()
    assert (fresh(bobs).status, bobs.review_tier) == (PENDING, 1)
    assert fresh(input).status != InputStatus.LABELED


# ---------------------------------------------------------------------------- gold


def mark_gold(input: Input, concept_ids: list[int]) -> None:
    Input.objects.filter(id=input.id).update(
        gold_concept_ids=concept_ids, status=InputStatus.LABELED
    )
    queue_slots_close(input=input)


def set_gold_rate(project: Project, rate: float) -> None:
    Project.objects.filter(id=project.id).update(gold_rate=rate)
    project.refresh_from_db()


def test_a_gold_item_leaves_the_normal_queue(two_tiers, annotator, robin):
    gold = queued_input(two_tiers)
    set_gold_rate(two_tiers, 0.0)

    mark_gold(gold, robin)

    assert not QueueSlot.objects.filter(input=gold).exists()
    assert queue_next(project=two_tiers, user=annotator) is None


def test_each_annotator_gets_a_gold_item_once_and_is_scored(
    two_tiers, annotator, bob, rita, robin, sparrow
):
    # given a gold item whose answer is Robin, a normal input, and only gold when possible
    gold = queued_input(two_tiers)
    mark_gold(gold, robin)
    normal = queued_input(two_tiers)
    set_gold_rate(two_tiers, 1.0)

    # when anna answers it right and bob wrong
    anna_slot = queue_next(project=two_tiers, user=annotator)
    bob_slot = queue_next(project=two_tiers, user=bob)
    assert (anna_slot.input_id, bob_slot.input_id) == (gold.id, gold.id)
    right = annotation_submit(
        project=two_tiers, user=annotator, input=anna_slot.input, concept_ids=robin
    ).annotation
    wrong = annotation_submit(
        project=two_tiers, user=bob, input=bob_slot.input, concept_ids=sparrow
    ).annotation

    # then each is scored against the answer, without going to review
    assert (fresh(right).gold_correct, right.status) == (True, ACCEPTED)
    assert (fresh(wrong).gold_correct, wrong.status) == (False, REJECTED)
    assert review_next(project=two_tiers, user=rita) is None
    # and neither gets the gold item a second time: the normal input comes next
    assert queue_next(project=two_tiers, user=annotator).input_id == normal.id
    label_next(two_tiers, annotator, robin)
    assert queue_next(project=two_tiers, user=annotator) is None


# ---------------------------------------------------------------------------- bulk approve


def pending_at(project: Project, tier: int, author, concepts) -> Annotation:
    annotation = AnnotationFactory(
        input=InputFactory(project=project), author=author, status=PENDING, review_tier=tier
    )
    for concept in concepts:
        AnnotationLabel.objects.create(annotation=annotation, concept=concept)
    return annotation


def test_bulk_approve_takes_only_the_reviewers_tier_and_never_their_own(
    two_tiers, annotator, rita, concepts
):
    robin = [concepts["robin"]]
    mine = [pending_at(two_tiers, 1, annotator, robin) for _ in range(3)]
    own = pending_at(two_tiers, 1, rita, robin)
    higher = pending_at(two_tiers, 2, annotator, robin)
    everything = [a.id for a in [*mine, own, higher]]

    approved = review_bulk_approve(project=two_tiers, reviewer=rita, annotation_ids=everything)

    assert approved == 3
    for annotation in mine:
        assert (fresh(annotation).status, annotation.review_tier) == (PENDING, 2)
        [decision] = annotation.decisions.all()
        assert (decision.tier, decision.action, decision.reviewer, decision.bulk) == (
            1,
            APPROVE,
            rita,
            True,
        )
    for untouched, tier in ((own, 1), (higher, 2)):
        assert (fresh(untouched).status, untouched.review_tier) == (PENDING, tier)
        assert not untouched.decisions.exists()


def test_bulk_approve_skips_what_was_decided_meanwhile(two_tiers, annotator, rita, ray, concepts):
    robin = [concepts["robin"]]
    first, second = (pending_at(two_tiers, 1, annotator, robin) for _ in range(2))
    decide(first, ray, APPROVE)

    approved = review_bulk_approve(
        project=two_tiers, reviewer=rita, annotation_ids=[first.id, second.id]
    )

    assert approved == 1
    assert trail(first) == [(1, APPROVE, "ray_reviewer", "")]
    assert trail(second) == [(1, APPROVE, "rita_reviewer", "")]


# ---------------------------------------------------------------------------- configuration


def test_configuring_tiers_stores_their_rules(project):
    review_tiers_configure(project=project, tiers=[("all", 1.0), ("sample", 0.25)])

    assert fresh(project).review_tiers == 2
    assert tier_rules(project) == [TierRule(1, "all", 1.0), TierRule(2, "sample", 0.25)]

    review_tiers_configure(project=project, tiers=[("disagreements", 1.0)])

    assert fresh(project).review_tiers == 1
    assert tier_rules(project) == [TierRule(1, "disagreements", 1.0)]
    assert list(ReviewTier.objects.filter(project=project).values_list("number", flat=True)) == [1]


@pytest.mark.parametrize(
    ("tiers", "message"),
    [
        ([("all", 1.0)] * 4, "at most 3"),
        ([("all", 1.0), ("whenever", 1.0)], "Unknown review mode"),
        ([("sample", 1.5)], "between 0 and 1"),
        ([("sample", -0.1)], "between 0 and 1"),
    ],
)
def test_configuring_tiers_refuses_what_makes_no_sense(project, tiers, message):
    review_tiers_configure(project=project, tiers=[("all", 1.0)])

    with pytest.raises(ServiceError, match=message):
        review_tiers_configure(project=project, tiers=tiers)

    assert fresh(project).review_tiers == 1
    assert tier_rules(project) == [TierRule(1, "all", 1.0)]


def test_without_tiers_a_submission_is_accepted_at_once(project, annotator, robin):
    input = queued_input(project)

    annotation = label_next(project, annotator, robin)

    assert fresh(annotation).status == ACCEPTED
    assert fresh(input).status == InputStatus.LABELED
