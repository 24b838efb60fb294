"""The audit trail: an input's page (with gold marking), an annotation's timeline, the
project's events and their CSV export. Everything here reads, except the gold form."""

import csv

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_safe

from labeling import audit, selectors
from labeling.models import Annotation, Input, Project, Role
from labeling.permissions import ADMIN, check_role, project_view
from labeling.services.errors import ServiceError
from labeling.services.gold import input_gold_clear, input_gold_set

AUDITORS = (Role.ADMIN, Role.REVIEWER)
EVENTS_PER_PAGE = 50
PIXEL_ART_MAX = 256  # images this small are enlarged with crisp pixels


def _sees_all(request: HttpRequest) -> bool:
    """Admins and reviewers see every annotation and the gold answers. Annotators see only
    their own: others' labels would bias them, and gold items must stay unannounced."""
    return request.membership.role in AUDITORS


@require_http_methods(["GET", "HEAD", "POST"])
@project_view()
def input_detail(request: HttpRequest, project: Project, input_id: int) -> HttpResponse:
    """Any member reads the input; admins POST to set or clear its gold answer."""
    input = get_object_or_404(Input.objects.select_related("batch"), id=input_id, project=project)
    if request.method == "POST":
        check_role(request.membership, ADMIN)
        return _input_gold(request, project, input)
    sees_all = _sees_all(request)
    context = {
        "project": project,
        "input": input,
        "sees_all": sees_all,
        "pixel": max(input.width, input.height) <= PIXEL_ART_MAX,
        "annotations": audit.input_annotations(input, author=None if sees_all else request.user),
        "gold": audit.gold_labels(input) if sees_all else None,
        "groups": selectors.label_form(project) if request.membership.is_admin else [],
    }
    return render(request, "labeling/audit/input.html", context)


def _input_gold(request: HttpRequest, project: Project, input: Input) -> HttpResponse:
    try:
        if request.POST.get("action") == "clear":
            input_gold_clear(input=input, actor=request.user)
            messages.success(request, "No longer a gold item: it is back in the queue.")
        else:
            concept_ids = [int(v) for v in request.POST.getlist("concepts") if v.isdigit()]
            input_gold_set(input=input, concept_ids=concept_ids, actor=request.user)
            messages.success(request, "Marked as a gold item with this answer.")
    except ServiceError as exc:
        messages.error(request, str(exc))
    return redirect("labeling:input_detail", project_id=project.id, input_id=input.id)


@require_safe
@project_view()
def annotation_audit(request: HttpRequest, project: Project, annotation_id: int) -> HttpResponse:
    annotation = get_object_or_404(Annotation, id=annotation_id, project=project)
    sees_all = _sees_all(request)
    if not sees_all and annotation.author_id != request.user.id:
        raise PermissionDenied("Only reviewers, admins and its author see this annotation.")
    return render(
        request,
        "labeling/audit/annotation.html",
        {
            "project": project,
            "timeline": audit.annotation_timeline(annotation),
            "sees_all": sees_all,
        },
    )


@require_safe
@project_view(AUDITORS)
def audit_index(request: HttpRequest, project: Project) -> HttpResponse:
    annotator = request.GET.get("annotator", "")
    action = request.GET.get("action", "")
    if action not in audit.EVENT_KINDS:
        action = ""
    rows = audit.project_events(project, annotator=annotator, action=action)
    page = Paginator(rows, EVENTS_PER_PAGE).get_page(request.GET.get("page"))
    context = {
        "project": project,
        "page": page,
        "events": audit.events_load(project, page.object_list),
        "annotator": annotator,
        "action": action,
        "annotators": audit.project_annotators(project),
        "actions": audit.EVENT_CHOICES,
        "action_label": dict(audit.EVENT_CHOICES).get(action, ""),
    }
    template = "labeling/audit/_events.html" if request.htmx else "labeling/audit/index.html"
    return render(request, template, context)


class _Echo:
    """A file-like object whose write returns the line, for csv.writer into a stream."""

    def write(self, value: str) -> str:
        return value


@require_safe
@project_view(ADMIN)
def audit_csv(request: HttpRequest, project: Project) -> StreamingHttpResponse:
    writer = csv.writer(_Echo())
    lines = (writer.writerow(row) for row in audit.audit_csv_rows(project))
    response = StreamingHttpResponse(lines, content_type="text/csv; charset=utf-8")
    filename = f"project-{project.id}-audit-{timezone.localdate():%Y%m%d}.csv"
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


urlpatterns = [
    path(
        "projects/<id:project_id>/inputs/<id:input_id>/",
        input_detail,
        name="input_detail",
    ),
    path(
        "projects/<id:project_id>/annotations/<id:annotation_id>/",
        annotation_audit,
        name="annotation_audit",
    ),
    path("projects/<id:project_id>/audit/", audit_index, name="audit"),
    path("projects/<id:project_id>/audit.csv", audit_csv, name="audit_csv"),
]
