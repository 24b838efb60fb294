"""Reads that build the audit trail: an annotation's timeline, a project's events, the CSV.

An event is an annotation being created or a review decision on it; both tables are
append-only in practice (decisions strictly so), so the trail is read, never written, here.
Events are ordered by time, then annotations before decisions, then id.
"""

import heapq
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime

from django.db.models import F, IntegerField, Prefetch, QuerySet, Value

from labeling.models import (
    Annotation,
    AnnotationLabel,
    AnnotationSource,
    Concept,
    Input,
    Membership,
    Project,
    ReviewDecision,
)

CREATED = "created"
EVENT_CHOICES = [(CREATED, "Created"), *ReviewDecision.Action.choices]
EVENT_KINDS = [kind for kind, _ in EVENT_CHOICES]
CHUNK = 2000
CSV_COLUMNS = [
    "event_time",
    "project_id",
    "input_id",
    "annotation_id",
    "event",
    "tier",
    "actor",
    "source",
    "labels",
    "reason",
    "correction_annotation_id",
    "status_now",
]


@dataclass(frozen=True)
class Label:
    id: int
    name: str
    path: str  # keys from the root, "digit/3": unique in the project, unlike a bare key
    confidence: float | None = None  # when a model wrote the label


@dataclass(frozen=True)
class AuditEvent:
    """One line of the trail. ``labels`` are the labels the event put on record: the
    annotation's for its creation, approval, rejection or consensus; the reviewer's new
    labels for a correction."""

    time: datetime
    kind: str  # "created" or a ReviewDecision action
    annotation: Annotation
    actor: str
    labels: list[Label]
    decision: ReviewDecision | None = None
    tier: int | None = None
    reason: str = ""
    correction_id: int | None = None

    @property
    def title(self) -> str:
        if self.decision is None:
            return "Created"
        return self.decision.get_action_display()


def concept_labels(project: Project) -> dict[int, Label]:
    """Every concept of the project (archived and merged ones too: old labels name them)."""
    concepts = {
        c.id: c
        for c in Concept.objects.filter(project=project).only("id", "name", "key", "parent_id")
    }

    def path(concept: Concept) -> str:
        keys, seen = [], set()
        while concept is not None and concept.id not in seen:
            seen.add(concept.id)
            keys.append(concept.key)
            concept = concepts.get(concept.parent_id)
        return "/".join(reversed(keys))

    return {cid: Label(cid, c.name, path(c)) for cid, c in concepts.items()}


def _labels(ids: Iterable[int], names: dict[int, Label]) -> list[Label]:
    return [names.get(i) or Label(i, f"#{i}", f"#{i}") for i in ids]


def actor_name(user, source: str) -> str:
    """A person's username; otherwise what wrote it ("model", "import")."""
    if user is not None:
        return user.username
    return source


def created_event(annotation: Annotation, names: dict[int, Label]) -> AuditEvent:
    """Needs ``author`` and ``labels`` loaded (select/prefetch) to stay one query a page."""
    return AuditEvent(
        time=annotation.created_at,
        kind=CREATED,
        annotation=annotation,
        actor=actor_name(annotation.author, annotation.source),
        labels=[
            replace(label, confidence=row.confidence)
            for row, label in zip(
                annotation.labels.all(),
                _labels([row.concept_id for row in annotation.labels.all()], names),
                strict=True,
            )
        ],
    )


def decision_event(
    decision: ReviewDecision, annotation: Annotation, names: dict[int, Label]
) -> AuditEvent:
    if decision.action == ReviewDecision.Action.CORRECT:
        labels = _labels(decision.corrected_concept_ids, names)
    else:
        labels = _labels(sorted(label.concept_id for label in annotation.labels.all()), names)
    return AuditEvent(
        time=decision.created_at,
        kind=decision.action,
        annotation=annotation,
        actor=decision.reviewer.username if decision.reviewer_id else "system",
        labels=labels,
        decision=decision,
        tier=decision.tier,
        reason=decision.reason,
        correction_id=decision.correction_id,
    )


# ---------------------------------------------------------------------------- one annotation


@dataclass
class Timeline:
    annotation: Annotation
    events: list[AuditEvent]
    corrects: Annotation | None  # the annotation this one replaced
    corrected_by: list[Annotation] = field(default_factory=list)
    gold: list[Label] | None = None  # the input's known answer, when it is a gold item
    dictionary: list[tuple[Label, int]] = field(default_factory=list)  # versions seen


def _label_rows() -> QuerySet[AnnotationLabel]:
    return AnnotationLabel.objects.only("annotation_id", "concept_id", "confidence").order_by(
        "concept_id"
    )


def _annotations() -> QuerySet[Annotation]:
    return Annotation.objects.select_related("author", "input").prefetch_related(
        Prefetch("labels", queryset=_label_rows())
    )


def annotation_timeline(annotation: Annotation) -> Timeline:
    """Creation, then every review decision in the order made, with the annotations linked
    by corrections either way."""
    annotation = _annotations().get(id=annotation.id)
    names = concept_labels(annotation.project)
    decisions = annotation.decisions.select_related("reviewer").order_by("created_at", "id")
    events = [created_event(annotation, names)]
    events += [decision_event(d, annotation, names) for d in decisions]
    corrects = _annotations().get(id=annotation.corrects_id) if annotation.corrects_id else None
    gold_ids = annotation.input.gold_concept_ids
    return Timeline(
        annotation=annotation,
        events=events,
        corrects=corrects,
        corrected_by=list(_annotations().filter(corrects=annotation).order_by("id")),
        gold=_labels(gold_ids, names) if gold_ids is not None else None,
        dictionary=[
            (_labels([int(cid)], names)[0], version)
            for cid, version in sorted(
                (item for item in annotation.dictionary_versions.items() if item[0].isdigit()),
                key=lambda item: int(item[0]),
            )
        ],
    )


