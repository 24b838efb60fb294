"""Reviewer pages: the tier queue (keyboard first), bulk approval, and the tiers' settings."""

import json
import math
from dataclasses import dataclass, replace
from urllib.parse import urlencode

from django.contrib import messages
from django.core.paginator import Paginator
from django.db.models import Count
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path
from django.views.decorators.http import require_POST

from labeling import selectors
from labeling.models import (
    Annotation,
    AnnotationSource,
    AnnotationStatus,
    Concept,
    Project,
    RejectReason,
    ReviewDecision,
    ReviewTier,
    Role,
)
from labeling.permissions import ADMIN, project_view
from labeling.services.errors import ServiceError
from labeling.services.queue import region_concept_ids
from labeling.services.review import (
    review_bulk_approve,
    review_decide,
    review_next,
    review_settings_update,
    reviewer_tier,
)

Action = ReviewDecision.Action
REVIEWERS = (Role.REVIEWER, Role.ADMIN)
BULK_LIMIT = 5000
BULK_PAGE_SIZE = 24  # thumbnails per page of the bulk approval page


# Box colours, one per concept of the project's box groups in taxonomy order (a set whose
# neighbours differ in hue and lightness, readable on photos and on white).
PALETTE = (
    "#e6194b",
    "#3cb44b",
    "#4363d8",
    "#f58231",
    "#911eb4",
    "#0fa5b8",
    "#f032e6",
    "#9a6324",
    "#469990",
    "#800000",
)


@dataclass(frozen=True)
class BoxConcept:
    id: int
    name: str
    key: str
    color: str
    count: int = 0  # boxes of it on the annotation shown


@dataclass(frozen=True)
class BoxView:
    """A box as the review page draws it: its place in percent of the image."""

    concept_id: int
    name: str
    color: str
    x: float
    y: float
    w: float
    h: float
    confidence: float | None = None

    def _percent(self, value: float) -> str:
        return f"{100 * value:.4f}"

    @property
    def left(self) -> str:
        return self._percent(self.x)

    @property
    def top(self) -> str:
        return self._percent(self.y)

    @property
    def width(self) -> str:
        return self._percent(self.w)

    @property
    def height(self) -> str:
        return self._percent(self.h)

    @property
    def caption(self) -> str:
        if self.confidence is None:
            return self.name
        return f"{self.name} {self.confidence:.2f}"

    def as_json(self) -> dict:
        return {
            "concept": self.concept_id,
            "x": self.x,
            "y": self.y,
            "w": self.w,
            "h": self.h,
            "confidence": self.confidence,
        }


def _colour(concept_id: int, order: dict[int, int]) -> str:
    return PALETTE[order.get(concept_id, concept_id) % len(PALETTE)]


def _submitted_boxes(raw, names: dict[int, str], order: dict[int, int]) -> list[BoxView]:
    """The boxes a refused correction sent, drawn again so the reviewer's edits stay on
    screen (whatever cannot be drawn is left out: the error says what was wrong)."""
    shown = []
    for item in raw if isinstance(raw, list) else []:
        try:
            concept = int(item["concept"])
            x, y, w, h = (float(item[k]) for k in ("x", "y", "w", "h"))
        except (KeyError, TypeError, ValueError):
            continue
        if concept in names and all(math.isfinite(v) for v in (x, y, w, h)) and w > 0 < h:
            shown.append(BoxView(concept, names[concept], _colour(concept, order), x, y, w, h))
    return shown


def _boxes_context(
    project: Project, annotation: Annotation, groups, submitted_regions=None
) -> dict:
    """What the review page needs to draw the annotation's boxes and edit them: the box
    concepts (legend, keys, colours), the boxes, and the same as JSON for the editor."""
    boxed = region_concept_ids(project)
    keys = {c.concept.id: c.key for g in groups for c in g.choices}
    choices = [c.concept for g in groups for c in g.choices if c.concept.id in boxed]
    order = {concept.id: i for i, concept in enumerate(choices)}
    regions = list(annotation.regions.select_related("concept"))
    boxes = [
        BoxView(
            r.concept_id,
            r.concept.name,
            _colour(r.concept_id, order),
            r.x,
            r.y,
            r.w,
            r.h,
            r.confidence,
        )
        for r in regions
    ]
    shown = boxes
    if submitted_regions is not None:
        names = dict(Concept.objects.filter(project=project).values_list("id", "name"))
        shown = _submitted_boxes(submitted_regions, names, order)
    counts = {}
    for box in shown:
        counts[box.concept_id] = counts.get(box.concept_id, 0) + 1
    concepts = [
        BoxConcept(c.id, c.name, keys.get(c.id, ""), _colour(c.id, order), counts.get(c.id, 0))
        for c in choices
    ]
    input = annotation.input
    return {
        "boxes_on": bool(concepts or boxes),
        "boxes": shown,
        "box_concepts": concepts,
        "boxes_edited": submitted_regions is not None,
        "has_model_boxes": any(b.confidence is not None for b in boxes),
        "stored_box_count": len(boxes),
        "regions_json": json.dumps([b.as_json() for b in shown]),
        "boxes_data": {
            "width": input.width or 1,
            "height": input.height or 1,
            "concepts": [
                {"id": c.id, "name": c.name, "key": c.key, "color": c.color} for c in concepts
            ],
            "boxes": [b.as_json() for b in boxes],
            "edited": [b.as_json() for b in shown] if submitted_regions is not None else None,
        },
    }


