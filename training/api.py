"""REST API v1: models, as in Clarifai's docs. List the types and what creating one takes,
create a model, train it (optionally on given inputs), read its status and live version's
metrics, and predict: an input of the project, or a new image (scored by a worker)."""

from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.decorators import api_view, parser_classes, throttle_classes
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import ScopedRateThrottle, UserRateThrottle

from labeling.ids import MAX_ID, id_fits, int_param
from labeling.models import Input, Membership
from labeling.permissions import ADMIN, check_role, project_membership
from labeling.storage import media_path
from training.model_types import TYPES
from training.model_types.base import PORT_TYPE_NAMES
from training.models import MLModel, ModelVersion, Prediction
from training.services.image_search import image_search
from training.services.predictions import (
    prediction_create,
    prediction_for_input,
    prediction_wait,
    reads_images,
)
from training.services.versions import model_create, version_queue

PREDICT_WAIT_SECONDS = 20.0


def _version_json(version: ModelVersion | None) -> dict | None:
    if version is None:
        return None
    return {
        "id": version.id,
        "number": version.number,
        "status": version.status,
        "stage": version.stage,
        "progress": round(version.progress, 3),
        "error": version.error,
        "created_at": version.created_at,
        "finished_at": version.finished_at,
        "counts": {k: v for k, v in version.counts.items() if not k.endswith("_per_concept")},
        "metrics": _metrics_json(version.metrics),
        "thresholds": version.thresholds,
        "promotion": version.promotion,
        "routing": version.routing,
    }


def _metrics_json(metrics: dict) -> dict:
    if metrics.get("kind") == "regions":  # a detector's: COCO AP on the eval split
        return {
            "map50": metrics.get("map50"),
            "map": metrics.get("map"),
            "eval_images": metrics.get("eval_images"),
            "eval_boxes": metrics.get("eval_boxes"),
            "concepts": {
                cid: {k: m.get(k) for k in ("ap50", "ap", "precision", "recall", "true_boxes")}
                for cid, m in metrics.get("per_concept", {}).items()
            },
        }
    return {
        "macro_f1": metrics.get("macro_f1"),
        "macro_auc": metrics.get("macro_auc"),
        "accuracy": metrics.get("accuracy"),
        **({"curves": metrics["curves"]} if "curves" in metrics else {}),  # a fine-tuned one's
        "concepts": {
            cid: {k: m.get(k) for k in ("precision", "recall", "f1", "auc", "support")}
            for cid, m in metrics.get("concepts", {}).items()
        },
    }


def _status(model: MLModel, latest: ModelVersion | None) -> str:
    """One word for scripts to poll: training while a run is on, else the live state."""
    if latest is not None and latest.is_running:
        return "training"
    if model.active_version_id:
        return "ready"
    if latest is not None and latest.status == ModelVersion.Status.FAILED:
        return "failed"
    return "untrained" if TYPES[model.type].trainable else "ready"


def _model_json(model: MLModel) -> dict:
    latest = model.versions.order_by("-number").first()
    return {
        "id": model.id,
        "project": model.project_id,
        "name": model.name,
        "type": model.type,
        "params": model.params,
        "routes": model.routes,
        "status": _status(model, latest),
        "active_version": _version_json(model.active_version),
        "latest_version": _version_json(latest),
    }


LIST_OF_OBJECTS = {200: {"type": "array", "items": {"type": "object"}}}


class ModelTypeSerializer(serializers.Serializer):
    """One model type as ``GET /models/types/`` lists it."""

    type = serializers.CharField(help_text="The key that creates a model of this type.")
    title = serializers.CharField()
    description = serializers.CharField()
    trainable = serializers.BooleanField(help_text="False: pre-built, nothing to train.")
    consumes = serializers.ListField(
        child=serializers.ChoiceField(choices=PORT_TYPE_NAMES),
        help_text="The port types a workflow feeds it (image, embedding, ...).",
    )
    optional = serializers.ListField(
        child=serializers.ChoiceField(choices=PORT_TYPE_NAMES),
        help_text="Those of ``consumes`` a workflow may leave unfed (e.g. an embedder's crops).",
    )
    produces = serializers.ListField(
        child=serializers.ChoiceField(choices=PORT_TYPE_NAMES),
        help_text="The port types it gives (embedding, concepts, ...).",
    )
    defaults = serializers.DictField(help_text="Every parameter with its default.")
    payload_schema = serializers.DictField(help_text="JSON schema of the create payload.")


