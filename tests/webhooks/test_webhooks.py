"""Webhook services: registering URLs (admins only, no private addresses), emitting events
into the delivery log, and sending signed deliveries to a real HTTP server with retries."""

import json
import shutil
import socket
import ssl
import subprocess
import threading
import time
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.db import transaction
from django.utils import timezone
from factories import InputFactory, UserFactory

import webhooks.tasks
from labeling.models import (
    AnnotationStatus,
    Project,
    ReviewDecision,
)
from labeling.services.errors import ServiceError
from labeling.services.queue import annotation_submit, queue_next, queue_slots_open
from labeling.services.review import review_decide, review_tiers_configure
from labeling.services.taxonomy import concept_create
from training.models import MLModel, ModelType, ModelVersion
from training.services.versions import version_promote
from webhooks.models import Webhook, WebhookDelivery
from webhooks.rules import EVENTS, backoff_seconds, verify
from webhooks.services import (
    webhook_create,
    webhook_delete,
    webhook_delivery_redeliver,
    webhook_delivery_send,
    webhook_update,
    webhooks_emit,
)

pytestmark = pytest.mark.django_db
Status = WebhookDelivery.Status
PUBLIC_URL = "https://hooks.example.com/portal"
ALL_EVENTS = list(EVENTS)


# ---------------------------------------------------------------------------- helpers


def resolving_to(*ips: str):
    """A stand-in for ``socket.getaddrinfo`` that answers these addresses for any name."""
    calls = []

    def getaddrinfo(host, port, *args, **kwargs):
        calls.append(host)
        return [
            (socket.AF_INET6, socket.SOCK_STREAM, 6, "", (ip, port, 0, 0))
            if ":" in ip
            else (socket.AF_INET, socket.SOCK_STREAM, 6, "", (ip, port))
            for ip in ips
        ]

    getaddrinfo.calls = calls
    return getaddrinfo


@pytest.fixture
def dns(monkeypatch):
    """``dns("93.184.216.34")``: every name now resolves to these addresses."""

    def set_answer(*ips: str):
        fake = resolving_to(*ips)
        monkeypatch.setattr(socket, "getaddrinfo", fake)
        return fake

    return set_answer


@pytest.fixture
def allow_private(settings):
    settings.LABELING_WEBHOOK_ALLOW_PRIVATE = True


@pytest.fixture(autouse=True)
def _private_refused_by_default(settings):
    settings.LABELING_WEBHOOK_ALLOW_PRIVATE = False
    settings.LABELING_WEBHOOK_MAX_ATTEMPTS = 6
    settings.LABELING_WEBHOOK_TIMEOUT = 5


@pytest.fixture
def queued(monkeypatch):
    """The delivery ids handed to the Celery task (instead of a broker)."""
    sent = []
    monkeypatch.setattr(webhooks.tasks.webhook_deliver_task, "delay", sent.append)
    return sent


def hook(project: Project, events=None, url=PUBLIC_URL, active=True) -> Webhook:
    """A webhook row as ``webhook_create`` leaves it, without resolving anything."""
    return Webhook.objects.create(
        project=project, url=url, events=events or ALL_EVENTS, secret="s" * 64, active=active
    )


def deliveries(project: Project) -> list[tuple[str, dict]]:
    rows = WebhookDelivery.objects.filter(webhook__project=project).order_by("id")
    return [(d.event, d.payload["data"]) for d in rows]


class Receiver:
    """A real HTTP server on 127.0.0.1 that records what it gets and answers ``status``."""

    def __init__(self):
        self.requests: list[dict] = []
        self.status = 200
        self.delay = 0.0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                receiver.requests.append(
                    {"path": self.path, "headers": dict(self.headers), "body": body}
                )
                time.sleep(receiver.delay)
                try:
                    self.send_response(receiver.status)
                    if 300 <= receiver.status < 400:
                        self.send_header("Location", "/elsewhere")
                    self.send_header("Content-Length", "2")
                    self.end_headers()
                    self.wfile.write(b"ok")
                except OSError:
                    pass  # the client gave up waiting (the timeout test)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/hooks/portal"
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()

    def use_tls(self, certfile: str) -> None:
        """Serve HTTPS with this certificate (and key) from now on."""
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(certfile)
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    server = Receiver()
    yield server
    server.close()


