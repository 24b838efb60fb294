"""The one writer of annotations: a person's, an import's or a model's, one at a time or
tens of thousands in a batch, and taking a batch back. Every other place (labeling's queue,
review, ingest, import, the demo; the model loop and workflows) calls these.

The bulk path (``annotations_bulk_insert``) writes each kind of row in one statement fed by a
single parameter: arrays on PostgreSQL (``INSERT ... SELECT FROM unnest(...)``), a JSON
document on SQLite (``INSERT ... SELECT FROM json_each(?)``). No Django object and no
parameter per row: routing writes tens of thousands a second through it. The portal runs on
these two databases only, and the tests run on both.
"""

import json
from collections.abc import Iterable
from dataclasses import dataclass

from django.db import connection, transaction
from django.utils import timezone

from labeling.models import (
    Annotation,
    AnnotationLabel,
    AnnotationSource,
    AnnotationStatus,
    Project,
    Region,
    ReviewDecision,
)
from labeling.services.statuses import inputs_status_refresh

CHUNK = 5000


@dataclass(frozen=True)
class RegionSpec:
    """A box to write: its concept, normalised (x, y, w, h) (checked by the caller, see
    ``labeling.boxes.box_checked``), a model's confidence, and the index (in the same list)
    of the region it classifies, if any."""

    concept_id: int
    box: tuple[float, float, float, float]
    confidence: float | None = None
    parent: int | None = None


def annotation_create(
    *,
    project_id: int,
    input_id: int,
    source: str,
    status: str,
    concept_ids: Iterable[int],
    confidences: dict[int, float] | None = None,
    regions: list[RegionSpec] | None = None,
    **fields,
) -> Annotation:
    """One annotation with its labels and boxes (``fields``: any other column, e.g.
    ``author``, ``review_tier``, ``provenance``). Call inside the caller's transaction."""
    annotation = Annotation.objects.create(
        project_id=project_id, input_id=input_id, source=source, status=status, **fields
    )
    annotation_labels_set(annotation=annotation, concept_ids=concept_ids, confidences=confidences)
    if regions:
        annotation_regions_set(annotation=annotation, regions=regions)
    return annotation


def annotation_regions_set(*, annotation: Annotation, regions: list[RegionSpec]) -> None:
    """Give the annotation exactly these boxes (replacing any it had). A parent index must
    point to an earlier region of the list."""
    if annotation.pk and annotation.regions.exists():
        annotation.regions.all().delete()
    _regions_create([(annotation.id, regions)])


def annotation_labels_set(
    *,
    annotation: Annotation,
    concept_ids: Iterable[int],
    confidences: dict[int, float] | None = None,
) -> None:
    """Give the annotation exactly these labels (replacing any it had)."""
    if annotation.pk and annotation.labels.exists():
        annotation.labels.all().delete()
    AnnotationLabel.objects.bulk_create(
        AnnotationLabel(
            annotation=annotation,
            concept_id=c,
            confidence=(confidences or {}).get(c),
        )
        for c in concept_ids
    )


def annotations_create(
    *,
    annotations: list[
        tuple[Annotation, dict[int, float | None]]
        | tuple[Annotation, dict[int, float | None], list[RegionSpec]]
    ],
) -> int:
    """Unsaved annotations with their labels (concept id -> confidence) and, as an optional
    third element, their boxes, in bulk through the ORM (imports: a few thousand rows with
    every column). Returns the labels written."""
    if not annotations:
        return 0
    rows = [item[0] for item in annotations]
    if connection.features.can_return_rows_from_bulk_insert:
        Annotation.objects.bulk_create(rows)
    else:  # the labels need the annotations' ids
        for annotation in rows:
            annotation.save()
    labels = [
        AnnotationLabel(annotation=item[0], concept_id=c, confidence=confidence)
        for item in annotations
        for c, confidence in item[1].items()
    ]
    AnnotationLabel.objects.bulk_create(labels)
    _regions_create([(item[0].id, item[2]) for item in annotations if len(item) > 2 and item[2]])
    return len(labels)


