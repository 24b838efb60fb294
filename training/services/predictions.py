"""Predictions on demand: what the live version says of an input or a new image, and the
routing decision it would get.

An input that already has an embedding is scored right here with numpy. A new image needs
the backbone: when it runs with ONNX Runtime and a worker has already exported and checked it
(``embedder_without_torch``), the image is embedded right here too (no torch: a few tens of
milliseconds); otherwise it is staged and scored by a worker (queue ``predict``). The web
process never loads torch. A model that looks at the image itself (a detector, the deep
classifier) always runs on a worker (a stored input's file is staged like an upload); a
detector's answer is boxes in the API's Clarifai shape, each with the decision the version's
box thresholds give it.
"""

import time

import numpy as np
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from labeling.boxes import to_clarifai
from labeling.models import Concept, Input
from labeling.services.errors import ServiceError
from labeling.services.ingest import image_stage
from labeling.storage import media_path
from training.ml.features import Embedder, embedder, embedder_without_torch, image_open
from training.ml.layout import Layout
from training.ml.routing import box_levels, image_band, route
from training.model_types import model_type
from training.models import MLModel, ModelType, ModelVersion, Prediction
from training.services.embeddings import embeddings_load
from training.services.versions import version_artifact, version_head


def _live(model: MLModel) -> ModelVersion | None:
    """The live version; None for a model with nothing to train (embedder, face detector)."""
    version = model.active_version
    if model_type(model.type).trainable and version is None:
        raise ServiceError("This model has no live version yet: train it first.")
    return version


def reads_images(model: MLModel) -> bool:
    """A type that looks at the image with its own network (a detector, the deep
    classifier), not through the backbone's embedding (as the embedder and the context
    classifier do): it always runs on a worker."""
    spec = model_type(model.type)
    return "image" in spec.consumes and "embedding" not in spec.produces


def draws_boxes(model: MLModel) -> bool:
    return "regions" in model_type(model.type).produces


def prediction_describe(version: ModelVersion, probs) -> dict:
    """Scores per concept, the labels the model would give, and the routing decision, from
    the version's (1, width) probabilities."""
    layout = Layout.from_dict(version.layout)
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


def regions_describe(model: MLModel, version: ModelVersion | None, image) -> dict:
    """A detector's boxes on one image, best first, each with its concept, score, threshold
    and decision (``auto``, ``doubt`` or ``low``: ``training.ml.routing.box_levels``), and
    the image's decision (``image_band``). A pre-built detector (no version) has no tuned
    thresholds: its boxes are suggestions at best."""
    spec = model_type(model.type)
    if version is None:
        found = spec.predict(model.params, [image])
        concept_ids = [int(model.params.get("concept") or 0)]
        predictions = [(boxes, scores, [0] * len(scores)) for boxes, scores in found]
        tuned: dict = {}
    else:
        predictions = spec.predict(spec.load(bytes(version.head)), [image])
        concept_ids = list(version.layout["concept_ids"])
        tuned = version.thresholds
    boxes, scores, classes = predictions[0]
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    box_concepts = [concept_ids[int(k)] for k in classes]
    thresholds = [tuned.get(str(c), {}).get("threshold") for c in box_concepts]
    limits = np.array([np.nan if t is None else t for t in thresholds], dtype=np.float64)
    levels = box_levels(np.asarray(scores), limits, model.project.doubt_band)
    concepts = Concept.objects.in_bulk(set(box_concepts))
    regions = []
    for box, score, concept_id, threshold, level in zip(
        boxes, scores, box_concepts, thresholds, levels, strict=True
    ):
        concept = concepts.get(concept_id)
        regions.append(
            {
                "region_info": {"bounding_box": to_clarifai([round(float(v), 5) for v in box])},
                "data": {
                    "concepts": [
                        {
                            "id": concept.key if concept else str(concept_id),
                            "name": concept.name if concept else "",
                            "concept_id": concept_id,
                            "value": round(float(score), 4),
                            "threshold": threshold,
                        }
                    ]
                },
                "decision": ("low", "doubt", "auto")[int(level)],
            }
        )
    return {
        "model_version": version.number if version else None,
        "regions": regions,
        "decision": image_band(levels),
    }


def _result(model: MLModel, vector) -> dict:
    if model.type == ModelType.EMBEDDER:
        return {"embedding": [round(float(v), 5) for v in vector]}
    version = _live(model)
    return prediction_describe(version, version_head(version).probabilities(vector[None, :]))


def prediction_for_input(*, model: MLModel, input: Input) -> dict:
    """Score an input of the project from its stored embedding (numpy only)."""
    if input.project_id != model.project_id:
        raise ServiceError("This input is not in the model's project.")
    _live(model)
    if reads_images(model):
        raise ServiceError(
            f"A {model.get_type_display().lower()} looks at the image itself, on a worker: "
            "stage the input's image with prediction_create."
        )
    ids, vectors = embeddings_load([input.id])
    if not ids:
        raise ServiceError("This input has no embedding yet; try again in a moment.")
    return _result(model, vectors[0])


def prediction_create(*, model: MLModel, user, data: bytes) -> Prediction:
    """Check and stage a new image; score it here when the backbone can run without torch
    (``TRAINING_PREDICT_IN_WEB``) and the model scores embeddings, else queue its
    prediction on a worker."""
    _live(model)
    path = image_stage(data=data, folder=f"predictions/{model.id}")
    prediction = Prediction.objects.create(
        model=model, version=model.active_version, file=path, created_by=user
    )
    light = (
        settings.TRAINING_PREDICT_IN_WEB
        and not reads_images(model)
        and embedder_without_torch(settings.TRAINING_BACKBONE)
    )
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
        model = prediction.model
        if prediction.version is not None:
            model.active_version = prediction.version
        if draws_boxes(model):
            prediction.result = regions_describe(model, _live(model), image)
        elif reads_images(model):
            version = _live(model)
            probs = model_type(model.type).predict(version_artifact(version), [image])
            prediction.result = prediction_describe(version, probs)
        else:
            vector = (embed or embedder(settings.TRAINING_BACKBONE))([image])[0]
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
