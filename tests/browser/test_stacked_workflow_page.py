"""The stacked workflow in the browser: a live detector and a live classifier on crops, the
workflow detector -> cropper -> embedder -> classifier on crops -> thresholder -> writer;
an admin dry-runs a photo on the Workflows tab and sees a label on each detected box, then
runs it on the project and the labels are written as regions on the boxes.

Features are the cheap ``pixels16`` ones; Celery is eager here (as test_workflows_page)."""

import re

import pytest
from boxes import boxes_fill
from browser_helpers import login, shot
from django.urls import reverse
from factories import PASSWORD
from playwright.sync_api import expect

from labeling.models import Annotation, Region
from labeling.storage import media_path
from training.models import ModelVersion
from training.services.embeddings import embeddings_compute
from training.services.versions import model_create, version_queue
from workflows.default import stacked_workflow
from workflows.services.workflows import workflow_create


@pytest.fixture
def stacked(transactional_db, settings, project, admin):
    settings.TRAINING_BACKBONE = "pixels16"
    concepts, inputs, _ = boxes_fill(project, admin, count=30, boxed=24)
    embeddings_compute(project_id=project.id)
    detector = model_create(
        project=project,
        name="Digits detector",
        type="visual-detector",
        params={"image_size": 128, "epochs": 6, "batch_size": 4},
        actor=admin,
    )
    classifier = model_create(
        project=project,
        name="Digits on crops",
        type="context-classifier",
        params={"crops": 1, "steps": 300},
        actor=admin,
    )
    for model in (detector, classifier):
        version = version_queue(model=model, actor=admin)  # eager: trained on commit
        version.refresh_from_db()
        assert version.status == ModelVersion.Status.READY, version.error
    document = stacked_workflow(
        detector={"type": "visual-detector", "id": detector.id, "version": "live"},
        embedder={"type": "embedder", "version": "live"},
        classifier={"type": "context-classifier", "id": classifier.id, "version": "live"},
        box_threshold=0.2,
        label_threshold=0.5,
    )
    workflow = workflow_create(project=project, name="Box by box", document=document, actor=admin)
    return project, workflow, concepts, inputs, classifier


def test_a_dry_run_and_a_run_label_each_detected_box(
    stacked, admin, live_server, new_context, tmp_path
):
    project, workflow, concepts, inputs, classifier = stacked
    page = new_context().new_page()
    login(page, live_server, admin.username, PASSWORD)
    page.goto(f"{live_server.url}/projects/{project.id}/")
    page.get_by_role("link", name="Workflows").click()
    page.get_by_role("link", name="Box by box").click()
    expect(page.locator("#wf-graph [data-node=crop]")).to_be_visible()

    # when a photo with digits is dry-run
    photo = tmp_path / "photo.png"
    photo.write_bytes(media_path(inputs[-1].file).read_bytes())
    before = Annotation.objects.count()
    page.set_input_files("#wf-try-file", str(photo))
    page.click("#wf-try-button")

    # then the writer says it would label boxes, and each box's label is listed
    expect(page.locator("#wf-try-done")).to_contain_text("8 node outputs")
    expect(page.locator("#wf-graph [data-node=write]")).to_contain_text(
        re.compile(r"\d+ box(es)?\s*labeled\s*(zero|one) ×\d+")
    )
    rows = page.locator("#wf-try-regions tr.wf-region-label")
    expect(rows.first).to_be_visible()
    names = {c.name for c in concepts}
    for row in rows.all():
        label = row.locator("td").nth(3).inner_text()
        assert label in names
        assert float(row.locator("td").nth(4).inner_text()) >= 0.5
    assert Annotation.objects.count() == before  # a dry run writes nothing
    shot(page, "workflows-stacked-dry-run")

    # when it runs on the project, each written box carries its label as a child region
    page.click("#wf-run-button")
    expect(page.locator("#wf-run-status")).to_contain_text("Done", timeout=60_000)
    expect(page.locator("#wf-run-status")).to_contain_text("write:")
    written = Annotation.objects.filter(workflow_node="write")
    assert written.exists()
    children = Region.objects.filter(annotation__in=written, parent__isnull=False)
    assert children.exists()
    for child in children.select_related("parent"):
        assert child.box == child.parent.box
        assert child.concept_id in {c.id for c in concepts}
    shot(page, "workflows-stacked-run")

    # the classifier's version page counts the boxes it learned from
    page.goto(
        live_server.url + reverse("training:model_version_of", args=[project.id, classifier.id, 1])
    )
    expect(page.locator(".stats").first).to_contain_text("train boxes")
    expect(page.locator(".stats").first).to_contain_text("eval boxes")
