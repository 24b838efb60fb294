from django.conf import settings
from django.db import models

from labeling.models.jobs import BackgroundJob


class Split(models.TextChoices):
    TRAIN = "train", "Train"
    EVAL = "eval", "Eval"


class InputStatus(models.TextChoices):
    UNLABELED = "unlabeled", "Unlabeled"
    IN_REVIEW = "in_review", "In review"
    LABELED = "labeled", "Labeled"


class Input(models.Model):
    """An image in a project, stored once per project (by sha256)."""

    project = models.ForeignKey("labeling.Project", on_delete=models.CASCADE, related_name="inputs")
    sha256 = models.CharField(max_length=64)
    original_name = models.CharField(max_length=255)
    file = models.CharField(max_length=500, help_text="Path under MEDIA_ROOT.")
    thumbnail = models.CharField(max_length=500, help_text="Path under MEDIA_ROOT.")
    format = models.CharField(max_length=10)
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    byte_size = models.PositiveBigIntegerField()
    split = models.CharField(
        max_length=5, choices=Split.choices, help_text="Fixed at ingest from the hash."
    )
    status = models.CharField(
        max_length=12, choices=InputStatus.choices, default=InputStatus.UNLABELED
    )
    metadata = models.JSONField(default=dict, blank=True)
    gold_concept_ids = models.JSONField(
        null=True,
        blank=True,
        help_text="Known answer: a gold item, mixed unannounced into annotators' queues.",
    )
    batch = models.ForeignKey(
        "labeling.UploadBatch", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["project", "sha256"], name="input_unique_sha256")
        ]
        indexes = [models.Index(fields=["project", "split", "status"])]

    def __str__(self) -> str:
        return self.original_name


class UploadBatch(BackgroundJob):
    """Files received in one upload, processed by a background task with visible progress."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        PROCESSING = "processing", "Processing"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    project = models.ForeignKey(
        "labeling.Project", on_delete=models.CASCADE, related_name="upload_batches"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.QUEUED)
    total = models.PositiveIntegerField(default=0, help_text="Items known so far.")
    processed = models.PositiveIntegerField(default=0)
    folder_labels = models.BooleanField(
        default=False,
        help_text="Label each archive entry with its folder's name (the ImageFolder convention).",
    )
    unknown_folders = models.JSONField(
        default=dict,
        blank=True,
        help_text="Folder names that matched no concept, with how many files each held.",
    )

    def __str__(self) -> str:
        return f"Upload {self.id} ({self.status})"

    @property
    def percent(self) -> int:
        return int(100 * self.processed / self.total) if self.total else 0


class UploadItem(models.Model):
    """One file of a batch, or one entry of an archive in it, and what became of it."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        STORED = "stored", "Stored"
        DUPLICATE = "duplicate", "Duplicate"
        REJECTED = "rejected", "Rejected"
        EXPANDED = "expanded", "Archive expanded"
        METADATA = "metadata", "Metadata"

    batch = models.ForeignKey(UploadBatch, on_delete=models.CASCADE, related_name="items")
    name = models.CharField(max_length=500, help_text="File name, or archive/entry path.")
    staged = models.CharField(max_length=500, blank=True, help_text="Staged file under media.")
    member = models.CharField(max_length=500, blank=True, help_text="Entry inside the archive.")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    message = models.CharField(max_length=500, blank=True)
    input = models.ForeignKey(
        "labeling.Input", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["batch", "status"])]

    def __str__(self) -> str:
        return f"{self.name}: {self.status}"
