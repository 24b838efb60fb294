"""The Python client's workflows section against a live server: create, validate, update
(a new version), list, get and delete, with problems raised as ApiError; run, wait and
results (a dry run)."""

import pytest
from django.contrib.auth import get_user_model
from rest_framework.authtoken.models import Token

from portal.client import ApiError, Client
from training.models import MLModel

pytestmark = pytest.mark.django_db(transaction=True)


def test_workflows_with_the_client(live_server):
    from workflow_helpers import branching

    staff = get_user_model().objects.create_user("sam", password="pw-123456789", is_staff=True)
    client = Client(base_url=live_server.url, api_key=Token.objects.create(user=staff).key)
    project = client.projects.create(name="Birds")["id"]
    router = MLModel.objects.get(project_id=project, routes=True).id

    created = client.workflows.create(project=project, name="Branching", document=branching(router))
    checked = client.workflows.validate(project=project, document=branching(router + 1000))
    updated = client.workflows.update(created["id"], document=branching(router, threshold=0.8))
    listed = client.workflows.list(project=project)
    with pytest.raises(ApiError) as refused:
        client.workflows.update(created["id"], document=branching(router + 1000))
    client.workflows.delete(created["id"])

    assert created["version"] == 1 and updated["version"] == 2
    assert checked["valid"] is False and checked["problems"][0]["node_id"] == "classify"
    assert refused.value.status == 400
    assert {w["name"] for w in listed} == {"Routing", "Branching"}
    assert [w["name"] for w in client.workflows.list(project=project)] == ["Routing"]


def test_a_workflow_runs_and_dry_runs_with_the_client(live_server, project, admin, settings):
    from digits import digits_data, digits_fill
    from workflow_helpers import branching

    from labeling.demo import digit_png
    from labeling.models import Annotation, Input, InputStatus
    from training.services.embeddings import embeddings_compute
    from training.services.versions import version_queue

    # eager: training, the routing after promotion, the run and the dry run happen inline
    # (nothing is left on the broker for a later test's worker)
    settings.CELERY_TASK_ALWAYS_EAGER = True
    settings.TRAINING_BACKBONE = "pixels16"
    digits_fill(project, admin, classes=3, count=120, labeled=0.7)
    embeddings_compute(project_id=project.id)
    model = MLModel.objects.get(project=project, routes=True)
    MLModel.objects.filter(id=model.id).update(params={"steps": 60, "learning_rate": 0.05})
    version_queue(model=model, actor=admin)
    open_inputs = Input.objects.filter(project=project).exclude(status=InputStatus.LABELED)
    expected = open_inputs.count()
    client = Client(base_url=live_server.url, api_key=Token.objects.create(user=admin).key)
    workflow = client.workflows.create(
        project=project.id, name="Branching", document=branching(model.id, threshold=0.0)
    )
    pixels, _ = digits_data(3, 1)

    # when: an image is dry-run, then the workflow runs on the project
    dry = client.workflows.results(workflow["id"], file=digit_png(pixels[0]))
    written_by_dry_run = Annotation.objects.filter(workflow_node="accept").count()
    run = client.workflows.wait(client.workflows.run(workflow["id"])["id"], timeout=60)

    # then: the dry run answered for every node and wrote nothing; the run wrote every input
    # that had no accepted label (the threshold is 0)
    assert dry["status"] == "done" and dry["kind"] == "dry_run"
    assert set(dry["result"]["nodes"]) == {
        "input",
        "embed",
        "classify",
        "threshold",
        "accept",
        "review",
    }
    assert written_by_dry_run == 0
    assert run["status"] == "done", run["error"]
    assert expected > 0 and run["done"] == run["total"] == expected == run["counts"]["accept"]
    assert Annotation.objects.filter(workflow_node="accept").count() == expected
    assert not open_inputs.exists()
