"""Models over the REST API: the types and their payloads, create, train (one run at a time),
status while training and once ready, predict on an input or a new image, scoping, roles,
throttling and revoked keys. Runs on digit images with the cheap pixel features."""

from pathlib import Path

import numpy as np
import pytest
from digits import digits_data
from django.core.cache import cache
from django.core.files.uploadedfile import SimpleUploadedFile
from factories import InputFactory
from PIL import Image
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient
from rest_framework.throttling import ScopedRateThrottle

import training.api as models_api
from labeling.demo import digit_png
from training.ml import backbone
from training.models import MLModel, ModelVersion, Prediction
from training.services.embeddings import embeddings_compute
from training.services.versions import model_create, version_train
from training.tasks import predict_task

pytestmark = pytest.mark.django_db
# Fewer, bigger steps than the default: the digits separate well and the suite stays quick.
FAST = {"steps": 60, "learning_rate": 0.05}


def api(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.get_or_create(user=user)[0].key}")
    return client


@pytest.fixture
def digits(digits_project):
    """Three digit classes, 150 images, 60 % labeled and all embedded."""
    project, concepts, items = digits_project(classes=3, count=150, labeled=0.6)
    embeddings_compute(project_id=project.id)
    return project, concepts, items


@pytest.fixture
def model(digits, admin) -> MLModel:
    project, *_ = digits
    return model_create(
        project=project, name="Digits", type="context-classifier", params=FAST, actor=admin
    )


def train_through_the_api(client, model) -> ModelVersion:
    """Queue a run over the API, then do the worker's part in-process."""
    queued = client.post(f"/api/v1/models/{model.id}/train/", {}, format="json")
    assert queued.status_code == 202, queued.json()
    return version_train(version_id=queued.json()["version"]["id"])


@pytest.fixture
def live(model, admin) -> MLModel:
    version = train_through_the_api(api(admin), model)
    assert version.status == ModelVersion.Status.READY, version.error
    return model


def a_new_digit(index: int = -1) -> SimpleUploadedFile:
    data, _ = digits_data(3, 400)
    return SimpleUploadedFile("new.png", digit_png(data[index]), content_type="image/png")


# ---------------------------------------------------------------------------- types, create


def test_the_types_list_what_creating_each_takes(annotator):
    response = api(annotator).get("/api/v1/models/types/")

    assert response.status_code == 200
    types = {t["type"]: t for t in response.json()}
    assert set(types) == {
        "context-classifier",
        "deep-classifier",
        "embedder",
        "visual-detector",
        "face-detector",
    }
    deep = types["deep-classifier"]
    assert (deep["consumes"], deep["produces"], deep["trainable"]) == (
        ["image"],
        ["concepts"],
        True,
    )
    assert (
        deep["payload_schema"]["properties"]["params"]["properties"]["image_size"]["minimum"] == 64
    )
    assert types["visual-detector"]["produces"] == ["regions"]
    classifier = types["context-classifier"]
    assert classifier["trainable"] is True and types["embedder"]["trainable"] is False
    faces = types["face-detector"]
    assert faces["trainable"] is False
    assert (faces["consumes"], faces["produces"]) == (["image"], ["regions"])
    assert faces["defaults"]["min_face"] == 20
    steps = classifier["payload_schema"]["properties"]["params"]["properties"]["steps"]
    assert (steps["type"], steps["default"], steps["minimum"]) == ("integer", 300, 10)
    assert classifier["defaults"]["steps"] == 300


def test_the_types_say_what_each_consumes_and_produces(annotator):
    types = {t["type"]: t for t in api(annotator).get("/api/v1/models/types/").json()}

    embedder = types["embedder"]
    assert (embedder["consumes"], embedder["optional"], embedder["produces"]) == (
        ["image", "crops"],
        ["crops"],
        ["embedding"],
    )
    classifier = types["context-classifier"]
    assert (classifier["consumes"], classifier["produces"]) == (["embedding"], ["concepts"])


