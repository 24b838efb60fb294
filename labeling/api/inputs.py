"""REST API v1: inputs. Upload one image (stored at once, labels and metadata allowed), or
many files / a zip (a background batch, as in the browser); list, read, and batch status."""

import json

from django.conf import settings
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.decorators import api_view, parser_classes, throttle_classes
from rest_framework.exceptions import Throttled
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import ScopedRateThrottle, UserRateThrottle

from labeling.api.regions import region_json
from labeling.api.views import _input_json
from labeling.ids import MAX_ID, int_param
from labeling.ingest.images import ImageRejected, human_bytes
from labeling.models import Input, UploadBatch
from labeling.permissions import project_membership
from labeling.selectors import concepts_resolve, project_inputs
from labeling.services.errors import ServiceError
from labeling.services.ingest import (
    input_ingest,
    input_labels_attach,
    inputs_announce,
    upload_batch_create,
)

PAGE = 100


class SingleImageSerializer(serializers.Serializer):
    concepts = serializers.CharField(
        required=False,
        allow_blank=True,
        help_text='JSON: [{"id": "digit", "value": "3"}] (a single image only).',
    )
    metadata = serializers.CharField(
        required=False, allow_blank=True, help_text="JSON object (a single image)."
    )
    review = serializers.BooleanField(required=False, default=False)


class UploadSerializer(SingleImageSerializer):
    file = serializers.ListField(child=serializers.FileField(), help_text="One or more files.")
    folder_labels = serializers.BooleanField(
        required=False,
        default=False,
        help_text="Zip uploads: label each image with the concept its folder is named after "
        "(ImageFolder convention, e.g. brick/00655.png is labeled brick). Folders that "
        "match no concept name or synonym are listed in the batch's unknown_folders.",
    )


def _json_field(raw: str | None, kind: type, what: str):
    if not raw:
        return kind()
    try:
        value = json.loads(raw)
    except ValueError as exc:
        raise ServiceError(f"`{what}` is not valid JSON: {exc}.") from exc
    if not isinstance(value, kind):
        raise ServiceError(f"`{what}` must be a JSON {kind.__name__}.")
    return value


def _single(request: Request, project, upload) -> Response:
    fields = SingleImageSerializer(data=request.data)
    fields.is_valid(raise_exception=True)
    data = fields.validated_data
    concepts = _json_field(data.get("concepts"), list, "concepts")
    metadata = _json_field(data.get("metadata"), dict, "metadata")
    concept_ids, unknown = concepts_resolve(project, concepts) if concepts else ([], [])
    if unknown:
        return Response({"error": "Unknown concepts.", "unknown": unknown}, status=400)
    if upload.size > settings.LABELING_MAX_IMAGE_BYTES:
        limit = human_bytes(settings.LABELING_MAX_IMAGE_BYTES)
        return Response({"error": f"{upload.name} is larger than {limit}."}, status=413)
    try:
        result = input_ingest(
            project=project,
            name=upload.name,
            data=upload.read(),
            metadata={str(k): str(v) for k, v in metadata.items()},
        )
    except ImageRejected as exc:
        return Response({"error": f"{upload.name}: {exc}"}, status=400)
    if result.created:
        inputs_announce(project_id=project.id)
    annotation = None
    if concept_ids:
        annotation = input_labels_attach(
            project=project,
            input=result.input,
            concept_ids=concept_ids,
            actor=request.user,
            review=data["review"],
        )
    body = {"input": _input_json(result.input), "created": result.created}
    if annotation is not None:
        body["annotation"] = {"id": annotation.id, "status": annotation.status}
    return Response(body, status=201 if result.created else 200)


