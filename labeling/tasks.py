"""Celery tasks: take ids, load rows, call one service."""

from celery import shared_task

from labeling.services.ingest import upload_batch_process, upload_batches_resume_stale


@shared_task(acks_late=True)
def upload_batch_process_task(batch_id: int) -> None:
    upload_batch_process(batch_id=batch_id)


@shared_task
def upload_batches_resume_stale_task() -> None:
    upload_batches_resume_stale()


@shared_task(acks_late=True)
def interchange_job_task(job_id: int) -> None:
    from labeling.services.interchange import interchange_job_run

    interchange_job_run(job_id=job_id)


@shared_task
def interchange_jobs_resume_stale_task() -> None:
    from labeling.services.interchange import interchange_jobs_resume_stale

    interchange_jobs_resume_stale()


@shared_task(bind=True, acks_late=True, max_retries=None)
def webhook_deliver_task(self, delivery_id: int) -> None:
    """Send one delivery; on failure retry with backoff (the service says when, or stop)."""
    from labeling.services.webhooks import webhook_delivery_send

    retry_in = webhook_delivery_send(delivery_id=delivery_id)
    if retry_in is not None:
        raise self.retry(countdown=retry_in)