def test_the_schema_describes_a_model_type_with_its_ports(client):
    schema = client.get("/api/v1/schema/", HTTP_ACCEPT="application/json").json()

    answer = schema["paths"]["/api/v1/models/types/"]["get"]["responses"]["200"]
    items = answer["content"]["application/json"]["schema"]["items"]
    name = items["$ref"].rsplit("/", 1)[-1]
    properties = schema["components"]["schemas"][name]["properties"]
    assert {"type", "trainable", "consumes", "produces", "payload_schema"} <= set(properties)
    assert properties["consumes"]["type"] == "array"
    port_types = schema["components"]["schemas"]["PortTypeEnum"]["enum"]
    assert properties["produces"]["items"]["$ref"].endswith("/PortTypeEnum")
    assert {"image", "embedding", "concepts"} <= set(port_types)


def test_an_admin_creates_a_model_with_defaults_filled_in(project, admin):
    response = api(admin).post(
        "/api/v1/models/",
        {"project": project.id, "name": "Birds", "type": "context-classifier", "params": FAST},
        format="json",
    )

    assert response.status_code == 201
    body = response.json()
    assert (body["name"], body["status"], body["active_version"]) == ("Birds", "untrained", None)
    assert body["params"] == {**body["params"], **FAST} and body["params"]["hidden"] == 0


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"steps": 5}, "steps must be between 10 and 20000."),
        ({"hidden": 1.5}, "hidden must be a whole number."),
        ({"learning_rate": "fast"}, "learning_rate must be a number."),
        ({"depth": 3}, "Unknown parameters for context-classifier: depth."),
    ],
)
def test_bad_params_are_400_naming_the_field(project, admin, params, message):
    response = api(admin).post(
        "/api/v1/models/",
        {"project": project.id, "name": "Birds", "type": "context-classifier", "params": params},
        format="json",
    )

    assert response.status_code == 400 and response.json()["error"] == message
    assert not MLModel.objects.filter(project=project, routes=False).exists()


def test_a_face_detector_is_created_ready_with_nothing_to_train(project, admin):
    response = api(admin).post(
        "/api/v1/models/",
        {
            "project": project.id,
            "name": "Faces",
            "type": "face-detector",
            "params": {"onet_threshold": 0.9},
        },
        format="json",
    )

    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["type"], body["status"]) == ("face-detector", "ready")
    assert body["params"] == {
        "concept": 0,
        "min_face": 20,
        "pnet_threshold": 0.6,
        "rnet_threshold": 0.7,
        "onet_threshold": 0.9,
    }
    MLModel.objects.get(id=body["id"]).full_clean()  # the type is one of the field's choices


def test_an_unknown_type_is_400_naming_the_field(project, admin):
    response = api(admin).post(
        "/api/v1/models/", {"project": project.id, "name": "x", "type": "detector"}, format="json"
    )

    assert response.status_code == 400 and "type" in response.json()


def test_creating_a_model_needs_the_admin_role(project, other_project, annotator, admin):
    body = {"name": "Mine", "type": "embedder"}

    as_annotator = api(annotator).post(
        "/api/v1/models/", {**body, "project": project.id}, format="json"
    )
    elsewhere = api(admin).post(
        "/api/v1/models/", {**body, "project": other_project.id}, format="json"
    )

    assert (as_annotator.status_code, elsewhere.status_code) == (403, 404)
    assert not MLModel.objects.filter(name="Mine").exists()


def test_the_list_holds_the_callers_projects_models_only(project, other_project, admin):
    mine = model_create(project=project, name="Mine", type="embedder", params={}, actor=admin)
    model_create(project=other_project, name="Theirs", type="embedder", params={}, actor=None)

    listed = api(admin).get("/api/v1/models/").json()
    filtered = api(admin).get("/api/v1/models/", {"project": other_project.id}).json()

    assert [m["id"] for m in listed] == [project.models.get(routes=True).id, mine.id]
    assert filtered == []


# ---------------------------------------------------------------------------- train, status


