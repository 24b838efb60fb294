"""REST API v1, queue part: the annotator's next input and the submission of labels."""

from django.db.models import prefetch_related_objects
from django.shortcuts import get_object_or_404
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.decorators import api_view
from rest_framework.request import Request
from rest_framework.response import Response

from labeling.api.regions import RegionSerializer, region_json, regions_from_payload
from labeling.ids import MAX_ID
from labeling.models import Annotation, Input, Role
from labeling.permissions import check_role, project_membership
from labeling.selectors import concepts_resolve
from labeling.services.errors import ServiceError
from labeling.services.queue import Outcome, annotation_submit, queue_next
from labeling.services.review import review_decide, review_next, reviewer_tier

LABELERS = (Role.ANNOTATOR, Role.ADMIN)


class ConceptValueSerializer(serializers.Serializer):
    id = serializers.CharField(max_length=200)
    value = serializers.JSONField(required=False, default=1)


class SubmissionSerializer(serializers.Serializer):
    concepts = ConceptValueSerializer(many=True, required=False)
    concept_ids = serializers.ListField(
        child=serializers.IntegerField(max_value=MAX_ID), required=False
    )
    regions = RegionSerializer(
        many=True, required=False, help_text="Boxes, for concepts of groups that label regions."
    )
    client_token = serializers.CharField(max_length=64, required=False, default="")
    # Annotation.time_spent_ms is a PositiveIntegerField: 32 bits on PostgreSQL.
    time_spent_ms = serializers.IntegerField(
        min_value=0, max_value=2**31 - 1, required=False, allow_null=True
    )

    def validate(self, data):
        if not any(data.get(k) is not None for k in ("concepts", "concept_ids", "regions")):
            raise serializers.ValidationError(
                "Give `concepts` (or `concept_ids`), `regions`, or an empty list."
            )
        return data


def _input_json(input: Input) -> dict:
    args = [input.project_id, input.id]
    return {
        "id": input.id,
        "project": input.project_id,
        "name": input.original_name,
        "width": input.width,
        "height": input.height,
        "split": input.split,
        "metadata": input.metadata,
        "url": reverse("labeling:input_image", args=[*args, "file"]),
        "thumbnail_url": reverse("labeling:input_image", args=[*args, "thumb"]),
    }


@extend_schema(responses=OpenApiTypes.OBJECT)
@api_view(["GET"])
def me_view(request: Request) -> Response:
    """Who the caller is; also the cheapest authenticated request (a benchmark baseline)."""
    return Response({"id": request.user.id, "username": request.user.username})


@extend_schema(responses={200: OpenApiTypes.OBJECT, 204: None})
@api_view(["GET"])
def queue_next_view(request: Request, project_id: int) -> Response:
    """The next input for the caller, leased to them; 204 when their queue is empty."""
    project, membership = project_membership(request.user, project_id)
    check_role(membership, LABELERS)
    slot = queue_next(project=project, user=request.user)
    if slot is None:
        return Response(status=status.HTTP_204_NO_CONTENT)
    return Response({"input": _input_json(slot.input), "lease_expires_at": slot.leased_until})


@extend_schema(
    request=SubmissionSerializer,
    responses={
        201: OpenApiTypes.OBJECT,
        200: OpenApiTypes.OBJECT,
        400: OpenApiTypes.OBJECT,
        409: OpenApiTypes.OBJECT,
    },
)
@api_view(["POST"])
def annotation_create_view(request: Request, input_id: int) -> Response:
    """Submit labels for an input from the caller's queue.

    201 created; 200 when it repeats an earlier submission (same ``client_token``); 409 when
    the lease was lost to another annotator (the labels are kept as a draft).
    """
    input = get_object_or_404(Input.objects.select_related("project"), id=input_id)
    project, membership = project_membership(request.user, input.project_id)
    check_role(membership, LABELERS)
    payload = SubmissionSerializer(data=request.data)
    payload.is_valid(raise_exception=True)
    data = payload.validated_data
    concept_ids = list(data.get("concept_ids") or [])
    if data.get("concepts"):
        resolved, unknown = concepts_resolve(project, data["concepts"])
        if unknown:
            return Response({"error": "Unknown concepts.", "unknown": unknown}, status=400)
        concept_ids += resolved
    try:
        regions = regions_from_payload(project, data.get("regions") or [])
        submission = annotation_submit(
            project=project,
            user=request.user,
            input=input,
            concept_ids=concept_ids,
            regions=regions,
            time_spent_ms=data.get("time_spent_ms"),
            client_token=data["client_token"],
        )
    except ServiceError as exc:
        return Response({"error": str(exc)}, status=400)
    if submission.outcome is Outcome.LOST:
        return Response(
            {"error": submission.message, "draft": submission.draft.id},
            status=status.HTTP_409_CONFLICT,
        )
    annotation = submission.annotation
    repeated = submission.outcome is Outcome.REPEATED
    body = {
        "id": annotation.id,
        "input": input.id,
        "status": annotation.status,
        "concepts": (
            list(annotation.labels.values_list("concept_id", flat=True))
            if repeated
            else list(dict.fromkeys(concept_ids))
        ),
        "regions": [region_json(r) for r in annotation.regions.select_related("concept")],
        "repeated": repeated,
    }
    code = status.HTTP_200_OK if submission.outcome is Outcome.REPEATED else 201
    return Response(body, status=code)


