"""Tiered review: routing between tiers, consensus, the reviewer queue, decisions, gold.

Decisions are append-only (``ReviewDecision``); an annotation's status and tier move only
through ``review_decide`` and the routing here.
"""

import math
from datetime import datetime, timedelta

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils import timezone

from labeling import hooks
from labeling.models import (
    Annotation,
    AnnotationDraft,
    AnnotationSource,
    AnnotationStatus,
    Input,
    Membership,
    Project,
    QueueSlot,
    RejectReason,
    ReviewDecision,
    ReviewTier,
    Role,
)
from labeling.review_rules import (
    Answer,
    BoxLabel,
    Facts,
    TierRule,
    consensus_group,
    correction_changes,
    next_tier,
)
from labeling.services.annotations import RegionSpec, annotation_create
from labeling.services.errors import ServiceError
from labeling.services.queue import (
    checked_labels,
    checked_regions,
    queue_slots_open,
)
from labeling.services.statuses import input_status_refresh

Action = ReviewDecision.Action
REVIEW_LEASE_MINUTES = 10


# ---------------------------------------------------------------------------- configuration


def tier_rules(project: Project) -> list[TierRule]:
    """The rule of each of the project's tiers; a tier without a stored rule takes all."""
    if not project.review_tiers:
        return []
    stored = {t.number: t for t in ReviewTier.objects.filter(project=project)}
    return [
        TierRule(n, stored[n].mode, stored[n].sample_rate) if n in stored else TierRule(n)
        for n in range(1, project.review_tiers + 1)
    ]


@transaction.atomic
def review_tiers_configure(*, project: Project, tiers: list[tuple[str, float]]) -> None:
    """Set the project's tiers: one (mode, sample rate) per tier, tier 1 first (0 to 3)."""
    if len(tiers) > 3:
        raise ServiceError("A project has at most 3 review tiers.")
    for mode, rate in tiers:
        if mode not in ReviewTier.Mode.values:
            raise ServiceError(f"Unknown review mode {mode!r}.")
        if not 0.0 <= rate <= 1.0:
            raise ServiceError("A sample rate is between 0 and 1.")
    ReviewTier.objects.filter(project=project, number__gt=len(tiers)).delete()
    for number, (mode, rate) in enumerate(tiers, start=1):
        ReviewTier.objects.update_or_create(
            project=project, number=number, defaults={"mode": mode, "sample_rate": rate}
        )
    project.review_tiers = len(tiers)
    project.save(update_fields=["review_tiers"])


def review_settings_update(
    *,
    project: Project,
    tiers: list[tuple[str, float]],
    reasons: list[str],
    consensus_auto_accept: bool,
    consensus_majority: int,
    gold_rate: float,
    region_iou: float | None = None,
) -> None:
    """Check everything first, then save tiers, reasons and consensus/gold settings at once
    (``region_iou``: the overlap two boxes need to be one object; None keeps it).

    The browser's review settings page and the API both call this: one set of rules."""
    if not math.isfinite(gold_rate):  # NaN passes the model's range validators
        raise ServiceError("The gold rate must be a number between 0 and 0.5.")
    if region_iou is not None and not math.isfinite(region_iou):
        raise ServiceError("The box overlap (IoU) must be a number between 0.1 and 0.95.")
    project.consensus_auto_accept = consensus_auto_accept
    project.consensus_majority = consensus_majority
    project.gold_rate = gold_rate
    if region_iou is not None:
        project.region_iou = region_iou
    try:
        project.full_clean()
    except ValidationError as exc:
        raise ServiceError(" ".join(exc.messages)) from exc
    with transaction.atomic():
        review_tiers_configure(project=project, tiers=tiers)
        reject_reasons_set(project=project, reasons=reasons)
        project.save(
            update_fields=["consensus_auto_accept", "consensus_majority", "gold_rate", "region_iou"]
        )


