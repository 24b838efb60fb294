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


def test_the_key_page_links_to_the_api_docs(client, annotator):
    client.force_login(annotator)

    page = client.get(URL).content.decode()

    assert 'href="/api/v1/docs/"' in page
    assert client.get("/api/v1/docs/").status_code == 200


def test_the_api_root_lists_the_resources_as_json(annotator):
    api = APIClient()
    api.force_authenticate(annotator)

    response = api.get("/api/v1/", HTTP_ACCEPT="application/json")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert body["projects"].endswith("/api/v1/projects/")
    assert body["docs"].endswith("/api/v1/docs/")
    assert body["models"].endswith("/api/v1/models/")


def test_the_api_root_refuses_strangers_in_json(db):
    response = APIClient().get("/api/v1/", HTTP_ACCEPT="application/json")

    assert response.status_code in (401, 403)
    assert "credentials" in response.json()["detail"]
