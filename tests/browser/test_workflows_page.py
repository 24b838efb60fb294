"""Workflows in the browser: an admin builds a branching workflow (classifier ->
thresholder -> writer accepted / writer pending) with the page's own controls (add a node
after the selected one, its params and inputs in the side panel), sees validation errors on
the nodes, fixes them there, saves a new version, dry-runs a digit image and sees each
node's output on the graph, then runs it on the project and sees the progress finish.

Features are the cheap ``pixels16`` ones; Celery is eager here, so the dry run and the run
happen in the request that queues them (on commit, on this transactional database)."""

import json
import re

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


def node(page, node_id: str):
    return page.locator(f"#wf-graph [data-node={node_id}]")


def add(page, kind: str) -> None:
    """Add a node of ``kind`` after the selected one (it becomes the selected one)."""
    page.select_option("#wf-add-kind", kind)
    page.click("#wf-add")


def param(page, tag: str, name: str, value: str | None = None):
    """The selected node's param control in the side panel; with a value, typed in."""
    control = page.locator(f"#wf-panel-body {tag}[name='params.{name}']")
    if value is not None:
        control.fill(value)
        control.dispatch_event("change")
    return control


def wire(page, source: str, port: str) -> None:
    """Feed the selected writer the labels and inputs of ``source``'s ``port`` branch."""
    inputs = page.locator("#wf-panel-body textarea[name=inputs]")
    entries = [{"node_id": source, "port": port}, {"node_id": source, "port": f"{port}_inputs"}]
    inputs.fill(json.dumps(entries))
    inputs.dispatch_event("change")


def test_build_fix_save_try_and_run_a_branching_workflow(
    live, admin, live_server, new_context, tmp_path
):
    project, model = live
    page = new_context().new_page()
    login(page, live_server, admin.username, PASSWORD)

    # given a new workflow made on the Workflows tab (it starts as input -> embed -> classify)
    page.goto(f"{live_server.url}/projects/{project.id}/")
    page.get_by_role("link", name="Workflows").click()
    expect(page.locator("#workflows")).to_contain_text("Routing")
    page.fill("#wf-name", "Branching")
    page.click("#workflow-new button[type=submit]")
    expect(page.locator("#wf-graph [data-node=classify]")).to_be_visible()

    # when a thresholder is added after the classifier and set to a table with no threshold
    node(page, "classify").locator("rect").click()
    add(page, "concept-thresholder")
    threshold = node(page, "concept_thresholder")
    expect(threshold).to_be_visible()
    expect(page.locator("[data-edge='classify->concept_thresholder']")).to_have_count(1)
    param(page, "select", "source").select_option("table")

    # then the thresholder is outlined in red with the message on it and in the side panel
    expect(threshold).to_have_class(re.compile(r"\bhas-problem\b"))
    expect(threshold).to_contain_text("give thresholds per concept, or a default")
    expect(page.locator("#wf-panel-body .wf-panel-problem")).to_contain_text("params.table")
    shot(page, "workflows-problem")

    # when its params are set in the side panel
    param(page, "input", "default_threshold", "0")
    param(page, "input", "doubt_band", "0")
    expect(threshold).not_to_have_class(re.compile(r"\bhas-problem\b"))

    # and a writer is added after it, which cannot know which of its outputs to write
    add(page, "annotation-writer")
    accept = node(page, "annotation_writer")
    expect(accept).to_contain_text("say which output of 'concept_thresholder'")
    expect(page.locator("#wf-status")).to_contain_text("problem")

    # when the writer is wired to the passing labels and set to write them accepted
    wire(page, "concept_thresholder", "passed")
    param(page, "select", "status").select_option("accepted")
    param(page, "select", "band").select_option("auto")
    # and a second writer takes the doubtful ones, pending review
    threshold.locator("rect").click()
    add(page, "annotation-writer")
    wire(page, "concept_thresholder", "doubt")
    param(page, "select", "band").select_option("doubt")

    # then the branching graph is valid, both branches drawn, and it saves as a new version
    expect(page.locator("#wf-status")).to_have_text("Valid · not saved")
    expect(page.locator("#wf-graph .has-problem")).to_have_count(0)
    edge = "[data-edge='concept_thresholder:{}->{}']"
    expect(page.locator(edge.format("passed", "annotation_writer"))).to_have_count(1)
    expect(page.locator(edge.format("doubt", "annotation_writer_2"))).to_have_count(1)
    page.click("#wf-save")
    expect(page.locator("#wf-status")).to_have_text("Saved as v2")
    expect(page.locator("#wf-versions li")).to_have_count(2)
    workflow = Workflow.objects.get(project=project, name="Branching")
    saved = {n["id"]: n for n in workflow.versions.get(number=2).document["nodes"]}
    assert saved["concept_thresholder"]["params"] == {
        "source": "table",
        "default_threshold": 0,
        "doubt_band": 0,
    }
    assert saved["annotation_writer"]["params"] == {"status": "accepted", "band": "auto"}
    assert saved["annotation_writer_2"]["params"] == {"band": "doubt"}  # pending: the default
    assert saved["annotation_writer_2"]["inputs"][0] == {
        "node_id": "concept_thresholder",
        "port": "doubt",
    }

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
    expect(accept).to_contain_text("would write accepted")
    assert Annotation.objects.count() == before
    shot(page, "workflows-dry-run")

    # when it runs on the project, the progress finishes with the rows written per node
    page.click("#wf-run-button")
    expect(page.locator("#wf-run-status")).to_contain_text("Done", timeout=30_000)
    expect(page.locator("#wf-run .progress")).to_have_attribute("aria-valuenow", "100")
    expect(page.locator("#wf-run-status")).to_contain_text("annotation_writer:")
    written = Annotation.objects.filter(workflow_node="annotation_writer")
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