def _review_context(
    request: HttpRequest,
    project: Project,
    annotation: Annotation | None,
    *,
    submitted: dict | None = None,
    **extra,
) -> dict:
    """``submitted``: a refused decision sent back to fix (its action, and for a correction
    its labels and boxes), shown with the form it came from still open."""
    groups = selectors.label_form(project)
    others = []
    boxes = {"boxes_on": False}
    label_ids = []
    if annotation is not None:
        others = list(
            Annotation.objects.filter(input_id=annotation.input_id)
            .exclude(id=annotation.id)
            .exclude(status=AnnotationStatus.SUPERSEDED)
            .select_related("author")
            .prefetch_related("labels__concept", "decisions")
        )
        label_ids = [label.concept_id for label in annotation.labels.all()]
        correcting = submitted is not None and submitted["action"] == Action.CORRECT
        boxes = _boxes_context(
            project, annotation, groups, submitted["regions"] if correcting else None
        )
        if correcting:
            label_ids = submitted["concept_ids"]
    boxed = {c.id for c in boxes.get("box_concepts", [])}
    label_groups = [
        replace(g, choices=[c for c in g.choices if c.concept.id not in boxed]) for g in groups
    ]
    return {
        "project": project,
        "annotation": annotation,
        "tier": reviewer_tier(project, request.user, request.membership),
        "labels": list(annotation.labels.all()) if annotation else [],
        "label_ids": label_ids,
        "others": others,
        "decisions": list(annotation.decisions.all()) if annotation else [],
        "groups": groups,
        "label_groups": [g for g in label_groups if g.choices],
        "reasons": RejectReason.objects.filter(project=project),
        "open_form": submitted["action"] if submitted else "",
        "submitted_reason": submitted.get("reason", "") if submitted else "",
        **boxes,
        **extra,
    }


def _render(
    request: HttpRequest,
    project: Project,
    annotation: Annotation | None,
    status: int = 200,
    **extra,
) -> HttpResponse:
    template = "labeling/review/_item.html" if request.htmx else "labeling/review/page.html"
    return render(
        request, template, _review_context(request, project, annotation, **extra), status=status
    )


def _next(request: HttpRequest, project: Project) -> Annotation | None:
    tier = reviewer_tier(project, request.user, request.membership)
    return review_next(project=project, user=request.user, tier=tier)


@project_view(REVIEWERS)
def review_page(request: HttpRequest, project: Project) -> HttpResponse:
    return _render(request, project, _next(request, project))


@require_POST
@project_view(REVIEWERS)
def review_decide_view(request: HttpRequest, project: Project, annotation_id: int):
    annotation = get_object_or_404(Annotation, id=annotation_id, project=project)
    action = request.POST.get("action", "")
    reason = request.POST.get("reason", "").strip() or request.POST.get("reason_choice", "")
    concepts = [int(v) for v in request.POST.getlist("concepts") if v.isdigit()]
    regions = None  # the box editor sends the boxes only once the reviewer changed them
    try:
        if "regions" in request.POST:
            try:
                regions = json.loads(request.POST["regions"])
            except ValueError:
                raise ServiceError("The boxes sent could not be read; reload the page.") from None
        decision = review_decide(
            annotation=annotation,
            reviewer=request.user,
            action=action,
            reason=reason,
            concept_ids=concepts,
            regions=regions,
        )
    except ServiceError as exc:
        annotation.refresh_from_db()
        still_mine = annotation.review_leased_to_id == request.user.id
        current = annotation if still_mine else _next(request, project)
        submitted = None
        if still_mine and action in (Action.REJECT, Action.CORRECT):
            submitted = {
                "action": action,
                "reason": request.POST.get("reason", ""),
                "concept_ids": concepts,
                "regions": regions,
            }
        return _render(request, project, current, status=422, error=str(exc), submitted=submitted)
    notice = f"{decision.get_action_display()} (input #{annotation.input_id})."
    if request.POST.get("action") == Action.CORRECT and decision.action == Action.APPROVE:
        notice = f"No change: recorded as an approval (input #{annotation.input_id})."
    return _render(request, project, _next(request, project), notice=notice)


