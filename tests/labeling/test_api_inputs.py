"""Inputs over the REST API: one image with Clarifai-style concepts, broken and huge files,
batches of several files, the paginated list, one input with its annotations, and scoping."""

import io
import zipfile

import pytest
from django.core.cache import cache
from django.core.files.uploadedfile import SimpleUploadedFile
from factories import InputFactory
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient
from rest_framework.throttling import ScopedRateThrottle

import labeling.api.inputs as inputs_api
from labeling.models import (
    Annotation,
    AnnotationSource,
    AnnotationStatus,
    Input,
    InputStatus,
    UploadBatch,
)
from labeling.services.ingest import upload_batch_process
from labeling.services.taxonomy import concept_create

pytestmark = pytest.mark.django_db


def api(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.get_or_create(user=user)[0].key}")
    return client


def inputs_url(project) -> str:
    return f"/api/v1/projects/{project.id}/inputs/"


def png(image_bytes, name: str = "three.png", **kwargs) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, image_bytes("PNG", **kwargs), content_type="image/png")


@pytest.fixture
def digits(project, admin):
    parent = concept_create(project=project, name="digit", exclusive=True, actor=admin)
    return {
        d: concept_create(project=project, name=str(d), parent=parent, actor=admin)
        for d in range(4)
    }


THREE = '[{"id": "digit", "value": "3"}]'


# ---------------------------------------------------------------------------- one image


def test_an_admins_labeled_upload_is_accepted_ground_truth(project, admin, digits, image_bytes):
    response = api(admin).post(
        inputs_url(project),
        {"file": png(image_bytes), "concepts": THREE, "metadata": '{"camera": 7}'},
        format="multipart",
    )

    assert response.status_code == 201 and response.json()["created"] is True
    body = response.json()
    assert body["annotation"]["status"] == AnnotationStatus.ACCEPTED
    assert (body["input"]["name"], body["input"]["metadata"]) == ("three.png", {"camera": "7"})
    annotation = Annotation.objects.get(id=body["annotation"]["id"])
    assert annotation.source == AnnotationSource.IMPORT and annotation.author == admin
    assert list(annotation.labels.values_list("concept_id", flat=True)) == [digits[3].id]
    assert Input.objects.get(id=body["input"]["id"]).status == InputStatus.LABELED


def test_an_admin_may_ask_for_review(project, admin, digits, image_bytes):
    response = api(admin).post(
        inputs_url(project),
        {"file": png(image_bytes), "concepts": THREE, "review": "true"},
        format="multipart",
    )

    assert response.status_code == 201
    assert response.json()["annotation"]["status"] == AnnotationStatus.PENDING_REVIEW


def test_an_annotators_labels_wait_for_review(project, annotator, digits, image_bytes):
    response = api(annotator).post(
        inputs_url(project), {"file": png(image_bytes), "concepts": THREE}, format="multipart"
    )

    assert response.status_code == 201
    assert response.json()["annotation"]["status"] == AnnotationStatus.PENDING_REVIEW
    annotation = Annotation.objects.get(id=response.json()["annotation"]["id"])
    assert (annotation.author, annotation.review_tier) == (annotator, 1)


def test_the_same_bytes_again_answer_200_with_the_stored_input(project, admin, image_bytes):
    client = api(admin)

    first = client.post(inputs_url(project), {"file": png(image_bytes)}, format="multipart")
    again = client.post(
        inputs_url(project), {"file": png(image_bytes, "copy.png")}, format="multipart"
    )

    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["created"] is False
    assert again.json()["input"]["id"] == first.json()["input"]["id"]
    assert Input.objects.filter(project=project).count() == 1


def test_unknown_concepts_are_listed_and_nothing_is_stored(project, admin, digits, image_bytes):
    concepts = '[{"id": "digit", "value": "9"}, {"id": "cat", "value": 1}]'

    response = api(admin).post(
        inputs_url(project), {"file": png(image_bytes), "concepts": concepts}, format="multipart"
    )

    assert response.status_code == 400
    assert response.json() == {"error": "Unknown concepts.", "unknown": ["digit=9", "cat"]}
    assert not Input.objects.filter(project=project).exists()


def test_concepts_that_are_not_json_are_400_with_a_message(project, admin, image_bytes):
    response = api(admin).post(
        inputs_url(project), {"file": png(image_bytes), "concepts": "digit=3"}, format="multipart"
    )

    assert response.status_code == 400
    assert response.json()["error"].startswith("`concepts` is not valid JSON")


def test_a_broken_image_is_400_naming_the_file(project, admin, image_bytes):
    cut = SimpleUploadedFile("cut.png", image_bytes("PNG", size=(64, 64), noise=True)[:300])

    response = api(admin).post(inputs_url(project), {"file": cut}, format="multipart")

    assert response.status_code == 400 and response.json()["error"].startswith("cut.png: ")
    assert not Input.objects.filter(project=project).exists()


