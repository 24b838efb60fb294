"""A visual detector through the model loop: people's boxes in, a ready version with COCO
AP, per-concept box thresholds and a promotion decision out; then a workflow run of the
live detector writes boxes (accepted and pending) through the one annotation writer."""

import io

import numpy as np
import pytest

from labeling.models import AnnotationSource, AnnotationStatus, Input, Split
from labeling.services.annotations import RegionSpec, annotation_create
from labeling.services.ingest import input_ingest
from labeling.services.statuses import inputs_status_refresh
from labeling.services.taxonomy import concept_create
from training.ml.synthetic import make_digits_set
from training.models import ModelVersion
from training.services.detection import box_concepts, box_examples
from training.services.versions import model_create, version_queue, version_train
from workflows.engine import plan_compile
from workflows.model_ports import portal_registry
from workflows.runners import runners_build, stored_images
from workflows.spec import parse

pytestmark = pytest.mark.django_db


def png(image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


@pytest.fixture
def boxed(project, admin):
    """Two box concepts and 12 synthetic images with their digits boxed: 8 train, 4 eval,
    and 3 more images with no label yet."""
    group = concept_create(project=project, name="digits", actor=admin, scope="regions")
    concepts = [
        concept_create(project=project, name=name, parent=group, actor=admin)
        for name in ("zero", "one")
    ]
    data = make_digits_set(15, classes=2, seed=3, size=(128, 96), digit_size=(28, 40))
    inputs = []
    for index, (image, boxes, classes) in enumerate(
        zip(data.images, data.boxes, data.classes, strict=True)
    ):
        input = input_ingest(project=project, name=f"s{index}.png", data=png(image)).input
        Input.objects.filter(id=input.id).update(
            split=Split.EVAL if index % 3 == 2 else Split.TRAIN
        )
        inputs.append(input)
        if index >= 12:
            continue
        annotation_create(
            project_id=project.id,
            input_id=input.id,
            source=AnnotationSource.IMPORT,
            status=AnnotationStatus.ACCEPTED,
            concept_ids=[],
            regions=[
                RegionSpec(concepts[int(k)].id, tuple(float(v) for v in box))
                for box, k in zip(boxes, classes, strict=True)
            ],
        )
    inputs_status_refresh(input_ids=[i.id for i in inputs])
    return concepts, inputs


def boxes_to_review(model_id: int) -> dict:
    """The live detector's every box (threshold 0, no doubt band) written pending review."""
    return {
        "nodes": [
            {"id": "input", "type": "input"},
            {
                "id": "detect",
                "type": "model",
                "model": {"type": "visual-detector", "id": model_id, "version": "live"},
                "inputs": [{"node_id": "input"}],
            },
            {
                "id": "boxes",
                "type": "region-thresholder",
                "inputs": [{"node_id": "detect"}],
                "params": {"source": "table", "default_threshold": 0.0, "doubt_band": 0},
            },
            {
                "id": "write",
                "type": "annotation-writer",
                "inputs": [
                    {"node_id": "boxes", "port": "passed"},
                    {"node_id": "boxes", "port": "passed_inputs"},
                ],
                "params": {"status": "pending_review", "band": "doubt"},
            },
        ]
    }


def test_boxed_inputs_are_the_detectors_examples(project, boxed):
    concepts, _ = boxed
    ids = [c.id for c in concepts]
    assert box_concepts(project) == ids
    train = box_examples(project, ids, split=Split.TRAIN)
    evaluation = box_examples(project, ids, split=Split.EVAL)
    assert (len(train), len(evaluation)) == (8, 4)
    assert train.boxes == sum(len(k) for _, k in train.targets) > 8
    boxes, classes = train.targets[0]
    assert boxes.shape[1] == 4 and set(classes.tolist()) <= {0, 1}


def test_a_detector_trains_evaluates_and_goes_live(project, admin, boxed):
    model = model_create(
        project=project,
        name="Digits detector",
        type="visual-detector",
        params={"image_size": 128, "epochs": 2, "batch_size": 4},
        actor=admin,
    )
    version = version_train(version_id=version_queue(model=model, actor=admin).id)

    assert version.status == ModelVersion.Status.READY, version.error
    assert version.metrics["kind"] == "regions"
    assert 0.0 <= version.metrics["map50"] <= 1.0
    assert set(version.thresholds) == {str(c.id) for c in boxed[0]}
    assert version.counts["train_inputs"] == 8 and version.counts["eval_inputs"] == 4
    assert version.promotion["promoted"] is True
    model.refresh_from_db()
    assert model.active_version_id == version.id

    document = boxes_to_review(model.id)
    workflow = parse(document)
    resolved = runners_build(project=project, workflow=workflow)
    plan = plan_compile(workflow, portal_registry())
    unlabeled = [i.id for i in boxed[1][12:]]

    result = plan.run(stored_images(unlabeled), runners=resolved.runners)

    regions = result.outputs["detect"]["regions"]
    assert len(regions.scores) > 0  # the score floor keeps some boxes of a 2-epoch model
    assert set(regions.concept_ids) <= {c.id for c in boxed[0]}
    assert np.all((regions.boxes >= -1e-6) & (regions.boxes <= 1 + 1e-6))
    assert regions.tuned is not None and regions.source["model"] == "Digits detector"
    assert result.rows and all(row.regions and not row.labels for row in result.rows)


def test_a_run_of_a_detector_workflow_reads_pixels_and_needs_no_embeddings(
    project, admin, boxed, settings, django_capture_on_commit_callbacks
):
    """A graph with no embedder (detector -> thresholder -> writer) runs on every open input,
    embedded or not: it used to skip them all when none had an embedding yet."""
    from labeling.models import Annotation
    from training.models import Embedding
    from workflows.models import WorkflowRun
    from workflows.services.runs import workflow_run_start
    from workflows.services.workflows import workflow_create

    settings.CELERY_TASK_ALWAYS_EAGER = True
    model = model_create(
        project=project,
        name="Digits detector",
        type="visual-detector",
        params={"image_size": 128, "epochs": 1, "batch_size": 4},
        actor=admin,
    )
    version_train(version_id=version_queue(model=model, actor=admin).id)
    unlabeled = [i.id for i in boxed[1][12:]]
    assert not Embedding.objects.filter(input_id__in=unlabeled).exists()
    document = boxes_to_review(model.id)
    workflow = workflow_create(project=project, name="Boxes", document=document, actor=admin)

    with django_capture_on_commit_callbacks(execute=True):
        run = workflow_run_start(workflow_version=workflow.versions.get(), actor=admin)

    run = WorkflowRun.objects.get(id=run.id)
    assert run.status == WorkflowRun.Status.DONE, run.error
    assert run.done == run.total == len(unlabeled) and not run.counts.get("skipped")
    written = Annotation.objects.filter(workflow_version_id=run.workflow_version_id)
    assert set(written.values_list("input_id", flat=True)) == set(unlabeled)
    assert all(a.regions.exists() for a in written)


def test_the_face_detector_writes_its_faces_as_the_concept_it_names(project, admin):
    from skimage import data

    from labeling.services.ingest import input_ingest as ingest
    from workflows.runners import RunnerError

    group = concept_create(project=project, name="people", actor=admin, scope="regions")
    face = concept_create(project=project, name="face", parent=group, actor=admin)
    scene = concept_create(project=project, name="scene", actor=admin)
    from PIL import Image

    astronaut = ingest(
        project=project, name="astronaut.png", data=png(Image.fromarray(data.astronaut()))
    ).input
    model = model_create(
        project=project, name="Faces", type="face-detector", params={}, actor=admin
    )
    document = {
        "nodes": [
            {"id": "input", "type": "input"},
            {
                "id": "faces",
                "type": "model",
                "model": {"type": "face-detector", "id": model.id},
                "inputs": [{"node_id": "input"}],
            },
        ]
    }
    workflow = parse(document)
    for wrong in (0, scene.id):
        model.params = {**model.params, "concept": wrong}
        model.save()
        with pytest.raises(RunnerError, match="set its “concept” parameter"):
            runners_build(project=project, workflow=workflow)

    model.params = {**model.params, "concept": face.id}
    model.save()
    resolved = runners_build(project=project, workflow=workflow)
    result = plan_compile(workflow, portal_registry()).run(
        stored_images([astronaut.id]), runners=resolved.runners
    )

    regions = result.outputs["faces"]["regions"]
    assert regions.concept_ids == (face.id,)
    x, y, w, h = regions.boxes[0]
    assert 0.3 < x + w / 2 < 0.6 and 0.1 < y + h / 2 < 0.35  # the astronaut's face


def test_a_detectors_ap_shows_in_the_api_and_its_page_and_it_predicts_boxes_on_a_worker(
    project, admin, boxed, settings, monkeypatch, django_capture_on_commit_callbacks
):
    from rest_framework.authtoken.models import Token
    from rest_framework.test import APIClient

    from training import api as models_api

    model = model_create(
        project=project,
        name="Digits detector",
        type="visual-detector",
        params={"image_size": 128, "epochs": 1, "batch_size": 4},
        actor=admin,
    )
    version_train(version_id=version_queue(model=model, actor=admin).id)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.get_or_create(user=admin)[0].key}")

    body = client.get(f"/api/v1/models/{model.id}/").json()
    metrics = body["active_version"]["metrics"]
    assert 0.0 <= metrics["map50"] <= 1.0 and metrics["eval_images"] == 4
    assert set(metrics["concepts"]) == {str(c.id) for c in boxed[0]}

    # its version page: COCO figures, the per-concept table and a PR chart with a slider
    from django.test import Client
    from django.urls import reverse

    browser = Client()
    browser.force_login(admin)
    page = browser.get(reverse("training:model_version_of", args=[project.id, model.id, 1]))
    assert page.status_code == 200
    html = page.content.decode()
    assert 'id="map50"' in html and "AP@0.5" in html and 'id="concept-metrics"' in html
    for concept in boxed[0]:
        assert f'id="pr-{concept.id}"' in html and f'id="thr-{concept.id}"' in html
    slider = reverse("training:model_threshold_of", args=[project.id, model.id, 1])
    answer = browser.get(slider, {"concept": boxed[0][0].id, "t": 0.3})
    assert answer.status_code == 200 and "precision" in answer.content.decode().lower()

    # a detector looks at the image: even a stored input is scored by a worker
    settings.CELERY_TASK_ALWAYS_EAGER = True
    monkeypatch.setattr(models_api, "PREDICT_WAIT_SECONDS", 0)  # the task runs on commit
    with django_capture_on_commit_callbacks(execute=True):
        queued = client.post(
            f"/api/v1/models/{model.id}/predict/", {"input_id": boxed[1][-1].id}, format="json"
        )
    assert queued.status_code == 202, queued.json()
    body = client.get(f"/api/v1/predictions/{queued.json()['id']}/").json()

    assert body["status"] == "done", body["error"]
    assert body["model_version"] == 1 and body["decision"] in {"auto", "doubt", "low"}
    assert body["regions"], "the score floor keeps some boxes of a 1-epoch model"
    keys = {c.key for c in boxed[0]}
    for region in body["regions"]:
        box = region["region_info"]["bounding_box"]
        assert 0 <= box["left_col"] < box["right_col"] <= 1
        assert 0 <= box["top_row"] < box["bottom_row"] <= 1
        (concept,) = region["data"]["concepts"]
        assert concept["id"] in keys and 0 <= concept["value"] <= 1
        assert region["decision"] in {"auto", "doubt", "low"}
    values = [r["data"]["concepts"][0]["value"] for r in body["regions"]]
    assert values == sorted(values, reverse=True)


