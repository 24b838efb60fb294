"""The model loop with a real worker: EfficientNet-Lite0 embeddings of uploaded digits,
training on the ``training`` queue, routing, rollback; and a run killed mid-way.

On CI this runs with the file broker on SQLite, and with Redis on PostgreSQL.
"""

import signal

import pytest
from digits import digits_data, label_input
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile
from polling import wait_for

from labeling.demo import digit_png
from labeling.models import Annotation, AnnotationStatus, Input
from labeling.services.ingest import upload_batch_create
from labeling.services.projects import project_create
from labeling.services.taxonomy import concept_create
from training.models import Embedding, MLModel, ModelVersion
from training.services.embeddings import embeddings_compute
from training.services.routing import version_rollback
from training.services.versions import (
    model_router_ensure,
    version_queue,
    version_train,
    versions_fail_stale,
)

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]
Status = ModelVersion.Status


@pytest.fixture
def digits(db):
    admin = get_user_model().objects.create_user("boss", password="pw-123456789")
    project = project_create(name="Loop test", created_by=admin)
    project.target_precision = 0.95
    project.spot_check_rate = 0.2
    project.save()
    parent = concept_create(project=project, name="digit", exclusive=True, actor=admin)
    concepts = {
        d: concept_create(project=project, name=str(d), parent=parent, actor=admin)
        for d in range(3)
    }
    return project, admin, concepts


def test_upload_embed_train_route_and_roll_back(worker, digits):
    project, admin, concepts = digits
    data, targets = digits_data(3, 240)
    worker("default,training")
    # given: digits uploaded through the browser path; the worker stores and embeds them
    files = [SimpleUploadedFile(f"d{i}.png", digit_png(p)) for i, p in enumerate(data)]
    upload_batch_create(project=project, user=admin, files=files)
    wait_for(lambda: Embedding.objects.filter(project=project).count() == 240, 240, "embeddings")
    assert not Embedding.objects.filter(project=project).exclude(error="").exists()
    # and: 70 % of them labeled
    by_name = {i.original_name: i for i in Input.objects.filter(project=project)}
    for index, target in enumerate(targets[:168]):
        label_input(by_name[f"d{index}.png"], concepts[int(target)], author=admin)

    # when: a version is queued; the worker trains it on the training queue
    version = version_queue(model=model_router_ensure(project=project), actor=admin)
    wait_for(
        lambda: ModelVersion.objects.get(id=version.id).status in (Status.READY, Status.FAILED),
        180,
        "training",
    )
    version.refresh_from_db()

    # then: ready with metrics, promoted, and routed by the worker
    assert version.status == Status.READY, version.error
    assert version.metrics["accuracy"] > 0.8
    assert set(version.thresholds) == {str(c.id) for c in concepts.values()}
    assert MLModel.objects.get(project=project).active_version_id == version.id
    wait_for(
        lambda: ModelVersion.objects.get(id=version.id).routing.get("status") == "done",
        120,
        "routing",
    )
    version.refresh_from_db()
    mine = Annotation.objects.filter(model_version=version)
    assert version.routing["total"] == 72
    assert mine.filter(status=AnnotationStatus.ACCEPTED, model_band="auto").exists()
    assert mine.filter(status=AnnotationStatus.PENDING_REVIEW).count() == (
        version.routing["doubt"] + version.routing["spot_checks"]
    )

    # when: its labels are rolled back
    taken = version_rollback(version=version, actor=admin)

    # then: none of them stands, and the inputs are back with the annotators
    assert taken.taken_back == version.routing["auto"] + version.routing["doubt"]
    assert not mine.filter(
        status__in=[AnnotationStatus.ACCEPTED, AnnotationStatus.PENDING_REVIEW]
    ).exists()
    assert Input.objects.filter(project=project, status="unlabeled").count() == 72


def test_training_killed_mid_way_leaves_the_live_version(worker, digits, settings):
    settings.TRAINING_BACKBONE = "pixels16"
    project, admin, concepts = digits
    data, targets = digits_data(3, 150)
    from labeling.services.ingest import input_ingest

    for index, (pixels, target) in enumerate(zip(data, targets, strict=True)):
        stored = input_ingest(project=project, name=f"d{index}.png", data=digit_png(pixels)).input
        label_input(stored, concepts[int(target)], author=admin)
    embeddings_compute(project_id=project.id)
    model = model_router_ensure(project=project)
    MLModel.objects.filter(id=model.id).update(routes=False)  # no routing needed here
    first = version_train(version_id=version_queue(model=model, actor=admin).id)
    assert first.status == Status.READY and MLModel.objects.get(id=model.id).active_version == first

    # given: a worker that pauses mid-run
    slow = worker("default,training", TRAINING_BACKBONE="pixels16", TRAINING_TEST_PAUSE="60")
    second = version_queue(model=model, actor=admin)
    wait_for(
        lambda: ModelVersion.objects.get(id=second.id).stage == "Paused for a test", 120, "pause"
    )
    # when: the worker is killed there
    slow.send_signal(signal.SIGKILL)
    slow.wait(timeout=10)

    # then: the live version is untouched, and the stale-run check fails the run with a reason
    assert MLModel.objects.get(id=model.id).active_version_id == first.id
    assert ModelVersion.objects.get(id=second.id).status == Status.TRAINING
    ModelVersion.objects.filter(id=second.id).update(
        heartbeat_at=second.created_at.replace(year=2000)
    )
    assert versions_fail_stale() == [second.id]
    second.refresh_from_db()
    assert second.status == Status.FAILED and "stopped reporting" in second.error
    assert MLModel.objects.get(id=model.id).active_version_id == first.id

    # and: a new worker does not resurrect it; the next run trains normally
    worker("default,training", TRAINING_BACKBONE="pixels16")
    third = version_queue(model=model, actor=admin)
    wait_for(lambda: ModelVersion.objects.get(id=third.id).status == Status.READY, 120, "third")
    assert ModelVersion.objects.get(id=second.id).status == Status.FAILED
    assert MLModel.objects.get(id=model.id).active_version_id in (first.id, third.id)
