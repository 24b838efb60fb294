"""The Python client against a live server and a real worker: the worked example of
docs/api.md, end to end (labeled uploads, training, polling, predicting a new image)."""

import pytest
from digits import digits_data
from django.contrib.auth import get_user_model
from polling import wait_for
from rest_framework.authtoken.models import Token

from labeling.demo import digit_png
from labeling.models import Annotation, AnnotationStatus
from portal.client import ApiError, Client
from training.models import Embedding

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]
LABELED = 90


@pytest.fixture
def client(live_server, settings) -> Client:
    settings.TRAINING_BACKBONE = "pixels16"
    staff = get_user_model().objects.create_user("sam", password="pw-123456789", is_staff=True)
    return Client(base_url=live_server.url, api_key=Token.objects.create(user=staff).key)


def test_upload_train_poll_and_predict_with_the_client(worker, client):
    worker("default,training,predict", TRAINING_BACKBONE="pixels16")
    data, targets = digits_data(3, LABELED + 3)

    # given: a project with an exclusive ``digit`` group of three options
    project = client.projects.create(name="Digits")["id"]
    digit = client.concepts.create(project=project, name="digit", exclusive=True)
    for d in range(3):
        client.concepts.create(project=project, name=str(d), parent=digit["id"])

    # when: labeled digits are uploaded one by one, Clarifai-style
    for index in range(LABELED):
        client.inputs.create(
            project=project,
            file=digit_png(data[index]),
            concepts=[{"id": "digit", "value": str(targets[index])}],
        )

    # then: they are accepted ground truth, and the worker embeds them
    assert Annotation.objects.filter(
        project_id=project, status=AnnotationStatus.ACCEPTED
    ).count() == (LABELED)
    wait_for(
        lambda: Embedding.objects.filter(project_id=project).count() == LABELED, 120, "embeddings"
    )

    # when: the project's classifier is trained and polled until it is done
    model = client.models.list(project=project)[0]["id"]
    queued = client.models.train(model)
    state = client.models.wait(model, timeout=180, every=0.5)

    # then: the run went live with metrics
    assert queued["version"]["status"] == "queued"
    assert state["status"] == "ready", state["latest_version"]
    assert state["active_version"]["metrics"]["accuracy"] > 0.8

    # when: new digits are sent; the worker scores them on the predict queue
    answers = [client.models.predict(model, file=digit_png(p)) for p in data[LABELED:]]

    # then: every concept has a score, and the best one is the right digit
    for answer, target in zip(answers, targets[LABELED:], strict=True):
        assert answer["status"] == "done" and answer["decision"] in {"auto", "doubt", "low"}
        assert {c["id"] for c in answer["concepts"]} == {"0", "1", "2"}
        assert answer["concepts"][0]["id"] == str(target)


def test_an_error_raises_api_error_with_the_servers_message(client):
    project = client.projects.create(name="Digits")["id"]
    client.concepts.create(project=project, name="digit", exclusive=True, key="digit")
    data, _ = digits_data(3, 1)

    with pytest.raises(ApiError) as raised:
        client.inputs.create(
            project=project, file=digit_png(data[0]), concepts=[{"id": "digit", "value": "7"}]
        )

    assert raised.value.status == 400
    assert raised.value.message == "Unknown concepts."
    assert raised.value.body["unknown"] == ["digit=7"] and "unknown" in raised.value.body
    assert client.inputs.list(project=project)["count"] == 0


def test_the_client_creates_a_concept_without_a_key(client):
    project = client.projects.create(name="Birds")["id"]

    concept = client.concepts.create(project=project, name="Robin")

    assert concept["key"] == "robin"


def test_the_clients_labeled_upload_by_an_admin_is_accepted(client):
    project = client.projects.create(name="Digits")["id"]
    digit = client.concepts.create(project=project, name="digit", exclusive=True, key="digit")
    client.concepts.create(project=project, name="3", parent=digit["id"], key="3")
    data, _ = digits_data(3, 1)

    uploaded = client.inputs.create(
        project=project, file=digit_png(data[0]), concepts=[{"id": "digit", "value": "3"}]
    )

    assert uploaded["annotation"]["status"] == "accepted"
