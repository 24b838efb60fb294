"""The boxes demo: digits on photos with known boxes, a box group, and a detector to train."""

import pytest
from django.core.management import call_command

from labeling.models import Annotation, Concept, InputStatus, Region
from training.demo import (
    BOXES_DEMO_NAME,
    boxes_demo_crop_classifier,
    boxes_demo_detector,
    boxes_demo_load,
)
from training.models import ModelVersion
from training.services.detection import box_concepts

pytestmark = pytest.mark.django_db


def test_the_boxes_demo_is_loaded_once_with_boxed_images_and_a_detector(admin):
    project, created = boxes_demo_load(admin=admin, count=10, boxed=0.6)

    assert created and project.name == BOXES_DEMO_NAME
    assert project.inputs.count() == 10
    group = Concept.objects.get(project=project, parent=None)
    assert group.scope == Concept.Scope.REGIONS
    assert len(box_concepts(project)) == 3
    boxed = Annotation.objects.filter(project=project, status="accepted")
    assert boxed.count() == 6
    assert Region.objects.filter(annotation__in=boxed).count() >= 6
    assert project.inputs.filter(status=InputStatus.LABELED).count() == 6
    assert boxes_demo_detector(project).type == "visual-detector"
    crops = boxes_demo_crop_classifier(project)
    assert (crops.type, crops.params["crops"]) == ("context-classifier", 1)
    assert boxes_demo_load(admin=admin, count=10) == (project, False)


def test_the_command_queues_the_detectors_first_training(admin, monkeypatch):
    admin.is_superuser = True
    admin.save()
    from training import demo

    real = demo.boxes_demo_load
    monkeypatch.setattr(
        "training.management.commands.demo_boxes_load.boxes_demo_load",
        lambda *, admin: real(admin=admin, count=6),
    )
    call_command("demo_boxes_load")

    project = boxes_demo_load(admin=admin)[0]
    version = ModelVersion.objects.get(model=boxes_demo_detector(project))
    assert version.status == ModelVersion.Status.QUEUED
    crops = ModelVersion.objects.get(model=boxes_demo_crop_classifier(project))
    assert crops.status == ModelVersion.Status.QUEUED and crops.id < version.id  # seconds first


def test_the_models_tab_lists_detectors_and_trains_one(admin, client):
    admin.is_superuser = True
    admin.save()
    project, _ = boxes_demo_load(admin=admin, count=6)
    client.force_login(admin)
    url = f"/projects/{project.id}/models/"

    page = client.get(url)
    assert page.status_code == 200
    assert (
        "Detectors" in page.content.decode() and "Train Digit detector now" in page.content.decode()
    )

    detector = boxes_demo_detector(project)
    answer = client.post(f"/projects/{project.id}/detectors/{detector.id}/train/")
    assert answer.status_code == 302
    assert ModelVersion.objects.get(model=detector).status == ModelVersion.Status.QUEUED
    again = client.post(f"/projects/{project.id}/detectors/{detector.id}/train/", follow=True)
    assert "Version 1 is already queued" in again.content.decode()
