from django.conf import settings
from django.db import models


class AnnotationSource(models.TextChoices):
    HUMAN = "human", "Human"
    MODEL = "model", "Model"
    IMPORT = "import", "Import"


class AnnotationStatus(models.TextChoices):
    PENDING_REVIEW = "pending_review", "Pending review"
    ACCEPTED = "accepted", "Accepted"
    REJECTED = "rejected", "Rejected"
    SUPERSEDED = "superseded", "Superseded"


class Annotation(models.Model):
    """The labels one author (a person, a model version or an import) gave one input."""

    project = models.ForeignKey(
        "labeling.Project", on_delete=models.CASCADE, related_name="annotations"
    )
    input = models.ForeignKey(
        "labeling.Input", on_delete=models.CASCADE, related_name="annotations"
    )
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="annotations",
    )
    source = models.CharField(max_length=10, choices=AnnotationSource.choices)
    status = models.CharField(
        max_length=16, choices=AnnotationStatus.choices, default=AnnotationStatus.PENDING_REVIEW
    )
    review_tier = models.PositiveSmallIntegerField(
        default=0, help_text="The review tier the annotation waits at (0: none yet)."
    )
    time_spent_ms = models.PositiveIntegerField(
        null=True, blank=True, help_text="Time the annotator spent on the item."
    )
    dictionary_versions = models.JSONField(
        default=dict, blank=True, help_text="Concept id → visual-dictionary version shown."
    )
    review_leased_to = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    review_leased_until = models.DateTimeField(null=True, blank=True)
    corrects = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="corrections",
        help_text="The annotation a reviewer corrected with this one.",
    )
    gold_correct = models.BooleanField(
        null=True, blank=True, help_text="On a gold item: whether it matched the known answer."
    )
    disagreement = models.BooleanField(
        default=False, help_text="Other annotators of the input gave other labels."
    )
    model_version = models.ForeignKey(
        "training.ModelVersion",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="annotations",
        help_text="For a model's annotation: the version that wrote it.",
    )
    model_band = models.CharField(
        max_length=5, blank=True, help_text="For a model's annotation: 'auto' or 'doubt'."
    )
    provenance = models.JSONField(
        default=dict, blank=True, help_text="For a model's annotation: scores and thresholds."
    )
    workflow_version = models.ForeignKey(
        "workflows.WorkflowVersion",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="annotations",
        # Provenance, not structure: no database constraint, so routing's bulk inserts do
        # not pay a deferred foreign-key check per row at commit (Django still nulls it
        # when a workflow version goes).
        db_constraint=False,
        help_text="For a workflow's annotation: the workflow version that wrote it.",
    )
    workflow_node = models.CharField(
        max_length=64, blank=True, help_text="For a workflow's annotation: the writer node."
    )
    client_token = models.CharField(
        max_length=64, blank=True, help_text="Sent with a submission; a repeat is the same one."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["author", "client_token"],
                condition=~models.Q(client_token=""),
                name="annotation_unique_client_token",
            )
        ]
        indexes = [
            models.Index(fields=["project", "status"]),
            models.Index(fields=["input", "status"]),
            models.Index(fields=["project", "author", "created_at"]),
            models.Index(fields=["model_version", "status"]),
            # Ordered by time, not id: with "ORDER BY id" PostgreSQL prefers walking the
            # primary key past every decided row at the head of the queue.
            models.Index(
                fields=["project", "review_tier", "created_at", "id"],
                name="annotation_review_queue",
                condition=models.Q(status="pending_review"),
            ),
            models.Index(
                fields=["review_leased_to", "project", "review_tier"],
                name="annotation_review_held",
                condition=models.Q(status="pending_review", review_leased_to__isnull=False),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_source_display()} annotation {self.id} of input {self.input_id}"


class AnnotationLabel(models.Model):
    annotation = models.ForeignKey(Annotation, on_delete=models.CASCADE, related_name="labels")
    concept = models.ForeignKey("labeling.Concept", on_delete=models.PROTECT, related_name="labels")
    confidence = models.FloatField(null=True, blank=True, help_text="Set when a model wrote it.")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["annotation", "concept"], name="label_unique_concept")
        ]

    def __str__(self) -> str:
        return f"{self.concept_id} on annotation {self.annotation_id}"


class Region(models.Model):
    """A box on an annotation's input with the concept it shows: a person drew it, a
    detector found it, or an import brought it. Stored normalised (x, y, w, h of the image as
    people see it, EXIF applied; ``labeling.boxes`` converts). A region with a ``parent`` is a
    classification of that region (e.g. "mask" on a detected "face"), on the same box."""

    annotation = models.ForeignKey(Annotation, on_delete=models.CASCADE, related_name="regions")
    concept = models.ForeignKey(
        "labeling.Concept", on_delete=models.PROTECT, related_name="regions"
    )
    x = models.FloatField()
    y = models.FloatField()
    w = models.FloatField()
    h = models.FloatField()
    confidence = models.FloatField(null=True, blank=True, help_text="Set when a model wrote it.")
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.CASCADE, related_name="children"
    )
    position = models.PositiveSmallIntegerField(default=0, help_text="Order of drawing.")

    class Meta:
        ordering = ["position", "id"]
        indexes = [models.Index(fields=["annotation", "position"])]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(w__gt=0, h__gt=0), name="region_positive_size"
            )
        ]

    def __str__(self) -> str:
        return f"{self.concept_id} at ({self.x:.3f}, {self.y:.3f}) on {self.annotation_id}"

    @property
    def box(self) -> tuple[float, float, float, float]:
        return (self.x, self.y, self.w, self.h)

    def pixels(self, width: int, height: int) -> tuple[int, int, int, int]:
        from labeling.boxes import to_pixels

        return to_pixels(self.box, width, height)