REVIEWERS = (Role.REVIEWER, Role.ADMIN)


def _annotation_json(annotation: Annotation) -> dict:
    return {
        "id": annotation.id,
        "input": _input_json(annotation.input),
        "status": annotation.status,
        "review_tier": annotation.review_tier,
        "source": annotation.source,
        "author": annotation.author.username if annotation.author else None,
        "concepts": [
            {"id": label.concept_id, "name": label.concept.name, "confidence": label.confidence}
            for label in annotation.labels.all()
        ],
        "regions": [region_json(r) for r in annotation.regions.all()],
        "review_lease_expires_at": annotation.review_leased_until,
    }


@extend_schema(responses={200: OpenApiTypes.OBJECT, 204: None})
@api_view(["GET"])
def review_next_view(request: Request, project_id: int) -> Response:
    """The next annotation waiting at the caller's review tier, leased to them; 204 if none."""
    project, membership = project_membership(request.user, project_id)
    check_role(membership, REVIEWERS)
    tier = reviewer_tier(project, request.user, membership)
    annotation = review_next(project=project, user=request.user, tier=tier)
    if annotation is None:
        return Response(status=status.HTTP_204_NO_CONTENT)
    prefetch_related_objects([annotation], "labels__concept", "regions__concept")
    return Response(_annotation_json(annotation))


class DecisionSerializer(serializers.Serializer):
    action = serializers.ChoiceField(choices=["approve", "reject", "correct"])
    reason = serializers.CharField(max_length=300, required=False, default="", allow_blank=True)
    concept_ids = serializers.ListField(
        child=serializers.IntegerField(max_value=MAX_ID),
        required=False,
        help_text="For a correction: the right whole-input labels (left out: kept as they are).",
    )
    regions = RegionSerializer(
        many=True,
        required=False,
        help_text="For a correction: the right boxes, all of them, as in a submission (left "
        "out: kept as they are; an empty list removes them).",
    )


@extend_schema(
    request=DecisionSerializer, responses={201: OpenApiTypes.OBJECT, 409: OpenApiTypes.OBJECT}
)
@api_view(["POST"])
def decision_create_view(request: Request, annotation_id: int) -> Response:
    """Approve, reject (with a reason) or correct (with concept_ids and/or regions) an
    annotation. A correction is a new annotation (``correction``); the original is kept."""
    annotation = get_object_or_404(Annotation, id=annotation_id)
    project, membership = project_membership(request.user, annotation.project_id)
    check_role(membership, REVIEWERS)
    payload = DecisionSerializer(data=request.data)
    payload.is_valid(raise_exception=True)
    data = dict(payload.validated_data)
    try:
        if "regions" in data:
            data["regions"] = regions_from_payload(project, data["regions"])
        decision = review_decide(annotation=annotation, reviewer=request.user, **data)
    except ServiceError as exc:
        return Response({"error": str(exc)}, status=status.HTTP_409_CONFLICT)
    body = {
        "id": decision.id,
        "annotation": annotation.id,
        "tier": decision.tier,
        "action": decision.action,
        "correction": decision.correction_id,
    }
    if decision.correction is not None:
        body["regions"] = [
            region_json(r) for r in decision.correction.regions.select_related("concept")
        ]
    return Response(body, status=status.HTTP_201_CREATED)