def test_training_is_queued_once_then_ready_with_metrics(model, admin):
    client = api(admin)

    queued = client.post(f"/api/v1/models/{model.id}/train/", {}, format="json")
    again = client.post(f"/api/v1/models/{model.id}/train/", {}, format="json")
    while_queued = client.get(f"/api/v1/models/{model.id}/").json()
    version_train(version_id=queued.json()["version"]["id"])
    ready = client.get(f"/api/v1/models/{model.id}/").json()

    assert queued.status_code == 202
    assert (queued.json()["version"]["number"], queued.json()["version"]["status"]) == (1, "queued")
    assert again.status_code == 400 and again.json()["error"] == "Version 1 is already queued."
    assert while_queued["status"] == "training" and while_queued["active_version"] is None
    assert ready["status"] == "ready"
    live = ready["active_version"]
    assert live["number"] == 1 and live["metrics"]["accuracy"] > 0.8
    assert set(live["metrics"]["concepts"]) == set(live["thresholds"]) and live["thresholds"]
    assert live["counts"]["train_inputs"] > 0 and live["counts"]["eval_inputs"] > 0


def test_training_on_unknown_inputs_is_400_listing_them(digits, model, admin, other_project):
    _, _, items = digits
    foreign = InputFactory(project=other_project)

    response = api(admin).post(
        f"/api/v1/models/{model.id}/train/",
        {"input_ids": [items[0][0].id, foreign.id, 999999]},
        format="json",
    )

    assert response.status_code == 400
    assert response.json() == {"error": "Unknown inputs.", "unknown": [foreign.id, 999999]}
    assert not model.versions.exists()


def test_training_on_given_inputs_uses_only_those(digits, model, admin):
    _, _, items = digits
    chosen = [input.id for input, _ in items[:60]]

    response = api(admin).post(
        f"/api/v1/models/{model.id}/train/", {"input_ids": chosen}, format="json"
    )
    version = version_train(version_id=response.json()["version"]["id"])

    assert response.status_code == 202
    assert version.status == ModelVersion.Status.READY, version.error
    assert version.counts["train_inputs"] + version.counts["eval_inputs"] <= 60


def test_a_failed_run_says_why(project, admin):
    model = model_create(
        project=project, name="Empty", type="context-classifier", params={}, actor=admin
    )

    version = train_through_the_api(api(admin), model)
    state = api(admin).get(f"/api/v1/models/{model.id}/").json()

    assert state["status"] == "failed"
    assert (
        state["latest_version"]["error"]
        == version.error
        == ("The project has no concepts to learn.")
    )


def test_annotators_read_a_model_but_do_not_train_it(model, annotator):
    client = api(annotator)

    read = client.get(f"/api/v1/models/{model.id}/")
    train = client.post(f"/api/v1/models/{model.id}/train/", {}, format="json")

    assert read.status_code == 200 and read.json()["name"] == "Digits"
    assert train.status_code == 403 and "role" in train.json()["error"]
    assert not model.versions.exists()


# ---------------------------------------------------------------------------- predict


def test_predict_on_an_input_scores_every_concept_with_numpy(digits, live, annotator):
    _, concepts, items = digits
    input, digit = items[-1]  # not labeled: the model has not seen it

    response = api(annotator).post(
        f"/api/v1/models/{live.id}/predict/", {"input_id": input.id}, format="json"
    )

    assert response.status_code == 200
    body = response.json()
    assert body["model_version"] == 1 and body["decision"] in {"auto", "doubt", "low"}
    assert {c["id"] for c in body["concepts"]} == {"0", "1", "2"}
    assert all(0 <= c["value"] <= 1 and "threshold" in c for c in body["concepts"])
    assert [c["value"] for c in body["concepts"]] == sorted(
        (c["value"] for c in body["concepts"]), reverse=True
    )
    assert body["concepts"][0]["id"] == str(digit) and body["concepts"][0]["group"] == "digit"


