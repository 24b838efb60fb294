"""REST API v1: export and import jobs (COCO, CSV, YOLO, Label Studio)."""

from django.http import FileResponse
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.decorators import api_view, parser_classes
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response

from labeling.models import InterchangeJob
from labeling.permissions import ADMIN, check_role, project_membership
from labeling.storage import media_path

Format = InterchangeJob.Format


def job_json(job: InterchangeJob) -> dict:
    base = "exports" if job.kind == InterchangeJob.Kind.EXPORT else "imports"
    body = {
        "id": job.id,
        "project": job.project_id,
        "kind": job.kind,
        "format": job.format,
        "status": job.status,
        "total": job.total,
        "done": job.done,
        "percent": job.percent,
        "report": job.report,
        "error": job.error,
        "created_at": job.created_at,
        "finished_at": job.finished_at,
        "url": f"/api/v1/{base}/{job.id}/",
    }
    if job.kind == InterchangeJob.Kind.EXPORT and job.status == InterchangeJob.Status.DONE:
        body["download_url"] = f"/api/v1/exports/{job.id}/download/"
    return body


class ExportSerializer(serializers.Serializer):
    format = serializers.ChoiceField(choices=Format.choices)
    options = serializers.DictField(required=False, default=dict)


@extend_schema(request=ExportSerializer, responses={202: OpenApiTypes.OBJECT})
@api_view(["POST"])
def exports_view(request: Request, project_id: int) -> Response:
    """Start an export (admins); poll the job, then download its file."""
    from labeling.services.interchange import interchange_export_create

    project, membership = project_membership(request.user, project_id)
    check_role(membership, ADMIN)
    payload = ExportSerializer(data=request.data)
    payload.is_valid(raise_exception=True)
    job = interchange_export_create(
        project=project,
        user=request.user,
        format=payload.validated_data["format"],
        options=payload.validated_data["options"],
    )
    return Response(job_json(job), status=202)


def _job(request: Request, job_id: int, kind: str) -> InterchangeJob:
    job = get_object_or_404(InterchangeJob, id=job_id, kind=kind)
    _, membership = project_membership(request.user, job.project_id)
    check_role(membership, ADMIN)
    return job


@extend_schema(responses=OpenApiTypes.OBJECT)
@api_view(["GET"])
def export_view(request: Request, job_id: int) -> Response:
    return Response(job_json(_job(request, job_id, InterchangeJob.Kind.EXPORT)))


@extend_schema(responses={(200, "application/octet-stream"): OpenApiTypes.BINARY})
@api_view(["GET"])
def export_download_view(request: Request, job_id: int):
    """The exported file, streamed."""
    job = _job(request, job_id, InterchangeJob.Kind.EXPORT)
    if job.status != InterchangeJob.Status.DONE or not job.file:
        return Response({"error": f"The export is {job.status}, not done."}, status=409)
    path = media_path(job.file)
    return FileResponse(path.open("rb"), as_attachment=True, filename=path.name)


class ImportSerializer(serializers.Serializer):
    format = serializers.ChoiceField(choices=Format.choices)
    file = serializers.FileField()


@extend_schema(
    request={"multipart/form-data": ImportSerializer}, responses={202: OpenApiTypes.OBJECT}
)
@api_view(["POST"])
@parser_classes([MultiPartParser, FormParser])
def imports_view(request: Request, project_id: int) -> Response:
    """Start an import of labels (and, for YOLO zips, images); the job's report lists what
    matched, what was created and the concept names that matched nothing."""
    from labeling.services.interchange import interchange_import_create

    project, membership = project_membership(request.user, project_id)
    check_role(membership, ADMIN)
    payload = ImportSerializer(data=request.data)
    payload.is_valid(raise_exception=True)
    job = interchange_import_create(
        project=project,
        user=request.user,
        format=payload.validated_data["format"],
        uploaded_file=payload.validated_data["file"],
        options={},
    )
    return Response(job_json(job), status=202)


@extend_schema(responses=OpenApiTypes.OBJECT)
@api_view(["GET"])
def import_view(request: Request, job_id: int) -> Response:
    return Response(job_json(_job(request, job_id, InterchangeJob.Kind.IMPORT)))
