"""Workflows over the REST API: create, read, update (a new version), validate without
saving, delete, run on the project and poll it, post workflow results (a dry run),
membership and roles, and the schema listing every endpoint."""

import pytest
from digits import digits_data
from django.core.files.uploadedfile import SimpleUploadedFile
from factories import UserFactory
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient
from workflow_helpers import branching

import workflows.api as workflows_api
from labeling.demo import digit_png
from labeling.models import Annotation
from training.services.versions import model_router_ensure
from workflows.models import Workflow

pytestmark = pytest.mark.django_db


def api(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.get_or_create(user=user)[0].key}")
    return client


def test_create_read_update_and_delete(project, admin):
    client = api(admin)
    router = model_router_ensure(project=project)

    created = client.post(
        f"/api/v1/projects/{project.id}/workflows/",
        {"name": "Branching", "document": branching(router.id)},
        format="json",
    )
    workflow_id = created.json()["id"]
    updated = client.patch(
        f"/api/v1/workflows/{workflow_id}/",
        {"document": branching(router.id, threshold=0.9)},
        format="json",
    )
    listed = client.get(f"/api/v1/projects/{project.id}/workflows/")
    deleted = client.delete(f"/api/v1/workflows/{workflow_id}/")

    assert created.status_code == 201 and created.json()["version"] == 1
    assert updated.status_code == 200
    assert [v["number"] for v in updated.json()["versions"]] == [2, 1]
    assert updated.json()["document"]["nodes"][3]["params"]["default_threshold"] == 0.9
    assert {w["name"] for w in listed.json()} == {"Routing", "Branching"}
    assert deleted.status_code == 204 and not Workflow.objects.filter(id=workflow_id).exists()


def test_a_document_with_problems_is_refused_naming_the_node(project, admin):
    document = branching(123456)

    checked = api(admin).post(
        f"/api/v1/projects/{project.id}/workflows/validate/", {"document": document}, format="json"
    )
    refused = api(admin).post(
        f"/api/v1/projects/{project.id}/workflows/",
        {"name": "Bad", "document": document},
        format="json",
    )

    problem = {
        "node_id": "classify",
        "field": "model.id",
        "message": "model 123456 does not exist.",
    }
    assert checked.status_code == 200
    assert checked.json() == {"valid": False, "problems": [problem]}
    assert refused.status_code == 400 and refused.json()["problems"] == [problem]
    assert "node 'classify'" in refused.json()["error"]


def test_outsiders_see_nothing_and_annotators_cannot_write(project, admin, annotator):
    workflow = Workflow.objects.get(project=project, is_default=True)

    outsider = api(UserFactory()).get(f"/api/v1/workflows/{workflow.id}/")
    read = api(annotator).get(f"/api/v1/workflows/{workflow.id}/")
    write = api(annotator).patch(
        f"/api/v1/workflows/{workflow.id}/", {"name": "Mine"}, format="json"
    )
    listed = api(UserFactory()).get(f"/api/v1/projects/{project.id}/workflows/")

    assert outsider.status_code == 404 and listed.status_code == 404
    assert read.status_code == 200 and write.status_code == 403


def test_a_run_is_queued_and_polled(
    live_digits, admin, settings, django_capture_on_commit_callbacks
):
    settings.CELERY_TASK_ALWAYS_EAGER = True
    project, model, _, _, unlabeled = live_digits()
    created = api(admin).post(
        f"/api/v1/projects/{project.id}/workflows/",
        {"name": "Branching", "document": branching(model.id, threshold=0.0)},
        format="json",
    )

    with django_capture_on_commit_callbacks(execute=True):
        started = api(admin).post(
            f"/api/v1/workflows/{created.json()['id']}/runs/", {}, format="json"
        )
    polled = api(admin).get(f"/api/v1/workflows/runs/{started.json()['id']}/")

    assert started.status_code == 202 and started.json()["status"] == "queued"
    assert polled.json()["status"] == "done" and polled.json()["done"] == len(unlabeled)
    assert polled.json()["counts"]["accept"] == len(unlabeled)
    assert Annotation.objects.filter(workflow_node="accept").count() == len(unlabeled)


def test_results_dry_run_an_image_on_the_task(
    live_digits, admin, settings, monkeypatch, django_capture_on_commit_callbacks
):
    settings.CELERY_TASK_ALWAYS_EAGER = True
    project, model, _, _, _ = live_digits()
    workflow = Workflow.objects.get(project=project, is_default=True)
    monkeypatch.setattr(workflows_api, "RESULTS_WAIT_SECONDS", 0)
    pixels, _ = digits_data(3, 1)
    image = SimpleUploadedFile("d.png", digit_png(pixels[0]), content_type="image/png")

    with django_capture_on_commit_callbacks(execute=True):
        queued = api(admin).post(
            f"/api/v1/workflows/{workflow.id}/results/", {"file": image}, format="multipart"
        )
    answered = api(admin).get(f"/api/v1/workflows/runs/{queued.json()['id']}/")

    assert queued.status_code == 202 and queued.json()["kind"] == "dry_run"
    nodes = answered.json()["result"]["nodes"]
    assert answered.json()["status"] == "done"
    assert {"input", "embed", "classify", "threshold", "spot_check"} <= set(nodes)
    assert nodes["classify"]["concepts"]["inputs"][0][0]["key"] in {"0", "1", "2"}


def test_the_schema_lists_the_workflow_endpoints(client):
    paths = client.get("/api/v1/schema/", HTTP_ACCEPT="application/json").json()["paths"]

    for path in (
        "/api/v1/projects/{project_id}/workflows/",
        "/api/v1/projects/{project_id}/workflows/validate/",
        "/api/v1/workflows/{workflow_id}/",
        "/api/v1/workflows/{workflow_id}/runs/",
        "/api/v1/workflows/{workflow_id}/results/",
        "/api/v1/workflows/runs/{run_id}/",
    ):
        assert path in paths
    assert (
        "multipart/form-data"
        in paths["/api/v1/workflows/{workflow_id}/results/"]["post"]["requestBody"]["content"]
    )
