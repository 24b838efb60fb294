"""An input's status, the one rule (``labeling.queue_rules.input_status``) applied to one
input, to many, or written as decided (one or in bulk). Nothing else sets ``Input.status``
(``tests/test_architecture.py`` checks it)."""

from django.db import connection

from labeling.models import Annotation, AnnotationStatus, Input, QueueSlot
from labeling.queue_rules import input_status


def input_status_refresh(*, input: Input) -> str:
    """Recompute an input's status from its annotations and slots (``input_status``)."""
    statuses = set(input.annotations.values_list("status", flat=True))
    status = input_status(
        accepted=AnnotationStatus.ACCEPTED in statuses,
        waiting=AnnotationStatus.PENDING_REVIEW in statuses,
        open_slot=QueueSlot.objects.filter(input=input, annotation__isnull=True).exists(),
    )
    input_status_set(input=input, status=status)
    return status


def input_status_set(*, input: Input, status: str) -> None:
    """Write a status the caller decided with ``input_status`` (or a gold item's: labeled),
    only when it changes; ``input`` is updated in memory too."""
    if status != input.status:
        Input.objects.filter(id=input.id).update(status=status)
        input.status = status


def inputs_status_refresh(*, input_ids: list[int], chunk: int = 5000) -> None:
    """``input_status_refresh`` for many inputs, a few queries per chunk."""
    for start in range(0, len(input_ids), chunk):
        ids = input_ids[start : start + chunk]
        annotations = Annotation.objects.filter(input_id__in=ids)
        accepted = set(
            annotations.filter(status=AnnotationStatus.ACCEPTED).values_list("input_id", flat=True)
        )
        waiting = set(
            annotations.filter(status=AnnotationStatus.PENDING_REVIEW).values_list(
                "input_id", flat=True
            )
        )
        open_slot = set(
            QueueSlot.objects.filter(input_id__in=ids, annotation__isnull=True).values_list(
                "input_id", flat=True
            )
        )
        statuses = {
            i: input_status(accepted=i in accepted, waiting=i in waiting, open_slot=i in open_slot)
            for i in ids
        }
        inputs_status_set(statuses=statuses)


def inputs_status_set(*, statuses: dict[int, str]) -> None:
    """Write statuses decided by ``input_status`` (input id -> status), touching only rows
    that change: one array-fed UPDATE on PostgreSQL, one per status on SQLite."""
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
