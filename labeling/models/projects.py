from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models


class Project(models.Model):
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    guidelines = models.TextField(blank=True, help_text="Instructions shown to annotators.")
    overlap = models.PositiveSmallIntegerField(
        default=1,
        validators=[MinValueValidator(1), MaxValueValidator(10)],
        help_text="How many different annotators label each input.",
    )
    eval_fraction = models.FloatField(
        default=0.2,
        validators=[MinValueValidator(0.0), MaxValueValidator(0.9)],
        help_text="Share of inputs held out for evaluation. Fixed once the first input lands.",
    )
    target_precision = models.FloatField(
        default=0.99,
        validators=[MinValueValidator(0.5), MaxValueValidator(1.0)],
        help_text="Precision a concept's threshold must reach before the model labels alone.",
    )
    lease_minutes = models.PositiveSmallIntegerField(
        default=10,
        validators=[MinValueValidator(1), MaxValueValidator(24 * 60)],
        help_text="How long an annotator holds an input before it returns to the queue.",
    )
    review_tiers = models.PositiveSmallIntegerField(
        default=0,
        validators=[MaxValueValidator(3)],
        help_text="Review tiers an annotation passes; with none, annotations are accepted at once.",
    )
    consensus_auto_accept = models.BooleanField(
        default=False,
        help_text="With overlap above 1, accept matching labels without review.",
    )
    consensus_majority = models.PositiveSmallIntegerField(
        default=0, help_text="How many must agree for consensus; 0 means all of them."
    )
    region_iou = models.FloatField(
        default=0.5,
        validators=[MinValueValidator(0.1), MaxValueValidator(0.95)],
        help_text="How far two boxes must overlap (IoU) to count as the same object, for "
        "consensus and agreement.",
    )
    gold_rate = models.FloatField(
        default=0.05,
        validators=[MinValueValidator(0.0), MaxValueValidator(0.5)],
        help_text="Share of an annotator's items that are gold items, while any are left.",
    )
    queue_strategy = models.CharField(
        max_length=12,
        default="uncertainty",
        choices=[
            ("uncertainty", "Uncertainty (margin) over clusters"),
            ("diversity", "Diversity (typical first)"),
            ("random", "Random"),
        ],
        help_text="The order annotators get inputs in (active learning).",
    )
    retrain_min_labels = models.PositiveIntegerField(
        default=50, help_text="Train a new version once this many new labels were accepted."
    )
    retrain_every_minutes = models.PositiveIntegerField(
        default=60, help_text="How often to check for retraining; 0 turns scheduling off."
    )
    doubt_band = models.FloatField(
        default=0.2,
        validators=[MinValueValidator(0.0), MaxValueValidator(1.0)],
        help_text="Scores this far below a threshold become suggestions for review.",
    )
    spot_check_rate = models.FloatField(
        default=0.05,
        validators=[MinValueValidator(0.0), MaxValueValidator(1.0)],
        help_text="Share of automatic labels sent to review to measure their precision.",
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return self.name


class Role(models.TextChoices):
    ANNOTATOR = "annotator", "Annotator"
    REVIEWER = "reviewer", "Reviewer"
    ADMIN = "admin", "Admin"


class Membership(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.ANNOTATOR)
    review_tier = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text="For reviewers: the review tier they decide (1 is first)."
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["project", "user"], name="membership_unique_user"),
            models.CheckConstraint(
                condition=~models.Q(role="reviewer") | models.Q(review_tier__gte=1),
                name="membership_reviewer_has_tier",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user} in {self.project} as {self.role}"

    @property
    def is_admin(self) -> bool:
        return self.role == Role.ADMIN
