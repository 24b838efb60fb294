"""Stale workflow runs: a run whose worker died (or whose message was lost) is sent again and
goes on after its last committed batch; out of attempts, it fails saying where it stopped.
The decision is pure and tested first without a database; then the beat's service."""

from datetime import UTC, datetime, timedelta

import pytest
from workflow_helpers import branching

from labeling.models import Annotation
from workflows.models import WorkflowRun
from workflows.services.runs import workflow_run_process, workflow_run_start, workflow_runs_stale
from workflows.services.workflows import workflow_create
from workflows.stale import StaleAction, may_start, stale_action, stopped_message

NOW = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
LIMIT = timedelta(minutes=10)


def decide(status="running", quiet=11, attempts=1, max_attempts=3, heartbeat=True):
    beat = NOW - timedelta(minutes=quiet)
    return stale_action(
        status=status,
        heartbeat_at=beat if heartbeat else None,
        created_at=beat,
        attempts=attempts,
        now=NOW,
        stale_after=LIMIT,
        max_attempts=max_attempts,
    )


# ---------------------------------------------------------------------------- the decision


def test_a_running_run_that_answered_recently_is_left_alone():
    assert decide(quiet=9) == StaleAction.WAIT


def test_a_silent_running_run_with_attempts_left_is_sent_again():
    assert decide(quiet=11, attempts=2, max_attempts=3) == StaleAction.RESEND


def test_a_silent_running_run_out_of_attempts_fails():
    assert decide(quiet=11, attempts=3, max_attempts=3) == StaleAction.FAIL


def test_a_queued_run_whose_message_was_lost_is_sent_again():
    assert decide(status="queued", quiet=30, attempts=0, heartbeat=False) == StaleAction.RESEND
    assert decide(status="queued", quiet=5, attempts=0, heartbeat=False) == StaleAction.WAIT


@pytest.mark.parametrize("status", ["done", "failed"])
def test_a_finished_run_is_never_touched(status):
    assert decide(status=status, quiet=1000, attempts=9) == StaleAction.WAIT


def test_a_delivered_task_takes_a_queued_run_or_a_silent_one_but_not_a_live_one():
    def start(status, quiet, attempts=1):
        return may_start(
            status=status,
            heartbeat_at=NOW - timedelta(minutes=quiet),
            attempts=attempts,
            now=NOW,
            stale_after=LIMIT,
            max_attempts=3,
        )

    assert start("queued", 0)
    assert not start("running", 1)  # a duplicate message while its worker is alive
    assert start("running", 11)  # redelivered after its worker died
    assert not start("running", 11, attempts=3)  # left to the stale check, which fails it
    assert not start("done", 11)


def test_the_message_says_where_the_run_stopped():
    assert stopped_message(done=1200, total=2000, attempts=3).startswith(
        "Stopped after 1,200 of 2,000 inputs: the worker stopped answering (3 attempts)."
    )


# ---------------------------------------------------------------------------- the service


@pytest.fixture
def killed_run(live_digits, admin, settings, django_capture_on_commit_callbacks):
    """A run whose worker committed its first batch of 20, then died an hour ago."""
    settings.WORKFLOWS_RUN_BATCH = 20
    project, model, _, _, unlabeled = live_digits()
    workflow = workflow_create(
        project=project, name="Branching", document=branching(model.id, threshold=0.0), actor=admin
    )
    with django_capture_on_commit_callbacks():
        run = workflow_run_start(workflow_version=workflow.versions.get(), actor=admin)
    ids = sorted(i.id for i in unlabeled)
    run.status, run.attempts, run.cursor, run.done, run.total = "running", 1, ids[19], 20, len(ids)
    run.heartbeat_at = datetime.now(UTC) - timedelta(hours=1)
    run.save()
    return run, ids


def test_a_run_whose_worker_died_is_sent_again_and_finishes_from_its_cursor(
    killed_run, django_capture_on_commit_callbacks
):
    run, ids = killed_run

    # when the beat's check runs
    with django_capture_on_commit_callbacks() as sent:
        tally = workflow_runs_stale()

    # then the run is queued again and its task sent once, after commit
    assert tally.resent == [run.id] and tally.failed == []
    assert len(sent) == 1
    run.refresh_from_db()
    assert run.status == WorkflowRun.Status.QUEUED
    # and a second check a minute later does not send it again
    assert workflow_runs_stale().resent == []

    # when the worker takes it: it goes on after the last committed batch
    run = workflow_run_process(run_id=run.id)
    assert run.status == WorkflowRun.Status.DONE and run.done == run.total == len(ids)
    assert run.attempts == 2
    written = Annotation.objects.filter(workflow_version_id=run.workflow_version_id)
    assert sorted(written.values_list("input_id", flat=True)) == ids[20:]


def test_a_run_out_of_attempts_fails_saying_where_it_stopped(killed_run, settings):
    run, ids = killed_run
    settings.WORKFLOWS_MAX_ATTEMPTS = 1

    tally = workflow_runs_stale()

    assert tally.failed == [run.id] and tally.resent == []
    run.refresh_from_db()
    assert run.status == WorkflowRun.Status.FAILED and run.finished_at
    assert run.error.startswith(
        f"Stopped after 20 of {len(ids)} inputs: the worker stopped answering (1 attempt)."
    )
    # and a late redelivery of its message writes nothing
    assert workflow_run_process(run_id=run.id).status == WorkflowRun.Status.FAILED
    assert not Annotation.objects.filter(workflow_version_id=run.workflow_version_id).exists()


def test_a_duplicate_message_while_the_worker_is_alive_writes_nothing(killed_run):
    run, _ = killed_run
    WorkflowRun.objects.filter(id=run.id).update(heartbeat_at=datetime.now(UTC))

    assert workflow_runs_stale().resent == []
    run = workflow_run_process(run_id=run.id)

    assert run.status == WorkflowRun.Status.RUNNING and run.done == 20 and run.attempts == 1
    assert not Annotation.objects.filter(workflow_version_id=run.workflow_version_id).exists()