@extend_schema(responses=ModelTypeSerializer(many=True))
@api_view(["GET"])
def model_types_view(request: Request) -> Response:
    """Every model type: what it consumes and produces, and the payload that creates it
    (fields, defaults, JSON schema)."""
    rows = [
        {
            "type": spec.key,
            "title": spec.title,
            "description": spec.description,
            "trainable": spec.trainable,
            "consumes": list(spec.consumes),
            "optional": list(spec.optional),
            "produces": list(spec.produces),
            "defaults": spec.defaults(),
            "payload_schema": spec.payload_schema(),
        }
        for spec in TYPES.values()
    ]
    return Response(ModelTypeSerializer(rows, many=True).data)


class ModelCreateSerializer(serializers.Serializer):
    project = serializers.IntegerField()
    name = serializers.CharField(max_length=100)
    type = serializers.ChoiceField(choices=list(TYPES))
    params = serializers.DictField(required=False, default=dict)


@extend_schema(
    methods=["GET"],
    operation_id="models_list",
    parameters=[OpenApiParameter("project", int, required=False, description="A project's id.")],
    responses=LIST_OF_OBJECTS,
)
@extend_schema(methods=["POST"], request=ModelCreateSerializer, responses=OpenApiTypes.OBJECT)
@api_view(["GET", "POST"])
def models_view(request: Request) -> Response:
    """GET: the models of the caller's projects (``?project=`` to pick one). POST creates
    one in a project the caller administers."""
    if request.method == "GET":
        projects = Membership.objects.filter(user=request.user).values("project_id")
        models = MLModel.objects.select_related("active_version")
        if not request.user.is_superuser:
            models = models.filter(project_id__in=projects)
        if request.query_params.get("project"):
            project_id = int_param(request.query_params["project"])
            if project_id is None:
                return Response({"error": "`project` must be a project id."}, status=400)
            # An id past the database's range is no project's: nothing to list.
            models = models.filter(project_id=project_id) if id_fits(project_id) else models.none()
        return Response([_model_json(m) for m in models.order_by("id")])
    payload = ModelCreateSerializer(data=request.data)
    payload.is_valid(raise_exception=True)
    data = payload.validated_data
    project, membership = project_membership(request.user, data["project"])
    check_role(membership, ADMIN)
    model = model_create(
        project=project,
        name=data["name"],
        type=data["type"],
        params=data["params"],
        actor=request.user,
    )
    return Response(_model_json(model), status=201)


def _model(request: Request, model_id: int, admin: bool = False) -> MLModel:
    model = get_object_or_404(MLModel.objects.select_related("project"), id=model_id)
    _, membership = project_membership(request.user, model.project_id)
    if admin:
        check_role(membership, ADMIN)
    return model


@extend_schema(responses=OpenApiTypes.OBJECT)
@api_view(["GET"])
def model_view(request: Request, model_id: int) -> Response:
    """A model's status (``training``, ``ready``, ``failed``, ``untrained``), its live
    version with metrics and thresholds, and its latest run."""
    return Response(_model_json(_model(request, model_id)))


class TrainSerializer(serializers.Serializer):
    input_ids = serializers.ListField(
        child=serializers.IntegerField(),
        required=False,
        allow_null=True,
        help_text="Train and evaluate on these inputs only (default: every labeled one).",
    )


@extend_schema(request=TrainSerializer, responses={202: OpenApiTypes.OBJECT})
@api_view(["POST"])
def model_train_view(request: Request, model_id: int) -> Response:
    """Queue a training run (one at a time per model); poll the model for its status."""
    model = _model(request, model_id, admin=True)
    payload = TrainSerializer(data=request.data)
    payload.is_valid(raise_exception=True)
    input_ids = payload.validated_data.get("input_ids")
    if input_ids:
        possible = [i for i in input_ids if id_fits(i)]
        found = set(
            Input.objects.filter(project=model.project, id__in=possible).values_list(
                "id", flat=True
            )
        )
        missing = sorted(set(input_ids) - found)
        if missing:
            return Response({"error": "Unknown inputs.", "unknown": missing}, status=400)
    version = version_queue(model=model, actor=request.user, trigger="api", input_ids=input_ids)
    return Response({"version": _version_json(version), "model": model.id}, status=202)


