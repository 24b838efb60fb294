from django.conf import settings
from django.db import models

from labeling.models.jobs import BackgroundJob


class InterchangeJob(BackgroundJob):
    """An export or import in one of the interchange formats, run in the background with
    progress the browser and the API poll."""

    class Kind(models.TextChoices):
        EXPORT = "export", "Export"
        IMPORT = "import", "Import"

    class Format(models.TextChoices):
        COCO = "coco", "COCO (JSON)"
        CSV = "csv", "CSV"
        YOLO = "yolo", "YOLO classification folders (zip)"
        LABEL_STUDIO = "labelstudio", "Label Studio JSON"

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    project = models.ForeignKey(
        "labeling.Project", on_delete=models.CASCADE, related_name="interchange_jobs"
    )
    kind = models.CharField(max_length=6, choices=Kind.choices)
    format = models.CharField(max_length=12, choices=Format.choices)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.QUEUED)
    options = models.JSONField(default=dict, blank=True)
    file = models.CharField(
        max_length=500, blank=True, help_text="Under MEDIA_ROOT: the export, or the upload."
    )
    total = models.PositiveIntegerField(default=0)
    done = models.PositiveIntegerField(default=0)
    report = models.JSONField(default=dict, blank=True, help_text="Counts and problems.")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.format} #{self.id} ({self.status})"

    @property
    def percent(self) -> int:
        return int(100 * self.done / self.total) if self.total else 0

    @property
    def report_lines(self):
        from labeling.interchange.report import report_lines

        return report_lines(self.report) if self.report else []


class Webhook(models.Model):
    """A URL an admin registered to hear about a project's events, with its signing secret."""

    class Event(models.TextChoices):
        ANNOTATION_ACCEPTED = "annotation.accepted", "Annotation accepted"
        REVIEW_DECIDED = "review.decided", "Review decided"
        VERSION_READY = "model_version.ready", "Model version ready"
        VERSION_PROMOTED = "model_version.promoted", "Model version promoted"

    project = models.ForeignKey(
        "labeling.Project", on_delete=models.CASCADE, related_name="webhooks"
    )
    url = models.URLField(max_length=500)
    events = models.JSONField(default=list, help_text="Event names this URL receives.")
    secret = models.CharField(max_length=64, help_text="HMAC-SHA256 key of the signature header.")
    active = models.BooleanField(default=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return self.url


class WebhookDelivery(models.Model):
    """One event sent (or being sent) to one webhook: the delivery log."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        DELIVERED = "delivered", "Delivered"
        FAILED = "failed", "Failed"

    webhook = models.ForeignKey(Webhook, on_delete=models.CASCADE, related_name="deliveries")
    event = models.CharField(max_length=40)
    payload = models.JSONField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    error = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["webhook", "created_at"])]

    def __str__(self) -> str:
        return f"{self.event} to {self.webhook_id} ({self.status})"