@pytest.fixture
def local_delivery(project, admin, receiver, allow_private) -> WebhookDelivery:
    """A pending ``review.decided`` delivery to the local receiver."""
    webhook_create(project=project, actor=admin, url=receiver.url, events=["review.decided"])
    webhooks_emit(project=project, event="review.decided", payload={"annotation": 7})
    return WebhookDelivery.objects.get()


def fresh(obj):
    obj.refresh_from_db()
    return obj


# ---------------------------------------------------------------------------- registering


def test_the_event_names_are_the_models(db):
    assert list(EVENTS) == list(Webhook.Event.values)


def test_an_admin_registers_a_public_url_with_a_fresh_secret(project, admin, dns):
    dns("93.184.216.34")

    webhook = webhook_create(
        project=project, actor=admin, url=f" {PUBLIC_URL} ", events=["review.decided"]
    )

    assert (webhook.url, webhook.events, webhook.active) == (PUBLIC_URL, ["review.decided"], True)
    assert len(webhook.secret) == 64 and int(webhook.secret, 16) >= 0
    assert webhook.created_by == admin
    other = webhook_create(project=project, actor=admin, url=PUBLIC_URL, events=ALL_EVENTS)
    assert other.secret != webhook.secret


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/",
        "http://10.0.0.5/",
        "http://[::1]/",
        "http://169.254.169.254/latest/meta-data/",
        "http://192.168.1.10:8080/hook",
        "http://0.0.0.0/",
        "http://2130706433/",  # 127.0.0.1 written as a number
    ],
)
def test_a_private_or_loopback_address_is_refused(project, admin, url):
    with pytest.raises(ServiceError, match="non-public address"):
        webhook_create(project=project, actor=admin, url=url, events=ALL_EVENTS)

    assert not Webhook.objects.exists()


@pytest.mark.parametrize(
    "answer",
    [("127.0.0.1", "::1"), ("10.1.2.3",), ("93.184.216.34", "192.168.0.7"), ("fd00::1",)],
)
def test_a_name_that_resolves_to_any_private_address_is_refused(project, admin, dns, answer):
    dns(*answer)

    with pytest.raises(ServiceError, match="non-public address"):
        webhook_create(project=project, actor=admin, url="http://localhost/", events=ALL_EVENTS)


def test_the_setting_allows_private_addresses(project, admin, dns, allow_private):
    dns("127.0.0.1")

    webhook = webhook_create(
        project=project, actor=admin, url="http://localhost:9000/", events=ALL_EVENTS
    )

    assert webhook.url == "http://localhost:9000/"


def test_a_host_that_does_not_resolve_is_refused(project, admin, monkeypatch):
    def no_such_host(*args, **kwargs):
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", no_such_host)

    with pytest.raises(ServiceError, match="Cannot resolve"):
        webhook_create(project=project, actor=admin, url=PUBLIC_URL, events=ALL_EVENTS)


@pytest.mark.parametrize(
    ("url", "events", "message"),
    [
        ("ftp://hooks.example.com/", ALL_EVENTS, "http:// or https://"),
        ("https://me:pw@hooks.example.com/", ALL_EVENTS, "no user name"),
        (PUBLIC_URL, [], "at least one event"),
        (PUBLIC_URL, ["annotation.deleted"], "Unknown event"),
    ],
)
def test_bad_urls_and_events_are_refused(project, admin, dns, url, events, message):
    dns("93.184.216.34")

    with pytest.raises(ServiceError, match=message):
        webhook_create(project=project, actor=admin, url=url, events=events)


