"""The loop on real digit images: embed, train, evaluate, promote, route, roll back."""

import pytest

from labeling.models import Annotation, AnnotationStatus
from training.models import ModelVersion
from training.services.embeddings import embedding_progress, embeddings_compute
from training.services.routing import version_rollback
from training.services.versions import model_router_ensure, version_queue, version_train
from workflows.services.routing import version_route

pytestmark = pytest.mark.django_db


def test_train_promote_route_and_roll_back(digits_project, admin):
    project, concepts, items = digits_project(classes=3, count=400, labeled=0.6)
    project.target_precision = 0.95
    project.save()

    assert embeddings_compute(project_id=project.id) == len(items)
    assert embedding_progress(project).complete

    model = model_router_ensure(project=project)
    version = version_queue(model=model, actor=admin)
    version = version_train(version_id=version.id)

    assert version.status == ModelVersion.Status.READY, version.error
    assert version.metrics["accuracy"] > 0.9
    model.refresh_from_db()
    assert model.active_version == version
    assert version.promotion["promoted"] is True

    tally = version_route(version_id=version.id)
    assert tally["status"] == "done"
    auto = Annotation.objects.filter(model_version=version, model_band="auto")
    assert auto.exists()
    assert tally["auto"] + tally["doubt"] + tally["low"] == tally["total"]

    taken = version_rollback(version=version, actor=admin)
    assert taken.taken_back == tally["auto"] + tally["doubt"]
    assert not Annotation.objects.filter(
        model_version=version,
        status__in=[AnnotationStatus.ACCEPTED, AnnotationStatus.PENDING_REVIEW],
    ).exists()
    model.refresh_from_db()
    assert model.active_version is None


def test_projects_missing_embeddings_lists_each_project_once(digits_project):
    from training.services.embeddings import projects_missing_embeddings

    project, _, items = digits_project(classes=2, count=20, labeled=0)

    assert projects_missing_embeddings() == [project.id]


def test_a_run_waiting_too_long_is_sent_again_once(digits_project, admin, settings):
    from datetime import timedelta

    from django.utils import timezone

    from training.services.versions import versions_resend_queued

    project, _, _ = digits_project(classes=2, count=10, labeled=1.0)
    version = version_queue(model=model_router_ensure(project=project), actor=admin)
    later = timezone.now() + timedelta(minutes=settings.TRAINING_STALE_MINUTES + 1)

    assert versions_resend_queued(now=timezone.now()) == []
    assert versions_resend_queued(now=later) == [version.id]
    assert versions_resend_queued(now=later) == []


def test_a_second_delivery_while_a_worker_trains_does_nothing(digits_project, admin):
    from django.utils import timezone

    project, _, _ = digits_project(classes=2, count=10, labeled=1.0)
    version = version_queue(model=model_router_ensure(project=project), actor=admin)
    ModelVersion.objects.filter(id=version.id).update(
        status=ModelVersion.Status.TRAINING, heartbeat_at=timezone.now(), attempts=1
    )

    assert version_train(version_id=version.id) is None
    version.refresh_from_db()
    assert (version.status, version.attempts) == (ModelVersion.Status.TRAINING, 1)
