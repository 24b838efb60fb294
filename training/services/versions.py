"""Training runs: queue a version, train and evaluate it, promote it or say why not.

A run is idempotent by its version row: a version that is ``ready`` or ``failed`` is never
trained again, and nothing reaches the model's ``active_version`` before the last,
single-transaction promotion step, so a run killed anywhere leaves the live version as it was.
"""

import logging
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import numpy as np
from django.conf import settings
from django.db import IntegrityError, models, transaction
from django.utils import timezone

from labeling import hooks
from labeling.models import Input, Project, Split
from labeling.services.errors import ServiceError
from training.ml.evidence import out_of_fold
from training.ml.head import Head, decision_scores
from training.ml.layout import Layout
from training.ml.metrics import evaluate
from training.ml.promotion import promotion_decide
from training.ml.thresholds import tune_layout
from training.model_types import CONTEXT_CLASSIFIER, TypeSpec, model_type
from training.models import MLModel, ModelType, ModelVersion
from training.selectors import labeled_examples, project_layout, trusted_label_count
from training.services.embeddings import embeddings_load

logger = logging.getLogger(__name__)
Status = ModelVersion.Status
# A new version goes live unless its macro F1 on the eval split is lower than the active
# version's on the same inputs by more than this (noise of a re-run on the same data).
PROMOTION_TOLERANCE = 0.005


class RunStopped(Exception):
    """The version row changed under a running job (failed by the stale-run check)."""


# ---------------------------------------------------------------------------- models


def model_create(*, project: Project, name: str, type: str, params: dict | None, actor) -> MLModel:
    try:
        spec = model_type(type)
        cleaned = spec.clean(params)
    except ValueError as exc:
        raise ServiceError(str(exc)) from exc
    name = name.strip()
    if not name:
        raise ServiceError("Give the model a name.")
    if MLModel.objects.filter(project=project, name=name).exists():
        raise ServiceError(f"The project already has a model called “{name}”.")
    return MLModel.objects.create(
        project=project, name=name, type=spec.key, params=cleaned, created_by=actor
    )


def model_router_ensure(*, project: Project) -> MLModel:
    """The project's routing classifier, created with default parameters on first use."""
    model = MLModel.objects.filter(project=project, routes=True).first()
    if model is not None:
        return model
    try:
        with transaction.atomic():
            return MLModel.objects.create(
                project=project,
                name="Classifier",
                type=ModelType.CONTEXT_CLASSIFIER,
                params=CONTEXT_CLASSIFIER.defaults(),
                routes=True,
            )
    except IntegrityError:
        return MLModel.objects.get(project=project, routes=True)


# ---------------------------------------------------------------------------- queueing


def version_queue(
    *, model: MLModel, actor=None, trigger: str = "manual", input_ids: list[int] | None = None
) -> ModelVersion:
    """Queue a training run; only one run per model at a time."""
    if not model_type(model.type).trainable:
        raise ServiceError(f"A {model.get_type_display().lower()} has nothing to train.")
    with transaction.atomic():
        MLModel.objects.select_for_update().get(id=model.id)
        running = model.versions.filter(status__in=[Status.QUEUED, Status.TRAINING]).first()
        if running is not None:
            raise ServiceError(f"Version {running.number} is already {running.status}.")
        last = model.versions.order_by("-number").values_list("number", flat=True).first()
        version = ModelVersion.objects.create(
            model=model,
            number=(last or 0) + 1,
            trigger=trigger,
            created_by=actor,
            input_ids=input_ids,
            label_count=trusted_label_count(model.project),
            stage="Waiting for a worker",
        )
        transaction.on_commit(lambda: _send(version.id))
    return version


def _send(version_id: int) -> None:
    from training.tasks import train_version_task

    train_version_task.delay(version_id)


# ---------------------------------------------------------------------------- training