def review_settings_read(*, project: Project) -> dict:
    """The review settings as the browser form and the API show them: only the project's
    tiers (tier 1 first), its reject reasons, consensus and gold settings."""
    return {
        "tiers": [{"mode": r.mode, "sample_rate": r.sample_rate} for r in tier_rules(project)],
        "reject_reasons": [r.text for r in RejectReason.objects.filter(project=project)],
        "consensus_auto_accept": project.consensus_auto_accept,
        "consensus_majority": project.consensus_majority,
        "gold_rate": project.gold_rate,
        "region_iou": project.region_iou,
    }


@transaction.atomic
def reject_reasons_set(*, project: Project, reasons: list[str]) -> None:
    RejectReason.objects.filter(project=project).delete()
    RejectReason.objects.bulk_create(
        [
            RejectReason(project=project, text=text.strip()[:200], position=i)
            for i, text in enumerate(reasons)
            if text.strip()
        ]
    )


# ---------------------------------------------------------------------------- routing


def _facts(annotation: Annotation) -> Facts:
    return Facts(
        id=annotation.id,
        from_model=annotation.source == AnnotationSource.MODEL,
        disagreement=annotation.disagreement,
        model_band=annotation.model_band,
    )


def annotation_accepted_announce(*, annotation: Annotation) -> None:
    """Announce ``ANNOTATION_ACCEPTED`` if a person's annotation is accepted now (after
    submission, consensus or a review decision; not the model's routing nor gold items)."""
    if annotation.status == AnnotationStatus.ACCEPTED:
        hooks.announce(hooks.ANNOTATION_ACCEPTED, annotation=annotation)


def annotation_route(*, annotation: Annotation, after_tier: int, rules: list[TierRule]) -> None:
    """Send the annotation to the next tier that takes it, or accept it."""
    tier = next_tier(after_tier, rules, _facts(annotation))
    if tier is None:
        annotation.status = AnnotationStatus.ACCEPTED
    else:
        annotation.status = AnnotationStatus.PENDING_REVIEW
        annotation.review_tier = tier
    annotation.review_leased_to = None
    annotation.review_leased_until = None
    annotation.save(
        update_fields=[
            "status",
            "review_tier",
            "review_leased_to",
            "review_leased_until",
            "updated_at",
        ]
    )


def _label_set(annotation: Annotation) -> frozenset[int]:
    return frozenset(label.concept_id for label in annotation.labels.all())


def _boxes(annotation: Annotation) -> tuple[BoxLabel, ...]:
    return tuple((region.concept_id, region.box) for region in annotation.regions.all())


