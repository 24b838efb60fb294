from django.conf import settings
from django.db import models


class Embedding(models.Model):
    """An input's backbone features (float16), computed in the background after ingest."""

    input = models.OneToOneField(
        "labeling.Input", on_delete=models.CASCADE, related_name="embedding"
    )
    project = models.ForeignKey("labeling.Project", on_delete=models.CASCADE, related_name="+")
    backbone = models.CharField(max_length=50)
    vector = models.BinaryField(help_text="float16 values; empty when the image failed.")
    error = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["project", "input"])]

    def __str__(self) -> str:
        return f"Embedding of input {self.input_id}"


class EmbeddingRun(models.Model):
    """One per project: who is embedding it right now (a heartbeat keeps others away)."""

    project = models.OneToOneField(
        "labeling.Project", on_delete=models.CASCADE, related_name="embedding_run"
    )
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    done_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"Embedding run of project {self.project_id}"


class ModelType(models.TextChoices):
    CONTEXT_CLASSIFIER = "context-classifier", "Context classifier"
    DEEP_CLASSIFIER = "deep-classifier", "Deep classifier"
    EMBEDDER = "embedder", "Embedder"
    VISUAL_DETECTOR = "visual-detector", "Visual detector"
    FACE_DETECTOR = "face-detector", "Face detector"


class MLModel(models.Model):
    """A model of a project: its type, parameters, and the version that is live."""

    project = models.ForeignKey("labeling.Project", on_delete=models.CASCADE, related_name="models")
    name = models.CharField(max_length=100)
    type = models.CharField(max_length=40, choices=ModelType.choices)
    params = models.JSONField(default=dict, blank=True)
    routes = models.BooleanField(
        default=False,
        help_text="Its active version labels inputs and orders the annotators' queue.",
    )
    active_version = models.ForeignKey(
        "ModelVersion", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["project", "name"], name="model_unique_name"),
            models.UniqueConstraint(
                fields=["project"], condition=models.Q(routes=True), name="model_one_router"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class ModelVersion(models.Model):
    """One training run of a model and what came of it. Never deleted."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        TRAINING = "training", "Training"
        READY = "ready", "Ready"
        FAILED = "failed", "Failed"

    class Trigger(models.TextChoices):
        MANUAL = "manual", "By hand"
        SCHEDULE = "schedule", "Schedule"
        API = "api", "API"

    model = models.ForeignKey(MLModel, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    trigger = models.CharField(max_length=10, choices=Trigger.choices, default=Trigger.MANUAL)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    input_ids = models.JSONField(
        null=True, blank=True, help_text="Train on these inputs only (else every labeled one)."
    )
    label_count = models.PositiveIntegerField(
        default=0, help_text="Accepted annotations in the project when the run was queued."
    )
    attempts = models.PositiveSmallIntegerField(default=0)
    progress = models.FloatField(default=0.0)
    stage = models.CharField(max_length=100, blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    counts = models.JSONField(default=dict, blank=True, help_text="Inputs and labels used.")
    layout = models.JSONField(default=dict, blank=True, help_text="Concept of each output.")
    head = models.BinaryField(null=True, blank=True, help_text="The trained head (npz).")
    metrics = models.JSONField(default=dict, blank=True)
    thresholds = models.JSONField(
        default=dict, blank=True, help_text="Concept id → threshold tuned on the eval split."
    )
    promotion = models.JSONField(
        default=dict, blank=True, help_text="Whether it went live, and why (not)."
    )
    promoted_at = models.DateTimeField(null=True, blank=True)
    rolled_back_at = models.DateTimeField(null=True, blank=True)
    routing = models.JSONField(default=dict, blank=True, help_text="Routing progress and counts.")

    class Meta:
        ordering = ["-number"]
        constraints = [
            models.UniqueConstraint(fields=["model", "number"], name="version_unique_number"),
            models.UniqueConstraint(
                fields=["model"],
                condition=models.Q(status__in=["queued", "training"]),
                name="version_one_run_at_a_time",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.model} v{self.number}"

    @property
    def is_running(self) -> bool:
        return self.status in (self.Status.QUEUED, self.Status.TRAINING)

    @property
    def percent(self) -> int:
        return int(round(100 * self.progress))

    @property
    def duration_seconds(self) -> float | None:
        if self.started_at and self.finished_at:
            return (self.finished_at - self.started_at).total_seconds()
        return None

    @property
    def state(self) -> str:
        """Its status as people see it: a rolled-back version says so instead of "Ready"."""
        return "Rolled back" if self.rolled_back_at else self.get_status_display()

    @property
    def state_class(self) -> str:
        return "rejected" if self.rolled_back_at else self.status

    @property
    def thresholds_held(self) -> dict[str, int]:
        """How many concepts it labels automatically, and why the others are withheld."""
        tuned = self.thresholds.values()
        withheld = [t for t in tuned if t.get("threshold") is None]
        return {
            "concepts": len(tuned),
            "auto": len(tuned) - len(withheld),
            "evidence": sum(t.get("missing") == "evidence" for t in withheld),
        }


class Prediction(models.Model):
    """An on-demand prediction of a new image, answered by a worker (the web process never
    loads the backbone). The API waits a little for it, or returns its id to poll."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    model = models.ForeignKey(MLModel, on_delete=models.CASCADE, related_name="predictions")
    version = models.ForeignKey(
        ModelVersion, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    file = models.CharField(max_length=500, help_text="The staged image under MEDIA_ROOT.")
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.QUEUED)
    result = models.JSONField(default=dict, blank=True)
    error = models.CharField(max_length=500, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"Prediction {self.id} ({self.status})"
