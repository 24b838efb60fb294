"""The retraining schedule against the database: a version is queued when enough new trusted
labels came in and the period passed, never twice at once, never while embedding."""

from datetime import timedelta

import pytest
from digits import label_input

from labeling.models import AnnotationSource, InputStatus
from labeling.services.ingest import input_ingest
from training.models import ModelVersion
from training.services.embeddings import embeddings_compute
from training.services.schedule import retrain_scheduled, retrain_state
from training.services.versions import model_router_ensure, version_queue

pytestmark = pytest.mark.django_db
Status = ModelVersion.Status


def scheduled_project(digits_project, *, min_labels=20, every_minutes=60):
    project, concepts, items = digits_project(classes=3, count=90, labeled=0.5)
    project.retrain_min_labels = min_labels
    project.retrain_every_minutes = every_minutes
    project.save(update_fields=["retrain_min_labels", "retrain_every_minutes"])
    embeddings_compute(project_id=project.id)
    return project, concepts, items


def label_more(items, concepts, n: int, **kwargs) -> None:
    unlabeled = [(i, d) for i, d in items if i.status == InputStatus.UNLABELED]
    assert len(unlabeled) >= n
    for input, digit in unlabeled[:n]:
        label_input(input, concepts[digit], **kwargs)


def finished(version: ModelVersion) -> ModelVersion:
    ModelVersion.objects.filter(id=version.id).update(status=Status.READY)
    version.refresh_from_db()
    return version


def test_given_labels_and_no_version_yet_then_one_is_queued_by_the_schedule(digits_project):
    project, _, _ = scheduled_project(digits_project)

    (version,) = retrain_scheduled()

    assert version.trigger == "schedule"
    assert version.status == Status.QUEUED
    assert version.created_by is None
    assert version.label_count == 45
    assert version.model == model_router_ensure(project=project)


def test_given_enough_new_labels_then_a_version_is_queued_once_the_period_passed(
    digits_project,
):
    project, concepts, items = scheduled_project(digits_project, min_labels=20)
    last = finished(retrain_scheduled()[0])
    label_more(items, concepts, 20)

    assert retrain_scheduled(now=last.created_at + timedelta(minutes=30)) == []
    (version,) = retrain_scheduled(now=last.created_at + timedelta(minutes=61))

    assert version.trigger == "schedule"
    assert version.number == last.number + 1
    assert version.label_count == 65


def test_given_too_few_new_labels_then_nothing_is_queued(digits_project):
    project, concepts, items = scheduled_project(digits_project, min_labels=20)
    last = finished(retrain_scheduled()[0])
    label_more(items, concepts, 19)

    assert retrain_scheduled(now=last.created_at + timedelta(days=1)) == []
    assert ModelVersion.objects.count() == 1


def test_given_a_run_going_on_then_no_second_one_is_queued(digits_project, admin):
    project, concepts, items = scheduled_project(digits_project, min_labels=20)
    running = version_queue(model=model_router_ensure(project=project), actor=admin)
    label_more(items, concepts, 30)

    for status in (Status.QUEUED, Status.TRAINING):
        ModelVersion.objects.filter(id=running.id).update(status=status)
        assert retrain_scheduled(now=running.created_at + timedelta(days=1)) == []
    assert ModelVersion.objects.count() == 1


def test_given_the_schedule_is_off_then_nothing_is_queued(digits_project):
    project, concepts, items = scheduled_project(digits_project, every_minutes=0)
    label_more(items, concepts, 30)

    assert retrain_scheduled() == []
    assert not ModelVersion.objects.exists()


def test_given_an_input_still_waiting_for_its_embedding_then_the_project_waits(
    digits_project, image_bytes
):
    project, _, _ = scheduled_project(digits_project)
    input_ingest(project=project, name="late.png", data=image_bytes(noise=True))

    assert retrain_scheduled() == []
    assert not ModelVersion.objects.exists()

    embeddings_compute(project_id=project.id)
    assert len(retrain_scheduled()) == 1


def test_retrain_state_counts_trusted_labels_since_the_last_version(digits_project, admin):
    project, concepts, items = scheduled_project(digits_project)
    assert retrain_state(project).new_labels == 45
    assert retrain_state(project).last_queued_at is None
    last = finished(version_queue(model=model_router_ensure(project=project), actor=admin))

    label_more(items, concepts, 7)
    label_more(items, concepts, 5, source=AnnotationSource.MODEL)  # unchecked: not counted

    state = retrain_state(project)
    assert state.new_labels == 7
    assert state.last_queued_at == last.created_at


def test_a_project_with_only_box_groups_does_not_queue_the_classifier(admin, settings):
    from training.demo import boxes_demo_load

    settings.TRAINING_BACKBONE = "pixels16"
    project, _ = boxes_demo_load(admin=admin, count=6)
    embeddings_compute(project_id=project.id)
    project.retrain_min_labels = 1
    project.save(update_fields=["retrain_min_labels"])

    assert retrain_scheduled() == []