def consensus_resolve(*, input: Input, project: Project) -> None:
    """Once every slot of an input is filled: accept the waiting annotations that agree
    (when the project says so), or flag a disagreement and route them to review.

    Annotations agree when they give the same whole-input labels and their boxes pair up one
    to one by concept with IoU >= ``project.region_iou`` (``review_rules.consensus_group``).
    Agreement is judged over all the input's live annotations (not rejected or superseded),
    whatever their tier, so a resubmission is never a "consensus" of one.

    With boxes, agreeing annotations still differ by a few pixels, and the input must have
    one set of boxes: the earliest waiting annotation of the agreeing group is accepted with
    its boxes as drawn (no mean of the matched boxes, so an accepted box is always one a
    person drew), and the group's other waiting annotations are superseded by it, each with
    a consensus decision naming it. Without boxes they say the same thing, and all of them
    are accepted, as before.
    """
    live = list(
        Annotation.objects.filter(queue_slots__input=input)
        .exclude(status__in=[AnnotationStatus.REJECTED, AnnotationStatus.SUPERSEDED])
        .prefetch_related("labels", "regions")
    )
    waiting = [
        a for a in live if a.status == AnnotationStatus.PENDING_REVIEW and a.review_tier == 0
    ]
    if not waiting:
        return
    answers = [Answer(_label_set(a), _boxes(a)) for a in live]
    min_iou = project.region_iou
    group = (
        consensus_group(answers, project.consensus_majority, min_iou=min_iou)
        if len(live) > 1
        else None
    )
    agreed = {live[i].id for i in group or ()}
    disagreement = consensus_group(answers, 0, min_iou=min_iou) is None  # not all agree
    kept = next((a for a in waiting if a.id in agreed), None)  # the earliest: ordered by id
    rules = tier_rules(project)
    for annotation in waiting:
        annotation.disagreement = disagreement
        annotation.save(update_fields=["disagreement"])
        if project.consensus_auto_accept and annotation.id in agreed:
            duplicate = annotation is not kept and bool(_boxes(annotation))
            ReviewDecision.objects.create(
                project=project,
                annotation=annotation,
                tier=0,
                action=Action.CONSENSUS,
                reason=f"Same boxes as annotation #{kept.id}, accepted in its place."
                if duplicate
                else "",
            )
            annotation.status = (
                AnnotationStatus.SUPERSEDED if duplicate else AnnotationStatus.ACCEPTED
            )
            annotation.save(update_fields=["status", "updated_at"])
        else:
            annotation_route(annotation=annotation, after_tier=0, rules=rules)
        annotation_accepted_announce(annotation=annotation)
    input_status_refresh(input=input)


# ---------------------------------------------------------------------------- reviewer queue


REVIEW_HELD_SQL = """
    SELECT id FROM {annotation}
    WHERE review_leased_to_id = %s AND project_id = %s AND status = 'pending_review'
      AND review_leased_to_id IS NOT NULL AND review_tier = %s AND review_leased_until > %s
    LIMIT 1
"""
REVIEW_OPEN_SQL = """
    SELECT a.id FROM {annotation} a
    WHERE a.project_id = %s AND a.status = 'pending_review' AND a.review_tier = %s
      AND (a.author_id IS NULL OR a.author_id <> %s)
      AND (a.review_leased_until IS NULL OR a.review_leased_until <= %s)
    ORDER BY a.created_at, a.id
    LIMIT 1 {lock}
"""


def _review_membership(project: Project, user) -> Membership:
    membership = Membership.objects.filter(project=project, user=user).first()
    if membership is None and user.is_superuser:
        return Membership(project=project, user=user, role=Role.ADMIN)
    if membership is None:
        raise ServiceError("You are not a member of this project.")
    return membership


def reviewer_tier(project: Project, user, membership: Membership | None = None) -> int:
    """The tier this user reviews: a reviewer's own tier; an admin reviews tier 1."""
    membership = membership or _review_membership(project, user)
    if membership.role == Role.REVIEWER:
        return membership.review_tier or 1
    if membership.role == Role.ADMIN:
        return 1
    raise ServiceError("Only reviewers review.")


def review_next(
    *, project: Project, user, tier: int | None = None, now: datetime | None = None
) -> Annotation | None:
    """Lease the next pending annotation of the reviewer's tier (never their own)."""
    now = now or timezone.now()
    tier = tier or reviewer_tier(project, user)
    table = Annotation._meta.db_table
    moment = connection.ops.adapt_datetimefield_value(now)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            REVIEW_HELD_SQL.format(annotation=table), [user.id, project.id, tier, moment]
        )
        row = cursor.fetchone()
        if row is None:
            lock = "FOR UPDATE SKIP LOCKED" if connection.features.has_select_for_update else ""
            cursor.execute(
                REVIEW_OPEN_SQL.format(annotation=table, lock=lock),
                [project.id, tier, user.id, moment],
            )
            row = cursor.fetchone()
            if row is None:
                return None
            Annotation.objects.filter(id=row[0]).update(
                review_leased_to=user,
                review_leased_until=now + timedelta(minutes=REVIEW_LEASE_MINUTES),
            )
    return Annotation.objects.select_related("input", "author").get(id=row[0])