def test_predict_on_a_new_image_is_answered_by_the_task(
    live, admin, settings, monkeypatch, django_capture_on_commit_callbacks
):
    settings.CELERY_TASK_ALWAYS_EAGER = True
    # The task is sent on commit, i.e. after this test's request: do not wait for it there.
    monkeypatch.setattr(models_api, "PREDICT_WAIT_SECONDS", 0)
    client = api(admin)

    with django_capture_on_commit_callbacks(execute=True):
        queued = client.post(
            f"/api/v1/models/{live.id}/predict/", {"file": a_new_digit()}, format="multipart"
        )
    answered = client.get(f"/api/v1/predictions/{queued.json()['id']}/")

    assert queued.status_code == 202 and queued.json()["status"] == "queued"
    assert answered.status_code == 200
    body = answered.json()
    assert body["status"] == "done" and body["decision"] in {"auto", "doubt", "low"}
    assert {c["id"] for c in body["concepts"]} == {"0", "1", "2"}
    assert Prediction.objects.get(id=body["id"]).created_by == admin


@pytest.mark.django_db(transaction=True)
def test_predict_on_a_new_image_answers_200_when_the_task_is_quick(live, admin, settings):
    # No surrounding transaction: the task is sent (and run, eagerly) during the request.
    settings.CELERY_TASK_ALWAYS_EAGER = True

    response = api(admin).post(
        f"/api/v1/models/{live.id}/predict/", {"file": a_new_digit()}, format="multipart"
    )

    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["status"] == "done" and body["model_version"] == 1
    assert len(body["concepts"]) == 3 and body["labels"] == body["labels"][:1]


@pytest.fixture
def onnx_cached(settings):
    """The real backbone, run with ONNX Runtime from a checked export a worker cached."""
    settings.TRAINING_BACKBONE = backbone.NAME
    backbone.configure(runtime="onnx", cache_dir=settings.TRAINING_MODEL_CACHE)
    backbone.forward(backbone.preprocess([Image.new("RGB", (8, 8))]))
    assert backbone.runtime_in_use() == "onnx"


def test_predict_on_a_new_image_is_answered_by_the_web_process_with_onnx(
    project, admin, onnx_cached, settings, monkeypatch, django_capture_on_commit_callbacks
):
    model = model_create(project=project, name="Vectors", type="embedder", params={}, actor=admin)
    upload = a_new_digit()
    expected = backbone.forward_torch(backbone.preprocess([Image.open(upload)]))[0]
    upload.seek(0)
    sent = []
    monkeypatch.setattr(predict_task, "delay", sent.append)  # no worker answers
    monkeypatch.setattr(backbone, "forward_torch", None)  # torch is not called

    with django_capture_on_commit_callbacks(execute=True):
        response = api(admin).post(
            f"/api/v1/models/{model.id}/predict/", {"file": upload}, format="multipart"
        )

    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["status"] == "done" and sent == []
    np.testing.assert_allclose(body["embedding"], expected, atol=1e-3)
    assert not list(Path(settings.MEDIA_ROOT, "predictions").rglob("*.*"))  # staged file gone


def test_predict_in_the_web_process_can_be_turned_off(
    project, admin, onnx_cached, settings, monkeypatch
):
    settings.TRAINING_PREDICT_IN_WEB = False
    model = model_create(project=project, name="Vectors", type="embedder", params={}, actor=admin)
    monkeypatch.setattr(models_api, "PREDICT_WAIT_SECONDS", 0)

    response = api(admin).post(
        f"/api/v1/models/{model.id}/predict/", {"file": a_new_digit()}, format="multipart"
    )

    assert response.status_code == 202 and response.json()["status"] == "queued"


def test_predict_on_a_broken_image_is_400_with_a_message(live, admin):
    broken = SimpleUploadedFile("x.png", b"\x89PNG not really")

    response = api(admin).post(
        f"/api/v1/models/{live.id}/predict/", {"file": broken}, format="multipart"
    )

    assert response.status_code == 400 and response.json()["error"]
    assert not Prediction.objects.exists()


def test_predict_without_a_live_version_says_train_it_first(digits, model, admin):
    _, _, items = digits

    on_input = api(admin).post(
        f"/api/v1/models/{model.id}/predict/", {"input_id": items[0][0].id}, format="json"
    )
    on_file = api(admin).post(
        f"/api/v1/models/{model.id}/predict/", {"file": a_new_digit()}, format="multipart"
    )

    for response in (on_input, on_file):
        assert response.status_code == 400
        assert response.json()["error"] == "This model has no live version yet: train it first."


