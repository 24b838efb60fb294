"""Celery tasks of workflows: take ids, call one service. Runs on the project go to the
``training`` queue (they load embeddings and write in batches), dry runs to the low-latency
``predict`` queue."""

from celery import shared_task


@shared_task(acks_late=True, queue="training")
def workflow_run_task(run_id: int) -> None:
    from workflows.services.runs import workflow_run_process

    workflow_run_process(run_id=run_id)


@shared_task(acks_late=True, queue="predict")
def workflow_dry_run_task(run_id: int) -> None:
    from workflows.services.runs import workflow_dry_run_process

    workflow_dry_run_process(run_id=run_id)
