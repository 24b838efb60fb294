"""The annotator queue: next input with a lease, submit, skip, undo, fix, drafts.

How ``queue_next`` picks (see docs/queue.md): each input has ``overlap`` slots; the open
slots are read in index order (priority, then slot number so inputs with fewer annotations
come first, then a random key), a few at a time with ``FOR UPDATE SKIP LOCKED`` on
PostgreSQL so concurrent annotators never wait on or take the same row; the annotator's
own stable offset picks among equals. SQLite serializes writers instead (immediate
transactions), which gives the same guarantee on one machine.
"""

import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import Count, Exists, Max, OuterRef
from django.utils import timezone

from labeling.ids import id_fits
from labeling.models import (
    Annotation,
    AnnotationDraft,
    AnnotationSource,
    AnnotationStatus,
    Concept,
    Input,
    InputStatus,
    Project,
    QueueSlot,
    Skip,
)
from labeling.queue_rules import (
    Choice,
    InvalidLabels,
    RegionIn,
    annotator_offset,
    check_labels,
    check_regions,
    input_status,
    lease_is_live,
    pick_candidate,
)
from labeling.services.annotations import RegionSpec, annotation_create, annotation_labels_set
from labeling.services.errors import ServiceError
from labeling.services.statuses import (
    input_status_refresh,
    input_status_set,
    inputs_status_refresh,
)

CANDIDATES = 8  # rows read (and locked) per request; enough for the tie-break to spread people


# ---------------------------------------------------------------------------- slots


def queue_slots_open(*, input: Input, overlap: int) -> None:
    """Give an input that still needs labels its ``overlap`` slots (the missing ones)."""
    have = set(QueueSlot.objects.filter(input=input).values_list("number", flat=True))
    QueueSlot.objects.bulk_create(
        [
            QueueSlot(project_id=input.project_id, input=input, number=n)
            for n in range(overlap)
            if n not in have
        ]
    )


def queue_slots_close(*, input: Input) -> int:
    """Take an input out of the queue (it got accepted labels another way)."""
    deleted, _ = QueueSlot.objects.filter(input=input, annotation__isnull=True).delete()
    return deleted


def queue_slots_fill_project(*, project: Project, batch_size: int = 5000) -> int:
    """Open slots for every input of the project that is unlabeled and has none yet."""
    created = 0
    inputs = Input.objects.filter(project=project, status=InputStatus.UNLABELED).exclude(
        Exists(QueueSlot.objects.filter(input=OuterRef("pk")))
    )
    ids = list(inputs.values_list("id", flat=True))
    for start in range(0, len(ids), batch_size):
        rows = [
            QueueSlot(project_id=project.id, input_id=input_id, number=n)
            for input_id in ids[start : start + batch_size]
            for n in range(project.overlap)
        ]
        QueueSlot.objects.bulk_create(rows)
        created += len(rows)
    return created


def queue_overlap_change(*, project: Project, old: int, now: datetime | None = None) -> None:
    """Add or remove open slots after the project's overlap changed from ``old``.

    Raising it gives every input that has no accepted label yet its extra slots (labeled
    inputs keep what they have). Lowering it removes open slots beyond the new overlap,
    free ones first and live leases last, so no input gets more annotators than asked for.
    """
    now = now or timezone.now()
    if project.overlap < old:
        _remove_extra_slots(project, now)
        return
    waiting = Input.objects.filter(project=project).exclude(status=InputStatus.LABELED)
    ids = list(waiting.values_list("id", flat=True))
    for start in range(0, len(ids), 2000):
        chunk = ids[start : start + 2000]
        have = set(QueueSlot.objects.filter(input_id__in=chunk).values_list("input_id", "number"))
        QueueSlot.objects.bulk_create(
            [
                QueueSlot(project_id=project.id, input_id=input_id, number=n)
                for input_id in chunk
                for n in range(project.overlap)
                if (input_id, n) not in have
            ]
        )
        # A new open slot means an input in review waits for annotators again.
        inputs_status_refresh(input_ids=chunk)


