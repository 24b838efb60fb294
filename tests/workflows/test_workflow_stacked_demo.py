"""The boxes demo's stacked workflow: saved once by its command, valid, and wired detector ->
region thresholder -> cropper -> embedder (crops) -> classifier on crops -> thresholder ->
writer."""

import pytest
from django.core.management import call_command

from training.demo import boxes_demo_crop_classifier, boxes_demo_detector, boxes_demo_load
from workflows.demo import STACKED_DEMO_NAME
from workflows.models import Workflow
from workflows.services.workflows import workflow_validate

pytestmark = pytest.mark.django_db


def test_the_command_saves_the_stacked_workflow_once(admin, capsys):
    admin.is_superuser = True
    admin.save()
    call_command("demo_stacked_load")
    assert "Load the boxes demo first" in capsys.readouterr().err

    project, _ = boxes_demo_load(admin=admin, count=6)
    call_command("demo_stacked_load")
    call_command("demo_stacked_load")

    workflow = Workflow.objects.get(project=project, name=STACKED_DEMO_NAME)
    assert workflow.versions.count() == 1 and not workflow.is_default
    document = workflow.versions.get().document
    assert workflow_validate(project=project, document=document) == []
    nodes = {n["id"]: n for n in document["nodes"]}
    assert nodes["detect"]["model"]["id"] == boxes_demo_detector(project).id
    assert nodes["classify"]["model"]["id"] == boxes_demo_crop_classifier(project).id
    assert [i["node_id"] for i in nodes["embed"]["inputs"]] == ["input", "crop"]
    assert [i["node_id"] for i in nodes["write"]["inputs"]] == ["labels", "crop", "boxes"]
    assert "already there" in capsys.readouterr().out