def test_only_admins_manage_webhooks(project, admin, annotator, reviewer, outsider, dns):
    dns("93.184.216.34")
    webhook = hook(project)

    for user in (annotator, reviewer, outsider):
        with pytest.raises(ServiceError, match="admins"):
            webhook_create(project=project, actor=user, url=PUBLIC_URL, events=ALL_EVENTS)
        with pytest.raises(ServiceError, match="admins"):
            webhook_update(webhook=webhook, actor=user, active=False)
        with pytest.raises(ServiceError, match="admins"):
            webhook_delete(webhook=webhook, actor=user)
    assert fresh(webhook).active


def test_a_superuser_manages_any_projects_webhooks(project, dns):
    dns("93.184.216.34")
    root = UserFactory(username="root", is_superuser=True)

    webhook = webhook_create(project=project, actor=root, url=PUBLIC_URL, events=ALL_EVENTS)

    assert webhook.project == project


def test_an_admin_updates_events_turns_off_and_rotates_the_secret(project, admin, dns):
    dns("93.184.216.34")
    webhook = hook(project)
    old_secret = webhook.secret

    webhook_update(
        webhook=webhook,
        actor=admin,
        events=["model_version.promoted"],
        active=False,
        rotate_secret=True,
    )

    webhook = fresh(webhook)
    assert (webhook.events, webhook.active) == (["model_version.promoted"], False)
    assert webhook.secret != old_secret and len(webhook.secret) == 64


def test_an_update_to_a_private_url_is_refused(project, admin):
    webhook = hook(project)

    with pytest.raises(ServiceError, match="non-public address"):
        webhook_update(webhook=webhook, actor=admin, url="http://127.0.0.1:6379/")

    assert fresh(webhook).url == PUBLIC_URL


def test_deleting_a_webhook_removes_its_log(project, admin):
    webhook = hook(project)
    webhooks_emit(project=project, event="review.decided", payload={})

    webhook_delete(webhook=webhook, actor=admin)

    assert not Webhook.objects.exists() and not WebhookDelivery.objects.exists()


# ---------------------------------------------------------------------------- emitting


def test_an_event_goes_to_the_active_webhooks_subscribed_to_it(
    project, other_project, queued, django_capture_on_commit_callbacks
):
    listening = hook(project, events=["review.decided", "annotation.accepted"])
    hook(project, events=["model_version.ready"])
    hook(project, events=["review.decided"], active=False)
    hook(other_project, events=["review.decided"])

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        sent = webhooks_emit(project=project, event="review.decided", payload={"annotation": 3})

    delivery = WebhookDelivery.objects.get()
    assert sent == 1 and delivery.webhook == listening
    assert (delivery.event, delivery.status, delivery.attempts) == ("review.decided", "pending", 0)
    payload = delivery.payload
    assert payload["id"] == delivery.id
    assert (payload["event"], payload["project"]) == ("review.decided", project.id)
    assert payload["data"] == {"annotation": 3}
    assert abs(datetime.fromisoformat(payload["created_at"]) - timezone.now()) < timedelta(
        seconds=5
    )
    assert len(callbacks) == 1
    assert queued == [delivery.id]


def test_nothing_is_queued_when_the_transaction_rolls_back(project, queued):
    hook(project)

    with pytest.raises(RuntimeError), transaction.atomic():
        webhooks_emit(project=project, event="review.decided", payload={})
        raise RuntimeError("the decision failed")

    assert not WebhookDelivery.objects.exists()
    assert queued == []


def test_an_event_nobody_listens_to_costs_no_delivery(project, queued):
    assert webhooks_emit(project=project, event="model_version.ready", payload={}) == 0
    assert not WebhookDelivery.objects.exists()


def test_an_unknown_event_is_a_programming_error(project):
    with pytest.raises(ValueError):
        webhooks_emit(project=project, event="annotation.deleted", payload={})


# ---------------------------------------------------------------------------- sending