@extend_schema(
    request={"multipart/form-data": UploadSerializer},
    parameters=[
        OpenApiParameter("split", str, enum=["train", "eval"], required=False),
        OpenApiParameter("q", str, required=False, description="Part of the file name."),
        OpenApiParameter("page", int, required=False),
    ],
    responses={200: OpenApiTypes.OBJECT, 201: OpenApiTypes.OBJECT, 202: OpenApiTypes.OBJECT},
)
@api_view(["GET", "POST"])
@parser_classes([MultiPartParser, FormParser])
@throttle_classes([UserRateThrottle, ScopedRateThrottle])
def inputs_view(request: Request, project_id: int) -> Response:
    """GET lists the project's inputs (100 a page). POST uploads: one image is stored at
    once (201, or 200 when the same bytes were already there) and may carry ``concepts``
    (accepted ground truth from an admin unless ``review`` is true; pending review from
    anyone else) and ``metadata``; several files or a zip become a background batch (202)."""
    project, _ = project_membership(request.user, project_id)
    if request.method == "GET":
        inputs = project_inputs(
            project,
            split=request.query_params.get("split", ""),
            query=request.query_params.get("q", ""),
        )
        page = int_param(request.query_params.get("page")) or 1
        # OFFSET is a signed 64-bit number too: a page past it is past the end.
        rows = inputs[(page - 1) * PAGE : page * PAGE] if page * PAGE <= MAX_ID else []
        return Response(
            {
                "count": inputs.count(),
                "page": page,
                "results": [_input_json(i) | {"status": i.status} for i in rows],
            }
        )
    files = request.FILES.getlist("file")
    if not files:
        return Response({"error": "Send the image(s) in the `file` field."}, status=400)
    single_image = len(files) == 1 and not files[0].name.lower().endswith(".zip")
    if single_image:
        return _single(request, project, files[0])
    if request.data.get("concepts") or request.data.get("metadata"):
        return Response(
            {
                "error": "`concepts` and `metadata` go with a single image; use a metadata CSV "
                "inside a batch."
            },
            status=400,
        )
    folder_labels = serializers.BooleanField().to_internal_value(
        request.data.get("folder_labels") or False
    )
    batch = upload_batch_create(
        project=project, user=request.user, files=files, folder_labels=folder_labels
    )
    return Response(_batch_json(batch), status=202)


inputs_view.cls.throttle_scope = "uploads"

UPLOADS_THROTTLED = (
    "Too many upload requests. Send many images in one request instead: several `file` "
    "fields in one POST, or one .zip (client: inputs.create_many). See /api/v1/docs/."
)


def _uploads_throttled(self, request, wait):
    raise Throttled(wait, detail=UPLOADS_THROTTLED)


inputs_view.cls.throttled = _uploads_throttled


def _batch_json(batch: UploadBatch) -> dict:
    return {
        "batch": batch.id,
        "status": batch.status,
        "total": batch.total,
        "processed": batch.processed,
        "error": batch.error,
        "folder_labels": batch.folder_labels,
        "unknown_folders": batch.unknown_folders,
        "status_url": f"/api/v1/projects/{batch.project_id}/batches/{batch.id}/",
    }


@extend_schema(responses=OpenApiTypes.OBJECT)
@api_view(["GET"])
def batch_view(request: Request, project_id: int, batch_id: int) -> Response:
    """An upload batch's progress and per-file outcome."""
    project, _ = project_membership(request.user, project_id)
    batch = get_object_or_404(UploadBatch, project=project, id=batch_id)
    items = batch.items.values("name", "status", "message", "input_id")
    return Response(_batch_json(batch) | {"items": list(items)})


@extend_schema(responses=OpenApiTypes.OBJECT)
@api_view(["GET"])
def input_view(request: Request, input_id: int) -> Response:
    """One input with its annotations (status, source, labels, regions)."""
    input = get_object_or_404(Input, id=input_id)
    project_membership(request.user, input.project_id)
    annotations = [
        {
            "id": a.id,
            "status": a.status,
            "source": a.source,
            "author": a.author.username if a.author else None,
            "model_version": a.provenance.get("version"),
            "workflow": (
                {
                    "version_id": a.workflow_version_id,
                    "number": a.workflow_version.number,
                    "workflow_id": a.workflow_version.workflow_id,
                    "node": a.workflow_node,
                }
                if a.workflow_version_id
                else None
            ),
            "concepts": [
                {
                    "id": label.concept.key,
                    "name": label.concept.name,
                    "value": label.confidence or 1,
                }
                for label in a.labels.all()
            ],
            "regions": [region_json(r) for r in a.regions.all()],
        }
        for a in input.annotations.select_related("author", "workflow_version").prefetch_related(
            "labels__concept", "regions__concept"
        )
    ]
    return Response(_input_json(input) | {"status": input.status, "annotations": annotations})
