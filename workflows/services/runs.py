"""Running a workflow version: on the project's inputs (a background job writing
annotations batch after batch) or as a dry run on one uploaded image (writes nothing).

A run is resumable: each batch's annotations, the run's ``cursor`` (the last input id
done) and its progress commit in one transaction, so a redelivered or restarted task goes
on after the last committed batch and nothing is half-written or written twice.
"""

import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np
from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from labeling.models import Concept, ConceptSynonym, Input, InputStatus
from labeling.services.errors import ServiceError
from labeling.services.ingest import image_stage
from labeling.services.review import tier_rules
from labeling.storage import media_path
from workflows.engine import NodeFailed, Plan, plan_compile
from workflows.model_ports import portal_registry
from workflows.models import WorkflowRun, WorkflowVersion
from workflows.operators.visual_searcher import OTHER_PROJECT, THIS_PROJECT
from workflows.outputs import result_json
from workflows.ports import Images
from workflows.runners import Pixels, Resolved, RunnerError, runners_build, stored_images
from workflows.services.workflows import (
    WorkflowRejected,
    searched_project_ids,
    workflow_validate,
)
from workflows.services.writes import workflow_rows_write
from workflows.spec import Context, parse
from workflows.stale import StaleAction, may_start, stale_action, stopped_message


def run_qs_select_for_update():
    return WorkflowRun.objects.select_for_update()


def _check(version: WorkflowVersion, actor) -> None:
    problems = workflow_validate(
        project=version.workflow.project, document=version.document, actor=actor
    )
    if problems:
        raise WorkflowRejected(problems)


def run_prepare(version: WorkflowVersion) -> tuple[Plan, Resolved]:
    workflow = parse(version.document)
    plan = plan_compile(workflow, portal_registry())
    return plan, runners_build(project=version.workflow.project, workflow=workflow)


def run_context(version: WorkflowVersion, input_ids, seed: int) -> Context:
    """The context of a run's first batch; later batches ``dataclasses.replace`` the ids."""
    synonyms = dict(
        ConceptSynonym.objects.filter(project_id=version.workflow.project_id).values_list(
            "normalized", "concept_id"
        )
    )
    from training.similar import ProjectSearch

    # another project's inputs: the run's start checked that its user can see them
    others = {
        f"{OTHER_PROJECT}{other}": ProjectSearch(other)
        for other in searched_project_ids(version.document)
    }
    return Context(
        input_ids=np.asarray(input_ids),
        workflow_version=version.id,
        seed=seed,
        synonyms=synonyms,
        indexes={THIS_PROJECT: ProjectSearch(version.workflow.project_id), **others},
    )


# ---------------------------------------------------------------------------- runs


def workflow_run_start(
    *, workflow_version: WorkflowVersion, input_ids: list[int] | None = None, actor=None
) -> WorkflowRun:
    """Queue a run of this version on the project's inputs (``input_ids``: only these).
    Without ``input_ids`` it takes the inputs that have no accepted label yet."""
    _check(workflow_version, actor)
    project_id = workflow_version.workflow.project_id
    if input_ids is not None:
        input_ids = sorted(set(input_ids))
        found = Input.objects.filter(project_id=project_id, id__in=input_ids).count()
        if found != len(input_ids):
            raise ServiceError("Some of these inputs are not in the workflow's project.")
    active = WorkflowRun.objects.filter(
        workflow_version__workflow_id=workflow_version.workflow_id,
        kind=WorkflowRun.Kind.RUN,
        status__in=[WorkflowRun.Status.QUEUED, WorkflowRun.Status.RUNNING],
    )
    if active.exists():
        raise ServiceError("This workflow is running already; wait for it to finish.")
    run = WorkflowRun.objects.create(
        workflow_version=workflow_version,
        kind=WorkflowRun.Kind.RUN,
        input_ids=input_ids,
        created_by=actor,
    )
    from workflows.tasks import workflow_run_task

    transaction.on_commit(lambda: workflow_run_task.delay(run.id))
    return run


def _candidates(run: WorkflowRun, project_id: int):
    inputs = Input.objects.filter(project_id=project_id)
    if run.input_ids is not None:
        inputs = inputs.filter(id__in=run.input_ids)
    else:
        inputs = inputs.exclude(status=InputStatus.LABELED)
    return inputs.order_by("id").values_list("id", flat=True)