def _start(version_id: int) -> ModelVersion | None:
    """Mark the run as started (one more attempt), or None when there is nothing to do."""
    with transaction.atomic():
        version = ModelVersion.objects.select_for_update().get(id=version_id)
        if version.status in (Status.READY, Status.FAILED):
            return None
        if version.status == Status.TRAINING and not _is_stale(version, timezone.now()):
            return None  # another worker is on it (a re-sent message)
        if version.attempts >= settings.TRAINING_MAX_ATTEMPTS:
            _fail(version, f"Stopped after {version.attempts} attempts: the worker died each time.")
            return None
        now = timezone.now()
        version.status = Status.TRAINING
        version.attempts += 1
        version.started_at = now
        version.heartbeat_at = now
        version.progress = 0.0
        version.stage = "Loading labels"
        version.error = ""
        version.save()
    return version


def _report(version: ModelVersion, progress: float, stage: str) -> None:
    updated = ModelVersion.objects.filter(id=version.id, status=Status.TRAINING).update(
        progress=progress, stage=stage, heartbeat_at=timezone.now()
    )
    if not updated:
        raise RunStopped(f"version {version.id} is no longer training")


def _fail(version: ModelVersion, message: str) -> None:
    ModelVersion.objects.filter(id=version.id).update(
        status=Status.FAILED, error=message, finished_at=timezone.now(), stage="Failed"
    )
    version.status, version.error = Status.FAILED, message


@dataclass
class Dataset:
    labels: dict[int, set[int]]  # input id → accepted label set
    ids: list[int]  # those with an embedding (or every one, for images), in feature order
    features: Any  # (n, d) embeddings, or the inputs' images (``InputImages``), as consumed

    @property
    def waiting(self) -> int:
        return len(self.labels) - len(self.ids)

    def targets(self, layout: Layout) -> tuple[np.ndarray, np.ndarray]:
        return layout.targets([self.labels[i] for i in self.ids])


def _dataset(
    project: Project, split: str, input_ids, spec: TypeSpec, params: dict, layout: Layout
) -> Dataset:
    """The split's labeled inputs with what the type consumes: their embeddings, or, for a
    type that consumes images, the images themselves (loaded lazily, at the type's
    ``image_size``); for a classifier on crops, the labeled boxes' crops, embedded (its
    rows are boxes, keyed by region id)."""
    if params.get("crops"):
        from training.services.crops import crop_examples, crops_embed

        crops = crop_examples(project, layout, split=split, input_ids=input_ids)
        return Dataset(crops.labels, crops.region_ids, crops_embed(crops))
    labels = labeled_examples(project, split=split, input_ids=input_ids)
    if "image" in spec.consumes:
        from training.services.detection import InputImages

        ids = sorted(labels)
        files = dict(Input.objects.filter(id__in=ids).values_list("id", "file"))
        return Dataset(labels, ids, InputImages([files[i] for i in ids], params["image_size"]))
    ids, features = embeddings_load(sorted(labels))
    return Dataset(labels, ids, features)


@dataclass(frozen=True)
class Trained:
    """What a finished run stores on its version, whatever the model type."""

    counts: dict
    layout: dict
    artifact: bytes
    metrics: dict
    thresholds: dict
    decision: dict