def gold_labels(input: Input) -> list[Label] | None:
    """The input's known answer, when it is a gold item."""
    if input.gold_concept_ids is None:
        return None
    return _labels(input.gold_concept_ids, concept_labels(input.project))


def input_annotations(input: Input, *, author=None) -> list[AuditEvent]:
    """The creation of each of the input's annotations, oldest first; ``author``'s only
    when given."""
    annotations = _annotations().filter(input=input).order_by("created_at", "id")
    if author is not None:
        annotations = annotations.filter(author=author)
    names = concept_labels(input.project)
    return [created_event(annotation, names) for annotation in annotations]


# ---------------------------------------------------------------------------- project events


def _event_rows(project: Project, *, annotator: str = "", action: str = "") -> QuerySet:
    created = Annotation.objects.filter(project=project)
    decided = ReviewDecision.objects.filter(project=project)
    if annotator == AnnotationSource.MODEL:
        created = created.filter(source=AnnotationSource.MODEL)
        decided = decided.filter(annotation__source=AnnotationSource.MODEL)
    elif annotator:
        created = created.filter(author__username=annotator)
        decided = decided.filter(annotation__author__username=annotator)
    if action:
        decided = decided.filter(action=action)
    parts = []
    if action in ("", CREATED):
        parts.append(_rows(created, 0))
    if action != CREATED:
        parts.append(_rows(decided, 1))
    rows = parts[0].union(*parts[1:], all=True) if len(parts) > 1 else parts[0]
    return rows.order_by("-ev_at", "-ev_order", "-ev_id")


def _rows(queryset: QuerySet, order: int) -> QuerySet:
    return (
        queryset.order_by()
        .annotate(ev_at=F("created_at"), ev_order=Value(order, IntegerField()), ev_id=F("id"))
        .values_list("ev_at", "ev_order", "ev_id")
    )


def project_events(project: Project, *, annotator: str = "", action: str = "") -> QuerySet:
    """Rows ``(time, order, id)`` of the project's events, newest first, filtered by the
    annotation's author (a username, or "model") and by event kind: order 0 is an
    annotation created (the id is the annotation's), 1 a decision (the decision's id).

    One UNION query: a page of it is cheap to count and slice; ``events_load`` then loads
    that page's rows in full.
    """
    return _event_rows(project, annotator=annotator, action=action)


def events_load(project: Project, rows: Iterable[tuple]) -> list[AuditEvent]:
    """The ``AuditEvent``s of a page of ``project_events`` rows, in the rows' order."""
    rows = list(rows)
    names = concept_labels(project)
    decision_ids = [row[2] for row in rows if row[1] == 1]
    decisions = ReviewDecision.objects.select_related("reviewer").in_bulk(decision_ids)
    annotation_ids = {row[2] for row in rows if row[1] == 0}
    annotation_ids |= {d.annotation_id for d in decisions.values()}
    annotations = _annotations().in_bulk(annotation_ids)
    events = []
    for _, order, pk in rows:
        if order == 0:
            events.append(created_event(annotations[pk], names))
        else:
            decision = decisions[pk]
            events.append(decision_event(decision, annotations[decision.annotation_id], names))
    return events


def project_annotators(project: Project) -> list[str]:
    """Usernames to filter the trail by: the members, and "model"."""
    names = Membership.objects.filter(project=project).order_by("user__username")
    return [*names.values_list("user__username", flat=True), AnnotationSource.MODEL.value]


# ---------------------------------------------------------------------------- CSV


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_text(value: str) -> str:
    """Free text made safe for spreadsheets: a cell starting like a formula gets a quote
    in front, so Excel or LibreOffice show it instead of running it (CSV injection)."""
    return f"'{value}" if value.startswith(FORMULA_STARTS) else value


def _csv_row(event: AuditEvent) -> list:
    annotation = event.annotation
    return [
        event.time.isoformat(),
        annotation.project_id,
        annotation.input_id,
        annotation.id,
        event.kind,
        "" if event.tier is None else event.tier,
        csv_text(event.actor),
        annotation.source,
        csv_text(";".join(label.path for label in event.labels)),
        csv_text(event.reason),
        event.correction_id or "",
        annotation.status,
    ]


def audit_csv_rows(project: Project) -> Iterator[list]:
    """The header, then one row per event of the project in time order.

    Streams: annotations and decisions are read ``CHUNK`` rows at a time from two
    time-ordered queries and merged, so memory stays flat however big the project.
    """
    yield CSV_COLUMNS
    names = concept_labels(project)
    annotations = (
        Annotation.objects.filter(project=project)
        .select_related("author")
        .prefetch_related(Prefetch("labels", queryset=_label_rows()))
        .order_by("created_at", "id")
        .iterator(chunk_size=CHUNK)
    )
    decisions = (
        ReviewDecision.objects.filter(project=project)
        .select_related("reviewer", "annotation__author")
        .prefetch_related(Prefetch("annotation__labels", queryset=_label_rows()))
        .order_by("created_at", "id")
        .iterator(chunk_size=CHUNK)
    )
    created = ((a.created_at, 0, a.id, created_event(a, names)) for a in annotations)
    decided = ((d.created_at, 1, d.id, decision_event(d, d.annotation, names)) for d in decisions)
    for *_, event in heapq.merge(created, decided, key=lambda item: item[:3]):
        yield _csv_row(event)
