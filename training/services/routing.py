"""Routing: the live version labels what it is sure of, suggests what it doubts, and leaves
the rest to the annotators (in active-learning order). Rollback undoes a version's labels.

Runs in batches (``TRAINING_ROUTE_BATCH`` inputs, one transaction each) with its progress in
``ModelVersion.routing``. See ``training.ml.routing`` for the rule itself.
"""

import numpy as np
from django.conf import settings
from django.db import transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from labeling.models import (
    Annotation,
    AnnotationSource,
    AnnotationStatus,
    Input,
    InputStatus,
)
from labeling.queue_rules import input_status
from labeling.review_rules import draw, model_first_tier
from labeling.services.annotations import ModelRow, annotations_bulk_insert, annotations_take_back
from labeling.services.errors import ServiceError
from labeling.services.queue import queue_slots_close_open, queue_slots_fill_project
from labeling.services.review import tier_rules
from labeling.services.statuses import inputs_status_set
from training.ml.routing import AUTO, DOUBT, route
from training.models import MLModel, ModelVersion
from training.selectors import RollbackCounts, rollback_counts, unconfirmed_labels
from training.services.embeddings import embeddings_load
from training.services.versions import version_head

Status = AnnotationStatus


def _candidates(project_id: int, version: ModelVersion) -> list[tuple[int, str]]:
    """Inputs (id, status) with no accepted label and no person's annotation waiting:
    unlabeled ones, and those only an older model's suggestion holds in review. Inputs this
    version already routed are left out, so a run started again (a redelivered task) goes on
    where it was."""
    human_pending = Annotation.objects.filter(
        input=OuterRef("pk"), status=Status.PENDING_REVIEW
    ).exclude(source=AnnotationSource.MODEL)
    routed = Annotation.objects.filter(
        input=OuterRef("pk"),
        model_version=version,
        status__in=[Status.PENDING_REVIEW, Status.ACCEPTED],
    )
    return list(
        Input.objects.filter(
            project_id=project_id, status__in=[InputStatus.UNLABELED, InputStatus.IN_REVIEW]
        )
        .exclude(Exists(human_pending))
        .exclude(Exists(routed))
        .order_by("id")
        .values_list("id", "status")
    )


def version_route(*, version_id: int) -> dict:
    """Route every candidate input with this version, if it is (still) the live one."""
    version = ModelVersion.objects.select_related("model__project").get(id=version_id)
    model = version.model
    if model.active_version_id != version.id or not model.routes:
        _progress(version, status="skipped", note="Not the live version any more.")
        return version.routing
    project = model.project
    head = version_head(version)
    layout = head.layout
    thresholds = [version.thresholds.get(str(c), {}).get("threshold") for c in layout.concept_ids]
    rules = tier_rules(project)
    candidates = _candidates(project.id, version)
    ids = [input_id for input_id, _ in candidates]
    # only an input in review can hold an older model's suggestion to retire
    in_review = {input_id for input_id, status in candidates if status == InputStatus.IN_REVIEW}
    tally = {"status": "running", "total": len(ids), "done": 0, AUTO: 0, DOUBT: 0, "low": 0}
    tally.update(spot_checks=0, started_at=timezone.now().isoformat())
    _progress(version, **tally)
    batch = settings.TRAINING_ROUTE_BATCH
    for start in range(0, len(ids), batch):
        routed_ids, features = embeddings_load(ids[start : start + batch])
        if routed_ids:
            probs = head.probabilities(features)
            bands, labels = route(probs, layout, thresholds, project.doubt_band)
            with transaction.atomic():
                if MLModel.objects.filter(id=model.id, active_version=version).exists():
                    _retire_older_suggestions(version, [i for i in routed_ids if i in in_review])
                    _write(version, project, rules, routed_ids, probs, bands, labels, tally)
        tally["done"] = min(len(ids), start + batch)
        _progress(version, **tally)
    queue_slots_fill_project(project=project)
    tally.update(status="done", finished_at=timezone.now().isoformat())
    _progress(version, **tally)
    transaction.on_commit(lambda: _refresh_priorities(project.id))
    return tally


def _progress(version: ModelVersion, **values) -> None:
    version.routing = {**version.routing, **values}
    ModelVersion.objects.filter(id=version.id).update(routing=version.routing)


def _refresh_priorities(project_id: int) -> None:
    from training.tasks import queue_priorities_task

    queue_priorities_task.delay(project_id)


