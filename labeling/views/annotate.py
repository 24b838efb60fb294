"""The annotator's pages: label the next input (htmx, keyboard first), history, drafts."""

import json
import uuid
from datetime import timedelta

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from labeling import selectors
from labeling.models import (
    Annotation,
    AnnotationDraft,
    AnnotationSource,
    AnnotationStatus,
    Input,
    Project,
    QueueSlot,
    Role,
)
from labeling.permissions import project_view
from labeling.services.errors import ServiceError
from labeling.services.queue import (
    Outcome,
    annotation_is_open,
    annotation_relabel,
    annotation_submit,
    annotation_undo,
    draft_resubmit,
    input_skip,
    queue_left,
    queue_next,
)

LABELERS = (Role.ANNOTATOR, Role.ADMIN)
LEFT_CAP = 10_000


def _int_list(values: list[str]) -> list[int]:
    return [int(v) for v in values if v.isdigit()]


def _posted_regions(raw: str) -> list | None:
    """The ``regions`` field: a JSON list of boxes (checked by the service), or None."""
    if not raw.strip():
        return None
    try:
        return json.loads(raw)
    except ValueError:
        raise ServiceError("The boxes could not be read: regions is not valid JSON.") from None


def _editor_boxes(boxes) -> list[dict]:
    """Boxes to start the editor with, keeping only what it can draw (a refused submission
    may carry anything)."""
    if not isinstance(boxes, list):
        return []
    keys = ("concept", "x", "y", "w", "h", "confidence")
    return [{k: b[k] for k in keys if k in b} for b in boxes if isinstance(b, dict)]


def _task_context(
    request: HttpRequest,
    project: Project,
    slot: QueueSlot | None,
    *,
    posted_boxes: list | None = None,
    **extra,
):
    """What the labeling page shows. ``posted_boxes``: the boxes of a refused submission,
    put back in the editor so no work is lost."""
    groups = selectors.label_form(project)
    selected: list[int] = []
    draft = None
    box_choices = selectors.box_choices(groups)
    boxes: list[dict] = []
    pre_annotations: list[dict] = []
    if slot is not None:
        draft = AnnotationDraft.objects.filter(user=request.user, input=slot.input_id).first()
        selected = draft.concept_ids if draft else []
        if box_choices:
            pre_annotations = selectors.input_pre_annotations(
                slot.input_id, {c.id for c in box_choices}
            )
            if posted_boxes is not None:
                boxes = _editor_boxes(posted_boxes)
            elif draft is not None and draft.regions:
                boxes = _editor_boxes(draft.regions)
            else:  # the model's boxes, drawn dashed until the annotator touches them
                boxes = [{**box, "model": True} for box in pre_annotations]
    versions = {
        choice.concept.id: choice.entry.version
        for group in groups
        for choice in group.choices
        if choice.entry
    }
    return {
        "project": project,
        "slot": slot,
        "groups": groups,
        "selected": selected,
        "versions": ",".join(f"{k}:{v}" for k, v in versions.items()),
        "client_token": uuid.uuid4().hex,
        "draft": draft,
        "box_choices": box_choices,
        "pre_annotations": pre_annotations,
        "box_editor": {"choices": [vars(c) for c in box_choices], "boxes": boxes},
        **extra,
    }


def _render_task(
    request: HttpRequest, project: Project, slot: QueueSlot | None, status=200, **extra
) -> HttpResponse:
    context = _task_context(request, project, slot, **extra)
    template = "labeling/annotate/_task.html" if request.htmx else "labeling/annotate/page.html"
    return render(request, template, context, status=status)


@project_view(LABELERS)
def label_page(request: HttpRequest, project: Project) -> HttpResponse:
    return _render_task(request, project, queue_next(project=project, user=request.user))


def _versions(raw: str) -> dict[int, int]:
    pairs = (item.split(":") for item in raw.split(",") if ":" in item)
    return {int(k): int(v) for k, v in pairs if k.isdigit() and v.isdigit()}


@require_POST
@project_view(LABELERS)
def label_submit(request: HttpRequest, project: Project, input_id: int) -> HttpResponse:
    input = get_object_or_404(Input, id=input_id, project=project)
    spent = request.POST.get("time_spent_ms", "")
    concept_ids = _int_list(request.POST.getlist("concepts"))
    regions = None
    try:
        regions = _posted_regions(request.POST.get("regions", ""))
        submission = annotation_submit(
            project=project,
            user=request.user,
            input=input,
            concept_ids=concept_ids,
            regions=regions,
            time_spent_ms=int(spent) if spent.isdigit() else None,
            client_token=request.POST.get("client_token", "")[:64],
            dictionary_versions=_versions(request.POST.get("versions", "")),
        )
    except ServiceError as exc:
        # The same task again, with what the annotator chose and drew still there.
        slot = QueueSlot.objects.filter(input=input, leased_to=request.user).first()
        return _render_task(
            request,
            project,
            slot,
            error=str(exc),
            status=422,
            selected=concept_ids,
            posted_boxes=regions if isinstance(regions, list) else None,
        )
    notice = "" if submission.outcome is Outcome.CREATED else submission.message
    level = "warning" if submission.outcome is Outcome.LOST else "info"
    slot = queue_next(project=project, user=request.user)
    return _render_task(request, project, slot, notice=notice, notice_level=level)


