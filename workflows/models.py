"""Stored workflows: a project's graphs, every saved edit as a new immutable version, and the
background jobs that run one (on the project's inputs, or as a dry run on one image)."""

from django.conf import settings
from django.db import models

from labeling.models.jobs import BackgroundJob


class Workflow(models.Model):
    """A named graph of a project. Its document lives in its versions; the latest is current."""

    project = models.ForeignKey(
        "labeling.Project", on_delete=models.CASCADE, related_name="workflows"
    )
    name = models.CharField(max_length=100)
    description = models.TextField(blank=True)
    is_default = models.BooleanField(
        default=False, help_text="The project's routing workflow (one per project)."
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-is_default", "name", "id"]
        constraints = [
            models.UniqueConstraint(fields=["project", "name"], name="workflow_unique_name"),
            # one default workflow per project; any number of others
            models.UniqueConstraint(
                fields=["project"], condition=models.Q(is_default=True), name="workflow_one_default"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class WorkflowVersion(models.Model):
    """One saved document of a workflow. Never changed after it is written: an edit is a
    new version, so annotations can name the exact graph that wrote them."""

    workflow = models.ForeignKey(Workflow, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    document = models.JSONField(help_text="The graph, in Clarifai's node_inputs shape.")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-number"]
        constraints = [
            models.UniqueConstraint(
                fields=["workflow", "number"], name="workflow_version_unique_number"
            )
        ]

    def __str__(self) -> str:
        return f"{self.workflow} v{self.number}"


class WorkflowRun(BackgroundJob):
    """A workflow version run on a worker: on the project's inputs (writes annotations, in
    batches, resumable from ``cursor``) or a dry run on one staged image (writes nothing;
    ``result`` holds every node's output)."""

    class Kind(models.TextChoices):
        RUN = "run", "Run"
        DRY_RUN = "dry_run", "Dry run"

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    workflow_version = models.ForeignKey(
        WorkflowVersion, on_delete=models.CASCADE, related_name="runs"
    )
    kind = models.CharField(max_length=8, choices=Kind.choices, default=Kind.RUN)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.QUEUED)
    input_ids = models.JSONField(
        null=True, blank=True, help_text="Run on these inputs only (else the project's open ones)."
    )
    total = models.PositiveIntegerField(default=0)
    done = models.PositiveIntegerField(default=0)
    cursor = models.BigIntegerField(
        default=0,
        help_text="Inputs up to this id are processed; committed with each batch, so a "
        "restarted run goes on from here.",
    )
    counts = models.JSONField(default=dict, blank=True, help_text="Rows written per node.")
    attempts = models.PositiveSmallIntegerField(
        default=0,
        help_text="Workers that started this run; a run whose worker died is sent again "
        "until WORKFLOWS_MAX_ATTEMPTS, then failed.",
    )
    file = models.CharField(max_length=500, blank=True, help_text="A dry run's staged image.")
    result = models.JSONField(default=dict, blank=True, help_text="A dry run's node outputs.")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta(BackgroundJob.Meta):
        indexes = [models.Index(fields=["workflow_version", "status"])]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.id} of {self.workflow_version}"

    @property
    def percent(self) -> int:
        if self.status == self.Status.DONE:
            return 100
        return int(100 * self.done / self.total) if self.total else 0