def test_predict_needs_a_file_or_an_input(live, admin):
    response = api(admin).post(f"/api/v1/models/{live.id}/predict/", {}, format="json")

    assert response.status_code == 400
    assert response.json()["error"] == "Send an image in `file`, or an `input_id`."


def test_another_projects_model_and_inputs_are_404(live, admin, other_project, outsider):
    foreign_input = InputFactory(project=other_project)
    theirs = model_create(
        project=other_project, name="Fish", type="embedder", params={}, actor=None
    )
    client = api(admin)

    answers = [
        client.get(f"/api/v1/models/{theirs.id}/"),
        client.post(f"/api/v1/models/{theirs.id}/train/", {}, format="json"),
        client.post(f"/api/v1/models/{theirs.id}/predict/", {"input_id": 1}, format="json"),
        client.post(
            f"/api/v1/models/{live.id}/predict/", {"input_id": foreign_input.id}, format="json"
        ),
        api(outsider).get(f"/api/v1/models/{live.id}/"),
    ]

    assert [a.status_code for a in answers] == [404] * 5
    assert all("Fish" not in a.content.decode() for a in answers)


# ---------------------------------------------------------------------------- limits, keys


def test_predictions_are_throttled(digits, live, admin, monkeypatch):
    rates = {**ScopedRateThrottle.THROTTLE_RATES, "predict": "2/minute"}
    monkeypatch.setattr(ScopedRateThrottle, "THROTTLE_RATES", rates)
    cache.clear()
    _, _, items = digits
    client = api(admin)
    body = {"input_id": items[-1][0].id}

    codes = [
        client.post(f"/api/v1/models/{live.id}/predict/", body, format="json").status_code
        for _ in range(3)
    ]
    other_routes = client.get(f"/api/v1/models/{live.id}/").status_code
    cache.clear()

    assert codes == [200, 200, 429]
    assert other_routes == 200


def test_a_revoked_key_is_refused(live, admin):
    client = api(admin)
    Token.objects.filter(user=admin).delete()

    assert client.get(f"/api/v1/models/{live.id}/").status_code == 401
    assert client.post(f"/api/v1/models/{live.id}/train/", {}, format="json").status_code == 401
    assert live.versions.count() == 1


# -------------------------------------------------------------------- odd ids and params


def lenient(user) -> APIClient:
    """A client that gets the 500 answer instead of the server's exception."""
    client = api(user)
    client.raise_request_exception = False
    return client


def test_listing_with_a_project_that_is_not_a_number_is_400(admin):
    response = lenient(admin).get("/api/v1/models/", {"project": "abc"})

    assert response.status_code == 400


def test_listing_with_a_project_id_too_big_is_empty(admin):
    response = lenient(admin).get("/api/v1/models/", {"project": str(10**30)})

    assert response.status_code == 200 and response.json() == []


def test_creating_in_a_project_id_too_big_is_404(admin):
    response = lenient(admin).post(
        "/api/v1/models/", {"project": 10**30, "name": "x", "type": "embedder"}, format="json"
    )

    assert response.status_code == 404


def test_a_param_too_big_for_a_float_is_400(project, admin):
    response = lenient(admin).post(
        "/api/v1/models/",
        {
            "project": project.id,
            "name": "x",
            "type": "context-classifier",
            "params": {"steps": 10**400},
        },
        format="json",
    )

    assert response.status_code == 400 and "steps" in response.json()["error"]


def test_training_on_an_input_id_too_big_is_400(model, admin):
    response = lenient(admin).post(
        f"/api/v1/models/{model.id}/train/", {"input_ids": [10**30]}, format="json"
    )

    assert response.status_code == 400 and response.json()["unknown"] == [10**30]


def test_a_new_project_lists_its_routing_classifier(admin):
    admin.is_staff = True
    admin.save()
    client = api(admin)
    project = client.post("/api/v1/projects/", {"name": "Digits"}, format="json").json()

    models = client.get("/api/v1/models/", {"project": project["id"]}).json()

    assert [(m["type"], m["routes"]) for m in models] == [("context-classifier", True)]