def test_a_promoted_detector_routes_through_its_workflow_and_rolls_back(
    project, admin, boxed, settings
):
    from labeling.models import Annotation
    from training.services.embeddings import embeddings_compute
    from training.services.routing import version_rollback
    from workflows.services.routing import detector_route
    from workflows.services.runs import workflow_run_process

    settings.TRAINING_BACKBONE = "pixels16"
    embeddings_compute(project_id=project.id)
    model = model_create(
        project=project,
        name="Digits detector",
        type="visual-detector",
        params={"image_size": 128, "epochs": 2, "batch_size": 4},
        actor=admin,
    )
    version = version_train(version_id=version_queue(model=model, actor=admin).id)
    # a 2-epoch model's tuned thresholds are out of reach: pass every box it finds
    version.thresholds = {cid: {**t, "threshold": 0.0} for cid, t in version.thresholds.items()}
    version.save(update_fields=["thresholds"])

    run = detector_route(version_id=version.id)
    assert run.workflow_version.workflow.name == "Boxes by Digits detector"
    run = workflow_run_process(run_id=run.id)

    assert run.status == "done", run.error
    written = Annotation.objects.filter(model_version=version)
    unlabeled = {i.id for i in boxed[1][12:]}
    assert set(written.values_list("input_id", flat=True)) == unlabeled
    assert all(a.regions.exists() and not a.labels.exists() for a in written)
    assert {a.workflow_node for a in written} <= {"write_accepted", "write_spot_check"}

    counts = version_rollback(version=version, actor=admin)
    assert counts.automatic + counts.suggestions == len(unlabeled)
    assert not written.filter(status__in=["accepted", "pending_review"]).exists()


def test_the_face_detector_predicts_a_face_as_a_suggestion(project, admin):
    from PIL import Image
    from skimage import data

    from training.services.predictions import regions_describe

    group = concept_create(project=project, name="people", actor=admin, scope="regions")
    face = concept_create(project=project, name="face", parent=group, actor=admin)
    model = model_create(
        project=project, name="Faces", type="face-detector", params={}, actor=admin
    )
    model.params = {**model.params, "concept": face.id}

    body = regions_describe(model, None, Image.fromarray(data.astronaut()))

    # pre-built: no tuned thresholds, so a confident face is a suggestion for review
    assert body["model_version"] is None and body["decision"] == "doubt"
    (region,) = body["regions"]
    assert region["data"]["concepts"][0]["id"] == face.key
    assert region["data"]["concepts"][0]["threshold"] is None
    assert region["decision"] == "doubt"
    box = region["region_info"]["bounding_box"]
    assert 0.3 < (box["left_col"] + box["right_col"]) / 2 < 0.6
