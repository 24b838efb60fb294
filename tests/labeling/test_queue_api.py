"""The queue over the REST API: next, submit with Clarifai-style concepts, errors."""

from datetime import timedelta

import pytest
from django.utils import timezone
from factories import InputFactory, UserFactory
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from labeling.models import Annotation, AnnotationDraft, QueueSlot
from labeling.services.queue import queue_next, queue_slots_open
from labeling.services.taxonomy import concept_create


@pytest.fixture
def digits(project, admin):
    parent = concept_create(project=project, name="digit", exclusive=True, actor=admin)
    return {
        d: concept_create(project=project, name=str(d), parent=parent, actor=admin)
        for d in range(3)
    }


@pytest.fixture
def inputs(project):
    made = [InputFactory(project=project) for _ in range(3)]
    for input in made:
        queue_slots_open(input=input, overlap=project.overlap)
    return made


def api(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.get_or_create(user=user)[0].key}")
    return client


def next_url(project) -> str:
    return f"/api/v1/projects/{project.id}/queue/next/"


def submit_url(input_id: int) -> str:
    return f"/api/v1/inputs/{input_id}/annotations/"


def test_next_then_submit_with_concept_names(project, annotator, digits, inputs):
    client = api(annotator)

    leased = client.get(next_url(project))
    input_id = leased.json()["input"]["id"]
    created = client.post(
        submit_url(input_id),
        {"concepts": [{"id": "digit", "value": "2"}], "client_token": "t1", "time_spent_ms": 900},
        format="json",
    )

    assert leased.status_code == 200 and leased.json()["lease_expires_at"]
    assert created.status_code == 201
    assert created.json()["concepts"] == [digits[2].id]
    annotation = Annotation.objects.get(id=created.json()["id"])
    assert annotation.author == annotator and annotation.time_spent_ms == 900


def test_a_repeated_submission_returns_the_first_one(project, annotator, digits, inputs):
    client = api(annotator)
    input_id = client.get(next_url(project)).json()["input"]["id"]
    body = {"concept_ids": [digits[1].id], "client_token": "same"}

    first = client.post(submit_url(input_id), body, format="json")
    again = client.post(submit_url(input_id), body, format="json")

    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["repeated"] and again.json()["id"] == first.json()["id"]
    assert Annotation.objects.filter(input_id=input_id).count() == 1


def test_unknown_concepts_are_listed_in_a_400(project, annotator, digits, inputs):
    client = api(annotator)
    input_id = client.get(next_url(project)).json()["input"]["id"]

    response = client.post(
        submit_url(input_id),
        {"concepts": [{"id": "digit", "value": "7"}, {"id": "cat", "value": 1}]},
        format="json",
    )

    assert response.status_code == 400
    assert response.json()["unknown"] == ["digit=7", "cat"]


def test_two_options_of_one_exclusive_group_are_refused(project, annotator, digits, inputs):
    client = api(annotator)
    input_id = client.get(next_url(project)).json()["input"]["id"]

    response = client.post(
        submit_url(input_id), {"concept_ids": [digits[0].id, digits[1].id]}, format="json"
    )

    assert response.status_code == 400 and "pick one" in response.json()["error"]


def test_a_lost_lease_answers_409_and_keeps_a_draft(project, annotator, digits):
    only = InputFactory(project=project)
    queue_slots_open(input=only, overlap=1)
    client = api(annotator)
    client.get(next_url(project))
    QueueSlot.objects.filter(input=only).update(leased_until=timezone.now() - timedelta(minutes=1))
    rival = UserFactory(username="rival")
    project.memberships.create(user=rival, role="annotator")
    assert queue_next(project=project, user=rival).input_id == only.id

    response = client.post(submit_url(only.id), {"concept_ids": [digits[0].id]}, format="json")

    assert response.status_code == 409 and "draft" in response.json()["error"]
    draft = AnnotationDraft.objects.get(user=annotator, input=only)
    assert response.json()["draft"] == draft.id and draft.concept_ids == [digits[0].id]


def test_empty_queue_answers_204(project, annotator, digits):
    assert api(annotator).get(next_url(project)).status_code == 204


def test_reviewer_gets_403_and_outsider_404(project, reviewer, outsider, inputs):
    assert api(reviewer).get(next_url(project)).status_code == 403
    assert api(outsider).get(next_url(project)).status_code == 404
    assert (
        api(outsider)
        .post(submit_url(inputs[0].id), {"concept_ids": [1]}, format="json")
        .status_code
        == 404
    )


def test_another_projects_input_is_404(project, other_project, annotator, digits):
    foreign = InputFactory(project=other_project)

    response = api(annotator).post(
        submit_url(foreign.id), {"concept_ids": [digits[0].id]}, format="json"
    )

    assert response.status_code == 404


def test_anonymous_and_revoked_tokens_are_refused(project, annotator, inputs):
    client = api(annotator)
    Token.objects.filter(user=annotator).delete()

    assert client.get(next_url(project)).status_code == 401
    assert APIClient().get(next_url(project)).status_code == 401
