"""Predictions on demand: what the live version says of an input or a new image, and the
routing decision it would get.

An input that already has an embedding is scored right here with numpy. A new image needs
the backbone: when it runs with ONNX Runtime and a worker has already exported and checked it
(``embedder_without_torch``), the image is embedded right here too (no torch: a few tens of
milliseconds); otherwise it is staged and scored by a worker (queue ``predict``). The web
process never loads torch.
"""

import time

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from labeling.models import Concept, Input
from labeling.services.errors import ServiceError
from labeling.services.ingest import image_stage
from labeling.storage import media_path
from training.ml.features import Embedder, embedder, embedder_without_torch, image_open
from training.ml.routing import route
from training.models import MLModel, ModelType, ModelVersion, Prediction
from training.services.embeddings import embeddings_load
from training.services.versions import version_head


def _live(model: MLModel) -> ModelVersion:
    version = model.active_version
    if model.type == ModelType.CONTEXT_CLASSIFIER and version is None:
        raise ServiceError("This model has no live version yet: train it first.")
    return version


def prediction_describe(version: ModelVersion, vector) -> dict:
    """Scores per concept, the labels the model would give, and the routing decision."""
    head = version_head(version)
    layout = head.layout
    probs = head.probabilities(vector[None, :])
    thresholds = [version.thresholds.get(str(c), {}).get("threshold") for c in layout.concept_ids]
    project = version.model.project
    bands, labels = route(probs, layout, thresholds, project.doubt_band)
    concepts = Concept.objects.in_bulk(list(layout.concept_ids))
    rows = []
    for column, concept_id in enumerate(layout.concept_ids):
        concept = concepts.get(concept_id)
        rows.append(
            {
                "id": concept.key if concept else str(concept_id),
                "name": concept.name if concept else "",
                "concept_id": concept_id,
                "group": concept.parent.key if concept and concept.parent_id else None,
                "value": round(float(probs[0, column]), 4),
                "threshold": thresholds[column],
            }
        )
    rows.sort(key=lambda r: -r["value"])
    return {
        "model_version": version.number,
        "concepts": rows,
        "decision": str(bands[0]),
        "labels": [r["id"] for r in rows if labels[0, layout.column(r["concept_id"])]],
    }


def _result(model: MLModel, vector) -> dict:
    if model.type == ModelType.EMBEDDER:
        return {"embedding": [round(float(v), 5) for v in vector]}
    return prediction_describe(_live(model), vector)


def prediction_for_input(*, model: MLModel, input: Input) -> dict:
    """Score an input of the project from its stored embedding (numpy only)."""
    if input.project_id != model.project_id:
        raise ServiceError("This input is not in the model's project.")
    _live(model)
    ids, vectors = embeddings_load([input.id])
    if not ids:
        raise ServiceError("This input has no embedding yet; try again in a moment.")
    return _result(model, vectors[0])


def prediction_create(*, model: MLModel, user, data: bytes) -> Prediction:
    """Check and stage a new image; score it here when the backbone can run without torch
    (``TRAINING_PREDICT_IN_WEB``), else queue its prediction on a worker."""
    _live(model)
    path = image_stage(data=data, folder=f"predictions/{model.id}")
    prediction = Prediction.objects.create(
        model=model, version=model.active_version, file=path, created_by=user
    )
    light = settings.TRAINING_PREDICT_IN_WEB and embedder_without_torch(settings.TRAINING_BACKBONE)
    if light:
        return prediction_run(prediction_id=prediction.id, embed=light)
    from training.tasks import predict_task

    transaction.on_commit(lambda: predict_task.delay(prediction.id))
    return prediction


def prediction_run(*, prediction_id: int, embed: Embedder | None = None) -> Prediction:
    """Embed the staged image (with ``embed``, else the configured backbone: the worker's
    part) and score it with the version."""
    prediction = Prediction.objects.select_related("model", "version").get(id=prediction_id)
    if prediction.status != Prediction.Status.QUEUED:
        return prediction
    try:
        image = image_open(media_path(prediction.file))
        vector = (embed or embedder(settings.TRAINING_BACKBONE))([image])[0]
        model = prediction.model
        if prediction.version is not None:
            model.active_version = prediction.version
        prediction.result = _result(model, vector)
        prediction.status = Prediction.Status.DONE
    except (OSError, ValueError, ServiceError) as exc:
        prediction.status, prediction.error = Prediction.Status.FAILED, str(exc)[:500]
    prediction.finished_at = timezone.now()
    prediction.save(update_fields=["status", "result", "error", "finished_at"])
    media_path(prediction.file).unlink(missing_ok=True)
    return prediction


def prediction_wait(prediction: Prediction, seconds: float) -> Prediction:
    """Poll the row until the worker answered or the time is up."""
    deadline = time.monotonic() + seconds
    while prediction.status == Prediction.Status.QUEUED and time.monotonic() < deadline:
        time.sleep(0.05)
        prediction.refresh_from_db()
    return prediction
