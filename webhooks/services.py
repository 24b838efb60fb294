"""Webhooks: admins register URLs for a project's events; each event becomes one
``WebhookDelivery`` per subscribed URL, sent by Celery with a signed body and retried with
backoff. See docs/webhooks.md for what a receiver gets.

SSRF: a URL whose host resolves to a loopback, private, link-local (cloud metadata) or
otherwise non-public address is refused when it is registered, and again when each delivery
is sent; the connection then goes to the very addresses that were checked (no second DNS
lookup a rebinding server could answer differently). No redirect is followed and no proxy
is used. ``LABELING_WEBHOOK_ALLOW_PRIVATE`` lifts the address rule (development, an
intranet receiver).
"""

import http.client
import json
import logging
import math
import secrets
import socket
import time
import urllib.request
from collections.abc import Callable
from functools import partial

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from labeling.models import (
    Annotation,
    AnnotationStatus,
    Membership,
    Project,
    ReviewDecision,
    Role,
)
from labeling.services.errors import ServiceError
from webhooks.models import Webhook, WebhookDelivery
from webhooks.rules import (
    ANNOTATION_ACCEPTED,
    EVENTS,
    REVIEW_DECIDED,
    address_is_public,
    backoff_seconds,
    check_url,
    signature_header,
    url_host_port,
)

logger = logging.getLogger(__name__)
Status = WebhookDelivery.Status
USER_AGENT = "Portal-Webhooks/1"


class AddressRefused(Exception):
    """The URL's host resolves to an address the portal does not call."""


# ---------------------------------------------------------------------------- checks


def _check_admin(project: Project, actor) -> None:
    if actor.is_superuser:
        return
    is_admin = Membership.objects.filter(
        project=project, user_id=actor.id, role=Role.ADMIN
    ).exists()
    if not is_admin:
        raise ServiceError("Only the project's admins manage webhooks.")


def _checked_events(events: list[str]) -> list[str]:
    chosen = list(dict.fromkeys(e.strip() for e in events if e.strip()))
    if not chosen:
        raise ServiceError("Pick at least one event to send.")
    unknown = [e for e in chosen if e not in EVENTS]
    if unknown:
        raise ServiceError(f"Unknown event {unknown[0]!r}; the events are {', '.join(EVENTS)}.")
    return chosen


def _resolve(url: str) -> list[tuple]:
    """The socket addresses of the URL's host, every one checked against the address rule.

    Raises ``AddressRefused`` (a rule broken) or ``OSError`` (the name does not resolve).
    """
    host, port = url_host_port(url)
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    if not infos:
        raise OSError(f"{host} has no address")
    if not settings.LABELING_WEBHOOK_ALLOW_PRIVATE:
        refused = sorted({info[4][0] for info in infos if not address_is_public(info[4][0])})
        if refused:
            raise AddressRefused(
                f"{host} resolves to {', '.join(refused)}, a loopback, private or otherwise "
                "non-public address: the portal does not send there (an admin of the server "
                "may allow it with LABELING_WEBHOOK_ALLOW_PRIVATE)."
            )
    return [info[4] for info in infos]


def _checked_url(url: str) -> str:
    url = url.strip()
    problem = check_url(url)
    if problem:
        raise ServiceError(problem)
    try:
        _resolve(url)
    except AddressRefused as exc:
        raise ServiceError(str(exc)) from exc
    except OSError as exc:
        raise ServiceError(f"Cannot resolve the URL's host: {exc}.") from exc
    return url


# ---------------------------------------------------------------------------- registering


def webhook_create(*, project: Project, actor, url: str, events: list[str]) -> Webhook:
    """Register ``url`` for ``events`` of the project, with a new signing secret."""
    _check_admin(project, actor)
    events = _checked_events(events)
    url = _checked_url(url)
    return Webhook.objects.create(
        project=project, url=url, events=events, secret=secrets.token_hex(32), created_by=actor
    )


def webhook_update(
    *,
    webhook: Webhook,
    actor,
    url: str | None = None,
    events: list[str] | None = None,
    active: bool | None = None,
    rotate_secret: bool = False,
) -> Webhook:
    """Change what is given (None keeps it); ``rotate_secret`` makes a new secret, after which
    deliveries are signed with the new one only."""
    _check_admin(webhook.project, actor)
    if events is not None:
        webhook.events = _checked_events(events)
    if url is not None and url.strip() != webhook.url:
        webhook.url = _checked_url(url)
    if active is not None:
        webhook.active = active
    if rotate_secret:
        webhook.secret = secrets.token_hex(32)
    webhook.save(update_fields=["url", "events", "active", "secret"])
    return webhook


