"""Reviewer pages: the tier queue (keyboard first), bulk approval, and the tiers' settings."""

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
    Project,
    RejectReason,
    ReviewDecision,
    ReviewTier,
    Role,
)
from labeling.permissions import ADMIN, project_view
from labeling.services.errors import ServiceError
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


def _review_context(
    request: HttpRequest, project: Project, annotation: Annotation | None, **extra
) -> dict:
    groups = selectors.label_form(project)
    others = []
    if annotation is not None:
        others = list(
            Annotation.objects.filter(input_id=annotation.input_id)
            .exclude(id=annotation.id)
            .exclude(status=AnnotationStatus.SUPERSEDED)
            .select_related("author")
            .prefetch_related("labels__concept", "decisions")
        )
    return {
        "project": project,
        "annotation": annotation,
        "tier": reviewer_tier(project, request.user, request.membership),
        "labels": list(annotation.labels.all()) if annotation else [],
        "label_ids": [label.concept_id for label in annotation.labels.all()] if annotation else [],
        "others": others,
        "decisions": list(annotation.decisions.all()) if annotation else [],
        "groups": groups,
        "reasons": RejectReason.objects.filter(project=project),
        **extra,
    }


def _render(
    request: HttpRequest, project: Project, annotation: Annotation | None, status=200, **extra
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
    reason = request.POST.get("reason", "").strip() or request.POST.get("reason_choice", "")
    concepts = [int(v) for v in request.POST.getlist("concepts") if v.isdigit()]
    try:
        decision = review_decide(
            annotation=annotation,
            reviewer=request.user,
            action=request.POST.get("action", ""),
            reason=reason,
            concept_ids=concepts,
        )
    except ServiceError as exc:
        annotation.refresh_from_db()
        still_mine = annotation.review_leased_to_id == request.user.id
        current = annotation if still_mine else _next(request, project)
        return _render(request, project, current, status=422, error=str(exc))
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
