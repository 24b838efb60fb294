"""Routing: the project's default workflow run by the live version over every input that
needs it. The version labels what it is sure of, suggests what it doubts, and leaves the rest
to the annotators (in active-learning order); ``workflows.default`` draws the graph and
``training.ml.routing.route`` is the rule it reproduces.

Runs in batches (``TRAINING_ROUTE_BATCH`` inputs, one transaction each) with its progress in
``ModelVersion.routing``. Rolling a version's labels back is the model loop's
(``training.services.routing.version_rollback``).
"""

import logging
from dataclasses import replace

import numpy as np
from django.conf import settings
from django.db import transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from labeling.models import Annotation, AnnotationSource, AnnotationStatus, Input, InputStatus
from labeling.services.errors import ServiceError
from labeling.services.queue import queue_slots_fill_project
from labeling.services.review import tier_rules
from training.models import MLModel, ModelVersion
from training.services.embeddings import embeddings_load
from workflows.runners import stored_images
from workflows.services.runs import run_context, run_prepare, workflow_run_start
from workflows.services.workflows import workflow_default_current, workflow_detector_current
from workflows.services.writes import workflow_rows_write

Status = AnnotationStatus
# the default workflow's writers, and what routing counts of each (workflows.default)
ACCEPTED, SPOT_CHECK, DOUBT = "write_accepted", "write_spot_check", "write_doubt"
logger = logging.getLogger(__name__)


def _candidates(
    project_id: int, version: ModelVersion, embedded_since=None
) -> list[tuple[int, str]]:
    """Inputs (id, status) with no accepted label and no person's annotation waiting:
    unlabeled ones, and those only an older model's suggestion holds in review. Inputs this
    version already routed are left out, so a run started again (a redelivered task) goes on
    where it was. Only embedded inputs count; with ``embedded_since``, only those embedded
    from then on (new ones)."""
    human_pending = Annotation.objects.filter(
        input=OuterRef("pk"), status=Status.PENDING_REVIEW
    ).exclude(source=AnnotationSource.MODEL)
    routed = Annotation.objects.filter(
        input=OuterRef("pk"),
        model_version=version,
        status__in=[Status.PENDING_REVIEW, Status.ACCEPTED],
    )
    # only inputs with a good embedding: the others are routed once embedded (new inputs)
    inputs = Input.objects.filter(
        project_id=project_id,
        status__in=[InputStatus.UNLABELED, InputStatus.IN_REVIEW],
        embedding__error="",
        embedding__backbone=settings.TRAINING_BACKBONE,
    )
    if embedded_since is not None:
        inputs = inputs.filter(embedding__created_at__gte=embedded_since)
    return list(
        inputs.exclude(Exists(human_pending))
        .exclude(Exists(routed))
        .order_by("id")
        .values_list("id", "status")
    )


