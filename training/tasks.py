"""Celery tasks of the model loop: take ids, call one service.

Training, embedding and routing go to the ``training`` queue (``CELERY_TASK_ROUTES``), so a
GPU or big-CPU host can serve them alone.
"""

from celery import shared_task

from labeling.models import Project


@shared_task(acks_late=True)
def embed_project_task(project_id: int) -> int:
    from django.utils import timezone

    from labeling import hooks
    from training.services.embeddings import embeddings_compute

    since = timezone.now()
    stored = embeddings_compute(project_id=project_id)
    if stored:
        queue_priorities_task.delay(project_id)
        # the live version labels the new inputs (the workflows app routes them)
        hooks.announce(hooks.INPUTS_EMBEDDED, project_id=project_id, since=since)
    return stored


@shared_task(acks_late=True)
def train_version_task(version_id: int) -> None:
    from training.services.versions import version_train

    version_train(version_id=version_id)


@shared_task
def queue_priorities_task(project_id: int) -> int:
    from training.services.priorities import queue_priorities_refresh

    project = Project.objects.filter(id=project_id).first()
    return queue_priorities_refresh(project=project) if project else 0


@shared_task
def training_tick_task() -> None:
    """Every minute: fail stale runs, queue due retraining, resume missing embeddings."""
    from training.services.embeddings import projects_missing_embeddings
    from training.services.schedule import retrain_scheduled
    from training.services.search_index import projects_needing_index, search_index_request
    from training.services.versions import versions_fail_stale, versions_resend_queued

    versions_fail_stale()
    versions_resend_queued()
    retrain_scheduled()
    for project_id in projects_missing_embeddings():
        embed_project_task.delay(project_id)
    for project_id in projects_needing_index():
        search_index_request(project_id)


@shared_task(acks_late=True)
def predict_task(prediction_id: int) -> None:
    from training.services.predictions import prediction_run

    prediction_run(prediction_id=prediction_id)


@shared_task(acks_late=True)
def search_index_update_task(project_id: int) -> str:
    from training.services.search_index import search_index_update

    return search_index_update(project_id=project_id)


@shared_task
def query_embed_task(path: str) -> None:
    from training.services.image_search import query_embed

    query_embed(path=path)