def _fail(run: WorkflowRun, message: str) -> WorkflowRun:
    run.status, run.error, run.finished_at = (
        WorkflowRun.Status.FAILED,
        message[:2000],
        timezone.now(),
    )
    run.save(update_fields=["status", "error", "finished_at"])
    return run


def _stale_after() -> timedelta:
    return timedelta(minutes=settings.WORKFLOWS_STALE_MINUTES)


def _claim(run_id: int) -> WorkflowRun | None:
    """Take the run for this worker (one more attempt), or None when it is finished, out of
    attempts (the stale-run check fails it) or another live worker has it."""
    with transaction.atomic():
        run = (
            run_qs_select_for_update()
            .select_related("workflow_version__workflow__project")
            .get(id=run_id)
        )
        if not may_start(
            status=run.status,
            heartbeat_at=run.heartbeat_at,
            attempts=run.attempts,
            now=timezone.now(),
            stale_after=_stale_after(),
            max_attempts=settings.WORKFLOWS_MAX_ATTEMPTS,
        ):
            return None
        now = timezone.now()
        run.status, run.attempts = WorkflowRun.Status.RUNNING, run.attempts + 1
        run.started_at, run.heartbeat_at = run.started_at or now, now
        run.save(update_fields=["status", "attempts", "started_at", "heartbeat_at"])
    return run


def workflow_run_process(*, run_id: int) -> WorkflowRun:
    """The worker's part: every candidate after the cursor, batch by batch."""
    run = _claim(run_id)
    if run is None:
        return WorkflowRun.objects.get(id=run_id)
    version = run.workflow_version
    project = version.workflow.project
    try:
        plan, resolved = run_prepare(version)
    except (ServiceError, ValueError) as exc:
        return _fail(run, str(exc))
    remaining = list(_candidates(run, project.id).filter(id__gt=run.cursor))
    run.total = run.done + len(remaining)
    run.save(update_fields=["total"])
    batch = settings.WORKFLOWS_RUN_BATCH
    rules = tier_rules(project)
    from training.services.embeddings import embeddings_load

    for start in range(0, len(remaining), batch):
        if start and settings.WORKFLOWS_TEST_PAUSE:
            time.sleep(settings.WORKFLOWS_TEST_PAUSE)  # tests kill the worker here
        ids = remaining[start : start + batch]
        # a graph that reads stored embeddings runs on the inputs that have them (the rest
        # are counted skipped); one that only looks at pixels (a detector) runs on all
        embedded, vectors = embeddings_load(ids) if resolved.stored_embeddings else (ids, None)
        written: dict[str, int] = {}
        if embedded:
            images = stored_images(embedded, vectors)
            try:
                result = plan.run(
                    images,
                    runners=resolved.runners,
                    context=run_context(version, embedded, resolved.seed),
                )
            except (NodeFailed, RunnerError) as exc:
                return _fail(run, str(exc))
        with transaction.atomic():
            locked = run_qs_select_for_update().get(id=run.id)
            if locked.status != WorkflowRun.Status.RUNNING or locked.cursor != run.cursor:
                # failed by hand or by the stale-run check, or another worker took the run
                # over (it was re-sent while this one was slow): its batches, not ours
                return locked
            if embedded:
                written = workflow_rows_write(
                    project=project,
                    workflow_version=version,
                    rows_by_node=result.rows_by_node,
                    version_ids=resolved.version_ids,
                    rules=rules,
                )
            counts = dict(locked.counts)
            for node_id, n in written.items():
                counts[node_id] = counts.get(node_id, 0) + n
            counts["skipped"] = counts.get("skipped", 0) + len(ids) - len(embedded)
            locked.counts, locked.cursor = counts, ids[-1]
            locked.done, locked.heartbeat_at = locked.done + len(ids), timezone.now()
            locked.save(update_fields=["counts", "cursor", "done", "heartbeat_at"])
            run = locked
    with transaction.atomic():
        locked = run_qs_select_for_update().get(id=run.id)
        if locked.status != WorkflowRun.Status.RUNNING or locked.cursor != run.cursor:
            return locked
        locked.status, locked.finished_at = WorkflowRun.Status.DONE, timezone.now()
        locked.save(update_fields=["status", "finished_at"])
    return locked


# ---------------------------------------------------------------------------- stale runs


@dataclass
class StaleTally:
    resent: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)


def _send(run_id: int) -> None:
    from workflows.tasks import workflow_run_task

    workflow_run_task.delay(run_id)