def test_an_image_over_the_size_limit_is_413(project, admin, image_bytes, settings):
    settings.LABELING_MAX_IMAGE_BYTES = 1000
    big = SimpleUploadedFile("big.png", image_bytes("PNG", size=(64, 64), noise=True))

    response = api(admin).post(inputs_url(project), {"file": big}, format="multipart")

    assert response.status_code == 413
    assert response.json()["error"] == "big.png is larger than 1000 bytes."
    assert not Input.objects.filter(project=project).exists()


def test_an_upload_without_a_file_is_400(project, admin):
    response = api(admin).post(inputs_url(project), {"concepts": THREE}, format="multipart")

    assert response.status_code == 400
    assert response.json()["error"] == "Send the image(s) in the `file` field."


# ---------------------------------------------------------------------------- batches


def test_several_files_become_a_batch_to_poll(
    project, admin, image_bytes, settings, django_capture_on_commit_callbacks
):
    settings.CELERY_TASK_ALWAYS_EAGER = True
    settings.TRAINING_BACKBONE = "pixels16"  # the batch asks for embeddings when it is done
    files = [
        png(image_bytes, "red.png", color=(220, 30, 30)),
        png(image_bytes, "blue.png", color=(30, 30, 220)),
        SimpleUploadedFile("notes.png", b"not an image"),
    ]

    with django_capture_on_commit_callbacks(execute=True):
        queued = api(admin).post(inputs_url(project), {"file": files}, format="multipart")
    status = api(admin).get(queued.json()["status_url"])

    assert queued.status_code == 202
    assert queued.json()["status_url"] == (
        f"/api/v1/projects/{project.id}/batches/{queued.json()['batch']}/"
    )
    assert status.status_code == 200
    body = status.json()
    assert (body["status"], body["total"], body["processed"]) == ("done", 3, 3)
    assert {i["name"]: i["status"] for i in body["items"]} == {
        "red.png": "stored",
        "blue.png": "stored",
        "notes.png": "rejected",
    }
    assert Input.objects.filter(project=project).count() == 2


def test_a_zip_with_folder_labels_labels_its_images_and_names_unknown_folders(
    project, admin, digits, image_bytes
):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("3/a.png", image_bytes("PNG", color=(3, 0, 0)))
        archive.writestr("seven/b.png", image_bytes("PNG", color=(7, 0, 0)))
    upload = SimpleUploadedFile("digits.zip", buffer.getvalue(), content_type="application/zip")

    queued = api(admin).post(
        inputs_url(project), {"file": [upload], "folder_labels": "true"}, format="multipart"
    )
    batch = upload_batch_process(batch_id=queued.json()["batch"])
    status = api(admin).get(queued.json()["status_url"]).json()

    assert queued.status_code == 202 and batch.folder_labels
    labeled = Input.objects.get(project=project, original_name="3/a.png")
    assert [label.concept_id for label in labeled.annotations.get().labels.all()] == [digits[3].id]
    assert status["unknown_folders"] == {"seven": 1}


def test_concepts_do_not_go_with_a_batch(project, admin, digits, image_bytes):
    files = [png(image_bytes, "a.png"), png(image_bytes, "b.png", color=(1, 2, 3))]

    response = api(admin).post(
        inputs_url(project), {"file": files, "concepts": THREE}, format="multipart"
    )

    assert response.status_code == 400 and "single image" in response.json()["error"]
    assert not UploadBatch.objects.exists()


def test_another_projects_batch_is_404(project, other_project, admin, image_bytes):
    foreign = UploadBatch.objects.create(project=other_project, total=1)

    response = api(admin).get(f"/api/v1/projects/{project.id}/batches/{foreign.id}/")

    assert response.status_code == 404


# ---------------------------------------------------------------------------- reading


def test_the_list_is_paginated(project, annotator, monkeypatch):
    monkeypatch.setattr(inputs_api, "PAGE", 2)
    made = [InputFactory(project=project) for _ in range(3)]
    client = api(annotator)

    first = client.get(inputs_url(project)).json()
    second = client.get(inputs_url(project), {"page": 2}).json()

    assert (first["count"], first["page"]) == (3, 1)
    assert [i["id"] for i in first["results"]] == [made[0].id, made[1].id]
    assert (second["page"], [i["id"] for i in second["results"]]) == (2, [made[2].id])
    assert first["results"][0]["status"] == InputStatus.UNLABELED


