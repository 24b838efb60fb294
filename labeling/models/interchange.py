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