def test_the_receiver_gets_the_payload_signed(local_delivery, receiver):
    result = webhook_delivery_send(delivery_id=local_delivery.id)

    assert result is None
    [request] = receiver.requests
    assert request["path"] == "/hooks/portal"
    assert json.loads(request["body"]) == local_delivery.payload
    headers = request["headers"]
    assert headers["Content-Type"] == "application/json"
    assert headers["X-Portal-Event"] == "review.decided"
    assert headers["X-Portal-Delivery"] == str(local_delivery.id)
    secret = local_delivery.webhook.secret
    assert verify(secret, request["body"], headers["X-Portal-Signature"], now=int(time.time()))
    assert not verify("x" * 64, request["body"], headers["X-Portal-Signature"], int(time.time()))
    delivery = fresh(local_delivery)
    assert (delivery.status, delivery.attempts, delivery.response_status) == ("delivered", 1, 200)
    assert delivery.delivered_at is not None and delivery.error == ""


def test_a_server_error_is_retried_later_with_growing_waits(local_delivery, receiver):
    receiver.status = 500

    first = webhook_delivery_send(delivery_id=local_delivery.id)
    second = webhook_delivery_send(delivery_id=local_delivery.id)

    assert (first, second) == (backoff_seconds(1), backoff_seconds(2)) == (10, 60)
    assert len(receiver.requests) == 2
    delivery = fresh(local_delivery)
    assert (delivery.status, delivery.attempts, delivery.response_status) == ("pending", 2, 500)
    assert "HTTP 500" in delivery.error and delivery.delivered_at is None


def test_a_retry_that_succeeds_is_delivered(local_delivery, receiver):
    receiver.status = 503
    webhook_delivery_send(delivery_id=local_delivery.id)
    receiver.status = 204

    assert webhook_delivery_send(delivery_id=local_delivery.id) is None

    delivery = fresh(local_delivery)
    assert (delivery.status, delivery.attempts, delivery.response_status) == ("delivered", 2, 204)


def test_after_the_last_attempt_the_delivery_fails(local_delivery, receiver, settings):
    settings.LABELING_WEBHOOK_MAX_ATTEMPTS = 3
    receiver.status = 500

    results = [webhook_delivery_send(delivery_id=local_delivery.id) for _ in range(4)]

    assert results == [10, 60, None, None]
    assert len(receiver.requests) == 3  # the fourth call finds it failed and sends nothing
    delivery = fresh(local_delivery)
    assert (delivery.status, delivery.attempts) == ("failed", 3)
    assert "Gave up after 3 attempts" in delivery.error


def test_a_redirect_is_a_failure_and_is_not_followed(local_delivery, receiver):
    receiver.status = 302

    assert webhook_delivery_send(delivery_id=local_delivery.id) == 10

    assert [r["path"] for r in receiver.requests] == ["/hooks/portal"]
    delivery = fresh(local_delivery)
    assert delivery.response_status == 302 and "redirects are not followed" in delivery.error


def test_an_unreachable_receiver_is_retried(project, admin, allow_private):
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    webhook_create(project=project, actor=admin, url=f"http://127.0.0.1:{port}/", events=ALL_EVENTS)
    webhooks_emit(project=project, event="review.decided", payload={})
    delivery = WebhookDelivery.objects.get()

    assert webhook_delivery_send(delivery_id=delivery.id) == 10

    delivery = fresh(delivery)
    assert (delivery.status, delivery.attempts, delivery.response_status) == ("pending", 1, None)
    assert "refused" in delivery.error.lower()


def test_a_slow_receiver_times_out_and_is_retried(local_delivery, receiver, settings):
    settings.LABELING_WEBHOOK_TIMEOUT = 0.2
    receiver.delay = 1.0

    assert webhook_delivery_send(delivery_id=local_delivery.id) == 10

    assert "timed out" in fresh(local_delivery).error