def test_the_list_filters_by_split_and_name(project, annotator):
    InputFactory(project=project, original_name="robin.png", split="train")
    InputFactory(project=project, original_name="wren.png", split="eval")

    by_split = api(annotator).get(inputs_url(project), {"split": "eval"}).json()
    by_name = api(annotator).get(inputs_url(project), {"q": "ROB"}).json()

    assert [i["name"] for i in by_split["results"]] == ["wren.png"]
    assert [i["name"] for i in by_name["results"]] == ["robin.png"]


def test_one_input_shows_its_annotations(project, admin, reviewer, digits, image_bytes):
    uploaded = api(admin).post(
        inputs_url(project), {"file": png(image_bytes), "concepts": THREE}, format="multipart"
    )

    response = api(reviewer).get(f"/api/v1/inputs/{uploaded.json()['input']['id']}/")

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == InputStatus.LABELED
    assert body["annotations"] == [
        {
            "id": uploaded.json()["annotation"]["id"],
            "status": "accepted",
            "source": "import",
            "author": "alice_admin",
            "model_version": None,
            "workflow": None,
            "concepts": [{"id": "3", "name": "3", "value": 1}],
            "regions": [],
        }
    ]


def test_another_projects_input_is_404_without_its_data(project, other_project, admin):
    foreign = InputFactory(project=other_project, original_name="secret-fish.png")
    client = api(admin)

    read = client.get(f"/api/v1/inputs/{foreign.id}/")
    listed = client.get(inputs_url(other_project))

    assert (read.status_code, listed.status_code) == (404, 404)
    assert "secret-fish" not in read.content.decode() + listed.content.decode()


def test_outsiders_cannot_upload(project, outsider, image_bytes):
    response = api(outsider).post(
        inputs_url(project), {"file": png(image_bytes)}, format="multipart"
    )

    assert response.status_code == 404
    assert not Input.objects.exists()


# ---------------------------------------------------------------------------- limits


def test_uploads_are_throttled_per_user(project, admin, image_bytes, monkeypatch):
    rates = {**ScopedRateThrottle.THROTTLE_RATES, "uploads": "2/minute"}
    monkeypatch.setattr(ScopedRateThrottle, "THROTTLE_RATES", rates)
    cache.clear()
    client = api(admin)

    responses = [
        client.post(
            inputs_url(project), {"file": png(image_bytes, color=(i, 0, 0))}, format="multipart"
        )
        for i in range(3)
    ]
    cache.clear()

    assert [r.status_code for r in responses] == [201, 201, 429]
    # and the refusal says when to retry and how to send many images at once
    assert int(responses[2]["Retry-After"]) > 0
    assert "one .zip" in responses[2].json()["detail"]
    assert Input.objects.filter(project=project).count() == 2


def test_a_revoked_key_cannot_upload(project, admin, image_bytes):
    client = api(admin)
    Token.objects.filter(user=admin).delete()

    response = client.post(inputs_url(project), {"file": png(image_bytes)}, format="multipart")

    assert response.status_code == 401
    assert not Input.objects.exists()


# -------------------------------------------------------------- odd pages, ids and forms


def test_a_page_that_is_not_a_plain_number_falls_back_to_the_first(project, annotator):
    client = api(annotator)
    client.raise_request_exception = False

    response = client.get(inputs_url(project), {"page": "²"})

    assert response.status_code == 200 and response.json()["page"] == 1


def test_a_page_far_past_the_end_is_empty(project, annotator):
    client = api(annotator)
    client.raise_request_exception = False

    response = client.get(inputs_url(project), {"page": "9" * 23})

    assert response.status_code == 200 and response.json()["results"] == []


def test_too_many_files_in_one_request_is_413_with_a_message(project, admin, image_bytes, settings):
    settings.DATA_UPLOAD_MAX_NUMBER_FILES = 2
    files = [png(image_bytes, f"{i}.png", color=(i, 0, 0)) for i in range(3)]

    response = api(admin).post(inputs_url(project), {"file": files}, format="multipart")

    assert response.status_code == 413
    assert response.json()["error"] == "Too many files in one request; send a zip."


def test_review_false_keeps_an_admins_labels_accepted(project, admin, digits, image_bytes):
    response = api(admin).post(
        inputs_url(project),
        {"file": png(image_bytes), "concepts": THREE, "review": "false"},
        format="multipart",
    )

    assert response.status_code == 201
    assert response.json()["annotation"]["status"] == AnnotationStatus.ACCEPTED


def test_a_concept_id_too_big_for_the_database_is_400(project, annotator, digits):
    from labeling.services.queue import queue_slots_open

    input = InputFactory(project=project)
    queue_slots_open(input=input, overlap=1)
    client = api(annotator)
    client.raise_request_exception = False
    client.get(f"/api/v1/projects/{project.id}/queue/next/")

    response = client.post(
        f"/api/v1/inputs/{input.id}/annotations/", {"concept_ids": [10**30]}, format="json"
    )

    assert response.status_code == 400
