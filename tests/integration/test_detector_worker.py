"""A visual detector through the loop with a real worker: the boxes demo (204 of 240
photos boxed), training on the ``training`` queue, a ready version with COCO AP, live; its
workflow run writes accepted and pending boxes on the open photos; a rollback takes back what
no person confirmed.

On CI this runs with the file broker on SQLite, and with Redis on PostgreSQL. Training takes
about 4 minutes on 2 cores (600 steps at 256 px, the backbone frozen).
"""

import pytest
from django.contrib.auth import get_user_model
from polling import wait_for

from labeling.models import Annotation, AnnotationStatus, Input, Project
from training.demo import boxes_demo_detector, boxes_demo_load
from training.models import MLModel, ModelVersion
from training.services.routing import version_rollback
from training.services.versions import version_queue
from workflows.models import WorkflowRun

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]
Status = ModelVersion.Status
PHOTOS, BOXED = 240, 0.85


@pytest.fixture
def boxes_demo(db):
    admin = get_user_model().objects.create_user("boss", password="pw-123456789")
    project, _ = boxes_demo_load(admin=admin, count=PHOTOS, boxed=BOXED)
    # a target the demo's eval split (43 photos, 108 boxes) can show evidence for
    Project.objects.filter(id=project.id).update(
        target_precision=0.8, doubt_band=0.1, spot_check_rate=0.1
    )
    model = boxes_demo_detector(project)
    MLModel.objects.filter(id=model.id).update(
        params={"image_size": 256, "epochs": 15, "batch_size": 4}
    )
    return project, admin, model


def test_a_worker_trains_a_detector_that_boxes_the_open_photos_and_rolls_back(worker, boxes_demo):
    project, admin, model = boxes_demo
    open_ids = set(
        Input.objects.filter(project=project, status="unlabeled").values_list("id", flat=True)
    )
    assert len(open_ids) == PHOTOS - int(PHOTOS * BOXED)
    worker("default,training", OMP_NUM_THREADS="1", TRAINING_BACKBONE="pixels16")

    # when: a version is queued; the worker trains it on the training queue
    version = version_queue(model=model, actor=admin)
    wait_for(
        lambda: ModelVersion.objects.get(id=version.id).status in (Status.READY, Status.FAILED),
        1500,
        "training the detector",
    )
    version.refresh_from_db()

    # then: ready with COCO AP on the eval split, box thresholds per concept, and live
    assert version.status == Status.READY, version.error
    assert version.counts["train_inputs"] >= 150
    assert version.metrics["kind"] == "regions" and version.metrics["map50"] > 0.5
    tuned = [t for t in version.thresholds.values() if t["threshold"] is not None]
    assert tuned, version.thresholds
    model.refresh_from_db()
    assert model.active_version_id == version.id

    # and: its workflow runs over the open photos and writes accepted and pending boxes
    runs = WorkflowRun.objects.filter(workflow_version__workflow__project=project)
    wait_for(lambda: runs.exists() and runs.get().is_finished, 300, "the detector's workflow run")
    run = runs.get()
    assert run.status == WorkflowRun.Status.DONE, run.error
    assert run.done == run.total == len(open_ids) and not run.counts.get("skipped")
    mine = Annotation.objects.filter(model_version=version)
    assert set(mine.values_list("input_id", flat=True)) <= open_ids
    accepted = mine.filter(status=AnnotationStatus.ACCEPTED)
    pending = mine.filter(status=AnnotationStatus.PENDING_REVIEW)
    assert accepted.exists() and pending.exists(), run.counts
    assert all(a.regions.exists() for a in mine)
    assert not mine.filter(labels__isnull=False).exists(), "a detector writes boxes only"
    assert (
        not Input.objects.filter(id__in=accepted.values_list("input_id", flat=True))
        .exclude(status="labeled")
        .exists()
    )

    # when: the version is rolled back
    written = mine.count()
    taken = version_rollback(version=version, actor=admin)

    # then: every box it wrote is taken back; the photos are the annotators' again
    assert taken.taken_back == written and taken.kept == 0
    assert not mine.filter(
        status__in=[AnnotationStatus.ACCEPTED, AnnotationStatus.PENDING_REVIEW]
    ).exists()
    assert not Input.objects.filter(id__in=open_ids).exclude(status="unlabeled").exists()