def test_the_connection_goes_to_the_checked_address_with_the_urls_host_name(
    project, admin, receiver, allow_private, monkeypatch
):
    # "hooks.internal" exists only here, and answers twice: at registration, then for the
    # check at send time. Any later lookup (a rebinding server's second answer) fails.
    answers = iter(["127.0.0.1", "127.0.0.1"])
    real_getaddrinfo = socket.getaddrinfo

    def getaddrinfo(host, port, *args, **kwargs):
        if host != "hooks.internal":
            return real_getaddrinfo(host, port, *args, **kwargs)
        answer = next(answers, None)
        if answer is None:
            raise socket.gaierror(socket.EAI_NONAME, "looked up once too often")
        return resolving_to(answer)(host, port)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    url = f"http://hooks.internal:{receiver.port}/in"
    webhook_create(project=project, actor=admin, url=url, events=ALL_EVENTS)
    webhooks_emit(project=project, event="review.decided", payload={})
    delivery = WebhookDelivery.objects.get()

    assert webhook_delivery_send(delivery_id=delivery.id) is None, fresh(delivery).error

    assert receiver.requests[0]["headers"]["Host"] == f"hooks.internal:{receiver.port}"


@pytest.fixture
def certificate(tmp_path):
    """A self-signed certificate (and key, in one file) for the name "hooks.internal"."""
    if shutil.which("openssl") is None:
        pytest.skip("needs the openssl command")
    path = tmp_path / "hooks.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"]
        + ["-subj", "/CN=hooks.internal", "-addext", "subjectAltName=DNS:hooks.internal"]
        + ["-keyout", str(path), "-out", str(path)],
        check=True,
        capture_output=True,
    )
    return str(path)


def test_https_checks_the_certificate_against_the_urls_host_name(
    project, admin, receiver, certificate, dns, allow_private, monkeypatch
):
    receiver.use_tls(certificate)
    dns("127.0.0.1")
    webhook_create(
        project=project,
        actor=admin,
        url=f"https://hooks.internal:{receiver.port}/in",
        events=ALL_EVENTS,
    )
    webhooks_emit(project=project, event="review.decided", payload={})
    delivery = WebhookDelivery.objects.get()

    # not trusted: the certificate is self-signed
    assert webhook_delivery_send(delivery_id=delivery.id) == 10
    assert "CERTIFICATE_VERIFY_FAILED" in fresh(delivery).error

    # trusted: the name in the certificate matches the URL's, not the address connected to
    monkeypatch.setenv("SSL_CERT_FILE", certificate)
    assert webhook_delivery_send(delivery_id=delivery.id) is None
    assert fresh(delivery).status == "delivered"
    assert receiver.requests[0]["headers"]["X-Portal-Event"] == "review.decided"


def test_a_host_that_now_resolves_to_a_private_address_fails_without_connecting(
    project, admin, dns, monkeypatch
):
    # registered while it resolved to a public address; DNS answers differently at send time
    dns("93.184.216.34")
    webhook_create(project=project, actor=admin, url=PUBLIC_URL, events=ALL_EVENTS)
    webhooks_emit(project=project, event="review.decided", payload={})
    delivery = WebhookDelivery.objects.get()
    dns("169.254.169.254")
    connections = []
    monkeypatch.setattr(socket, "create_connection", lambda *a, **k: connections.append(a))

    assert webhook_delivery_send(delivery_id=delivery.id) is None

    assert connections == []
    delivery = fresh(delivery)
    assert (delivery.status, delivery.attempts) == ("failed", 1)
    assert "169.254.169.254" in delivery.error


def test_a_delivered_delivery_is_not_sent_again(local_delivery, receiver):
    webhook_delivery_send(delivery_id=local_delivery.id)

    assert webhook_delivery_send(delivery_id=local_delivery.id) is None

    assert len(receiver.requests) == 1
    assert fresh(local_delivery).attempts == 1


def test_a_deleted_delivery_is_nothing_to_do(db):
    assert webhook_delivery_send(delivery_id=123456) is None


def test_a_webhook_turned_off_meanwhile_sends_nothing(local_delivery, receiver, admin):
    webhook_update(webhook=local_delivery.webhook, actor=admin, active=False)

    assert webhook_delivery_send(delivery_id=local_delivery.id) is None

    assert receiver.requests == []
    assert fresh(local_delivery).status == "failed"


