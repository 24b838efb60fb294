"""Bulk writes of a routing batch: the model's annotations, their labels, input statuses.

Routing writes tens of thousands of rows a second, so each kind of row goes in one statement
fed by a single parameter: arrays on PostgreSQL (``INSERT ... SELECT FROM unnest(...)``), a
JSON document on SQLite (``INSERT ... SELECT FROM json_each(?)``). No Django object and no
parameter per row. The portal runs on these two databases only, and the tests run on both.
"""

import json
from dataclasses import dataclass

from django.db import connection
from django.utils import timezone

from labeling.models import (
    Annotation,
    AnnotationLabel,
    AnnotationSource,
    Input,
    QueueSlot,
)

ANNOTATION_COLUMNS = (
    "project_id, input_id, source, status, review_tier, dictionary_versions, disagreement,"
    " model_version_id, model_band, provenance, client_token, created_at, updated_at"
)


@dataclass(frozen=True)
class RoutedRow:
    """One model annotation to write."""

    input_id: int
    status: str
    review_tier: int
    band: str
    provenance: dict
    labels: list[tuple[int, float]]  # (concept id, confidence)


def model_annotations_insert(*, project_id: int, version_id: int, rows: list[RoutedRow]) -> None:
    """Write the annotations of ``rows`` with their labels. Call inside a transaction."""
    if not rows:
        return
    if connection.vendor == "postgresql":
        _insert_postgresql(project_id, version_id, rows)
    else:
        _insert_sqlite(project_id, version_id, rows)


def inputs_status_set(*, statuses: dict[int, str]) -> None:
    """Set each input's status (input id -> status), touching only rows that change."""
    if not statuses:
        return
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {Input._meta.db_table} AS i SET status = u.status"
                " FROM unnest(%s::bigint[], %s::text[]) AS u(id, status)"
                " WHERE i.id = u.id AND i.status <> u.status",
                [list(statuses), list(statuses.values())],
            )
        return
    by_status: dict[str, list[int]] = {}
    for input_id, status in statuses.items():
        by_status.setdefault(status, []).append(input_id)
    for status, ids in by_status.items():
        Input.objects.filter(id__in=ids).exclude(status=status).update(status=status)


def open_slots_close(*, input_ids: list[int]) -> None:
    """Delete the inputs' open (unanswered) queue slots: the model answered for them.

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


def _insert_postgresql(project_id: int, version_id: int, rows: list[RoutedRow]) -> None:
    now = timezone.now()
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {Annotation._meta.db_table} ({ANNOTATION_COLUMNS})"
            " SELECT %s, u.input_id, %s, u.status, u.tier, '{}'::jsonb, false, %s, u.band,"
            " u.provenance::jsonb, '', %s, %s"
            " FROM unnest(%s::bigint[], %s::text[], %s::int[], %s::text[], %s::text[])"
            " AS u(input_id, status, tier, band, provenance)"
            " RETURNING id, input_id",
            [
                project_id,
                AnnotationSource.MODEL,
                version_id,
                now,
                now,
                [r.input_id for r in rows],
                [r.status for r in rows],
                [r.review_tier for r in rows],
                [r.band for r in rows],
                [json.dumps(r.provenance) for r in rows],
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


def _insert_sqlite(project_id: int, version_id: int, rows: list[RoutedRow]) -> None:
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    document = json.dumps(
        [[r.input_id, r.status, r.review_tier, r.band, json.dumps(r.provenance)] for r in rows]
    )
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {Annotation._meta.db_table} ({ANNOTATION_COLUMNS})"
            " SELECT %s, value ->> 0, %s, value ->> 1, value ->> 2, '{}', 0, %s, value ->> 3,"
            " value ->> 4, '', %s, %s FROM json_each(%s) RETURNING id, input_id",
            [project_id, AnnotationSource.MODEL, version_id, now, now, document],
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
