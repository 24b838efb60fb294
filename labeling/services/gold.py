"""Gold items: inputs with a known answer that score the annotators who label them.

Marking an input gold takes it out of the normal annotator queue (its open slots go) and
counts it as labeled; the queue serves gold items separately, mixed in unannounced.
Clearing gold makes it a normal input again.
"""

from django.db import transaction
from django.db.models import Q

from labeling.models import (
    Annotation,
    AnnotationStatus,
    Input,
    InputStatus,
    Membership,
    QueueSlot,
    Role,
)
from labeling.queue_rules import input_status
from labeling.services.errors import ServiceError
from labeling.services.queue import checked_labels, queue_slots_close, queue_slots_open
from labeling.services.statuses import input_status_set


def input_qs_select_for_update():
    """Inputs locked for the rest of the transaction (one gold change at a time)."""
    return Input.objects.select_for_update(of=("self",)).select_related("project")


def _check_admin(input: Input, actor) -> None:
    if actor.is_superuser:
        return
    is_admin = Membership.objects.filter(
        project_id=input.project_id, user_id=actor.id, role=Role.ADMIN
    ).exists()
    if not is_admin:
        raise ServiceError("Only the project's admins set gold answers.")


def input_gold_set(*, input: Input, concept_ids: list[int], actor) -> Input:
    """Make ``input`` a gold item whose known answer is ``concept_ids`` (or change the answer).

    The labels are checked as a submission's are (active leaves, one per single choice).
    Annotations scored against an earlier answer keep their score.
    """
    _check_admin(input, actor)
    labels = checked_labels(input.project, concept_ids)
    with transaction.atomic():
        input = input_qs_select_for_update().get(id=input.id)
        was_gold = input.gold_concept_ids is not None
        input.gold_concept_ids = sorted(labels)
        input.save(update_fields=["gold_concept_ids"])
        input_status_set(input=input, status=InputStatus.LABELED)  # a known answer is a label
        if not was_gold:
            # Its open slots leave the normal queue. A new answer for a gold item keeps the
            # slots the queue made to serve it, so nobody labeling it now loses their work.
            queue_slots_close(input=input)
    return input


def input_gold_clear(*, input: Input, actor) -> Input:
    """Make a gold item a normal input again: back in the annotators' queue with the
    project's overlap, unless labels were accepted for it the normal way (then it stays
    labeled).

    The slots the queue made to serve the gold item go (open ones, and those filled by
    annotations scored against the answer): those annotations are kept, with their score,
    but they are not the input's normal annotations and must not count as filled places.
    """
    _check_admin(input, actor)
    with transaction.atomic():
        input = input_qs_select_for_update().get(id=input.id)
        if input.gold_concept_ids is None:
            raise ServiceError("This input is not a gold item.")
        QueueSlot.objects.filter(input=input).filter(
            Q(annotation__isnull=True) | Q(annotation__gold_correct__isnull=False)
        ).delete()
        accepted = Annotation.objects.filter(
            input=input, status=AnnotationStatus.ACCEPTED, gold_correct__isnull=True
        ).exists()
        if not accepted:
            queue_slots_open(input=input, overlap=input.project.overlap)
        slots = list(QueueSlot.objects.filter(input=input).values_list("annotation_id", flat=True))
        input.gold_concept_ids = None
        filled = sum(1 for a in slots if a)
        input.save(update_fields=["gold_concept_ids"])
        input_status_set(
            input=input,
            status=input_status(
                accepted=accepted, waiting=filled > 0, open_slot=filled < len(slots)
            ),
        )
    return input
