"""Model pages: train, watch progress, read metrics, move thresholds, promote, roll back;
and "find similar" on an input. Admins only, but for "similar"."""

from django.conf import settings
from django.contrib import messages
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from labeling.models import Input, Project
from labeling.permissions import ADMIN, project_view
from labeling.services.errors import ServiceError
from labeling.services.projects import project_update
from training.forms import LoopSettingsForm, ModelCreateForm
from training.models import MLModel, ModelVersion
from training.selectors import (
    auto_label_precision,
    classifier_rows,
    detector_rows,
    live_spot_check,
    model_summary,
    rollback_counts,
    rollback_message,
    threshold_view,
    version_label_counts,
    version_report,
    withheld_concepts,
)
from training.services.embeddings import loop_progress
from training.services.image_search import image_search
from training.services.routing import version_rollback
from training.services.versions import (
    model_create,
    model_router_ensure,
    version_promote,
    version_queue,
)
from training.similar import similar_inputs


def _versions(project: Project):
    return ModelVersion.objects.filter(model__project=project, model__routes=True)


def _run_context(project: Project) -> dict:
    model = model_router_ensure(project=project)
    latest = model.versions.order_by("-number").first()
    busy = latest is not None and (
        latest.is_running or latest.routing.get("status") in ("queued", "running")
    )
    return {"project": project, "model": model, "run": latest, "busy": busy}


@project_view(ADMIN)
def models_page(request: HttpRequest, project: Project) -> HttpResponse:
    form = LoopSettingsForm(instance=Project.objects.get(id=project.id))
    return _render_page(request, project, form)


def _render_page(request, project: Project, form, create_form=None) -> HttpResponse:
    context = _run_context(project)
    model = context["model"]
    context.update(
        form=form,
        versions=model.versions.order_by("-number")[:50],
        progress=loop_progress(project),
        spot=live_spot_check(project),
        withheld=withheld_concepts(model.active_version) if model.active_version else [],
        min_evidence=settings.TRAINING_THRESHOLD_MIN_KEPT,
        detectors=detector_rows(project),
        classifiers=classifier_rows(project),
        create_form=create_form or ModelCreateForm(),
    )
    return render(request, "training/models.html", context)


@project_view(ADMIN)
@require_POST
def model_new(request: HttpRequest, project: Project) -> HttpResponse:
    """A new model of the project, with its type's default parameters."""
    create_form = ModelCreateForm(request.POST)
    if create_form.is_valid():
        try:
            model = model_create(
                project=project, params={}, actor=request.user, **create_form.cleaned_data
            )
        except ServiceError as exc:
            create_form.add_error(None, str(exc))
        else:
            messages.success(request, f"{model.name} ({model.get_type_display()}) created.")
            return redirect("training:models", project.id)
    form = LoopSettingsForm(instance=Project.objects.get(id=project.id))
    return _render_page(request, project, form, create_form)


@project_view(ADMIN)
@require_POST
def model_settings(request: HttpRequest, project: Project) -> HttpResponse:
    form = LoopSettingsForm(request.POST, instance=Project.objects.get(id=project.id))
    if form.is_valid():
        try:
            project_update(project=project, **form.cleaned_data)
        except ServiceError as exc:
            form.add_error(None, str(exc))
        else:
            transaction.on_commit(lambda: _refresh_order(project.id))
            messages.success(request, "Loop settings saved.")
            return redirect("training:models", project.id)
    return _render_page(request, project, form)


def _refresh_order(project_id: int) -> None:
    from training.tasks import queue_priorities_task

    queue_priorities_task.delay(project_id)


@project_view(ADMIN)
@require_POST
def model_train(request: HttpRequest, project: Project) -> HttpResponse:
    model = model_router_ensure(project=project)
    try:
        version_queue(model=model, actor=request.user)
    except ServiceError as exc:
        messages.error(request, str(exc))
    if request.htmx:
        return render(request, "training/_run.html", _run_context(project))
    return redirect("training:models", project.id)


@project_view(ADMIN)
@require_POST
def detector_train(request: HttpRequest, project: Project, model_id: int) -> HttpResponse:
    """Train one of the project's models now: a detector or a classifier besides the
    routing one (its progress shows in its card)."""
    model = get_object_or_404(MLModel, id=model_id, project=project)
    try:
        version = version_queue(model=model, actor=request.user)
    except ServiceError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"{model.name} v{version.number} is queued for training.")
    return redirect("training:models", project.id)