# ---------------------------------------------------------------------------- decisions


def _check_can_decide(annotation: Annotation, reviewer, now: datetime) -> None:
    if annotation.status != AnnotationStatus.PENDING_REVIEW or annotation.review_tier < 1:
        raise ServiceError("This annotation is not waiting for review (already decided?).")
    if annotation.author_id == reviewer.id:
        raise ServiceError("Nobody reviews their own annotation.")
    membership = _review_membership(annotation.project, reviewer)
    if membership.role == Role.REVIEWER and membership.review_tier != annotation.review_tier:
        raise ServiceError(
            f"This annotation waits at tier {annotation.review_tier}; you review tier "
            f"{membership.review_tier}."
        )
    if membership.role not in (Role.REVIEWER, Role.ADMIN):
        raise ServiceError("Only reviewers review.")
    held_by_other = (
        annotation.review_leased_to_id not in (None, reviewer.id)
        and annotation.review_leased_until is not None
        and annotation.review_leased_until > now
    )
    if held_by_other:
        raise ServiceError("Another reviewer is deciding this annotation right now.")


def review_decide(
    *,
    annotation: Annotation,
    reviewer,
    action: str,
    reason: str = "",
    concept_ids: list[int] | None = None,
    regions: list[dict] | None = None,
    bulk: bool = False,
    now: datetime | None = None,
) -> ReviewDecision:
    """Approve, reject (with a reason) or correct an annotation at its current tier.

    A correction gives the right whole-input labels (``concept_ids``), the right boxes
    (``regions``, shaped as submissions: ``{"concept", "x", "y", "w", "h"}``), or both; what
    it leaves out (None) stays as the annotation has it. It is checked as a submission is,
    and a refused one changes nothing. A correction that keeps the labels and boxes as they
    are is recorded as an approval (the returned decision's action says which was recorded)."""
    now = now or timezone.now()
    reason = reason.strip()
    if action == Action.REJECT and not reason:
        raise ServiceError("Say why you reject it: pick a reason or type one.")
    if action not in (Action.APPROVE, Action.REJECT, Action.CORRECT):
        raise ServiceError(f"Unknown decision {action!r}.")
    with transaction.atomic():
        annotation = (
            Annotation.objects.select_for_update(of=("self",))
            .select_related("project", "input")
            .get(id=annotation.id)
        )
        project = annotation.project
        _check_can_decide(annotation, reviewer, now)
        tier = annotation.review_tier
        labels: list[int] = []
        boxes: list[RegionSpec] = []
        if action == Action.CORRECT:
            labels, boxes = _checked_correction(annotation, concept_ids, regions)
            if not correction_changes(
                _label_set(annotation),
                frozenset(labels),
                _boxes(annotation),
                [(b.concept_id, b.box) for b in boxes],
            ):
                action = Action.APPROVE  # it stands as it is: that is an approval
        decision = ReviewDecision(
            project=project,
            annotation=annotation,
            tier=tier,
            reviewer=reviewer,
            action=action,
            reason=reason[:300],
            bulk=bulk,
        )
        if action == Action.APPROVE:
            decision.save()
            annotation_route(annotation=annotation, after_tier=tier, rules=tier_rules(project))
        elif action == Action.REJECT:
            decision.save()
            _reject(annotation, reason, now)
        else:
            correction = _correct(annotation, reviewer, labels, boxes)
            decision.corrected_concept_ids = labels
            decision.correction = correction
            decision.save()
            annotation_route(annotation=correction, after_tier=tier, rules=tier_rules(project))
        input_status_refresh(input=annotation.input)
        hooks.announce(hooks.REVIEW_DECIDED, decision=decision)
        annotation_accepted_announce(annotation=decision.correction or annotation)
    return decision


