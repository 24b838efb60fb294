"""Schemathesis against the OpenAPI schema, in-process through the WSGI app: no 5xx, and no
documented answer that breaks its schema.

Every operation gets generated requests (valid ones, then invalid ones) from an admin of a
seeded project, whose ids fill the path parameters so the requests reach real rows.
Failures are collected per operation and check and reported together, each with a curl
command that replays it. docs/api.md has the command and the last result.
"""

import os

import pytest
import schemathesis
from django.core.cache import cache
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, Phase, given
from hypothesis import settings as hypothesis_settings
from hypothesis.errors import Unsatisfiable
from rest_framework.authtoken.models import Token
from rest_framework.throttling import ScopedRateThrottle, UserRateThrottle
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from labeling.models import Membership, UploadBatch
from labeling.services.ingest import input_ingest, input_labels_attach
from labeling.services.taxonomy import concept_create
from training.models import Prediction
from training.services.versions import model_create
from workflows.models import WorkflowRun
from workflows.services.workflows import workflow_default_ensure

pytestmark = pytest.mark.django_db
# Per operation and mode: about 30 s in all. API_FUZZ_EXAMPLES=150 for a deeper run.
EXAMPLES = int(os.environ.get("API_FUZZ_EXAMPLES", "20"))

# Failures found and reported, each reproduced exactly by a strict xfail test; remove an
# entry with its fix (the xfail test then passes and says so). None open.
KNOWN: set[tuple[str, str]] = set()


@pytest.fixture
def wsgi_in_this_transaction():
    """Serve requests on this test's connection, as Django's test client does: the WSGI
    handler would otherwise close it (and the test's transaction) after each request."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def unthrottled(monkeypatch):
    rates = {"user": None, "uploads": None, "predict": None}
    monkeypatch.setattr(UserRateThrottle, "THROTTLE_RATES", rates)
    monkeypatch.setattr(ScopedRateThrottle, "THROTTLE_RATES", rates)
    cache.clear()


@pytest.fixture
def seeded(project, admin, annotator, reviewer, image_bytes) -> dict[str, int]:
    """Rows of every kind the API addresses, by the name of their path parameter."""
    digit = concept_create(project=project, name="digit", exclusive=True, actor=admin)
    options = [
        concept_create(project=project, name=str(d), parent=digit, actor=admin) for d in "01"
    ]
    stored = [
        input_ingest(project=project, name=f"{i}.png", data=image_bytes(color=(40 * i, 9, 9))).input
        for i in range(3)
    ]
    pending = input_labels_attach(
        project=project, input=stored[0], concept_ids=[options[0].id], actor=annotator
    )
    classifier = model_create(
        project=project, name="Digits", type="context-classifier", params={}, actor=admin
    )
    embedder = model_create(
        project=project, name="Vectors", type="embedder", params={}, actor=admin
    )
    prediction = Prediction.objects.create(
        model=embedder, file="predictions/none", created_by=admin
    )
    return {
        "project_id": project.id,
        "concept_id": digit.id,
        "input_id": stored[1].id,
        "annotation_id": pending.id,
        "model_id": classifier.id,
        "member_id": Membership.objects.get(project=project, user=annotator).id,
        "batch_id": UploadBatch.objects.create(project=project, created_by=admin).id,
        "prediction_id": prediction.id,
        "workflow_id": workflow_default_ensure(project=project).id,
        "run_id": WorkflowRun.objects.create(
            workflow_version=workflow_default_ensure(project=project).versions.get(),
            kind=WorkflowRun.Kind.DRY_RUN,
        ).id,
    }


def test_no_operation_answers_5xx_or_breaks_its_schema(
    admin, seeded, wsgi_in_this_transaction, unthrottled
):
    from portal.wsgi import application

    schema = schemathesis.openapi.from_wsgi("/api/v1/schema/?format=json", application)
    headers = {"Authorization": f"Token {Token.objects.create(user=admin).key}"}
    failures: dict[tuple[str, str], str] = {}
    requests = {GenerationMode.POSITIVE: 0, GenerationMode.NEGATIVE: 0}
    skipped: list[str] = []

    def fuzz(operation, mode: GenerationMode, checks) -> None:
        fixed = {p.name: seeded[p.name] for p in operation.path_parameters if p.name in seeded}
        strategy = operation.as_strategy(generation_mode=mode, path_parameters=fixed)

        @hypothesis_settings(
            max_examples=EXAMPLES,
            deadline=None,
            derandomize=True,
            database=None,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @given(case=strategy)
        def run(case) -> None:
            requests[mode] += 1
            try:
                case.call_and_validate(headers=headers, checks=checks)
            except (AssertionError, BaseExceptionGroup) as exc:
                failures.setdefault((operation.label, _kinds(exc)), _describe(case, exc, headers))

        try:
            run()
        except Unsatisfiable:
            # Nothing to make invalid: every parameter of the operation is fixed above.
            skipped.append(f"{operation.label} ({mode})")

    operations = [result.ok() for result in schema.get_all_operations()]
    for operation in operations:
        fuzz(operation, GenerationMode.POSITIVE, [not_a_server_error, response_schema_conformance])
        fuzz(operation, GenerationMode.NEGATIVE, [not_a_server_error])

    new = {key: text for key, text in failures.items() if key not in KNOWN}
    print(
        f"\n{len(operations)} operations, {requests[GenerationMode.POSITIVE]} valid and "
        f"{requests[GenerationMode.NEGATIVE]} invalid requests, "
        f"{len(skipped)} operations with nothing to make invalid; "
        f"known failures seen: {sorted(set(failures) & KNOWN)}"
    )
    assert not new, "\n\n".join(f"{op} [{kind}]\n{text}" for (op, kind), text in new.items())


def _kinds(exc: BaseException) -> str:
    found = exc.exceptions if isinstance(exc, BaseExceptionGroup) else [exc]
    return ",".join(sorted({type(e).__name__ for e in found}))


def _describe(case, exc: BaseException, headers: dict) -> str:
    curl = case.as_curl_command(headers=headers)
    return f"{str(exc).strip()[:1500]}\n{curl[:2000]}"


# -------------------------------------------------------------------------------- schema


def _schema(client) -> dict:
    return client.get("/api/v1/schema/", HTTP_ACCEPT="application/json").json()


def test_the_schema_lets_a_concept_have_no_parent(client):
    concept = _schema(client)["components"]["schemas"]["Concept"]["properties"]

    assert concept["parent"].get("nullable") and concept["merged_into"].get("nullable")


def test_the_schema_says_the_model_lists_are_lists(client):
    paths = _schema(client)["paths"]

    for path in ("/api/v1/models/", "/api/v1/models/types/"):
        answer = paths[path]["get"]["responses"]["200"]["content"]["application/json"]
        assert answer["schema"]["type"] == "array"
