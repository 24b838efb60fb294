from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models


class ReviewTier(models.Model):
    """One review tier of a project and what it looks at (see ``labeling.review_rules``)."""

    class Mode(models.TextChoices):
        ALL = "all", "Every annotation"
        SAMPLE = "sample", "A random sample"
        DISAGREEMENTS = "disagreements", "Only disagreements between annotators"
        MODEL_DOUBT = "model_doubt", "Model suggestions in the doubt band"
        MODEL_SPOT_CHECK = "model_spot_check", "A sample of the model's automatic labels"

    project = models.ForeignKey(
        "labeling.Project", on_delete=models.CASCADE, related_name="review_tier_rules"
    )
    number = models.PositiveSmallIntegerField(
        validators=[MinValueValidator(1), MaxValueValidator(3)]
    )
    mode = models.CharField(max_length=20, choices=Mode.choices, default=Mode.ALL)
    sample_rate = models.FloatField(
        default=0.1,
        validators=[MinValueValidator(0.0), MaxValueValidator(1.0)],
        help_text="Share sent to this tier, for the sample modes.",
    )

    class Meta:
        ordering = ["number"]
        constraints = [
            models.UniqueConstraint(fields=["project", "number"], name="review_tier_unique")
        ]

    def __str__(self) -> str:
        return f"tier {self.number}: {self.get_mode_display()}"


class RejectReason(models.Model):
    """A reason reviewers can pick when they reject; the admin edits the list."""

    project = models.ForeignKey(
        "labeling.Project", on_delete=models.CASCADE, related_name="reject_reasons"
    )
    text = models.CharField(max_length=200)
    position = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["position", "id"]

    def __str__(self) -> str:
        return self.text


class ReviewDecision(models.Model):
    """A reviewer's decision on an annotation at one tier. Append-only: never changed or
    deleted, so the list of an annotation's decisions is its audit trail."""

    class Action(models.TextChoices):
        APPROVE = "approve", "Approved"
        REJECT = "reject", "Rejected"
        CORRECT = "correct", "Corrected"
        CONSENSUS = "consensus", "Accepted by consensus"
        # not a reviewer's verdict: an admin took a model version's unconfirmed labels back
        ROLLBACK = "rollback", "Rolled back"

    project = models.ForeignKey("labeling.Project", on_delete=models.CASCADE, related_name="+")
    annotation = models.ForeignKey(
        "labeling.Annotation", on_delete=models.PROTECT, related_name="decisions"
    )
    tier = models.PositiveSmallIntegerField()
    reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+"
    )
    action = models.CharField(max_length=10, choices=Action.choices)
    reason = models.CharField(max_length=300, blank=True)
    corrected_concept_ids = models.JSONField(default=list, blank=True)
    correction = models.ForeignKey(
        "labeling.Annotation",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="The reviewer's annotation that replaced this one.",
    )
    bulk = models.BooleanField(default=False, help_text="Part of a bulk approval.")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["annotation", "tier"], name="decision_once_per_tier")
        ]

    def __str__(self) -> str:
        return f"{self.action} of {self.annotation_id} at tier {self.tier}"

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise ValidationError("Review decisions are append-only.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ValidationError("Review decisions are append-only.")
