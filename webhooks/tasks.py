"""Celery tasks: take ids, load rows, call one service."""

from celery import shared_task

from webhooks.services import webhook_delivery_send


# The name it had in labeling, so deliveries queued (or waiting to retry) before webhooks had
# their own app are still run after an upgrade.
@shared_task(
    name="labeling.tasks.webhook_deliver_task", bind=True, acks_late=True, max_retries=None
)
def webhook_deliver_task(self, delivery_id: int) -> None:
    """Send one delivery; on failure retry with backoff (the service says when, or stop)."""
    retry_in = webhook_delivery_send(delivery_id=delivery_id)
    if retry_in is not None:
        raise self.retry(countdown=retry_in)