class PredictSerializer(serializers.Serializer):
    file = serializers.FileField(required=False, help_text="A new image.")
    input_id = serializers.IntegerField(
        required=False, max_value=MAX_ID, help_text="An input of the project."
    )


def _prediction_json(prediction: Prediction) -> dict:
    return {
        "id": prediction.id,
        "status": prediction.status,
        "error": prediction.error,
        **prediction.result,
    }


@extend_schema(request={"multipart/form-data": PredictSerializer}, responses=OpenApiTypes.OBJECT)
@api_view(["POST"])
@parser_classes([MultiPartParser, FormParser, JSONParser])
@throttle_classes([UserRateThrottle, ScopedRateThrottle])
def model_predict_view(request: Request, model_id: int) -> Response:
    """Concepts with scores and the routing decision the live version would give, for an
    input (``input_id``) or a new image (``file``; scored by a worker: 200 when it answered
    within 20 s, else 202 with the prediction to poll). A model that looks at the image
    itself (a detector, the deep classifier) always runs on a worker; a detector answers
    with ``regions`` (Clarifai's shape, each with its decision)."""
    model = _model(request, model_id)
    payload = PredictSerializer(data=request.data)
    payload.is_valid(raise_exception=True)
    data = payload.validated_data
    if data.get("input_id"):
        input = get_object_or_404(Input, id=data["input_id"], project=model.project)
        if not reads_images(model):
            return Response(prediction_for_input(model=model, input=input))
        image = media_path(input.file).read_bytes()  # the model looks at the image itself
    elif data.get("file") is not None:
        image = data["file"].read()
    else:
        return Response({"error": "Send an image in `file`, or an `input_id`."}, status=400)
    prediction = prediction_create(model=model, user=request.user, data=image)
    prediction = prediction_wait(prediction, PREDICT_WAIT_SECONDS)
    code = 202 if prediction.status == Prediction.Status.QUEUED else 200
    if prediction.status == Prediction.Status.FAILED:
        code = 400
    return Response(_prediction_json(prediction), status=code)


model_predict_view.cls.throttle_scope = "predict"


@extend_schema(responses=OpenApiTypes.OBJECT)
@api_view(["GET"])
def prediction_view(request: Request, prediction_id: int) -> Response:
    prediction = get_object_or_404(Prediction.objects.select_related("model"), id=prediction_id)
    project_membership(request.user, prediction.model.project_id)
    return Response(_prediction_json(prediction))


class ImageSearchSerializer(serializers.Serializer):
    file = serializers.FileField(help_text="The image to search with.")
    k = serializers.IntegerField(
        required=False, default=12, min_value=1, max_value=100, help_text="How many inputs."
    )


@extend_schema(
    request={"multipart/form-data": ImageSearchSerializer}, responses=OpenApiTypes.OBJECT
)
@api_view(["POST"])
@parser_classes([MultiPartParser, FormParser])
@throttle_classes([UserRateThrottle, ScopedRateThrottle])
def image_search_view(request: Request, project_id: int) -> Response:
    """The project's inputs nearest to an uploaded image by cosine similarity of their
    embeddings, best first (the image is embedded by a worker, then the project's search
    index is queried)."""
    project, _ = project_membership(request.user, project_id)
    payload = ImageSearchSerializer(data=request.data)
    payload.is_valid(raise_exception=True)
    found = image_search(
        project=project, upload=payload.validated_data["file"], k=payload.validated_data["k"]
    )
    return Response(
        {
            "results": [
                {"id": input.id, "original_name": input.original_name, "similarity": round(s, 5)}
                for input, s in found
            ]
        }
    )


image_search_view.cls.throttle_scope = "predict"