def version_route(*, version_id: int, embedded_since=None) -> dict:
    """Route every candidate input with this version through the project's default
    workflow, if the version is (still) the live one. With ``embedded_since`` only the
    inputs embedded from then on (new uploads): their tally adds to the version's."""
    version = ModelVersion.objects.select_related("model__project").get(id=version_id)
    model = version.model
    if model.active_version_id != version.id or not model.routes:
        _progress(version, status="skipped", note="Not the live version any more.")
        return version.routing
    project = model.project
    workflow_version = workflow_default_current(project=project)
    plan, resolved = run_prepare(workflow_version)
    rules = tier_rules(project)
    candidates = _candidates(project.id, version, embedded_since)
    ids = [input_id for input_id, _ in candidates]
    # only an input in review can hold an older model's suggestion to retire
    in_review = {input_id for input_id, status in candidates if status == InputStatus.IN_REVIEW}
    if embedded_since is not None:
        if not ids:
            return version.routing
        tally = _carried(version.routing, len(ids))
    else:
        tally = {"total": len(ids), "done": 0, "auto": 0, "doubt": 0, "low": 0, "spot_checks": 0}
    tally.update(status="running", started_at=timezone.now().isoformat())
    tally.update(workflow_version=workflow_version.number)
    _progress(version, **tally)
    batch = settings.TRAINING_ROUTE_BATCH
    context = None
    for start in range(0, len(ids), batch):
        routed_ids, features = embeddings_load(ids[start : start + batch])
        if routed_ids:
            images = stored_images(routed_ids, features)
            if context is None:  # the taxonomy's synonyms are read once per run
                context = run_context(workflow_version, routed_ids, resolved.seed)
            else:
                context = replace(context, input_ids=np.asarray(routed_ids))
            result = plan.run(images, runners=resolved.runners, context=context)
            rows = result.rows_by_node
            with transaction.atomic():
                # the model's row lock serialises routing runs of one version (promotion's
                # and new inputs'), so an input is never written twice by the same version
                live = MLModel.objects.select_for_update().filter(
                    id=model.id, active_version=version
                )
                if live.exists():
                    routed_ids, rows, answered = _not_routed_yet(version, routed_ids, rows)
                    _retire_older_suggestions(version, [i for i in routed_ids if i in in_review])
                    workflow_rows_write(
                        project=project,
                        workflow_version=workflow_version,
                        rows_by_node=rows,
                        version_ids=resolved.version_ids,
                        rules=rules,
                        unanswered=[i for i in routed_ids if i not in answered],
                    )
                    spot = len(rows.get(SPOT_CHECK, []))
                    tally["auto"] += len(rows.get(ACCEPTED, [])) + spot
                    tally["spot_checks"] += spot
                    tally["doubt"] += len(rows.get(DOUBT, []))
                    tally["low"] += len(routed_ids) - len(answered)
        tally["done"] = min(tally["total"], tally["done"] + len(ids[start : start + batch]))
        _progress(version, **tally)
    queue_slots_fill_project(project=project)
    tally.update(status="done", finished_at=timezone.now().isoformat())
    _progress(version, **tally)
    transaction.on_commit(lambda: _refresh_priorities(project.id))
    return tally


def _not_routed_yet(version, input_ids: list[int], rows: dict) -> tuple[list[int], dict, set]:
    """The batch without the inputs another run of this version routed meanwhile: their
    ids, the writers' rows and the inputs those rows answer."""
    done = set(
        Annotation.objects.filter(
            model_version=version,
            input_id__in=input_ids,
            status__in=[Status.PENDING_REVIEW, Status.ACCEPTED],
        ).values_list("input_id", flat=True)
    )
    if done:
        input_ids = [i for i in input_ids if i not in done]
        rows = {node: [r for r in rs if r.input_id not in done] for node, rs in rows.items()}
    answered = {row.input_id for node_rows in rows.values() for row in node_rows}
    return input_ids, rows, answered


def _carried(routing: dict, more: int) -> dict:
    """The version's tally so far, with ``more`` inputs to route on top."""
    tally = {k: routing.get(k, 0) for k in ("total", "done", "auto", "doubt", "low", "spot_checks")}
    tally["total"] += more
    return tally


def _progress(version: ModelVersion, **values) -> None:
    version.routing = {**version.routing, **values}
    ModelVersion.objects.filter(id=version.id).update(routing=version.routing)


def _refresh_priorities(project_id: int) -> None:
    from training.tasks import queue_priorities_task

    queue_priorities_task.delay(project_id)


def _retire_older_suggestions(version: ModelVersion, input_ids: list[int]) -> None:
    """Older versions' open suggestions on these inputs give way to this version's routing."""
    if input_ids:
        Annotation.objects.filter(
            input_id__in=input_ids, source=AnnotationSource.MODEL, status=Status.PENDING_REVIEW
        ).exclude(model_version=version).update(
            status=Status.SUPERSEDED, review_leased_to=None, updated_at=timezone.now()
        )


def detector_route(*, version_id: int):
    """Route with a newly live detector: a run of its workflow (``workflows.default.
    detector_workflow``) over the inputs with no accepted label, in the background. None
    when the version is no longer live or a run of that workflow is going on already."""
    version = ModelVersion.objects.select_related("model__project").get(id=version_id)
    if version.model.active_version_id != version.id:
        return None
    workflow_version = workflow_detector_current(model=version.model)
    try:
        return workflow_run_start(workflow_version=workflow_version)
    except ServiceError as exc:
        logger.info("detector %s not routed: %s", version.model_id, exc)
        return None