def version_train(*, version_id: int) -> ModelVersion | None:
    """Train, evaluate, tune thresholds, then promote or say why not. The task's body.
    Types that score concepts share ``_train_concepts``; detectors (types producing regions)
    train in ``training.services.detection``."""
    version = _start(version_id)
    if version is None:
        return None
    try:
        spec = model_type(version.model.type)
        if spec.train is None:
            raise ServiceError(
                f"A {version.model.get_type_display().lower()} has nothing to train."
            )
        try:
            params = spec.clean(version.model.params)
        except ValueError as exc:
            raise ServiceError(str(exc)) from exc
        if "regions" in spec.produces:
            from training.services.detection import detector_train

            trained = detector_train(
                version,
                spec,
                params,
                lambda progress, stage: _report(version, progress, stage),
                PROMOTION_TOLERANCE,
            )
        else:
            trained = _train_concepts(version, spec, params)
    except RunStopped:
        return None
    except ServiceError as exc:
        _fail(version, str(exc))
        return version
    except Exception as exc:
        logger.exception("training version %s failed", version.id)
        _fail(version, f"{type(exc).__name__}: {exc}")
        raise
    # Ready and the promotion decision commit together: nobody sees a ready version whose
    # fate is still open, and a run killed before this point changed nothing live.
    with transaction.atomic():
        updated = ModelVersion.objects.filter(id=version.id, status=Status.TRAINING).update(
            status=Status.READY,
            progress=1.0,
            stage="Ready",
            finished_at=timezone.now(),
            counts=trained.counts,
            layout=trained.layout,
            head=trained.artifact,
            metrics=trained.metrics,
            thresholds=trained.thresholds,
            promotion=trained.decision,
        )
        if not updated:
            return None
        version.refresh_from_db()
        hooks.announce(hooks.MODEL_VERSION_CHANGED, version=version, event="model_version.ready")
        if trained.decision["promoted"]:
            version_promote(version=version, actor=None, decision=trained.decision)
    version.refresh_from_db()
    return version


def _train_concepts(version: ModelVersion, spec: TypeSpec, params: dict) -> Trained:
    """A type that scores concepts: from embeddings (the context classifier) or from images
    (the deep classifier); its ``predict`` gives the probabilities evaluation, thresholds and
    promotion work on, the same for both."""
    project = version.model.project
    crops = bool(params.get("crops"))
    layout = project_layout(project, regions=crops)
    if not layout.width:
        raise ServiceError(
            "The project has no box concepts for a classifier on crops: make a concept group "
            "draw boxes."
            if crops
            else "The project has no concepts to learn."
        )
    if crops:
        _report(version, 0.02, "Embedding the crops of labeled boxes")
    train = _dataset(project, Split.TRAIN, version.input_ids, spec, params, layout)
    evaluation = _dataset(project, Split.EVAL, version.input_ids, spec, params, layout)
    _check_enough(train, evaluation, "labeled boxes" if crops else "labeled inputs")
    _report(version, 0.05, spec.train_stage)
    y, known = train.targets(layout)

    def progress(fraction: float, detail: str = "") -> None:
        stage = f"{spec.train_stage}: {detail}" if detail else spec.train_stage
        _report(version, 0.05 + 0.8 * fraction, stage[:100])

    artifact = spec.train(
        features=train.features,
        y=y,
        known=known,
        layout=layout,
        params=params,
        progress=progress,
        evaluation=(evaluation.features, *evaluation.targets(layout)),
    )
    if settings.TRAINING_TEST_PAUSE:
        _report(version, 0.5, "Paused for a test")
        time.sleep(settings.TRAINING_TEST_PAUSE)
    extra = _out_of_fold_evidence(version, spec, params, train, layout)
    _report(version, 0.9, "Evaluating on the eval split")
    metrics, thresholds = _evaluate(
        spec, artifact, evaluation, layout, project.target_precision, extra
    )
    if getattr(artifact, "curves", None) is not None:  # per epoch, for the version page
        metrics["curves"] = artifact.curves.to_dict()
    counts = {
        "examples": "boxes" if crops else "inputs",  # what the rows are, for the pages
        "train_inputs": len(train.ids),
        "eval_inputs": len(evaluation.ids),
        "waiting_for_embedding": train.waiting + evaluation.waiting,
        "train_per_concept": _per_concept(y, known, layout),
        "eval_per_concept": _per_concept(*evaluation.targets(layout), layout),
    }
    decision = _promotion_decision(version.model_id, metrics.get("macro_f1"), evaluation)
    return Trained(
        counts=counts,
        layout=layout.to_dict(),
        artifact=artifact.to_bytes(),
        metrics=metrics,
        thresholds=thresholds,
        decision=decision,
    )


