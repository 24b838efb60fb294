import random

from django.conf import settings
from django.db import models


def random_key() -> float:
    return random.random()


class QueueSlot(models.Model):
    """One of the ``overlap`` places an input has in the annotators' queue.

    A slot is open until an annotation fills it. Its lease says who works on it until when;
    an expired lease makes the slot free again. The annotator who held it stays in
    ``leased_to`` (so the same person never gets two slots of one input) until someone else
    takes the slot.
    """

    project = models.ForeignKey("labeling.Project", on_delete=models.CASCADE, related_name="+")
    input = models.ForeignKey("labeling.Input", on_delete=models.CASCADE, related_name="slots")
    number = models.PositiveSmallIntegerField(
        help_text="0 for an input's first annotation, 1 for its second…: fewer annotations first."
    )
    priority = models.FloatField(
        default=0.0,
        help_text="Higher is served first (active-learning score, when a model has one).",
    )
    random_key = models.FloatField(default=random_key, help_text="Tie-break order.")
    leased_to = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    leased_until = models.DateTimeField(null=True, blank=True)
    # Not a OneToOneField: its unique index over mostly-NULL values would tempt SQLite's
    # planner away from ``slot_open_order``; the partial unique constraint below does the job.
    annotation = models.ForeignKey(
        "labeling.Annotation",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="queue_slots",
        db_index=False,
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["input", "number"], name="slot_unique_number"),
            models.UniqueConstraint(
                fields=["annotation"],
                condition=models.Q(annotation__isnull=False),
                name="slot_unique_annotation",
            ),
        ]
        indexes = [
            models.Index(
                "project",
                models.F("priority").desc(),
                "number",
                "random_key",
                name="slot_open_order",
                condition=models.Q(annotation__isnull=True),
            ),
            models.Index(
                fields=["project", "leased_to"],
                name="slot_open_by_user",
                condition=models.Q(annotation__isnull=True),
            ),
            models.Index(fields=["input", "leased_to"], name="slot_input_user"),
        ]

    def __str__(self) -> str:
        return f"slot {self.number} of input {self.input_id}"


class Skip(models.Model):
    """An annotator passed on an input; it is not served to them again."""

    project = models.ForeignKey("labeling.Project", on_delete=models.CASCADE, related_name="+")
    input = models.ForeignKey("labeling.Input", on_delete=models.CASCADE, related_name="skips")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    reason = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "input"], name="skip_unique")]

    def __str__(self) -> str:
        return f"{self.user_id} skipped {self.input_id}"


class AnnotationDraft(models.Model):
    """Labels that could not be submitted (the lease was lost to someone else), kept to retry."""

    project = models.ForeignKey("labeling.Project", on_delete=models.CASCADE, related_name="+")
    input = models.ForeignKey("labeling.Input", on_delete=models.CASCADE, related_name="drafts")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    concept_ids = models.JSONField(default=list)
    regions = models.JSONField(default=list, blank=True, help_text="Boxes, as submitted.")
    note = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [models.UniqueConstraint(fields=["user", "input"], name="draft_unique")]

    def __str__(self) -> str:
        return f"draft of {self.user_id} on {self.input_id}"