def _regions_create(boxes: list[tuple[int, list[RegionSpec]]]) -> None:
    """The boxes of saved annotations (by id), in one insert; a parent index points to an
    earlier box of the same annotation (set in a second statement, once the ids are known).
    Every writer of regions comes here."""
    regions, parents = [], []
    for annotation_id, specs in boxes:
        written: list[Region] = []
        for position, spec in enumerate(specs):
            if spec.parent is not None and not 0 <= spec.parent < position:
                raise ValueError(f"region {position}: its parent must be an earlier region")
            x, y, w, h = spec.box
            region = Region(
                annotation_id=annotation_id,
                concept_id=spec.concept_id,
                x=x,
                y=y,
                w=w,
                h=h,
                confidence=spec.confidence,
                position=position,
            )
            written.append(region)
            if spec.parent is not None:
                parents.append((region, written[spec.parent]))
        regions.extend(written)
    if parents and not connection.features.can_return_rows_from_bulk_insert:
        for region in regions:
            region.save()
    else:
        Region.objects.bulk_create(regions, batch_size=CHUNK)
    for region, parent in parents:
        region.parent = parent
    if parents:
        Region.objects.bulk_update([r for r, _ in parents], ["parent"], batch_size=CHUNK)


# ---------------------------------------------------------------------------- bulk (models)

ANNOTATION_COLUMNS = (
    "project_id, input_id, source, status, review_tier, dictionary_versions, disagreement,"
    " model_version_id, model_band, provenance, client_token, created_at, updated_at,"
    " workflow_version_id, workflow_node"
)


@dataclass(frozen=True)
class ModelRow:
    """One model annotation to write in bulk (one per input in a batch)."""

    input_id: int
    status: str
    review_tier: int
    band: str
    provenance: dict
    labels: list[tuple[int, float]]  # (concept id, confidence)
    workflow_node: str = ""  # the writer node, when a workflow wrote it
    # boxes: (concept id, (x, y, w, h), confidence, index of the parent box in this list)
    regions: tuple | list = ()


def annotations_bulk_insert(
    *,
    project_id: int,
    version_id: int | None,
    rows: list[ModelRow],
    workflow_version_id: int | None = None,
) -> None:
    """Write a model version's annotations of ``rows`` with their labels (and the workflow
    version whose writers made them). Call inside a transaction; the caller sets the inputs'
    statuses (``inputs_status_set``)."""
    if not rows:
        return
    if connection.vendor == "postgresql":
        annotation_of = _insert_postgresql(project_id, version_id, workflow_version_id, rows)
    else:
        annotation_of = _insert_sqlite(project_id, version_id, workflow_version_id, rows)
    if any(row.regions for row in rows):
        _insert_regions(rows, annotation_of)


def _insert_regions(rows: list[ModelRow], annotation_of: dict[int, int]) -> None:
    """The rows' boxes (a detector's regions are few next to whole-image labels: the ORM's
    bulk insert will do)."""
    _regions_create(
        [
            (
                annotation_of[row.input_id],
                [RegionSpec(*region) for region in row.regions],
            )
            for row in rows
            if row.regions
        ]
    )