def _check_enough(train: Dataset, evaluation: Dataset, what: str = "labeled inputs") -> None:
    if len(train.ids) < 2:
        waiting = f" ({train.waiting} wait for their embedding)" if train.waiting else ""
        raise ServiceError(f"Not enough {what} in the train split: {len(train.ids)}{waiting}.")
    if not evaluation.ids:
        raise ServiceError(f"No {what} in the eval split to evaluate on.")


def _per_concept(y: np.ndarray, known: np.ndarray, layout: Layout) -> dict[str, int]:
    positives = (y * known).sum(axis=0)
    return {str(cid): int(positives[i]) for i, cid in enumerate(layout.concept_ids)}


def _out_of_fold_evidence(
    version: ModelVersion, spec: TypeSpec, params: dict, train: Dataset, layout: Layout
) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """Threshold evidence from the train split: out-of-fold decision scores with their
    targets (``training.ml.evidence``), for a type that refits in seconds; else None."""
    folds = settings.TRAINING_THRESHOLD_FOLDS
    if not spec.cheap_refit or folds < 2:
        return None
    y, known = train.targets(layout)

    def fit(features, y_fold, known_fold):
        return spec.train(
            features=features,
            y=y_fold,
            known=known_fold,
            layout=layout,
            params=params,
            progress=lambda *_args, **_kw: None,
        )

    probs = out_of_fold(
        fit,
        spec.predict,
        train.features,
        y,
        known,
        folds,
        progress=lambda f: _report(version, 0.85 + 0.05 * f, "Cross-validating thresholds"),
    )
    return None if probs is None else (decision_scores(probs, layout), y, known)


def _evaluate(
    spec: TypeSpec,
    artifact,
    evaluation: Dataset,
    layout: Layout,
    target: float,
    extra: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
):
    """Metrics on the eval split, and tuned thresholds on the eval split plus ``extra``
    evidence (out-of-fold scores, targets, known): shared by every type that scores
    concepts (its ``predict`` gives the probabilities)."""
    y, known = evaluation.targets(layout)
    probs = spec.predict(artifact, evaluation.features)
    scores = decision_scores(probs, layout)
    metrics = evaluate(probs, scores, y, known, layout)
    metrics["threshold_evidence"] = {
        "eval": len(evaluation.ids),
        "out_of_fold": 0 if extra is None else len(extra[1]),
        "confidence": settings.TRAINING_THRESHOLD_CONFIDENCE,
    }
    if extra is not None:
        pairs = zip((scores, y, known), extra, strict=True)
        scores, y, known = (np.concatenate([ours, more]) for ours, more in pairs)
    tuned = tune_layout(
        scores,
        y,
        known,
        layout,
        target,
        min_kept=settings.TRAINING_THRESHOLD_MIN_KEPT,
        confidence=settings.TRAINING_THRESHOLD_CONFIDENCE,
    )
    metrics["target_precision"] = target
    return metrics, {cid: t.to_dict() for cid, t in tuned.items()}


# ---------------------------------------------------------------------------- promotion


def version_head(version: ModelVersion) -> Head:
    layout = Layout.from_dict(version.layout)
    return Head.from_bytes(bytes(version.head), layout)


def version_artifact(version: ModelVersion):
    """What the version's type ``predict``s with: the context classifier's head (numpy), or
    the artifact its type ``load``s (the deep classifier's network: torch, workers only)."""
    spec = model_type(version.model.type)
    if spec.load is not None:
        return spec.load(bytes(version.head))
    return version_head(version)


def _macro_f1_on(version: ModelVersion, evaluation: Dataset) -> float | None:
    """A version's macro F1 on these eval inputs, over its own outputs."""
    layout = Layout.from_dict(version.layout)
    y, known = evaluation.targets(layout)
    probs = model_type(version.model.type).predict(version_artifact(version), evaluation.features)
    return evaluate(probs, decision_scores(probs, layout), y, known, layout)["macro_f1"]