def _reject(annotation: Annotation, reason: str, now: datetime) -> None:
    """Back to the annotators: the author gets the input again first, with the reason."""
    annotation.status = AnnotationStatus.REJECTED
    annotation.review_leased_to = None
    annotation.save(update_fields=["status", "review_leased_to", "updated_at"])
    original = annotation
    while original.corrects_id is not None:  # a rejected correction goes back to the annotator
        original = original.corrects
    if original.source == AnnotationSource.MODEL:  # a model's suggestion: to the annotators
        queue_slots_open(input=annotation.input, overlap=annotation.project.overlap)
        return
    if original.author_id is None or original.source != AnnotationSource.HUMAN:
        return
    labels = list(annotation.labels.values_list("concept_id", flat=True))
    AnnotationDraft.objects.update_or_create(
        user_id=original.author_id,
        input_id=annotation.input_id,
        defaults={
            "project_id": annotation.project_id,
            "concept_ids": labels,
            "regions": [  # what was drawn, to fix rather than redraw
                {"concept": r.concept_id, "x": r.x, "y": r.y, "w": r.w, "h": r.h}
                for r in annotation.regions.filter(parent__isnull=True)
            ],
            "note": f"Rejected: {reason}"[:300],
        },
    )
    QueueSlot.objects.filter(annotation=annotation).update(
        annotation=None,
        leased_to_id=original.author_id,
        leased_until=now + timedelta(minutes=annotation.project.lease_minutes),
    )


def _checked_correction(
    annotation: Annotation, concept_ids: list[int] | None, regions: list[dict] | None
) -> tuple[list[int], list[RegionSpec]]:
    """The corrected labels and boxes, checked as a submission's are; what the correction
    leaves out (None) is the annotation's own. Its boxes are copied with their links to the
    boxes they classify; a model's confidences are not (a person has now looked at them)."""
    if concept_ids is None and regions is None:
        raise ServiceError("A correction gives the right labels, the right boxes, or both.")
    project = annotation.project
    if regions is None:
        stored = list(annotation.regions.all())
        index = {region.id: i for i, region in enumerate(stored)}
        boxes = [RegionSpec(r.concept_id, r.box, parent=index.get(r.parent_id)) for r in stored]
    else:
        boxes = [RegionSpec(r.concept_id, r.box) for r in checked_regions(project, regions)]
    if concept_ids is None:
        labels = list(annotation.labels.values_list("concept_id", flat=True))
    else:
        labels = checked_labels(project, concept_ids, regions_given=bool(boxes))
    return labels, boxes


def _correct(
    annotation: Annotation, reviewer, labels: list[int], boxes: list[RegionSpec]
) -> Annotation:
    """The reviewer's labels and boxes replace the annotation's; the original is kept,
    superseded, with its own labels and boxes untouched."""
    correction = annotation_create(
        project_id=annotation.project_id,
        input_id=annotation.input_id,
        source=AnnotationSource.HUMAN,
        status=AnnotationStatus.PENDING_REVIEW,
        concept_ids=labels,
        regions=boxes,
        author=reviewer,
        review_tier=annotation.review_tier,
        corrects=annotation,
        disagreement=annotation.disagreement,
    )
    annotation.status = AnnotationStatus.SUPERSEDED
    annotation.review_leased_to = None
    annotation.save(update_fields=["status", "review_leased_to", "updated_at"])
    QueueSlot.objects.filter(annotation=annotation).update(annotation=correction)
    return correction


def review_bulk_approve(*, project: Project, reviewer, annotation_ids: list[int]) -> int:
    """Approve many annotations at the reviewer's tier, one decision (audit entry) each.

    Skips the ones that can no longer be decided (decided meanwhile, own, other tier).
    """
    approved = 0
    for annotation in Annotation.objects.filter(project=project, id__in=annotation_ids):
        try:
            review_decide(
                annotation=annotation, reviewer=reviewer, action=Action.APPROVE, bulk=True
            )
        except ServiceError:
            continue
        approved += 1
    return approved
