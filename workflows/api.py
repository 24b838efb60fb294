"""REST API v1: workflows of a project, as in Clarifai's docs. List, create, read, update
(a new version), delete, validate without saving, run on the project (a background job to
poll), and ``results``: a dry run on an uploaded image with every node's output."""

from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.decorators import api_view, parser_classes, throttle_classes
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import ScopedRateThrottle, UserRateThrottle

from labeling.ids import MAX_ID
from labeling.permissions import ADMIN, check_role, project_membership
from workflows.model_ports import portal_registry
from workflows.models import Workflow, WorkflowRun
from workflows.selectors import project_workflows, workflow_current, workflow_version_pick
from workflows.services.runs import workflow_dry_run_create, workflow_run_start, workflow_run_wait
from workflows.services.workflows import (
    WorkflowRejected,
    workflow_create,
    workflow_delete,
    workflow_update,
    workflow_validate,
)

RESULTS_WAIT_SECONDS = 20.0


def workflow_json(workflow: Workflow, *, versions: bool = False) -> dict:
    current = workflow_current(workflow)
    data = {
        "id": workflow.id,
        "project": workflow.project_id,
        "name": workflow.name,
        "description": workflow.description,
        "is_default": workflow.is_default,
        "version": current.number if current else None,
        "version_id": current.id if current else None,
        "document": current.document if current else None,
        "created_at": workflow.created_at,
        "updated_at": workflow.updated_at,
    }
    if versions:
        data["versions"] = [
            {"id": v.id, "number": v.number, "created_at": v.created_at}
            for v in workflow.versions.order_by("-number")
        ]
    return data


def run_json(run: WorkflowRun) -> dict:
    version = run.workflow_version
    return {
        "id": run.id,
        "workflow": version.workflow_id,
        "version": version.number,
        "kind": run.kind,
        "status": run.status,
        "total": run.total,
        "done": run.done,
        "percent": run.percent,
        "counts": run.counts,
        "error": run.error,
        "result": run.result,
        "created_at": run.created_at,
        "finished_at": run.finished_at,
    }


def _rejected(exc: WorkflowRejected, status: int = 400) -> Response:
    return Response(
        {"error": str(exc), "problems": [p.to_dict() for p in exc.problems]}, status=status
    )


class WorkflowWriteSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100, required=False)
    description = serializers.CharField(required=False, allow_blank=True)
    document = serializers.JSONField(required=False, help_text='The graph: {"nodes": [...]}.')


class DocumentSerializer(serializers.Serializer):
    document = serializers.JSONField(help_text='The graph to check: {"nodes": [...]}.')


class RunSerializer(serializers.Serializer):
    version = serializers.IntegerField(
        required=False,
        min_value=1,
        max_value=MAX_ID,
        help_text="A version number (default: current).",
    )
    input_ids = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=MAX_ID),
        required=False,
        allow_null=True,
        help_text="Run on these inputs only (default: those with no accepted label).",
    )


class ResultsSerializer(serializers.Serializer):
    file = serializers.FileField(help_text="An image to run the workflow on (nothing is written).")
    version = serializers.IntegerField(required=False, min_value=1, max_value=MAX_ID)


LIST_OF_OBJECTS = {200: {"type": "array", "items": {"type": "object"}}}


@extend_schema(responses=OpenApiTypes.OBJECT)
@api_view(["GET"])
def node_kinds_view(request: Request) -> Response:
    """Every node kind a workflow can use: operators (ports, params) and model types."""
    registry = portal_registry()
    return Response(
        {
            "operators": [k.describe() for k in registry.operators.values()],
            "model_types": [
                {
                    "type": m.key,
                    "consumes": [{"name": p.name, "type": str(p.type)} for p in m.consumes],
                    "produces": [{"name": p.name, "type": str(p.type)} for p in m.produces],
                }
                for m in registry.model_types.values()
            ],
        }
    )


@extend_schema(methods=["GET"], operation_id="project_workflows_list", responses=LIST_OF_OBJECTS)
@extend_schema(
    methods=["POST"], request=WorkflowWriteSerializer, responses={201: OpenApiTypes.OBJECT}
)
@api_view(["GET", "POST"])
def workflows_view(request: Request, project_id: int) -> Response:
    """GET: the project's workflows (members). POST creates one (admins); a document with
    problems is refused with each problem naming its node."""
    project, membership = project_membership(request.user, project_id)
    if request.method == "GET":
        return Response([workflow_json(w) for w in project_workflows(project)])
    check_role(membership, ADMIN)
    payload = WorkflowWriteSerializer(data=request.data)
    payload.is_valid(raise_exception=True)
    data = payload.validated_data
    if "document" not in data:
        return Response({"error": "Send the workflow's `document`."}, status=400)
    try:
        workflow = workflow_create(
            project=project,
            name=data.get("name", ""),
            description=data.get("description", ""),
            document=data["document"],
            actor=request.user,
        )
    except WorkflowRejected as exc:
        return _rejected(exc)
    return Response(workflow_json(workflow, versions=True), status=201)