def workflow_runs_stale(*, now: datetime | None = None) -> StaleTally:
    """The beat's check (every minute): runs whose worker stopped answering, or whose message
    was lost, are sent again and go on after their last committed batch; a run out of
    attempts is failed with where it stopped."""
    now = now or timezone.now()
    stale_after = _stale_after()
    limit = now - stale_after
    candidates = WorkflowRun.objects.filter(
        kind=WorkflowRun.Kind.RUN,
        status__in=[WorkflowRun.Status.QUEUED, WorkflowRun.Status.RUNNING],
    ).filter(Q(heartbeat_at__lt=limit) | Q(heartbeat_at__isnull=True, created_at__lt=limit))
    tally = StaleTally()
    for run_id in candidates.values_list("id", flat=True):
        with transaction.atomic():
            run = run_qs_select_for_update().get(id=run_id)
            action = stale_action(
                status=run.status,
                heartbeat_at=run.heartbeat_at,
                created_at=run.created_at,
                attempts=run.attempts,
                now=now,
                stale_after=stale_after,
                max_attempts=settings.WORKFLOWS_MAX_ATTEMPTS,
            )
            if action == StaleAction.FAIL:
                _fail(run, stopped_message(done=run.done, total=run.total, attempts=run.attempts))
                tally.failed.append(run.id)
            elif action == StaleAction.RESEND:
                # queued again with a fresh heartbeat: the next check waits for this message
                run.status, run.heartbeat_at = WorkflowRun.Status.QUEUED, now
                run.save(update_fields=["status", "heartbeat_at"])
                transaction.on_commit(lambda r=run.id: _send(r))
                tally.resent.append(run.id)
    return tally


# ---------------------------------------------------------------------------- dry runs


def workflow_dry_run_create(
    *, workflow_version: WorkflowVersion, actor, data: bytes
) -> WorkflowRun:
    """Check and stage an image, and queue a dry run of this version on a worker."""
    _check(workflow_version, actor)
    path = image_stage(data=data, folder=f"workflow-dry-runs/{workflow_version.id}")
    run = WorkflowRun.objects.create(
        workflow_version=workflow_version,
        kind=WorkflowRun.Kind.DRY_RUN,
        file=path,
        total=1,
        created_by=actor,
    )
    from workflows.tasks import workflow_dry_run_task

    transaction.on_commit(lambda: workflow_dry_run_task.delay(run.id))
    return run


def _concept_names(project_id: int) -> dict:
    return {
        c.id: {"key": c.key, "name": c.name}
        for c in Concept.objects.filter(project_id=project_id).only("id", "key", "name")
    }


def workflow_dry_run_process(*, run_id: int) -> WorkflowRun:
    """The worker's part: run the graph on the staged image; store every node's output."""
    from training.ml.features import image_open

    run = WorkflowRun.objects.select_related("workflow_version__workflow").get(id=run_id)
    if run.status != WorkflowRun.Status.QUEUED:
        return run
    version = run.workflow_version
    run.started_at = timezone.now()
    try:
        plan, resolved = run_prepare(version)
        image = image_open(media_path(run.file))
        images = Images(
            np.asarray([0]), np.asarray([image.size]), pixels=Pixels(images=[image.convert("RGB")])
        )
        result = plan.run(
            images, runners=resolved.runners, context=run_context(version, [0], resolved.seed)
        )
        run.result = {
            "nodes": result_json(result, _concept_names(version.workflow.project_id), plan.order),
            "models": resolved.versions,
        }
        run.status, run.done = WorkflowRun.Status.DONE, 1
    except (OSError, ValueError, ServiceError, NodeFailed) as exc:
        run.status, run.error = WorkflowRun.Status.FAILED, str(exc)[:2000]
        node_id = getattr(exc, "node_id", None)
        run.result = {"failed_node": node_id} if node_id else {}
    run.finished_at = timezone.now()
    run.save(update_fields=["status", "result", "error", "done", "started_at", "finished_at"])
    media_path(run.file).unlink(missing_ok=True)
    return run


def workflow_run_wait(run: WorkflowRun, seconds: float) -> WorkflowRun:
    """Poll the row until the worker answered or the time is up."""
    deadline = time.monotonic() + seconds
    while run.status == WorkflowRun.Status.QUEUED and time.monotonic() < deadline:
        time.sleep(0.05)
        run.refresh_from_db()
    return run