@require_POST
@project_view(LABELERS)
def label_skip(request: HttpRequest, project: Project, input_id: int) -> HttpResponse:
    input = get_object_or_404(Input, id=input_id, project=project)
    input_skip(
        project=project,
        user=request.user,
        input=input,
        reason=request.POST.get("reason", "").strip(),
    )
    slot = queue_next(project=project, user=request.user)
    return _render_task(request, project, slot, notice="Skipped.", notice_level="info")


@require_POST
@project_view(LABELERS)
def label_undo(request: HttpRequest, project: Project) -> HttpResponse:
    try:
        slot = annotation_undo(project=project, user=request.user)
    except ServiceError as exc:
        slot = queue_next(project=project, user=request.user)
        return _render_task(request, project, slot, notice=str(exc), notice_level="warning")
    slot = QueueSlot.objects.select_related("input").get(id=slot.id)
    return _render_task(request, project, slot)  # the draft note says it was undone


@project_view(LABELERS)
def label_stats(request: HttpRequest, project: Project) -> HttpResponse:
    start = timezone.localtime().replace(hour=0, minute=0, second=0, microsecond=0)
    done_today = Annotation.objects.filter(
        project=project, author=request.user, created_at__gte=start
    ).count()
    return render(
        request,
        "labeling/annotate/_stats.html",
        {
            "done_today": done_today,
            "left": queue_left(project=project, user=request.user, cap=LEFT_CAP),
            "cap": LEFT_CAP,
        },
    )


@project_view(LABELERS)
def my_annotations(request: HttpRequest, project: Project) -> HttpResponse:
    status = request.GET.get("status", "")
    concept = request.GET.get("concept", "")
    since = request.GET.get("days", "")
    annotations = (
        Annotation.objects.filter(
            project=project, author=request.user, source=AnnotationSource.HUMAN
        )
        .select_related("input")
        .prefetch_related("labels__concept", "decisions")
        .order_by("-created_at", "-id")
    )
    if status:
        annotations = annotations.filter(status=status)
    if concept.isdigit():
        annotations = annotations.filter(labels__concept_id=int(concept))
    if since.isdigit():
        annotations = annotations.filter(
            created_at__gte=timezone.now() - timedelta(days=int(since))
        )
    page = Paginator(annotations, 40).get_page(request.GET.get("page"))
    for annotation in page:
        annotation.editable = annotation_is_open(annotation, project)
    return render(
        request,
        "labeling/annotate/history.html",
        {
            "project": project,
            "page": page,
            "status": status,
            "concept": concept,
            "days": since,
            "statuses": AnnotationStatus.choices,
            "choices": selectors.label_choices(project),
            "drafts": AnnotationDraft.objects.filter(
                project=project, user=request.user
            ).select_related("input"),
        },
    )


@require_POST
@project_view(LABELERS)
def annotation_fix(request: HttpRequest, project: Project, annotation_id: int) -> HttpResponse:
    annotation = get_object_or_404(
        Annotation, id=annotation_id, project=project, author=request.user
    )
    try:
        annotation_relabel(
            annotation=annotation,
            user=request.user,
            concept_ids=_int_list(request.POST.getlist("concepts")),
        )
        messages.success(request, f"Annotation of input {annotation.input_id} updated.")
    except ServiceError as exc:
        messages.error(request, str(exc))
    return redirect("labeling:my_annotations", project_id=project.id)


@require_POST
@project_view(LABELERS)
def draft_submit(request: HttpRequest, project: Project, draft_id: int) -> HttpResponse:
    draft = get_object_or_404(AnnotationDraft, id=draft_id, project=project, user=request.user)
    try:
        submission = draft_resubmit(draft=draft, user=request.user)
    except ServiceError as exc:
        messages.error(request, str(exc))
    else:
        if submission.outcome is Outcome.LOST:
            messages.warning(request, "That input is still taken by others; the draft is kept.")
        else:
            messages.success(request, f"Draft for input {draft.input_id} submitted.")
    return redirect("labeling:my_annotations", project_id=project.id)
