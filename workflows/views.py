"""The Workflows tab (admins): the project's workflows, and a workflow's page with its graph,
editor, version list, "try it" dry run and "run on project" with progress (htmx polling).

The editor saves, validates and dry-runs through the JSON API (``workflows.api``); the run
on the project is an htmx form whose progress partial polls until the run finishes."""

from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from labeling.models import Concept
from labeling.permissions import ADMIN, project_view
from labeling.services.errors import ServiceError
from workflows.model_ports import portal_registry
from workflows.models import Workflow, WorkflowRun
from workflows.selectors import project_workflows, workflow_runs, workflow_version_pick
from workflows.services.runs import workflow_run_start
from workflows.services.workflows import workflow_create, workflow_default_current

STARTER = {"nodes": [{"id": "input", "type": "input"}]}


def _starter(project) -> dict:
    """A new workflow starts as input -> embed -> classify with the project's classifier."""
    from training.models import MLModel

    router = MLModel.objects.filter(project=project, routes=True).first()
    if router is None:
        return STARTER
    return {
        "nodes": [
            {"id": "input", "type": "input"},
            {
                "id": "embed",
                "type": "model",
                "model": {"type": "embedder", "version": "live"},
                "inputs": [{"node_id": "input"}],
            },
            {
                "id": "classify",
                "type": "model",
                "model": {"type": "context-classifier", "id": router.id, "version": "live"},
                "inputs": [{"node_id": "embed"}],
            },
        ]
    }


@require_http_methods(["GET", "POST"])
@project_view(ADMIN)
def workflow_list_view(request, project):
    if request.method == "POST":
        try:
            workflow = workflow_create(
                project=project,
                name=request.POST.get("name", ""),
                description=request.POST.get("description", ""),
                document=(
                    workflow_default_current(project=project).document
                    if request.POST.get("start") == "routing"
                    else _starter(project)
                ),
                actor=request.user,
            )
        except ServiceError as exc:
            messages.error(request, str(exc))
            return redirect("workflows:list", project.id)
        return redirect("workflows:detail", project.id, workflow.id)
    return render(
        request,
        "workflows/list.html",
        {"project": project, "workflows": project_workflows(project)},
    )


def _kinds() -> dict:
    registry = portal_registry()
    return {
        "operators": [k.describe() for k in registry.operators.values() if k.name != "input"],
        "model_types": [
            {
                "type": m.key,
                "consumes": [{"name": p.name, "type": str(p.type)} for p in m.consumes],
                "produces": [{"name": p.name, "type": str(p.type)} for p in m.produces],
            }
            for m in registry.model_types.values()
        ],
    }


@require_GET
@project_view(ADMIN)
def workflow_detail_view(request, project, workflow_id: int):
    from training.models import MLModel

    workflow = get_object_or_404(Workflow, id=workflow_id, project=project)
    number = request.GET.get("version")
    version = workflow_version_pick(workflow, int(number) if (number or "").isdigit() else None)
    if version is None:
        version = workflow_version_pick(workflow, None)
    models = [
        {"id": m.id, "name": m.name, "type": m.type}
        for m in MLModel.objects.filter(project=project).order_by("id")
    ]
    concepts = [
        {"id": c.id, "key": c.key, "name": c.name}
        for c in Concept.objects.filter(project=project, archived_at__isnull=True)
    ]
    return render(
        request,
        "workflows/detail.html",
        {
            "project": project,
            "workflow": workflow,
            "version": version,
            "versions": workflow.versions.order_by("-number"),
            "editor": {
                "workflow": workflow.id,
                "project": project.id,
                "version": version.number,
                "document": version.document,
                "kinds": _kinds(),
                "models": models,
                "concepts": concepts,
            },
            "run": workflow_runs(workflow).first(),
        },
    )


def _run_partial(request, project, workflow, run, status=200, error=""):
    return render(
        request,
        "workflows/_run.html",
        {"project": project, "workflow": workflow, "run": run, "error": error},
        status=status,
    )


@require_POST
@project_view(ADMIN)
def workflow_run_view(request, project, workflow_id: int):
    """Run the current version on the project's open inputs; answers the progress partial."""
    workflow = get_object_or_404(Workflow, id=workflow_id, project=project)
    try:
        run = workflow_run_start(
            workflow_version=workflow_version_pick(workflow, None), actor=request.user
        )
    except ServiceError as exc:
        last = workflow_runs(workflow).first()
        return _run_partial(request, project, workflow, last, status=400, error=str(exc))
    run.refresh_from_db()
    return _run_partial(request, project, workflow, run)


@require_GET
@project_view(ADMIN)
def workflow_run_progress_view(request, project, workflow_id: int, run_id: int):
    workflow = get_object_or_404(Workflow, id=workflow_id, project=project)
    run = get_object_or_404(WorkflowRun, id=run_id, workflow_version__workflow=workflow)
    return _run_partial(request, project, workflow, run)