def _insert_postgresql(
    project_id, version_id, workflow_version_id, rows: list[ModelRow]
) -> dict[int, int]:
    now = timezone.now()
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {Annotation._meta.db_table} ({ANNOTATION_COLUMNS})"
            " SELECT %s, u.input_id, %s, u.status, u.tier, '{}'::jsonb, false, %s, u.band,"
            " u.provenance::jsonb, '', %s, %s, %s, u.node"
            " FROM unnest(%s::bigint[], %s::text[], %s::int[], %s::text[], %s::text[],"
            " %s::text[]) AS u(input_id, status, tier, band, provenance, node)"
            " RETURNING id, input_id",
            [
                project_id,
                AnnotationSource.MODEL,
                version_id,
                now,
                now,
                workflow_version_id,
                [r.input_id for r in rows],
                [r.status for r in rows],
                [r.review_tier for r in rows],
                [r.band for r in rows],
                [json.dumps(r.provenance) for r in rows],
                [r.workflow_node for r in rows],
            ],
        )
        # one annotation per input in a batch: the input id tells which row got which id
        annotation_of = {input_id: pk for pk, input_id in cursor.fetchall()}
        label_annotations, label_concepts, label_confidences = [], [], []
        for row in rows:
            for concept_id, confidence in row.labels:
                label_annotations.append(annotation_of[row.input_id])
                label_concepts.append(concept_id)
                label_confidences.append(confidence)
        cursor.execute(
            f"INSERT INTO {AnnotationLabel._meta.db_table} (annotation_id, concept_id, confidence)"
            " SELECT * FROM unnest(%s::bigint[], %s::bigint[], %s::float8[])",
            [label_annotations, label_concepts, label_confidences],
        )
    return annotation_of


def _insert_sqlite(
    project_id, version_id, workflow_version_id, rows: list[ModelRow]
) -> dict[int, int]:
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    document = json.dumps(
        [
            [r.input_id, r.status, r.review_tier, r.band, json.dumps(r.provenance), r.workflow_node]
            for r in rows
        ]
    )
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {Annotation._meta.db_table} ({ANNOTATION_COLUMNS})"
            " SELECT %s, value ->> 0, %s, value ->> 1, value ->> 2, '{}', 0, %s, value ->> 3,"
            " value ->> 4, '', %s, %s, %s, value ->> 5 FROM json_each(%s) RETURNING id, input_id",
            [
                project_id,
                AnnotationSource.MODEL,
                version_id,
                now,
                now,
                workflow_version_id,
                document,
            ],
        )
        annotation_of = {input_id: pk for pk, input_id in cursor.fetchall()}
        labels = [
            [annotation_of[row.input_id], concept_id, confidence]
            for row in rows
            for concept_id, confidence in row.labels
        ]
        cursor.execute(
            f"INSERT INTO {AnnotationLabel._meta.db_table} (annotation_id, concept_id, confidence)"
            " SELECT value ->> 0, value ->> 1, value ->> 2 FROM json_each(%s)",
            [json.dumps(labels)],
        )
    return annotation_of


# ---------------------------------------------------------------------------- take back


def annotations_take_back(
    *, project: Project, annotation_ids: list[int], actor, reason: str
) -> int:
    """Reject these annotations (those still accepted or waiting), each with an audit entry
    naming who took it back and why; their inputs' statuses follow. The caller reopens the
    queue for inputs left with nothing (``queue_slots_fill_project``). Returns how many were
    taken back.

    Call inside the caller's transaction when the choice of ids must hold (e.g. under the
    model's row lock)."""
    now = timezone.now()
    taken: list[int] = []
    with transaction.atomic():
        for start in range(0, len(annotation_ids), CHUNK):
            chunk = annotation_ids[start : start + CHUNK]
            live = Annotation.objects.filter(
                project=project,
                id__in=chunk,
                status__in=[AnnotationStatus.ACCEPTED, AnnotationStatus.PENDING_REVIEW],
            )
            ids = list(live.values_list("id", flat=True))
            live.update(status=AnnotationStatus.REJECTED, review_leased_to=None, updated_at=now)
            ReviewDecision.objects.bulk_create(
                ReviewDecision(
                    project=project,
                    annotation_id=annotation_id,
                    tier=0,  # not a review tier: no reviewer decided it
                    reviewer=actor,
                    action=ReviewDecision.Action.ROLLBACK,
                    reason=reason[:300],
                )
                for annotation_id in ids
            )
            taken.extend(ids)
        input_ids = list(
            Annotation.objects.filter(id__in=taken).values_list("input_id", flat=True).distinct()
        )
        inputs_status_refresh(input_ids=input_ids)
    return len(taken)
