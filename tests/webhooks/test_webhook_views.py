"""The Webhooks page (admins): add a webhook and see its secret once, remove it; a private
address is refused with a message; outsiders get 404 and annotators 403."""

import socket

import pytest
from django.urls import reverse

from webhooks.models import Webhook

pytestmark = pytest.mark.django_db


def url(name, project, **kwargs):
    return reverse(f"webhooks:{name}", kwargs={"project_id": project.id, **kwargs})


def test_outsiders_get_404_and_annotators_403(client, project, outsider, annotator):
    page = url("list", project)
    client.force_login(outsider)
    assert client.get(page).status_code == 404
    client.force_login(annotator)
    assert client.get(page).status_code == 403
    assert client.post(page, {"url": "https://x.example"}).status_code == 403


def test_admin_adds_a_webhook_sees_its_secret_once_and_removes_it(
    client, project, admin, monkeypatch
):
    monkeypatch.setattr(
        socket,
        "getaddrinfo",
        lambda host, port, *a, **k: [
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.216.34", 443))
        ],
    )
    client.force_login(admin)

    added = client.post(
        url("list", project),
        {"url": "https://hooks.example.com/in", "events": ["review.decided"]},
    ).content.decode()
    hook = Webhook.objects.get(project=project)
    again = client.get(url("list", project)).content.decode()
    client.post(url("remove", project, webhook_id=hook.id))

    assert hook.secret in added
    assert hook.secret not in again
    assert not Webhook.objects.exists()


def test_a_webhook_to_a_private_address_is_refused_with_a_message(client, project, admin):
    client.force_login(admin)

    page = client.post(
        url("list", project), {"url": "http://127.0.0.1:8000/x", "events": ["review.decided"]}
    ).content.decode()

    assert not Webhook.objects.exists()
    assert "127.0.0.1" in page or "private" in page.lower() or "loopback" in page.lower()