def _remove_extra_slots(project: Project, now: datetime) -> None:
    crowded = (
        QueueSlot.objects.filter(project=project)
        .values("input_id")
        .annotate(n=Count("id"))
        .filter(n__gt=project.overlap)
    )
    for row in crowded.iterator():
        open_slots = sorted(
            QueueSlot.objects.filter(input_id=row["input_id"], annotation__isnull=True),
            key=lambda s: (lease_is_live(s.leased_until, now), -s.number),
        )
        extra = open_slots[: row["n"] - project.overlap]
        QueueSlot.objects.filter(id__in=[s.id for s in extra]).delete()
        input_status_refresh(input=Input.objects.get(id=row["input_id"]))


# ---------------------------------------------------------------------------- next


# The two queries of ``queue_next`` are written out in SQL: they run on every request, and
# building them with the ORM cost more than running them. Same text on both databases but
# for the row lock, which SQLite does without (it runs one writer at a time).
HELD_SQL = """
    SELECT id FROM {slot}
    WHERE project_id = %s AND leased_to_id = %s AND annotation_id IS NULL AND leased_until > %s
    ORDER BY leased_until LIMIT 1
"""
OPEN_SQL = """
    SELECT s.id, s.input_id, s.number, s.priority, s.random_key FROM {slot} s
    WHERE s.project_id = %s AND s.annotation_id IS NULL
      AND (s.leased_until IS NULL OR s.leased_until <= %s)
      AND NOT EXISTS (SELECT 1 FROM {slot} o
                      WHERE o.input_id = s.input_id AND o.leased_to_id = %s AND o.id <> s.id)
      AND NOT EXISTS (SELECT 1 FROM {skip} k WHERE k.input_id = s.input_id AND k.user_id = %s)
    ORDER BY s.priority DESC, s.number, s.random_key
    LIMIT %s {lock}
"""


LEFT_SQL = """
    SELECT count(*) FROM (
        SELECT 1 FROM {slot} s
        WHERE s.project_id = %s AND s.annotation_id IS NULL
          AND (s.leased_until IS NULL OR s.leased_until <= %s OR s.leased_to_id = %s)
          AND NOT EXISTS (SELECT 1 FROM {slot} o
                          WHERE o.input_id = s.input_id AND o.leased_to_id = %s AND o.id <> s.id)
          AND NOT EXISTS (SELECT 1 FROM {skip} k WHERE k.input_id = s.input_id AND k.user_id = %s)
        LIMIT %s
    ) AS waiting
"""


