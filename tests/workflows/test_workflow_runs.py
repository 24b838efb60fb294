"""Running a workflow on a project's digits (pixel features, a trained live classifier):
the annotations written carry the workflow version and node, a restarted run goes on after
its last committed batch, and a dry run writes nothing and returns every node's output."""

import pytest
from conftest import branching
from digits import digits_data

from labeling.demo import digit_png
from labeling.models import Annotation, AnnotationStatus, Input, InputStatus
from labeling.services.errors import ServiceError
from workflows.models import WorkflowRun
from workflows.services.runs import (
    workflow_dry_run_create,
    workflow_dry_run_process,
    workflow_run_process,
    workflow_run_start,
)
from workflows.services.workflows import workflow_create

pytestmark = pytest.mark.django_db


def start(project, model, admin, django_capture_on_commit_callbacks, **document):
    workflow = workflow_create(
        project=project, name="Branching", document=branching(model.id, **document), actor=admin
    )
    with django_capture_on_commit_callbacks() as queued:
        run = workflow_run_start(workflow_version=workflow.versions.get(), actor=admin)
    assert len(queued) == 1  # the task goes out after commit
    return run


def test_a_run_writes_each_branch_with_its_provenance(
    live_digits, admin, django_capture_on_commit_callbacks
):
    project, model, version, _, unlabeled = live_digits()
    run = start(project, model, admin, django_capture_on_commit_callbacks, threshold=0.9995)

    run = workflow_run_process(run_id=run.id)

    assert run.status == WorkflowRun.Status.DONE and run.done == run.total == len(unlabeled)
    written = Annotation.objects.filter(provenance__workflow__version_id=run.workflow_version_id)
    by_node = {
        node: list(written.filter(provenance__workflow__node=node)) for node in ("accept", "review")
    }
    assert by_node["accept"] and by_node["review"]
    assert run.counts["accept"] == len(by_node["accept"])
    for a in by_node["accept"]:
        assert a.status == AnnotationStatus.ACCEPTED and a.model_version_id == version.id
        assert a.input.status == InputStatus.LABELED
        assert a.provenance["workflow"] == {
            "version_id": run.workflow_version_id,
            "number": 1,
            "node": "accept",
        }
        assert max(a.provenance["scores"].values()) >= 0.9995
    for a in by_node["review"]:
        assert a.status == AnnotationStatus.PENDING_REVIEW and a.review_tier == 1
        assert a.input.status == InputStatus.IN_REVIEW


def test_a_restarted_run_goes_on_after_its_last_batch_and_writes_nothing_twice(
    live_digits, admin, settings, django_capture_on_commit_callbacks
):
    project, model, _, _, unlabeled = live_digits()
    settings.WORKFLOWS_RUN_BATCH = 20
    run = start(project, model, admin, django_capture_on_commit_callbacks, threshold=0.0)
    # given a run that committed its first batch before its worker died
    ids = sorted(i.id for i in unlabeled)
    WorkflowRun.objects.filter(id=run.id).update(
        status=WorkflowRun.Status.RUNNING, cursor=ids[19], done=20
    )

    # when the task is delivered again
    run = workflow_run_process(run_id=run.id)

    # then only the inputs after the cursor were written, each once
    written = Annotation.objects.filter(provenance__workflow__version_id=run.workflow_version_id)
    assert sorted(written.values_list("input_id", flat=True)) == ids[20:]
    assert run.status == WorkflowRun.Status.DONE and run.done == run.total == len(ids)


def test_a_run_of_a_model_without_a_live_version_fails_clearly(
    project, admin, django_capture_on_commit_callbacks
):
    from training.services.versions import model_router_ensure

    model = model_router_ensure(project=project)
    run = start(project, model, admin, django_capture_on_commit_callbacks)

    run = workflow_run_process(run_id=run.id)

    assert run.status == WorkflowRun.Status.FAILED
    assert run.error == "node 'classify': Classifier has no live version yet: train it first."


def test_a_dry_run_writes_nothing_and_returns_every_nodes_output(
    live_digits, admin, django_capture_on_commit_callbacks
):
    project, model, version, concepts, _ = live_digits()
    workflow = workflow_create(
        project=project, name="Branching", document=branching(model.id, threshold=0.0), actor=admin
    )
    pixels, _ = digits_data(3, 1)
    before = (Annotation.objects.count(), Input.objects.count())
    with django_capture_on_commit_callbacks():
        run = workflow_dry_run_create(
            workflow_version=workflow.versions.get(), actor=admin, data=digit_png(pixels[0])
        )

    run = workflow_dry_run_process(run_id=run.id)

    assert run.status == WorkflowRun.Status.DONE, run.error
    nodes = run.result["nodes"]
    assert list(nodes) == ["input", "embed", "classify", "threshold", "accept", "review"]
    assert nodes["embed"]["embedding"]["dim"] == 16 * 16
    scores = nodes["classify"]["concepts"]["inputs"][0]
    assert {s["concept_id"] for s in scores} == {c.id for c in concepts.values()}
    assert nodes["classify"]["concepts"]["source"] == {
        "version": version.number,
        "model": "Classifier",
    }
    assert nodes["threshold"]["passed_inputs"] == {"type": "selection", "inputs": [True]}
    assert nodes["accept"]["rows"][0]["labels"][0]["concept_id"] == scores[0]["concept_id"]
    assert run.result["models"]["classify"] == f"Classifier v{version.number}"
    assert (Annotation.objects.count(), Input.objects.count()) == before


def test_a_dry_run_refuses_a_file_that_is_no_image(project, admin):
    from workflows.services.workflows import workflow_default_ensure

    workflow = workflow_default_ensure(project=project)

    with pytest.raises(ServiceError):
        workflow_dry_run_create(
            workflow_version=workflow.versions.get(), actor=admin, data=b"not an image"
        )