@project_view(ADMIN)
def model_run(request: HttpRequest, project: Project) -> HttpResponse:
    """The run's progress (polled while it trains and routes); when a polled run is over,
    the whole page reloads so versions, stats and charts show the outcome."""
    context = _run_context(project)
    response = render(request, "training/_run.html", context)
    if request.GET.get("polling") and not context["busy"]:
        response["HX-Refresh"] = "true"
    return response


@project_view()
def model_summary_view(request: HttpRequest, project: Project) -> HttpResponse:
    """The dashboard's "model in the loop" card (loaded by htmx: labeling's dashboard does
    not import the model loop)."""
    return render(
        request,
        "training/_summary.html",
        {
            "project": project,
            "model": model_summary(project),
            "is_admin": request.membership.is_admin,
        },
    )


@project_view()
def loop_progress_view(request: HttpRequest, project: Project) -> HttpResponse:
    """Embedding progress and when the first model is due (polled by the dashboard and the
    Models tab); once done, the polling page reloads to show what changed."""
    progress = loop_progress(project)
    response = render(
        request, "training/_progress.html", {"project": project, "progress": progress}
    )
    if request.GET.get("polling") and not progress.busy:
        response["HX-Refresh"] = "true"
    return response


def _version(project: Project, number: int, model_id: int | None = None) -> ModelVersion:
    """A version by the number the pages show: of the routing model (v3 is /versions/3/),
    or of the model ``model_id`` (/models/<id>/versions/3/)."""
    if model_id is None:
        versions = _versions(project)
    else:
        versions = ModelVersion.objects.filter(model__project=project, model_id=model_id)
    return get_object_or_404(versions.select_related("model"), number=number)


def _version_urls(project: Project, version: ModelVersion) -> dict:
    """The version page's own links, for the routing model's versions or another's."""
    model = version.model
    args = [project.id, version.number] if model.routes else [project.id, model.id, version.number]
    suffix = "" if model.routes else "_of"
    return {
        name: reverse(f"training:model_{name}{suffix}", args=args)
        for name in ("version", "threshold", "version_action")
    }


@project_view(ADMIN)
def model_version(
    request: HttpRequest, project: Project, number: int, model_id: int | None = None
) -> HttpResponse:
    version = _version(project, number, model_id)
    return render(
        request,
        "training/version.html",
        {
            "project": project,
            "version": version,
            "model": version.model,
            "urls": _version_urls(project, version),
            "report": version_report(version),
            "spot": auto_label_precision(project, version),
            "labels": version_label_counts(version),
            "min_evidence": settings.TRAINING_THRESHOLD_MIN_KEPT,
            "rollback": rollback_counts(version) if version.promoted_at else None,
        },
    )


@project_view(ADMIN)
def model_threshold(
    request: HttpRequest, project: Project, number: int, model_id: int | None = None
) -> HttpResponse:
    version = _version(project, number, model_id)
    try:
        concept_id = int(request.GET.get("concept", ""))
        threshold = min(max(float(request.GET.get("t", "")), 0.0), 1.0)
        view = threshold_view(version, concept_id, threshold)
    except (KeyError, ValueError) as exc:
        raise Http404("No such concept or threshold.") from exc
    return render(request, "training/_threshold.html", {"view": view, "concept_id": concept_id})


@project_view(ADMIN)
@require_POST
def model_version_action(
    request: HttpRequest, project: Project, number: int, model_id: int | None = None
):
    version = _version(project, number, model_id)
    action = request.POST.get("action")
    try:
        if action == "promote":
            version_promote(version=version, actor=request.user)
            messages.success(request, f"Version {version.number} is live; routing started.")
        elif action == "rollback":
            counts = version_rollback(version=version, actor=request.user)
            messages.success(request, rollback_message(version.number, counts))
        else:
            raise ServiceError(f"Unknown action {action!r}.")
    except ServiceError as exc:
        messages.error(request, str(exc))
    return redirect(_version_urls(project, version)["version"])


@project_view()
def input_similar(request: HttpRequest, project: Project, input_id: int) -> HttpResponse:
    input = get_object_or_404(Input, project=project, id=input_id)
    return render(
        request,
        "training/_similar.html",
        {"project": project, "input": input, "similar": similar_inputs(input)},
    )


@require_POST
@project_view()
def image_search_view(request: HttpRequest, project: Project) -> HttpResponse:
    """The Inputs page's "search by image": the nearest inputs, or why there are none
    (422, shown next to the form)."""
    upload = request.FILES.get("image")
    context = {"project": project, "results": [], "error": ""}
    status = 200
    try:
        if upload is None:
            raise ServiceError("Choose an image to search with.")
        context["results"] = image_search(project=project, upload=upload)
    except ServiceError as exc:
        context["error"], status = str(exc), 422
    return render(request, "training/_image_search.html", context, status=status)