def webhook_delete(*, webhook: Webhook, actor) -> None:
    """Remove the webhook and its delivery log; deliveries still queued are dropped."""
    _check_admin(webhook.project, actor)
    webhook.delete()


def webhook_delivery_redeliver(*, delivery: WebhookDelivery, actor) -> WebhookDelivery:
    """Send a failed delivery again (same id and body), from the first attempt."""
    _check_admin(delivery.webhook.project, actor)
    if delivery.status != Status.FAILED:
        raise ServiceError("Only a failed delivery is sent again.")
    with transaction.atomic():
        delivery.status = Status.PENDING
        delivery.attempts = 0
        delivery.error = ""
        delivery.response_status = None
        delivery.save(update_fields=["status", "attempts", "error", "response_status"])
        transaction.on_commit(partial(_queue, delivery.id), robust=True)
    return delivery


# ---------------------------------------------------------------------------- emitting


def _subscribers(project_id: int, event: str) -> list[Webhook]:
    hooks = Webhook.objects.filter(project_id=project_id, active=True).only("id", "events")
    return [hook for hook in hooks if event in hook.events]


def _queue(delivery_id: int) -> None:
    from webhooks.tasks import webhook_deliver_task

    webhook_deliver_task.delay(delivery_id)


def _emit(project_id: int, event: str, data: Callable[[], dict]) -> int:
    """``data`` is only called when some webhook listens, so emitting costs one query."""
    hooks = _subscribers(project_id, event)
    if not hooks:
        return 0
    envelope = {
        "event": event,
        "created_at": timezone.now().isoformat(),
        "project": project_id,
        "data": data(),
    }
    with transaction.atomic():
        for hook in hooks:
            delivery = WebhookDelivery.objects.create(webhook=hook, event=event, payload={})
            delivery.payload = {"id": delivery.id, **envelope}
            delivery.save(update_fields=["payload"])
            transaction.on_commit(partial(_queue, delivery.id), robust=True)
    return len(hooks)


def webhooks_emit(*, project: Project, event: str, payload: dict) -> int:
    """Queue ``event`` to every active webhook of the project subscribed to it; the task is
    sent after the surrounding transaction commits (nothing is sent if it rolls back).
    Returns the number of deliveries."""
    if event not in EVENTS:
        raise ValueError(f"unknown webhook event {event!r}")
    return _emit(project.id, event, lambda: payload)


def _user(user) -> dict | None:
    return None if user is None else {"id": user.id, "username": user.get_username()}


def _annotation_data(annotation: Annotation) -> dict:
    labels = annotation.labels.select_related("concept").order_by("concept_id")
    return {
        "annotation": annotation.id,
        "input": annotation.input_id,
        "concepts": [{"id": label.concept_id, "key": label.concept.key} for label in labels],
        "source": annotation.source,
        "author": _user(annotation.author),
        "corrects": annotation.corrects_id,
    }


def webhooks_emit_annotation_accepted(*, annotation: Annotation) -> int:
    """Emit ``annotation.accepted`` if the annotation is accepted now (else do nothing).

    Called where a person's annotation becomes accepted: on submission, by consensus, by a
    review decision. Not for the model's bulk routing nor for gold items.
    """
    if annotation.status != AnnotationStatus.ACCEPTED:
        return 0
    return _emit(annotation.project_id, ANNOTATION_ACCEPTED, lambda: _annotation_data(annotation))


def _decision_data(decision: ReviewDecision) -> dict:
    result = decision.correction or decision.annotation
    return {
        "decision": decision.id,
        "annotation": decision.annotation_id,
        "input": decision.annotation.input_id,
        "tier": decision.tier,
        "action": decision.action,
        "reason": decision.reason,
        "reviewer": _user(decision.reviewer),
        "bulk": decision.bulk,
        "correction": decision.correction_id,
        "status": result.status,
    }


def webhooks_emit_review_decided(*, decision: ReviewDecision) -> int:
    """Emit ``review.decided`` for a reviewer's decision (call once it is saved)."""
    return _emit(decision.project_id, REVIEW_DECIDED, lambda: _decision_data(decision))


def _finite(value) -> float | None:
    return value if isinstance(value, int | float) and math.isfinite(value) else None


def _version_data(version) -> dict:
    model = version.model
    return {
        "model": model.id,
        "model_name": model.name,
        "version": version.number,
        "version_id": version.id,
        "status": version.status,
        "macro_f1": _finite((version.metrics or {}).get("macro_f1")),
        "live": model.active_version_id == version.id,
        "promotion_reason": (version.promotion or {}).get("reason"),
    }


def webhooks_emit_version(*, version, event: str) -> int:
    """Emit ``model_version.ready`` or ``model_version.promoted`` for a model version."""
    if event not in EVENTS:
        raise ValueError(f"unknown webhook event {event!r}")
    return _emit(version.model.project_id, event, lambda: _version_data(version))


