"""Users create, see and revoke their own API key in the browser; a revoked key is refused."""

from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

URL = "/account/api-key/"


def test_a_new_key_is_shown_once_and_works(client, annotator, project):
    client.force_login(annotator)

    created = client.post(URL, {"action": "create"})
    later = client.get(URL)

    key = Token.objects.get(user=annotator).key
    assert key in created.content.decode()
    assert key not in later.content.decode() and key[:4] in later.content.decode()
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert api.get("/api/v1/me/").json()["username"] == annotator.username


def test_revoking_refuses_the_key_at_once(client, annotator):
    client.force_login(annotator)
    client.post(URL, {"action": "create"})
    key = Token.objects.get(user=annotator).key

    client.post(URL, {"action": "revoke"})

    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert api.get("/api/v1/me/").status_code == 401
    assert not Token.objects.filter(user=annotator).exists()


def test_replacing_a_key_retires_the_old_one(client, annotator):
    client.force_login(annotator)
    client.post(URL, {"action": "create"})
    old = Token.objects.get(user=annotator).key

    client.post(URL, {"action": "create"})

    assert Token.objects.get(user=annotator).key != old


def test_anonymous_visitors_are_sent_to_login(client):
    response = client.get(URL)

    assert response.status_code == 302 and "/login/" in response["Location"]
