"""REST API v1: a project's webhooks and their delivery log (admins). See docs/webhooks.md."""

from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.decorators import api_view, parser_classes
from rest_framework.parsers import JSONParser
from rest_framework.request import Request
from rest_framework.response import Response

from labeling.permissions import ADMIN, check_role, project_membership
from webhooks.models import Webhook, WebhookDelivery
from webhooks.services import webhook_create, webhook_delete


class WebhookSerializer(serializers.ModelSerializer):
    class Meta:
        model = Webhook
        fields = ["id", "url", "events", "active", "created_at"]
        read_only_fields = ["id", "created_at"]


@extend_schema(request=WebhookSerializer, responses=WebhookSerializer(many=True))
@api_view(["GET", "POST"])
@parser_classes([JSONParser])
def webhooks_view(request: Request, project_id: int) -> Response:
    """A project's webhooks (admins). POST registers one; the answer carries its signing
    secret, shown this once."""
    project, membership = project_membership(request.user, project_id)
    check_role(membership, ADMIN)
    if request.method == "GET":
        return Response(WebhookSerializer(project.webhooks.all(), many=True).data)
    payload = WebhookSerializer(data=request.data)
    payload.is_valid(raise_exception=True)
    hook = webhook_create(
        project=project,
        actor=request.user,
        url=payload.validated_data["url"],
        events=payload.validated_data.get("events") or [],
    )
    return Response(WebhookSerializer(hook).data | {"secret": hook.secret}, status=201)


def _webhook(request: Request, webhook_id: int) -> Webhook:
    hook = get_object_or_404(Webhook, id=webhook_id)
    _, membership = project_membership(request.user, hook.project_id)
    check_role(membership, ADMIN)
    return hook


@extend_schema(responses=OpenApiTypes.OBJECT)
@api_view(["DELETE"])
def webhook_view(request: Request, webhook_id: int) -> Response:
    webhook_delete(webhook=_webhook(request, webhook_id), actor=request.user)
    return Response(status=204)


@extend_schema(responses=OpenApiTypes.OBJECT)
@api_view(["GET"])
def webhook_deliveries_view(request: Request, webhook_id: int) -> Response:
    """The delivery log: the last 100 deliveries with their outcome."""
    hook = _webhook(request, webhook_id)
    deliveries = WebhookDelivery.objects.filter(webhook=hook)[:100]
    return Response(
        [
            {
                "id": d.id,
                "event": d.event,
                "status": d.status,
                "attempts": d.attempts,
                "response_status": d.response_status,
                "error": d.error,
                "created_at": d.created_at,
                "delivered_at": d.delivered_at,
            }
            for d in deliveries
        ]
    )
