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