def _promotion_decision(model_id: int, ours: float | None, evaluation: Dataset) -> dict:
    """Whether a new version with macro F1 ``ours`` may go live: not worse than the active
    version on the same eval inputs (within ``PROMOTION_TOLERANCE``), and why
    (``training.ml.promotion.promotion_decide``)."""
    model = MLModel.objects.select_related("active_version").get(id=model_id)
    active = model.active_version
    compared = active is not None and bool(active.head)
    decision = promotion_decide(
        ours=ours,
        theirs=_macro_f1_on(active, evaluation) if compared else None,
        tolerance=PROMOTION_TOLERANCE,
        active_number=active.number if compared else None,
    )
    return decision.to_dict()


def version_promote(*, version: ModelVersion, actor, decision: dict | None = None) -> ModelVersion:
    """Make a ready version the live one, then route inputs with it (in the background)."""
    with transaction.atomic():
        model = MLModel.objects.select_for_update().get(id=version.model_id)
        version = ModelVersion.objects.select_for_update().get(id=version.id)
        if version.status != Status.READY:
            raise ServiceError("Only a ready version can go live.")
        if model.active_version_id == version.id:
            raise ServiceError("This version is already live.")
        model.active_version = version
        model.save(update_fields=["active_version"])
        version.promoted_at = timezone.now()
        version.rolled_back_at = None
        version.promotion = decision or {
            "promoted": True,
            "reason": f"Promoted by hand by {actor}." if actor else "Promoted by hand.",
        }
        version.routing = {"status": "queued"}
        version.save(update_fields=["promoted_at", "rolled_back_at", "promotion", "routing"])
        hooks.announce(hooks.MODEL_VERSION_CHANGED, version=version, event="model_version.promoted")
    return version


# ---------------------------------------------------------------------------- stale runs


def _stale_limit(now):
    return now - timedelta(minutes=settings.TRAINING_STALE_MINUTES)


def _is_stale(version: ModelVersion, now) -> bool:
    return version.heartbeat_at is None or version.heartbeat_at < _stale_limit(now)


def versions_resend_queued(now=None) -> list[int]:
    """Send again the runs that have waited in the queue too long: a broker restart may have
    lost their message. A duplicate is harmless (``_start`` lets one worker through)."""
    now = now or timezone.now()
    limit = _stale_limit(now)
    waiting = ModelVersion.objects.filter(status=Status.QUEUED, created_at__lt=limit).filter(
        models.Q(heartbeat_at__isnull=True) | models.Q(heartbeat_at__lt=limit)
    )
    resent = []
    for version_id in waiting.values_list("id", flat=True):
        ModelVersion.objects.filter(id=version_id).update(heartbeat_at=now)
        transaction.on_commit(lambda v=version_id: _send(v))
        resent.append(version_id)
    return resent


def versions_fail_stale(now=None) -> list[int]:
    """Fail runs whose worker stopped reporting (killed, out of memory, machine gone)."""
    now = now or timezone.now()
    limit = _stale_limit(now)
    stale = ModelVersion.objects.filter(status=Status.TRAINING, heartbeat_at__lt=limit)
    failed = []
    for version in stale:
        updated = ModelVersion.objects.filter(
            id=version.id, status=Status.TRAINING, heartbeat_at__lt=limit
        ).update(
            status=Status.FAILED,
            stage="Failed",
            finished_at=now,
            error=(
                f"The worker stopped reporting at {version.heartbeat_at:%Y-%m-%d %H:%M:%S} "
                f"during “{version.stage}” (killed or out of memory). The active version "
                "was not changed; train again when the worker is back."
            ),
        )
        if updated:
            failed.append(version.id)
    return failed
