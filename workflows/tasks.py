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


# the name it had in training, so tasks queued before an upgrade still run
@shared_task(acks_late=True, queue="training", name="training.tasks.route_version_task")
def route_version_task(version_id: int) -> None:
    """Route the project's inputs with a newly live version (the default workflow)."""
    from workflows.services.routing import version_route

    version_route(version_id=version_id)


@shared_task(acks_late=True, queue="training")
def route_detector_task(version_id: int) -> None:
    """Start the run of a newly live detector's workflow over the unlabeled inputs."""
    from workflows.services.routing import detector_route

    detector_route(version_id=version_id)


@shared_task(acks_late=True, queue="training")
def route_new_inputs_task(version_id: int, since: str) -> None:
    """Route the inputs embedded since ``since`` (ISO time) with the live version."""
    from datetime import datetime

    from workflows.services.routing import version_route

    version_route(version_id=version_id, embedded_since=datetime.fromisoformat(since))


@shared_task
def workflow_runs_stale_task() -> dict:
    """Every minute (beat): send again the runs whose worker stopped answering, or fail them
    once out of attempts."""
    from workflows.services.runs import workflow_runs_stale

    tally = workflow_runs_stale()
    return {"resent": tally.resent, "failed": tally.failed}