@extend_schema(request=DocumentSerializer, responses=OpenApiTypes.OBJECT)
@api_view(["POST"])
def workflows_validate_view(request: Request, project_id: int) -> Response:
    """Check a document in this project without saving it: ``{"valid", "problems"}``."""
    project, membership = project_membership(request.user, project_id)
    check_role(membership, ADMIN)
    payload = DocumentSerializer(data=request.data)
    payload.is_valid(raise_exception=True)
    problems = workflow_validate(
        project=project, document=payload.validated_data["document"], actor=request.user
    )
    return Response({"valid": not problems, "problems": [p.to_dict() for p in problems]})


def _workflow(request: Request, workflow_id: int, admin: bool = False) -> Workflow:
    workflow = get_object_or_404(Workflow.objects.select_related("project"), id=workflow_id)
    _, membership = project_membership(request.user, workflow.project_id)
    if admin:
        check_role(membership, ADMIN)
    return workflow


@extend_schema(methods=["GET"], responses=OpenApiTypes.OBJECT)
@extend_schema(
    methods=["PUT", "PATCH"], request=WorkflowWriteSerializer, responses=OpenApiTypes.OBJECT
)
@extend_schema(methods=["DELETE"], responses={204: None})
@api_view(["GET", "PUT", "PATCH", "DELETE"])
def workflow_view(request: Request, workflow_id: int) -> Response:
    """GET: the workflow, its current document and its versions. PUT/PATCH: rename, describe
    and save a new version (``document``). DELETE removes it (not the project's default)."""
    workflow = _workflow(request, workflow_id, admin=request.method != "GET")
    if request.method == "GET":
        return Response(workflow_json(workflow, versions=True))
    if request.method == "DELETE":
        workflow_delete(workflow=workflow, actor=request.user)
        return Response(status=204)
    payload = WorkflowWriteSerializer(data=request.data, partial=request.method == "PATCH")
    payload.is_valid(raise_exception=True)
    data = payload.validated_data
    try:
        workflow_update(
            workflow=workflow,
            actor=request.user,
            document=data.get("document"),
            name=data.get("name"),
            description=data.get("description"),
        )
    except WorkflowRejected as exc:
        return _rejected(exc)
    workflow.refresh_from_db()
    return Response(workflow_json(workflow, versions=True))


@extend_schema(request=DocumentSerializer, responses=OpenApiTypes.OBJECT)
@api_view(["POST"])
def workflow_validate_view(request: Request, workflow_id: int) -> Response:
    """Check a document for this workflow's project without saving it."""
    workflow = _workflow(request, workflow_id, admin=True)
    payload = DocumentSerializer(data=request.data)
    payload.is_valid(raise_exception=True)
    problems = workflow_validate(
        project=workflow.project, document=payload.validated_data["document"], actor=request.user
    )
    return Response({"valid": not problems, "problems": [p.to_dict() for p in problems]})


def _version(workflow: Workflow, number: int | None):
    version = workflow_version_pick(workflow, number)
    if version is None:
        from rest_framework.exceptions import NotFound

        raise NotFound(f"The workflow has no version {number}.")
    return version


@extend_schema(request=RunSerializer, responses={202: OpenApiTypes.OBJECT})
@api_view(["POST"])
def workflow_runs_view(request: Request, workflow_id: int) -> Response:
    """Run a version (default: the current one) on the project's inputs, in the background;
    poll ``GET /workflows/runs/{id}/`` for its progress."""
    workflow = _workflow(request, workflow_id, admin=True)
    payload = RunSerializer(data=request.data)
    payload.is_valid(raise_exception=True)
    data = payload.validated_data
    try:
        run = workflow_run_start(
            workflow_version=_version(workflow, data.get("version")),
            input_ids=data.get("input_ids"),
            actor=request.user,
        )
    except WorkflowRejected as exc:
        return _rejected(exc)
    return Response(run_json(run), status=202)


@extend_schema(responses=OpenApiTypes.OBJECT)
@api_view(["GET"])
def workflow_run_view(request: Request, run_id: int) -> Response:
    """A run or dry run: status, progress, rows written per node, or a dry run's outputs."""
    run = get_object_or_404(
        WorkflowRun.objects.select_related("workflow_version__workflow"), id=run_id
    )
    project_membership(request.user, run.workflow_version.workflow.project_id)
    return Response(run_json(run))


@extend_schema(request={"multipart/form-data": ResultsSerializer}, responses=OpenApiTypes.OBJECT)
@api_view(["POST"])
@parser_classes([MultiPartParser, FormParser])
@throttle_classes([UserRateThrottle, ScopedRateThrottle])
def workflow_results_view(request: Request, workflow_id: int) -> Response:
    """Post workflow results: a dry run on an image, on a worker. Writes nothing; returns
    every node's output (200 when the worker answered within 20 s, else 202 to poll)."""
    workflow = _workflow(request, workflow_id)
    payload = ResultsSerializer(data=request.data)
    payload.is_valid(raise_exception=True)
    data = payload.validated_data
    try:
        run = workflow_dry_run_create(
            workflow_version=_version(workflow, data.get("version")),
            actor=request.user,
            data=data["file"].read(),
        )
    except WorkflowRejected as exc:
        return _rejected(exc)
    run = workflow_run_wait(run, RESULTS_WAIT_SECONDS)
    code = {WorkflowRun.Status.QUEUED: 202, WorkflowRun.Status.FAILED: 400}.get(run.status, 200)
    return Response(run_json(run), status=code)


workflow_results_view.cls.throttle_scope = "predict"
