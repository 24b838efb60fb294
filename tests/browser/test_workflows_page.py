"""Workflows in the browser: an admin builds a branching workflow (classifier ->
thresholder -> writer accepted / writer pending), sees a validation error on its node,
fixes it in the side panel, saves a new version, dry-runs a digit image and sees each
node's output on the graph, then runs it on the project and sees the progress finish.

Features are the cheap ``pixels16`` ones; Celery is eager here, so the dry run and the run
happen in the request that queues them (on commit, on this transactional database)."""

import json

import pytest
from browser_helpers import console_errors, login, shot
from digits import digits_data, digits_fill
from factories import PASSWORD
from playwright.sync_api import expect

from labeling.demo import digit_png
from labeling.models import Annotation
from training.models import ModelVersion
from training.services.embeddings import embeddings_compute
from training.services.versions import model_router_ensure, version_queue
from workflows.models import Workflow


@pytest.fixture
def live(transactional_db, settings, project, admin):
    settings.TRAINING_BACKBONE = "pixels16"
    settings.TRAINING_THRESHOLD_MIN_KEPT = 3
    digits_fill(project, admin, classes=3, count=120, labeled=0.7)
    embeddings_compute(project_id=project.id)
    model = model_router_ensure(project=project)
    model.params = {"steps": 60, "learning_rate": 0.05}
    model.save(update_fields=["params"])
    version = version_queue(model=model, actor=admin)
    version.refresh_from_db()
    assert version.status == ModelVersion.Status.READY, version.error
    return project, model


def branching(model_id: int, accept_port: str) -> dict:
    def writer(node_id, port, status, band):
        return {
            "id": node_id,
            "type": "annotation-writer",
            "inputs": [
                {"node_id": "threshold", "port": port},
                {"node_id": "threshold", "port": f"{port}_inputs"},
            ],
            "params": {"status": status, "band": band},
        }

    return {
        "nodes": [
            {"id": "input", "type": "input"},
            {
                "id": "embed",
                "type": "model",
                "model": {"type": "embedder", "version": "live"},
                "inputs": [{"node_id": "input"}],
            },
            {
                "id": "classify",
                "type": "model",
                "model": {"type": "context-classifier", "id": model_id, "version": "live"},
                "inputs": [{"node_id": "embed"}],
            },
            {
                "id": "threshold",
                "type": "concept-thresholder",
                "inputs": [{"node_id": "classify"}],
                "params": {"source": "table", "default_threshold": 0.0, "doubt_band": 0.0},
            },
            {**writer("accept", accept_port, "accepted", "auto")},
            writer("review", "doubt", "pending_review", "doubt"),
        ]
    }


