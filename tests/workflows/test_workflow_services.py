"""Workflow services: create, update (a new version), delete, validation against the
database (other projects' models, missing or unready versions, foreign or archived
concepts), and the project's default workflow."""

import pytest
from factories import UserFactory
from workflow_helpers import branching

from labeling.services.errors import ServiceError
from labeling.services.projects import project_create
from labeling.services.taxonomy import concept_create
from training.models import MLModel, ModelVersion
from training.services.versions import model_router_ensure
from workflows.models import Workflow, WorkflowRun, WorkflowVersion
from workflows.services.runs import workflow_run_start
from workflows.services.workflows import (
    WorkflowRejected,
    workflow_create,
    workflow_default_ensure,
    workflow_delete,
    workflow_update,
    workflow_validate,
)

pytestmark = pytest.mark.django_db


def problems_of(project, document) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for p in workflow_validate(project=project, document=document):
        found.setdefault(p.node_id, []).append(p.message)
    return found


def test_a_new_project_gets_its_routing_as_the_default_workflow(admin):
    # given / when a project is created
    project = project_create(name="Fresh", created_by=admin)

    # then its default workflow is the routing graph, on its routing classifier, and valid
    workflow = Workflow.objects.get(project=project, is_default=True)
    document = workflow.versions.get().document
    router = MLModel.objects.get(project=project, routes=True)
    classify = next(n for n in document["nodes"] if n["id"] == "classify")
    assert classify["model"] == {"type": "context-classifier", "id": router.id, "version": "live"}
    assert [n["id"] for n in document["nodes"]][-3:] == [
        "write_accepted",
        "write_spot_check",
        "write_doubt",
    ]
    assert workflow_validate(project=project, document=document) == []
    assert workflow_default_ensure(project=project) == workflow  # once only


def test_create_and_update_keep_every_version(project, admin):
    router = model_router_ensure(project=project)
    workflow = workflow_create(
        project=project, name="Branching", document=branching(router.id), actor=admin
    )

    second = branching(router.id, threshold=0.8)
    version = workflow_update(workflow=workflow, actor=admin, document=second, name="Strict")
    unchanged = workflow_update(workflow=workflow, actor=admin, document=second)

    assert version.number == 2 and unchanged == version
    workflow.refresh_from_db()
    assert workflow.name == "Strict"
    first = WorkflowVersion.objects.get(workflow=workflow, number=1)
    assert first.document == branching(router.id)  # the old version is as it was


def test_a_model_of_another_project_or_a_missing_one_is_refused_naming_the_node(project, admin):
    other = project_create(name="Other", created_by=UserFactory())
    theirs = model_router_ensure(project=other)

    assert problems_of(project, branching(theirs.id)) == {
        "classify": [f"model {theirs.id} belongs to another project."]
    }
    assert problems_of(project, branching(987654)) == {"classify": ["model 987654 does not exist."]}
    with pytest.raises(WorkflowRejected, match="node 'classify': model 987654 does not exist"):
        workflow_create(project=project, name="X", document=branching(987654), actor=admin)


def test_a_pinned_version_that_is_missing_or_not_ready_is_refused(project, admin):
    router = model_router_ensure(project=project)
    ModelVersion.objects.create(model=router, number=1, status=ModelVersion.Status.FAILED)

    assert problems_of(project, branching(router.id, version=1)) == {
        "classify": ["Classifier v1 is failed, not ready."]
    }
    assert problems_of(project, branching(router.id, version=4)) == {
        "classify": ["Classifier has no version 4."]
    }


def test_archived_and_foreign_concepts_in_params_are_refused(project, admin):
    router = model_router_ensure(project=project)
    kept = concept_create(project=project, name="kept", actor=admin)
    old = concept_create(project=project, name="old", actor=admin)
    old.archived_at = old.created_at
    old.save(update_fields=["archived_at"])
    other = project_create(name="Other", created_by=admin)
    foreign = concept_create(project=other, name="foreign", actor=admin)
    document = branching(router.id)
    document["nodes"][3]["params"]["table"] = {str(kept.id): 0.5, str(old.id): 0.5}
    document["nodes"][3]["params"]["table"][str(foreign.id)] = 0.7

    assert problems_of(project, document) == {
        "threshold": [
            f"concept {old.id} (old) is archived.",
            f"concept {foreign.id} is not a concept of this project.",
        ]
    }


def test_graph_problems_come_first_and_name_the_node(project):
    router = model_router_ensure(project=project)
    document = branching(router.id)
    document["nodes"][4]["inputs"] = [{"node_id": "classify"}, {"node_id": "nowhere"}]

    assert problems_of(project, document) == {
        "accept": ["input 'nowhere' is not a node of this workflow."]
    }


def test_the_default_workflow_cannot_be_deleted_others_can(project, admin):
    default = workflow_default_ensure(project=project)
    other = workflow_create(
        project=project,
        name="Mine",
        document=branching(default.project.models.get().id),
        actor=admin,
    )

    with pytest.raises(ServiceError, match="cannot be deleted"):
        workflow_delete(workflow=default, actor=admin)
    workflow_delete(workflow=other, actor=admin)

    assert list(Workflow.objects.filter(project=project)) == [default]


def test_a_saved_workflow_whose_version_or_concept_went_since_is_refused_when_run(project, admin):
    router = model_router_ensure(project=project)
    pinned = ModelVersion.objects.create(model=router, number=1, status=ModelVersion.Status.READY)
    concept = concept_create(project=project, name="wren", actor=admin)
    document = branching(router.id, version=1)
    document["nodes"][3]["params"]["table"] = {str(concept.id): 0.5}
    workflow = workflow_create(project=project, name="Pinned", document=document, actor=admin)

    # when: the pinned version is deleted and the concept archived after the workflow was saved
    pinned.delete()
    concept.archived_at = concept.created_at
    concept.save(update_fields=["archived_at"])

    # then: a run is refused before it starts, naming each node and what went
    with pytest.raises(WorkflowRejected) as refused:
        workflow_run_start(workflow_version=workflow.versions.get(), actor=admin)
    assert [(p.node_id, p.message) for p in refused.value.problems] == [
        ("classify", "Classifier has no version 1."),
        ("threshold", f"concept {concept.id} (wren) is archived."),
    ]
    assert not WorkflowRun.objects.exists()
