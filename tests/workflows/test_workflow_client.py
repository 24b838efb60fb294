"""The Python client's workflows section against a live server: create, validate, update
(a new version), list, get and delete, with problems raised as ApiError."""

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
