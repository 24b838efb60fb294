"""Running a workflow version: on the project's inputs (a background job writing
annotations batch after batch) or as a dry run on one uploaded image (writes nothing).

A run is resumable: each batch's annotations, the run's ``cursor`` (the last input id
done) and its progress commit in one transaction, so a redelivered or restarted task goes
on after the last committed batch and nothing is half-written or written twice.
"""

import time

import numpy as np
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from labeling.models import Concept, ConceptSynonym, Input, InputStatus
from labeling.services.errors import ServiceError
from labeling.services.ingest import image_stage
from labeling.services.review import tier_rules
from labeling.storage import media_path
from workflows.engine import NodeFailed, Plan, plan_compile
from workflows.model_ports import portal_registry
from workflows.models import WorkflowRun, WorkflowVersion
from workflows.outputs import result_json
from workflows.ports import Images
from workflows.runners import Pixels, Resolved, RunnerError, runners_build
from workflows.services.workflows import WorkflowRejected, workflow_validate
from workflows.services.writes import workflow_rows_write
from workflows.spec import Context, parse

RUN_BATCH = 2000  # inputs per batch (and per transaction); settings.WORKFLOWS_RUN_BATCH


def run_qs_select_for_update():
    return WorkflowRun.objects.select_for_update()


def _check(version: WorkflowVersion) -> None:
    problems = workflow_validate(project=version.workflow.project, document=version.document)
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
    return Context(
        input_ids=np.asarray(input_ids), workflow_version=version.id, seed=seed, synonyms=synonyms
    )


# ---------------------------------------------------------------------------- runs


def workflow_run_start(
    *, workflow_version: WorkflowVersion, input_ids: list[int] | None = None, actor=None
) -> WorkflowRun:
    """Queue a run of this version on the project's inputs (``input_ids``: only these).
    Without ``input_ids`` it takes the inputs that have no accepted label yet."""
    _check(workflow_version)
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


def workflow_run_process(*, run_id: int) -> WorkflowRun:
    """The worker's part: every candidate after the cursor, batch by batch."""
    run = WorkflowRun.objects.select_related("workflow_version__workflow__project").get(id=run_id)
    if run.status in (WorkflowRun.Status.DONE, WorkflowRun.Status.FAILED):
        return run
    version = run.workflow_version
    project = version.workflow.project
    try:
        plan, resolved = run_prepare(version)
    except (ServiceError, ValueError) as exc:
        return _fail(run, str(exc))
    remaining = list(_candidates(run, project.id).filter(id__gt=run.cursor))
    now = timezone.now()
    run.status, run.total = WorkflowRun.Status.RUNNING, run.done + len(remaining)
    run.started_at, run.heartbeat_at = run.started_at or now, now
    run.save(update_fields=["status", "total", "started_at", "heartbeat_at"])
    batch = getattr(settings, "WORKFLOWS_RUN_BATCH", RUN_BATCH)
    rules = tier_rules(project)
    from training.services.embeddings import embeddings_load

    for start in range(0, len(remaining), batch):
        ids = remaining[start : start + batch]
        embedded, vectors = embeddings_load(ids)
        written: dict[str, int] = {}
        if embedded:
            images = Images(np.asarray(embedded), pixels=Pixels(vectors=vectors))
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
            if locked.status != WorkflowRun.Status.RUNNING or locked.cursor >= ids[-1]:
                return locked  # failed by hand, or another delivery did this batch
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
    run.status, run.finished_at = WorkflowRun.Status.DONE, timezone.now()
    run.save(update_fields=["status", "finished_at"])
    return run


# ---------------------------------------------------------------------------- dry runs


def workflow_dry_run_create(
    *, workflow_version: WorkflowVersion, actor, data: bytes
) -> WorkflowRun:
    """Check and stage an image, and queue a dry run of this version on a worker."""
    _check(workflow_version)
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
