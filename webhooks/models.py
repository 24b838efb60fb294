"""Webhooks and their delivery log. The tables keep the names labeling gave them."""

from django.conf import settings
from django.db import models


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
        db_table = "labeling_webhook"  # made by labeling before webhooks had their own app
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
        db_table = "labeling_webhookdelivery"
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["webhook", "created_at"])]

    def __str__(self) -> str:
        return f"{self.event} to {self.webhook_id} ({self.status})"