def test_build_fix_save_try_and_run_a_branching_workflow(
    live, admin, live_server, new_context, tmp_path
):
    project, model = live
    page = new_context().new_page()
    login(page, live_server, admin.username, PASSWORD)

    # given a new workflow made on the Workflows tab
    page.goto(f"{live_server.url}/projects/{project.id}/")
    page.get_by_role("link", name="Workflows").click()
    expect(page.locator("#workflows")).to_contain_text("Routing")
    page.fill("#wf-name", "Branching")
    page.click("#workflow-new button[type=submit]")
    expect(page.locator("#wf-graph [data-node=classify]")).to_be_visible()

    # when the branching graph is typed in with a wrong port on the accepting writer
    bad = branching(model.id, accept_port="passd")
    bad["nodes"][4]["inputs"] = [
        {"node_id": "threshold", "port": "passd"},
        {"node_id": "threshold", "port": "passed_inputs"},
    ]
    page.fill("#wf-document", json.dumps(bad))

    # then the writer is outlined in red with the message on it
    accept = page.locator("#wf-graph [data-node=accept]")
    expect(accept).to_have_class("wf-node has-problem")
    expect(accept).to_contain_text("'threshold' has no output 'passd'")
    expect(page.locator("#wf-status")).to_contain_text("2 problems")
    shot(page, "workflows-problem")

    # when it is fixed in the side panel and saved
    accept.locator("rect").click()
    inputs = page.locator("#wf-panel-body textarea[name=inputs]")
    inputs.fill(
        json.dumps(
            [
                {"node_id": "threshold", "port": "passed"},
                {"node_id": "threshold", "port": "passed_inputs"},
            ]
        )
    )
    inputs.dispatch_event("change")
    expect(page.locator("#wf-status")).to_have_text("Valid · not saved")
    expect(page.locator("#wf-graph .has-problem")).to_have_count(0)
    expect(page.locator("#wf-graph [data-edge='threshold:doubt->review']")).to_have_count(1)
    page.click("#wf-save")
    expect(page.locator("#wf-status")).to_have_text("Saved as v2")
    expect(page.locator("#wf-versions li")).to_have_count(2)
    workflow = Workflow.objects.get(project=project, name="Branching")
    assert workflow.versions.get(number=2).document["nodes"][4]["inputs"][0]["port"] == "passed"

    # when a digit is dry-run
    pixels, _ = digits_data(3, 1)
    image = tmp_path / "digit.png"
    image.write_bytes(digit_png(pixels[0]))
    before = Annotation.objects.count()
    page.set_input_files("#wf-try-file", str(image))
    page.click("#wf-try-button")

    # then every node shows its output on the graph, and nothing was written
    expect(page.locator("#wf-try-done")).to_contain_text("6 node outputs")
    expect(page.locator("#wf-graph .has-output")).to_have_count(6)
    expect(page.locator("#wf-graph [data-node=embed]")).to_contain_text("256-d vector")
    expect(page.locator("#wf-graph [data-node=classify]")).to_contain_text("concepts: ")
    expect(page.locator("#wf-graph [data-node=accept]")).to_contain_text("would write accepted")
    assert Annotation.objects.count() == before
    shot(page, "workflows-dry-run")

    # when it runs on the project, the progress finishes with the rows written per node
    page.click("#wf-run-button")
    expect(page.locator("#wf-run-status")).to_contain_text("Done", timeout=30_000)
    expect(page.locator("#wf-run .progress")).to_have_attribute("aria-valuenow", "100")
    expect(page.locator("#wf-run-status")).to_contain_text("accept:")
    written = Annotation.objects.filter(workflow_node="accept")
    assert written.count() > 0
    assert written.first().workflow_version.number == 2
    shot(page, "workflows-run")


def test_annotators_do_not_see_the_workflows_tab(project, annotator, live_server, new_context):
    page = new_context().new_page()
    login(page, live_server, annotator.username, PASSWORD)

    page.goto(f"{live_server.url}/projects/{project.id}/")
    expect(page.get_by_role("link", name="Workflows")).to_have_count(0)
    response = page.goto(f"{live_server.url}/projects/{project.id}/workflows/")
    assert response.status == 403


def test_a_refused_run_says_why_next_to_the_button(
    project, admin, live_server, new_context, transactional_db
):
    from workflows.models import WorkflowRun
    from workflows.services.workflows import workflow_default_ensure

    # given an admin on a workflow's page with no run going
    workflow = workflow_default_ensure(project=project)
    page = new_context().new_page()
    errors = console_errors(page)
    login(page, live_server, admin.username, PASSWORD)
    page.goto(f"{live_server.url}/projects/{project.id}/workflows/{workflow.id}/")
    expect(page.locator("#wf-run-button")).to_be_enabled()

    # when another admin starts a run meanwhile, and this one presses Run on project
    WorkflowRun.objects.create(
        workflow_version=workflow.versions.get(number=1), kind=WorkflowRun.Kind.RUN
    )
    page.click("#wf-run-button")

    # then the server's refusal (400) is shown where the admin acted, not only in the console
    expect(page.locator("#wf-run #wf-run-error")).to_have_text(
        "This workflow is running already; wait for it to finish."
    )
    assert WorkflowRun.objects.filter(workflow_version__workflow=workflow).count() == 1
    assert not [e for e in errors if "Response Status Error" in e], errors
    shot(page, "workflows-run-refused")