def test_the_task_retries_when_the_service_says_so(local_delivery, receiver, monkeypatch):
    receiver.status = 500
    asked = []

    class Retry(Exception):
        pass

    def retry(countdown):
        asked.append(countdown)
        return Retry()

    monkeypatch.setattr(webhooks.tasks.webhook_deliver_task, "retry", retry)

    with pytest.raises(Retry):
        webhooks.tasks.webhook_deliver_task.run(local_delivery.id)

    assert asked == [10]


def test_an_admin_sends_a_failed_delivery_again(
    local_delivery, receiver, admin, settings, queued, django_capture_on_commit_callbacks
):
    with pytest.raises(ServiceError, match="Only a failed delivery"):
        webhook_delivery_redeliver(delivery=local_delivery, actor=admin)
    settings.LABELING_WEBHOOK_MAX_ATTEMPTS = 1
    receiver.status = 500
    webhook_delivery_send(delivery_id=local_delivery.id)
    assert fresh(local_delivery).status == "failed"
    receiver.status = 200

    with django_capture_on_commit_callbacks(execute=True):
        webhook_delivery_redeliver(delivery=fresh(local_delivery), actor=admin)

    assert queued == [local_delivery.id]
    assert webhook_delivery_send(delivery_id=local_delivery.id) is None
    delivery = fresh(local_delivery)
    assert (delivery.status, delivery.attempts) == ("delivered", 1)


# ---------------------------------------------------------------------------- events


@pytest.fixture
def species(project, admin):
    """An exclusive "Species": Robin or Sparrow."""
    parent = concept_create(project=project, name="Species", actor=admin, exclusive=True)
    return {
        "robin": concept_create(project=project, name="Robin", parent=parent, actor=admin),
        "sparrow": concept_create(project=project, name="Sparrow", parent=parent, actor=admin),
    }


def label_next(project: Project, user, concept_ids: list[int]):
    """The user takes a new input from the queue and submits these labels for it."""
    input = InputFactory(project=project)
    queue_slots_open(input=input, overlap=project.overlap)
    slot = queue_next(project=project, user=user)
    return annotation_submit(
        project=project, user=user, input=slot.input, concept_ids=concept_ids
    ).annotation


@pytest.fixture
def one_tier(project, species):
    review_tiers_configure(project=project, tiers=[("all", 1.0)])
    project.refresh_from_db()
    return project


def test_an_approval_emits_the_decision_and_the_acceptance(one_tier, annotator, reviewer, species):
    hook(one_tier)
    annotation = label_next(one_tier, annotator, [species["robin"].id])
    assert deliveries(one_tier) == []  # waiting for review is no event

    decision = review_decide(annotation=annotation, reviewer=reviewer, action="approve")

    assert deliveries(one_tier) == [
        (
            "review.decided",
            {
                "decision": decision.id,
                "annotation": annotation.id,
                "input": annotation.input_id,
                "tier": 1,
                "action": "approve",
                "reason": "",
                "reviewer": {"id": reviewer.id, "username": "rita_reviewer"},
                "bulk": False,
                "correction": None,
                "status": "accepted",
            },
        ),
        (
            "annotation.accepted",
            {
                "annotation": annotation.id,
                "input": annotation.input_id,
                "concepts": [{"id": species["robin"].id, "key": species["robin"].key}],
                "source": "human",
                "author": {"id": annotator.id, "username": "anna_annotator"},
                "corrects": None,
            },
        ),
    ]


def test_a_rejection_emits_only_the_decision(one_tier, annotator, reviewer, species):
    hook(one_tier)
    annotation = label_next(one_tier, annotator, [species["robin"].id])

    review_decide(annotation=annotation, reviewer=reviewer, action="reject", reason="blurry")

    [(event, data)] = deliveries(one_tier)
    assert (event, data["action"], data["reason"], data["status"]) == (
        "review.decided",
        "reject",
        "blurry",
        "rejected",
    )