def _bulk_queryset(project: Project, user, tier: int, params) -> tuple:
    annotations = Annotation.objects.filter(
        project=project, status=AnnotationStatus.PENDING_REVIEW, review_tier=tier
    ).exclude(author=user)
    concept = params.get("concept", "")
    source = params.get("source", "")
    min_score = params.get("min_score", "")
    if concept.isdigit():
        annotations = annotations.filter(labels__concept_id=int(concept))
    if source in AnnotationSource.values:
        annotations = annotations.filter(source=source)
    if min_score:
        try:
            score = float(min_score)
        except ValueError:
            score = None
        if score is not None:
            annotations = annotations.filter(labels__confidence__gte=score)
    filters = {"concept": concept, "source": source, "min_score": min_score}
    return annotations.distinct().order_by("id"), filters


@project_view(REVIEWERS)
def review_bulk(request: HttpRequest, project: Project) -> HttpResponse:
    tier = reviewer_tier(project, request.user)
    params = request.POST if request.method == "POST" else request.GET
    annotations, filters = _bulk_queryset(project, request.user, tier, params)
    if request.method == "POST" and request.POST.get("confirm") == "yes":
        ids = list(annotations.values_list("id", flat=True)[:BULK_LIMIT])
        approved = review_bulk_approve(project=project, reviewer=request.user, annotation_ids=ids)
        messages.success(request, f"Approved {approved} annotations at tier {tier}.")
        return redirect("labeling:review_bulk", project_id=project.id)
    shown = annotations.select_related("input").prefetch_related("labels__concept")
    page = Paginator(shown, BULK_PAGE_SIZE).get_page(params.get("page"))
    return render(
        request,
        "labeling/review/bulk.html",
        {
            "project": project,
            "tier": tier,
            "count": page.paginator.count,
            "page": page,
            "filter_query": urlencode({k: v for k, v in filters.items() if v}),
            "filters": filters,
            "choices": selectors.label_choices(project),
            "sources": AnnotationSource.choices,
            "limit": BULK_LIMIT,
        },
    )


@project_view(ADMIN)
def review_settings(request: HttpRequest, project: Project) -> HttpResponse:
    if request.method == "POST":
        post = request.POST
        try:
            count = int(post.get("tiers", "0"))
            review_settings_update(
                project=Project.objects.get(id=project.id),
                tiers=[
                    (
                        post.get(f"mode_{n}", ReviewTier.Mode.ALL),
                        float(post.get(f"rate_{n}", "0.1") or 0.1),
                    )
                    for n in range(1, count + 1)
                ],
                reasons=post.get("reasons", "").splitlines(),
                consensus_auto_accept=bool(post.get("consensus_auto_accept")),
                consensus_majority=int(post.get("consensus_majority") or 0),
                gold_rate=float(post.get("gold_rate") or 0),
                region_iou=float(post["region_iou"]) if post.get("region_iou") else None,
            )
        except ServiceError as exc:  # before ValueError, which it extends
            messages.error(request, str(exc))
        except ValueError:
            messages.error(request, "Tiers, majority and rates must be numbers.")
        else:
            messages.success(request, "Review settings saved.")
            return redirect("labeling:review_settings", project_id=project.id)
    rules = {t.number: t for t in ReviewTier.objects.filter(project=project)}
    tiers = [
        {
            "number": n,
            "mode": rules[n].mode if n in rules else ReviewTier.Mode.ALL,
            "rate": rules[n].sample_rate if n in rules else 0.1,
            "reviewers": project.memberships.filter(
                role=Role.REVIEWER, review_tier=n
            ).select_related("user"),
        }
        for n in (1, 2, 3)
    ]
    return render(
        request,
        "labeling/review/settings.html",
        {
            "project": project,
            "tiers": tiers,
            "modes": ReviewTier.Mode.choices,
            "reasons": "\n".join(r.text for r in RejectReason.objects.filter(project=project)),
            "pending": Annotation.objects.filter(
                project=project, status=AnnotationStatus.PENDING_REVIEW
            )
            .exclude(review_tier=0)
            .values("review_tier")
            .order_by("review_tier")
            .annotate(n=Count("id")),
        },
    )


urlpatterns = [
    path("projects/<id:project_id>/review/", review_page, name="review"),
    path("projects/<id:project_id>/review/bulk/", review_bulk, name="review_bulk"),
    path("projects/<id:project_id>/review/settings/", review_settings, name="review_settings"),
    path(
        "projects/<id:project_id>/review/<id:annotation_id>/",
        review_decide_view,
        name="review_decide",
    ),
]
