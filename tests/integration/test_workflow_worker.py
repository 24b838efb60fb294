"""A user-made workflow run by a real worker on 200 digits; and a worker killed mid-run,
whose run the stale-run check sends again and a new worker finishes from its last batch.

On CI this runs with the file broker on SQLite, and with Redis on PostgreSQL.
"""

import signal
from collections import Counter
from datetime import timedelta

import pytest
from digits import digits_fill
from django.contrib.auth import get_user_model
from polling import wait_for

from labeling.models import Annotation, AnnotationStatus, Input, InputStatus
from labeling.services.projects import project_create
from training.models import MLModel, ModelVersion
from training.services.embeddings import embeddings_compute
from training.services.versions import model_router_ensure, version_queue, version_train
from workflows.models import WorkflowRun
from workflows.services.runs import workflow_run_start
from workflows.services.workflows import workflow_create
from workflows.tasks import workflow_runs_stale_task

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]
Status = WorkflowRun.Status
PIXELS = {"TRAINING_BACKBONE": "pixels16"}


@pytest.fixture
def digits(db, settings):
    """300 digits of 3 classes, the first 100 labeled, embedded with the cheap pixel features,
    the classifier trained and live (not routing, so the 200 others wait for the workflow)."""
    settings.TRAINING_BACKBONE = "pixels16"
    admin = get_user_model().objects.create_user("boss", password="pw-123456789")
    project = project_create(name="Workflow worker test", created_by=admin)
    _, _, items = digits_fill(project, admin, classes=3, count=300, labeled=1 / 3)
    embeddings_compute(project_id=project.id)
    model = model_router_ensure(project=project)
    MLModel.objects.filter(id=model.id).update(routes=False, params={"steps": 60})
    model.refresh_from_db()
    version = version_train(version_id=version_queue(model=model, actor=admin).id)
    assert version.status == ModelVersion.Status.READY, version.error
    model.refresh_from_db()
    assert model.active_version_id == version.id
    open_ids = sorted(i.id for i, _ in items if i.status == InputStatus.UNLABELED)
    assert len(open_ids) == 200
    return project, admin, model, open_ids


def branching(model_id: int) -> dict:
    """What a user builds on the Workflows tab: classifier -> thresholder (above 0.8:
    accepted; 0.5 to 0.8: pending review; below: left to the annotators)."""

    def writer(node_id, port, status, band):
        inputs = [{"node_id": "threshold", "port": p} for p in (port, f"{port}_inputs")]
        params = {"status": status, "band": band}
        return {"id": node_id, "type": "annotation-writer", "inputs": inputs, "params": params}

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
                "params": {"source": "table", "default_threshold": 0.8, "doubt_band": 0.3},
            },
            writer("accept", "passed", "accepted", "auto"),
            writer("review", "doubt", "pending_review", "doubt"),
        ]
    }


def run_branching(project, admin, model) -> WorkflowRun:
    document = branching(model.id)
    workflow = workflow_create(project=project, name="Branching", document=document, actor=admin)
    return workflow_run_start(workflow_version=workflow.versions.get(), actor=admin)


def run_row(run) -> WorkflowRun:
    return WorkflowRun.objects.get(id=run.id)


def written_by(run):
    return Annotation.objects.filter(workflow_version_id=run.workflow_version_id)


def assert_answered_or_left(run, open_ids):
    """Each input at most one annotation from this run, from the writer of its branch;
    the others are left to the annotators."""
    written = written_by(run)
    per_input = Counter(written.values_list("input_id", flat=True))
    assert set(per_input) <= set(open_ids)
    assert max(per_input.values()) == 1, "an input was written twice"
    for node, status in (("accept", AnnotationStatus.ACCEPTED), ("review", "pending_review")):
        mine = written.filter(workflow_node=node)
        assert mine.count() == run.counts.get(node, 0)
        assert not mine.exclude(status=status).exists()
    assert written.count() == sum(run.counts.get(n, 0) for n in ("accept", "review"))
    left = Input.objects.filter(id__in=set(open_ids) - set(per_input))
    assert not left.exclude(status=InputStatus.UNLABELED).exists()
    return written


def test_a_worker_runs_a_branching_workflow_on_200_digits(worker, digits):
    project, admin, model, open_ids = digits
    worker("default,training", **PIXELS)

    # when: a user-made branching workflow is run on the project
    run = run_branching(project, admin, model)
    wait_for(lambda: run_row(run).is_finished, 180, "the workflow run")

    # then: done, every open input answered by one branch or left
    run = run_row(run)
    assert run.status == Status.DONE, run.error
    assert run.done == run.total == 200 and run.attempts == 1
    written = assert_answered_or_left(run, open_ids)
    assert run.counts["accept"] > 0 and run.counts["review"] > 0
    # and: every label names the workflow version and node that wrote it, and its model
    assert not written.exclude(workflow_node__in=["accept", "review"]).exists()
    assert set(written.values_list("model_version_id", flat=True)) == {model.active_version_id}
    accepted = written.filter(workflow_node="accept").values_list("input_id", flat=True)
    assert not Input.objects.filter(id__in=accepted).exclude(status=InputStatus.LABELED).exists()


def test_a_worker_killed_mid_run_is_resumed_and_writes_nothing_twice(worker, digits):
    project, admin, model, open_ids = digits
    batches = {"WORKFLOWS_RUN_BATCH": "20", **PIXELS}
    # given: a worker that pauses after each batch of 20
    slow = worker("default,training", WORKFLOWS_TEST_PAUSE="60", **batches)
    run = run_branching(project, admin, model)
    wait_for(lambda: run_row(run).done >= 20, 120, "the first batch")

    # when: the worker is killed there
    slow.send_signal(signal.SIGKILL)
    slow.wait(timeout=10)

    # then: the first batch is committed whole, nothing after it; the run looks alive
    run = run_row(run)
    assert (run.status, run.done, run.cursor) == (Status.RUNNING, 20, open_ids[19])
    assert_answered_or_left(run, open_ids[:20])
    assert not written_by(run).filter(input_id__gt=run.cursor).exists()

    # when: a new worker is up and the beat's stale check finds the silent run
    worker("default,training", **batches)
    WorkflowRun.objects.filter(id=run.id).update(heartbeat_at=run.heartbeat_at - timedelta(hours=1))
    assert workflow_runs_stale_task() == {"resent": [run.id], "failed": []}
    wait_for(lambda: run_row(run).is_finished, 180, "the resumed run")

    # then: it went on after its last batch and ended done; no input written twice
    run = run_row(run)
    assert run.status == Status.DONE, run.error
    assert run.done == run.total == 200 and run.attempts == 2
    assert_answered_or_left(run, open_ids)