def test_a_correction_emits_the_corrected_labels_as_accepted(
    one_tier, annotator, reviewer, species
):
    hook(one_tier, events=["annotation.accepted"])
    annotation = label_next(one_tier, annotator, [species["robin"].id])

    decision = review_decide(
        annotation=annotation,
        reviewer=reviewer,
        action="correct",
        concept_ids=[species["sparrow"].id],
    )

    [(event, data)] = deliveries(one_tier)
    assert event == "annotation.accepted"
    assert data["annotation"] == decision.correction_id != annotation.id
    assert data["corrects"] == annotation.id
    assert [c["id"] for c in data["concepts"]] == [species["sparrow"].id]
    assert data["author"]["username"] == "rita_reviewer"


def test_a_submission_accepted_without_review_is_emitted(project, annotator, species):
    hook(project, events=["annotation.accepted"])

    annotation = label_next(project, annotator, [species["sparrow"].id])

    assert annotation.status == AnnotationStatus.ACCEPTED
    assert [(e, d["annotation"]) for e, d in deliveries(project)] == [
        ("annotation.accepted", annotation.id)
    ]


def test_annotations_accepted_by_consensus_are_emitted(project, annotator, species):
    Project.objects.filter(id=project.id).update(overlap=2, consensus_auto_accept=True)
    project.refresh_from_db()
    hook(project, events=["annotation.accepted"])
    bob = UserFactory(username="bob")
    project.memberships.create(user=bob, role="annotator")
    input = InputFactory(project=project)
    queue_slots_open(input=input, overlap=2)
    robin = [species["robin"].id]
    first = annotation_submit(
        project=project,
        user=annotator,
        input=queue_next(project=project, user=annotator).input,
        concept_ids=robin,
    ).annotation
    assert deliveries(project) == []  # waits for bob

    second = annotation_submit(
        project=project,
        user=bob,
        input=queue_next(project=project, user=bob).input,
        concept_ids=robin,
    ).annotation

    assert sorted(d["annotation"] for _, d in deliveries(project)) == [first.id, second.id]
    assert ReviewDecision.objects.filter(action="consensus").count() == 2


def ready_version(project: Project, number: int, macro_f1: float) -> ModelVersion:
    model, _ = MLModel.objects.get_or_create(
        project=project, name="Classifier", defaults={"type": ModelType.CONTEXT_CLASSIFIER}
    )
    return ModelVersion.objects.create(
        model=model, number=number, status="ready", metrics={"macro_f1": macro_f1}
    )


def test_promoting_a_version_by_hand_is_emitted(project, admin):
    hook(project, events=["model_version.promoted"])
    version = ready_version(project, 3, 0.875)

    version_promote(version=version, actor=admin)

    [(event, data)] = deliveries(project)
    assert event == "model_version.promoted"
    assert data == {
        "model": version.model_id,
        "model_name": "Classifier",
        "version": 3,
        "version_id": version.id,
        "status": "ready",
        "macro_f1": 0.875,
        "live": True,
        "promotion_reason": "Promoted by hand by alice_admin.",
    }


def test_a_trained_version_is_emitted_ready_then_promoted(project, admin, settings):
    from digits import digits_fill

    from training.services.embeddings import embeddings_compute
    from training.services.versions import model_router_ensure, version_queue, version_train

    settings.TRAINING_BACKBONE = "pixels16"
    digits_fill(project, admin, classes=3, count=90, labeled=0.7)
    embeddings_compute(project_id=project.id)
    model = model_router_ensure(project=project)
    model.params = {"steps": 60, "learning_rate": 0.05}
    model.save(update_fields=["params"])
    hook(project, events=["model_version.ready", "model_version.promoted", "review.decided"])

    version = version_train(version_id=version_queue(model=model, actor=admin).id)

    assert version.status == "ready", version.error
    events = deliveries(project)
    assert [e for e, _ in events] == ["model_version.ready", "model_version.promoted"]
    ready, promoted = (d for _, d in events)
    assert ready["version"] == promoted["version"] == version.number
    assert ready["macro_f1"] == version.metrics["macro_f1"]
    assert promoted["live"] and "first version" in promoted["promotion_reason"]