def queue_left(*, project: Project, user, cap: int = 10_000, now: datetime | None = None) -> int:
    """How many inputs this annotator can still get (the one on screen included), counting
    at most ``cap`` so the number stays cheap on big projects."""
    moment = connection.ops.adapt_datetimefield_value(now or timezone.now())
    sql = LEFT_SQL.format(slot=QueueSlot._meta.db_table, skip=Skip._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(sql, [project.id, moment, user.id, user.id, user.id, cap])
        return cursor.fetchone()[0]


@dataclass(frozen=True)
class _Candidate:
    id: int
    input_id: int
    number: int
    priority: float
    random_key: float


def _open_candidates(project: Project, user, now, *, limit: int, wait: bool) -> list[_Candidate]:
    """Open slots this user may get, in queue order, locked for this transaction.

    ``wait=False`` skips rows other transactions hold; ``wait=True`` waits for them.
    """
    lock = ""
    if connection.features.has_select_for_update:
        lock = "FOR UPDATE OF s" if wait else "FOR UPDATE OF s SKIP LOCKED"
    sql = OPEN_SQL.format(slot=QueueSlot._meta.db_table, skip=Skip._meta.db_table, lock=lock)
    moment = connection.ops.adapt_datetimefield_value(now)
    with connection.cursor() as cursor:
        cursor.execute(sql, [project.id, moment, user.id, user.id, limit])
        return [_Candidate(*row) for row in cursor.fetchall()]


def _candidates_without_waiting(project: Project, user, now) -> list[_Candidate]:
    """``_open_candidates`` skipping locked rows, in a savepoint let go when it finds none.

    PostgreSQL keeps the lock on a row the query locked and then found taken meanwhile (its
    re-check failed) until the transaction ends. Waiting for a row while holding such a lock
    deadlocked with an annotator submitting that input, who holds its first slot and waits
    for the next one (seen in CI with overlap 2). Rolling back to the savepoint lets those
    locks go, so the waiting query that follows holds none."""
    with transaction.atomic():
        candidates = _open_candidates(project, user, now, limit=CANDIDATES, wait=False)
        if not candidates:
            transaction.set_rollback(True)
    return candidates


def _held_slot_id(project: Project, user, now: datetime) -> int | None:
    moment = connection.ops.adapt_datetimefield_value(now)
    with connection.cursor() as cursor:
        cursor.execute(
            HELD_SQL.format(slot=QueueSlot._meta.db_table), [project.id, user.id, moment]
        )
        row = cursor.fetchone()
    return row[0] if row else None


def _gold_slot(project: Project, user, now: datetime) -> QueueSlot | None:
    """A gold item this annotator has not seen, in a slot made for them; None when none is
    left. Gold items have no slots of their own, so they never wait in the normal queue."""
    seen = QueueSlot.objects.filter(input=OuterRef("pk"), leased_to=user)
    skipped = Skip.objects.filter(input=OuterRef("pk"), user=user)
    gold = (
        Input.objects.filter(project=project, gold_concept_ids__isnull=False)
        .exclude(Exists(seen))
        .exclude(Exists(skipped))
        .order_by("?")
        .first()
    )
    if gold is None:
        return None
    number = QueueSlot.objects.filter(input=gold).aggregate(n=Max("number"))["n"]
    try:
        with transaction.atomic():
            return QueueSlot.objects.create(
                project=project,
                input=gold,
                number=0 if number is None else number + 1,
                leased_to=user,
                leased_until=now + timedelta(minutes=project.lease_minutes),
            )
    except IntegrityError:
        return None  # another annotator took that number this instant; serve normal work


def queue_next(*, project: Project, user, now: datetime | None = None) -> QueueSlot | None:
    """Lease the next input to ``user``; None when nothing is left for them.

    An annotator who already holds a live lease gets that input again, so reloading the
    page never hoards a second one.
    """
    now = now or timezone.now()
    with transaction.atomic():
        held = _held_slot_id(project, user, now)
        if held is not None:
            return QueueSlot.objects.select_related("input").get(id=held)
        if project.gold_rate and random.random() < project.gold_rate:
            gold = _gold_slot(project, user, now)
            if gold is not None:
                return gold
        candidates = _candidates_without_waiting(project, user, now)
        if not candidates:
            # Everything left may be locked by others this instant: wait for them instead.
            candidates = _open_candidates(project, user, now, limit=1, wait=True)
        chosen = pick_candidate(candidates, annotator_offset(user.id, project.id))
        if chosen is None:
            return None
        until = now + timedelta(minutes=project.lease_minutes)
        QueueSlot.objects.filter(id=chosen.id).update(leased_to=user, leased_until=until)
    return QueueSlot(
        id=chosen.id,
        project=project,
        input=Input.objects.get(id=chosen.input_id),
        number=chosen.number,
        priority=chosen.priority,
        random_key=chosen.random_key,
        leased_to=user,
        leased_until=until,
    )


# ---------------------------------------------------------------------------- submit


class Outcome(Enum):
    CREATED = "created"
    REPEATED = "repeated"  # the same submission again (double click, retried request)
    LOST = "lost"  # the lease expired and someone else took the input: kept as a draft


@dataclass(frozen=True)
class Submission:
    outcome: Outcome
    annotation: Annotation | None = None
    draft: AnnotationDraft | None = None

    @property
    def message(self) -> str:
        if self.outcome is Outcome.LOST:
            return (
                "Your time on this image ran out and another annotator took it. Your labels "
                "are kept as a draft: resubmit them from your history when a place opens."
            )
        if self.outcome is Outcome.REPEATED:
            return "Already submitted."
        return "Saved."


def _choices(project: Project, concept_ids: list[int]) -> list[Choice]:
    """The pickable concepts (active leaves) among ``concept_ids``, reading only those and
    the project's box groups: this runs on every submission."""
    possible = [c for c in concept_ids if id_fits(c)]  # the rest are unknown to the checks
    pickable = (
        Concept.objects.filter(project=project, id__in=possible, archived_at__isnull=True)
        .exclude(Exists(Concept.objects.filter(parent=OuterRef("pk"), archived_at__isnull=True)))
        .select_related("parent")
    )
    boxed = region_concept_ids(project) if project_has_region_groups(project) else set()
    return [
        Choice(
            c.id,
            c.name,
            c.parent_id if c.parent and c.parent.exclusive else None,
            regions=c.id in boxed,
        )
        for c in pickable
    ]


def project_has_region_groups(project: Project) -> bool:
    return Concept.objects.filter(project=project, scope=Concept.Scope.REGIONS).exists()


def region_concept_ids(project: Project) -> set[int]:
    """Every concept of the project that lies in a group labeling boxes (the scope is set on
    the group's top-level concept and inherited below)."""
    parent_of, boxed = {}, set()
    for pk, parent_id, scope in Concept.objects.filter(project=project).values_list(
        "id", "parent_id", "scope"
    ):
        parent_of[pk] = parent_id
        if scope == Concept.Scope.REGIONS:
            boxed.add(pk)
    found = set()
    for pk in parent_of:
        node, seen = pk, 0
        while node is not None and seen <= len(parent_of):
            if node in boxed:
                found.add(pk)
                break
            node, seen = parent_of[node], seen + 1
    return found


def checked_labels(project: Project, concept_ids, *, regions_given: bool = False) -> list[int]:
    """Check the chosen ids against the project's pickable concepts. With boxes submitted, or
    in a project with box groups, no whole-image label is required."""
    chosen = [int(c) for c in concept_ids]
    choices = _choices(project, chosen)
    require_one = not regions_given and not project_has_region_groups(project)
    try:
        return check_labels(chosen, choices, require_one=require_one)
    except InvalidLabels as exc:
        raise ServiceError(str(exc)) from exc


def checked_regions(project: Project, regions: list[dict] | None) -> list[RegionIn]:
    """Submitted boxes (``{"concept": id, "x", "y", "w", "h"}``, normalised) checked against
    the project's box groups and clipped to the image."""
    if not regions:
        return []
    if not isinstance(regions, list):
        raise ServiceError("regions must be a list of boxes.")
    parsed = []
    for number, item in enumerate(regions, start=1):
        try:
            parsed.append(
                RegionIn(int(item["concept"]), tuple(item[k] for k in ("x", "y", "w", "h")))
            )
        except (KeyError, TypeError, ValueError):
            raise ServiceError(
                f"Box {number}: give its concept id and x, y, w, h as numbers."
            ) from None
    choices = _choices(project, [r.concept_id for r in parsed])
    try:
        return check_regions(parsed, choices, limit=settings.LABELING_MAX_REGIONS)
    except InvalidLabels as exc:
        raise ServiceError(str(exc)) from exc


def annotation_submit(
    *,
    project: Project,
    user,
    input: Input,
    concept_ids: list[int],
    regions: list[dict] | None = None,
    time_spent_ms: int | None = None,
    client_token: str = "",
    dictionary_versions: dict | None = None,
    now: datetime | None = None,
) -> Submission:
    """Record the annotator's labels for an input they were given.

    Accepted when they still hold the input's slot, even on an expired lease nobody else
    took; a submission that lost its slot becomes a draft. A repeat of the same
    ``client_token`` (or a second submission for the same input) returns the first one.
    ``regions``: boxes of the project's box groups (see ``checked_regions``).
    """
    boxes = checked_regions(project, regions)
    labels = checked_labels(project, concept_ids, regions_given=bool(boxes))
    now = now or timezone.now()
    if input.project_id != project.id:
        raise ServiceError("This input is not in this project.")
    try:
        with transaction.atomic():
            return _submit(
                project,
                user,
                input,
                labels,
                boxes,
                time_spent_ms,
                client_token,
                dictionary_versions or {},
                now,
            )
    except IntegrityError:
        # A concurrent duplicate of this very submission won the race: return its result.
        existing = Annotation.objects.filter(author=user, client_token=client_token).first()
        if client_token and existing is not None:
            return Submission(Outcome.REPEATED, annotation=existing)
        raise


def _submit(project, user, input, labels, boxes, time_spent_ms, client_token, versions, now):
    slots = list(QueueSlot.objects.select_for_update().filter(input=input).order_by("number"))
    done = next((s for s in slots if s.annotation_id and s.leased_to_id == user.id), None)
    if done is not None:
        return Submission(Outcome.REPEATED, annotation=done.annotation)
    slot = next((s for s in slots if not s.annotation_id and s.leased_to_id == user.id), None)
    if slot is None:
        slot = next(
            (s for s in slots if not s.annotation_id and not lease_is_live(s.leased_until, now)),
            None,
        )
    if slot is None:
        draft, _ = AnnotationDraft.objects.update_or_create(
            user=user,
            input=input,
            defaults={
                "project": project,
                "concept_ids": labels,
                "regions": regions_as_json(boxes),
                "note": "lease lost",
            },
        )
        return Submission(Outcome.LOST, draft=draft)
    annotation = annotation_create(
        project_id=project.id,
        input_id=input.id,
        source=AnnotationSource.HUMAN,
        status=AnnotationStatus.PENDING_REVIEW,
        concept_ids=labels,
        regions=[RegionSpec(r.concept_id, r.box) for r in boxes],
        author=user,
        review_tier=0,
        time_spent_ms=time_spent_ms,
        dictionary_versions={str(k): v for k, v in versions.items()},
        client_token=client_token,
    )
    slot.annotation, slot.leased_to, slot.leased_until = annotation, user, None
    slot.save(update_fields=["annotation", "leased_to", "leased_until"])
    AnnotationDraft.objects.filter(user=user, input=input).delete()
    _after_submit(project, input, annotation, labels, slots)
    return Submission(Outcome.CREATED, annotation=annotation)


def _after_submit(project, input, annotation, labels, slots) -> None:
    """Gold check, or routing to review (after consensus when several annotate an input)."""
    from labeling.services import review

    filled = sum(1 for s in slots if s.annotation_id)
    if input.gold_concept_ids is not None:
        annotation.gold_correct = set(labels) == set(input.gold_concept_ids)
        annotation.status = (
            AnnotationStatus.ACCEPTED if annotation.gold_correct else AnnotationStatus.REJECTED
        )
        annotation.save(update_fields=["gold_correct", "status", "updated_at"])
        return
    waits_for_others = len(slots) > 1 and (project.review_tiers or project.consensus_auto_accept)
    if not waits_for_others:
        review.annotation_route(
            annotation=annotation, after_tier=0, rules=review.tier_rules(project)
        )
        review.annotation_accepted_announce(annotation=annotation)
    elif filled == len(slots):
        review.consensus_resolve(input=input, project=project)
        return
    status = input_status(
        accepted=input.status == InputStatus.LABELED
        or annotation.status == AnnotationStatus.ACCEPTED,
        waiting=filled > 0,
        open_slot=filled < len(slots),
    )
    input_status_set(input=input, status=status)


def queue_slots_close_open(*, input_ids: list[int]) -> None:
    """Delete the inputs' open (unanswered) queue slots: a model answered for them.

    One plain DELETE: ``QuerySet.delete()`` would first load every slot to look for
    cascades and signal receivers, which costs more than the delete itself."""
    if not input_ids:
        return
    table = QueueSlot._meta.db_table
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                f"DELETE FROM {table} WHERE annotation_id IS NULL AND input_id = ANY(%s)",
                [input_ids],
            )
        else:
            marks = ", ".join(["%s"] * len(input_ids))
            cursor.execute(
                f"DELETE FROM {table} WHERE annotation_id IS NULL AND input_id IN ({marks})",
                input_ids,
            )


