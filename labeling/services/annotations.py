"""Writes on annotations as a set: taking a batch back, and the statuses of the inputs they
touch. Other apps (the model loop) call these instead of updating labeling's tables."""

from django.db import transaction
from django.utils import timezone

from labeling.models import (
    Annotation,
    AnnotationStatus,
    Input,
    InputStatus,
    Project,
    ReviewDecision,
)
from labeling.services.queue import queue_slots_fill_project

CHUNK = 5000


def annotations_take_back(
    *, project: Project, annotation_ids: list[int], actor, reason: str
) -> int:
    """Reject these annotations (those still accepted or waiting), each with an audit entry
    naming who took it back and why; their inputs' statuses follow and inputs left with
    nothing get open queue slots again. Returns how many were taken back.

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
        queue_slots_fill_project(project=project)
    return len(taken)


def inputs_status_refresh(*, input_ids: list[int]) -> None:
    """Labeled while an accepted annotation remains; in review while one waits; otherwise
    unlabeled (``queue_slots_fill_project`` then opens its slots)."""
    for start in range(0, len(input_ids), CHUNK):
        chunk = input_ids[start : start + CHUNK]
        annotations = Annotation.objects.filter(input_id__in=chunk)
        accepted = set(
            annotations.filter(status=AnnotationStatus.ACCEPTED).values_list("input_id", flat=True)
        )
        waiting = set(
            annotations.filter(status=AnnotationStatus.PENDING_REVIEW).values_list(
                "input_id", flat=True
            )
        )
        Input.objects.filter(id__in=accepted).update(status=InputStatus.LABELED)
        Input.objects.filter(id__in=waiting - accepted).update(status=InputStatus.IN_REVIEW)
        Input.objects.filter(id__in=set(chunk) - accepted - waiting).update(
            status=InputStatus.UNLABELED
        )
