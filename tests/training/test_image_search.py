"""Search by image: an uploaded picture is embedded by a worker task (inline when Celery is
eager) and the project's nearest inputs come back, in the API and on the Inputs page;
anything wrong is said next to the form."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from factories import make_image_bytes
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from labeling.storage import media_path
from training import tasks
from training.services.embeddings import embeddings_compute

pytestmark = pytest.mark.django_db


def api(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.get_or_create(user=user)[0].key}")
    return client


@pytest.fixture
def embedded(digits_project, settings):
    settings.CELERY_TASK_ALWAYS_EAGER = True
    project, _, items = digits_project(classes=3, count=40, labeled=0)
    embeddings_compute(project_id=project.id)
    return project, [input for input, _ in items]


def upload_of(input) -> SimpleUploadedFile:
    data = media_path(input.file).read_bytes()
    return SimpleUploadedFile("query.png", data, content_type="image/png")


def staged_left(project) -> list:
    folder = media_path(f"searches/{project.id}")
    return [p for p in folder.rglob("*") if p.is_file()] if folder.exists() else []


def test_given_an_input_s_own_image_then_the_api_answers_that_input_first(embedded, admin):
    project, inputs = embedded
    wanted = inputs[7]

    response = api(admin).post(
        f"/api/v1/projects/{project.id}/inputs/search-by-image/",
        {"file": upload_of(wanted), "k": 5},
        format="multipart",
    )

    assert response.status_code == 200, response.json()
    results = response.json()["results"]
    assert len(results) == 5
    assert results[0]["id"] == wanted.id and results[0]["similarity"] > 0.999
    assert results[0]["original_name"] == wanted.original_name
    similarities = [r["similarity"] for r in results]
    assert similarities == sorted(similarities, reverse=True)
    assert staged_left(project) == []  # the staged file and the worker's answer are gone


def test_given_something_that_is_not_an_image_then_the_api_says_so(embedded, admin):
    project, _ = embedded
    junk = SimpleUploadedFile("notes.png", b"hello, not a picture", content_type="image/png")

    response = api(admin).post(
        f"/api/v1/projects/{project.id}/inputs/search-by-image/", {"file": junk}
    )

    assert response.status_code == 400
    assert "not a recognised image" in response.json()["error"]


def test_given_a_file_over_the_limit_then_it_is_refused_before_it_is_read(
    embedded, admin, settings
):
    project, inputs = embedded
    settings.LABELING_MAX_IMAGE_BYTES = 100

    response = api(admin).post(
        f"/api/v1/projects/{project.id}/inputs/search-by-image/", {"file": upload_of(inputs[0])}
    )

    assert response.status_code == 400
    assert "over the limit of 100 bytes" in response.json()["error"]


def test_given_no_embeddings_yet_then_the_api_says_search_waits_for_them(project, admin):
    response = api(admin).post(
        f"/api/v1/projects/{project.id}/inputs/search-by-image/",
        {"file": SimpleUploadedFile("a.png", make_image_bytes(), content_type="image/png")},
    )

    assert response.status_code == 400
    assert "No input of this project has an embedding yet" in response.json()["error"]


def test_given_no_worker_answer_in_time_then_the_search_gives_up_and_cleans_up(
    embedded, admin, settings, monkeypatch
):
    project, inputs = embedded
    settings.TRAINING_SEARCH_WAIT_S = 0.1
    monkeypatch.setattr(tasks.query_embed_task, "delay", lambda path: None)  # no worker

    response = api(admin).post(
        f"/api/v1/projects/{project.id}/inputs/search-by-image/", {"file": upload_of(inputs[0])}
    )

    assert response.status_code == 400
    assert "did not answer in time" in response.json()["error"]
    assert staged_left(project) == []


def test_a_user_outside_the_project_cannot_search_it(embedded, outsider):
    project, inputs = embedded

    response = api(outsider).post(
        f"/api/v1/projects/{project.id}/inputs/search-by-image/", {"file": upload_of(inputs[0])}
    )

    assert response.status_code == 404


def test_the_inputs_page_form_shows_the_nearest_inputs_or_the_error(embedded, client, admin):
    project, inputs = embedded
    client.force_login(admin)
    url = f"/projects/{project.id}/inputs/search-by-image/"
    page = client.get(f"/projects/{project.id}/inputs/")
    assert url in page.content.decode() and 'name="image"' in page.content.decode()

    found = client.post(url, {"image": upload_of(inputs[3])}, HTTP_HX_REQUEST="true")
    refused = client.post(url, {"image": SimpleUploadedFile("x.png", b"junk")})
    missing = client.post(url, {})

    assert found.status_code == 200
    html = found.content.decode()
    assert f"/projects/{project.id}/inputs/{inputs[3].id}/" in html
    assert html.count('class="thumb-link"') == 12
    assert refused.status_code == 422 and "data-error-message" in refused.content.decode()
    assert missing.status_code == 422 and "Choose an image" in missing.content.decode()