# ---------------------------------------------------------------------------- skip, undo, fix


def input_skip(*, project: Project, user, input: Input, reason: str = "") -> Skip:
    """Pass on an input: it leaves this annotator's queue and its slot is free for others."""
    if input.project_id != project.id:
        raise ServiceError("This input is not in this project.")
    with transaction.atomic():
        skip, _ = Skip.objects.get_or_create(
            user=user, input=input, defaults={"project": project, "reason": reason[:200]}
        )
        QueueSlot.objects.filter(input=input, leased_to=user, annotation__isnull=True).update(
            leased_to=None, leased_until=None
        )
    return skip


def annotation_is_open(annotation: Annotation, project: Project) -> bool:
    """Not reviewed yet, so its author may still undo or fix it."""
    if annotation.source != AnnotationSource.HUMAN:
        return False
    if annotation.decisions.exists():
        return False
    if annotation.status == AnnotationStatus.PENDING_REVIEW:
        being_reviewed = annotation.review_leased_until and (
            annotation.review_leased_until > timezone.now()
        )
        return annotation.review_tier <= 1 and not being_reviewed
    return annotation.status == AnnotationStatus.ACCEPTED and project.review_tiers == 0


def annotation_undo(*, project: Project, user, now: datetime | None = None) -> QueueSlot:
    """Take back the annotator's last submission: its input comes back to them, labels and
    boxes kept as a draft to start from."""
    now = now or timezone.now()
    with transaction.atomic():
        last = (
            Annotation.objects.select_for_update()
            .filter(project=project, author=user, source=AnnotationSource.HUMAN)
            .order_by("-created_at", "-id")
            .first()
        )
        if last is None:
            raise ServiceError("Nothing to undo.")
        if not annotation_is_open(last, project):
            raise ServiceError("Your last annotation has been reviewed and can't be undone.")
        slot = QueueSlot.objects.select_for_update().filter(annotation=last).first()
        if slot is None:
            raise ServiceError("Nothing to undo.")
        labels = list(last.labels.values_list("concept_id", flat=True))
        boxes = [RegionIn(r.concept_id, r.box) for r in last.regions.filter(parent__isnull=True)]
        AnnotationDraft.objects.update_or_create(
            user=user,
            input_id=last.input_id,
            defaults={
                "project": project,
                "concept_ids": labels,
                "regions": regions_as_json(boxes),
                "note": "undone",
            },
        )
        slot.annotation = None
        slot.leased_to = user
        slot.leased_until = now + timedelta(minutes=project.lease_minutes)
        slot.save(update_fields=["annotation", "leased_to", "leased_until"])
        input = last.input
        last.delete()
        input_status_refresh(input=input)
    return slot


def annotation_relabel(*, annotation: Annotation, user, concept_ids: list[int]) -> Annotation:
    """The author fixes the labels of an annotation nobody has reviewed yet."""
    project = annotation.project
    labels = checked_labels(project, concept_ids)
    with transaction.atomic():
        annotation = Annotation.objects.select_for_update().get(id=annotation.id)
        if annotation.author_id != user.id:
            raise ServiceError("Only its author can change an annotation.")
        if not annotation_is_open(annotation, project):
            raise ServiceError("This annotation has been reviewed and can't be changed.")
        annotation_labels_set(annotation=annotation, concept_ids=labels)
        annotation.save(update_fields=["updated_at"])
    return annotation


def draft_resubmit(*, draft: AnnotationDraft, user) -> Submission:
    if draft.user_id != user.id:
        raise ServiceError("This draft is someone else's.")
    return annotation_submit(
        project=draft.project,
        user=user,
        input=draft.input,
        concept_ids=draft.concept_ids,
        regions=draft.regions,
    )


def regions_as_json(boxes: list[RegionIn]) -> list[dict]:
    return [
        {"concept": r.concept_id, "x": r.box[0], "y": r.box[1], "w": r.box[2], "h": r.box[3]}
        for r in boxes
    ]