# ---------------------------------------------------------------------------- sending


def _pinned_connection(base: type, addresses: list[tuple]) -> Callable:
    """Stands in for ``base`` in urllib: its socket goes to ``addresses`` (the checked ones)
    instead of resolving the host again; the Host header and TLS still use the URL's name."""

    def connect(address: tuple, timeout: float, source_address=None) -> socket.socket:
        error = None
        for sockaddr in addresses:
            try:
                return socket.create_connection((sockaddr[0], address[1]), timeout, source_address)
            except OSError as exc:
                error = exc
        raise error

    def factory(host, **kwargs):
        connection = base(host, **kwargs)
        connection._create_connection = connect  # what http.client's connect() calls
        return connection

    return factory


class _PinnedHTTPHandler(urllib.request.HTTPHandler):
    def __init__(self, addresses: list[tuple]):
        super().__init__()
        self.addresses = addresses

    def http_open(self, req):
        return self.do_open(_pinned_connection(http.client.HTTPConnection, self.addresses), req)


class _PinnedHTTPSHandler(urllib.request.HTTPSHandler):
    def __init__(self, addresses: list[tuple]):
        super().__init__()
        self.addresses = addresses

    def https_open(self, req):
        return self.do_open(
            _pinned_connection(http.client.HTTPSConnection, self.addresses),
            req,
            context=self._context,
        )


def _post(url: str, body: bytes, headers: dict, addresses: list[tuple]) -> tuple[int, str]:
    """POST once; (status, reason). Only these two handlers: no redirects, no proxies, and
    every status comes back as a response instead of an exception."""
    opener = urllib.request.OpenerDirector()
    opener.add_handler(_PinnedHTTPHandler(addresses))
    opener.add_handler(_PinnedHTTPSHandler(addresses))
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    with opener.open(request, timeout=settings.LABELING_WEBHOOK_TIMEOUT) as response:
        response.read(64 * 1024)  # let the receiver finish writing; the body is not kept
        return response.status, response.reason


def _finish(delivery: WebhookDelivery, status: str, error: str = "") -> None:
    delivery.status = status
    delivery.error = error[:500]
    if status == Status.DELIVERED:
        delivery.delivered_at = timezone.now()
    delivery.save(update_fields=["status", "attempts", "response_status", "error", "delivered_at"])


def webhook_delivery_send(*, delivery_id: int) -> int | None:
    """Make one attempt at a delivery. Returns the seconds to wait before the next attempt,
    or None when done (delivered, given up, or nothing to do). The task's body.

    A delivery that is no longer pending is not sent again (a re-sent task message), so a
    receiver gets each delivery once unless it failed to answer 2xx in time: receivers
    should still ignore an ``X-Portal-Delivery`` id they have already handled.
    """
    delivery = WebhookDelivery.objects.select_related("webhook").filter(id=delivery_id).first()
    if delivery is None or delivery.status != Status.PENDING:
        return None
    webhook = delivery.webhook
    delivery.attempts += 1
    delivery.response_status = None
    if not webhook.active:
        _finish(delivery, Status.FAILED, "The webhook was turned off before this was sent.")
        return None
    try:
        addresses = _resolve(webhook.url)
    except AddressRefused as exc:
        _finish(delivery, Status.FAILED, str(exc))
        return None
    except OSError as exc:
        return _failed_attempt(delivery, f"Cannot resolve the host: {exc}")
    body = json.dumps(delivery.payload, separators=(",", ":")).encode()
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "X-Portal-Event": delivery.event,
        "X-Portal-Delivery": str(delivery.id),
        "X-Portal-Signature": signature_header(webhook.secret, body, int(time.time())),
    }
    try:
        status, reason = _post(webhook.url, body, headers, addresses)
    except (OSError, http.client.HTTPException, ValueError) as exc:
        return _failed_attempt(delivery, f"{type(exc).__name__}: {exc}")
    delivery.response_status = status
    if 200 <= status < 300:
        _finish(delivery, Status.DELIVERED)
        return None
    note = " (redirects are not followed)" if 300 <= status < 400 else ""
    return _failed_attempt(delivery, f"HTTP {status} {reason}{note}")


def _failed_attempt(delivery: WebhookDelivery, error: str) -> int | None:
    if delivery.attempts >= settings.LABELING_WEBHOOK_MAX_ATTEMPTS:
        _finish(delivery, Status.FAILED, f"Gave up after {delivery.attempts} attempts: {error}")
        return None
    _finish(delivery, Status.PENDING, error)
    return backoff_seconds(delivery.attempts)
