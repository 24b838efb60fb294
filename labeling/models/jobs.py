from django.db import models


class BackgroundJob(models.Model):
    """What every job a worker runs with visible progress records: when it was queued,
    started and finished, its heartbeat (a stale one is resumed or failed), its error."""

    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        abstract = True
        ordering = ["-created_at", "-id"]

    @property
    def is_finished(self) -> bool:
        return self.status in ("done", "failed")