def _write(version, project, rules, ids, probs, bands, labels, tally) -> None:
    """Write one batch: the new annotations, their labels, the inputs' statuses and slots."""
    concept_ids = list(version.layout["concept_ids"])
    keys = [str(c) for c in concept_ids]
    thresholds = [version.thresholds.get(key, {}).get("threshold") for key in keys]
    spot_rate = project.spot_check_rate
    scores = np.round(probs, 4).tolist()  # Python floats once, not one numpy scalar a label
    rows, statuses = [], {}
    for row, (input_id, band) in enumerate(zip(ids, bands.tolist(), strict=True)):
        if band not in (AUTO, DOUBT):
            # nothing of the model's stands: older suggestions were retired, slots stay open
            statuses[input_id] = input_status(accepted=False, waiting=False, open_slot=True)
            tally["low"] += 1
            continue
        spot = band == AUTO and draw(input_id, -version.id) < spot_rate
        tier = model_first_tier(band, spot, rules)
        columns = np.flatnonzero(labels[row]).tolist()
        rows.append(
            ModelRow(
                input_id=input_id,
                status=Status.ACCEPTED if tier is None else Status.PENDING_REVIEW,
                review_tier=tier or 0,
                band=band,
                provenance={
                    "version": version.number,
                    "model": version.model.name,
                    "scores": {keys[c]: scores[row][c] for c in columns},
                    "thresholds": {keys[c]: thresholds[c] for c in columns},
                    "spot_check": spot,
                },
                labels=[(concept_ids[c], scores[row][c]) for c in columns],
            )
        )
        # its open slots are closed below: the model answered for it
        statuses[input_id] = input_status(accepted=tier is None, waiting=True, open_slot=False)
        tally[band] += 1
        tally["spot_checks"] += int(spot)
    annotations_bulk_insert(project_id=project.id, version_id=version.id, rows=rows)
    queue_slots_close_open(input_ids=[row.input_id for row in rows])
    inputs_status_set(statuses=statuses)


def _retire_older_suggestions(version: ModelVersion, input_ids: list[int]) -> None:
    """Older versions' open suggestions on these inputs give way to this version's routing."""
    if input_ids:
        Annotation.objects.filter(
            input_id__in=input_ids, source=AnnotationSource.MODEL, status=Status.PENDING_REVIEW
        ).exclude(model_version=version).update(
            status=Status.SUPERSEDED, review_leased_to=None, updated_at=timezone.now()
        )


# ---------------------------------------------------------------------------- rollback


def version_rollback(*, version: ModelVersion, actor) -> RollbackCounts:
    """Take back the labels of a version that no person confirmed: its automatic labels and
    its open suggestions. Labels a reviewer approved stay accepted (they are a person's
    labels now). If the version is live, the version promoted before it (if any) goes live
    again. Returns what was taken back and what was kept."""
    with transaction.atomic():
        model = MLModel.objects.select_for_update().get(id=version.model_id)
        version = ModelVersion.objects.select_for_update().get(id=version.id)
        if version.promoted_at is None:
            raise ServiceError("This version never went live: it has no labels to take back.")
        counts = rollback_counts(version)
        annotations_take_back(
            project=model.project,
            annotation_ids=list(unconfirmed_labels(version).values_list("id", flat=True)),
            actor=actor,
            reason=f"{model.name} v{version.number} rolled back by {actor or 'the system'}",
        )
        queue_slots_fill_project(project=model.project)
        if model.active_version_id == version.id:
            model.active_version = (
                model.versions.filter(
                    status=ModelVersion.Status.READY,
                    promoted_at__isnull=False,
                    rolled_back_at__isnull=True,
                )
                .exclude(id=version.id)
                .order_by("-promoted_at")
                .first()
            )
            model.save(update_fields=["active_version"])
        version.rolled_back_at = timezone.now()
        version.routing = {
            **version.routing,
            "rolled_back": counts.taken_back,
            "rolled_back_automatic": counts.automatic,
            "rolled_back_suggestions": counts.suggestions,
            "rolled_back_kept": counts.kept,
            "rolled_back_by": str(actor) if actor else "",
        }
        version.save(update_fields=["rolled_back_at", "routing"])
        project_id = model.project_id
        transaction.on_commit(lambda: _refresh_priorities(project_id))
    return counts
