"""Running a workflow on a project's digits (pixel features, a trained live classifier):
the annotations written carry the workflow version and node, a restarted run goes on after
its last committed batch, and a dry run writes nothing and returns every node's output."""

import pytest
from digits import digits_data
from workflow_helpers import branching

from labeling.demo import digit_png
from labeling.models import Annotation, AnnotationStatus, Input, InputStatus
from labeling.services.errors import ServiceError
from workflows.models import WorkflowRun
from workflows.services.runs import (
    workflow_dry_run_create,
    workflow_dry_run_process,
    workflow_run_process,
    workflow_run_start,
)
from workflows.services.workflows import workflow_create

pytestmark = pytest.mark.django_db


def start(project, model, admin, django_capture_on_commit_callbacks, **document):
    workflow = workflow_create(
        project=project, name="Branching", document=branching(model.id, **document), actor=admin
    )
    with django_capture_on_commit_callbacks() as queued:
        run = workflow_run_start(workflow_version=workflow.versions.get(), actor=admin)
    assert len(queued) == 1  # the task goes out after commit
    return run


def test_a_run_writes_each_branch_with_its_provenance(
    live_digits, admin, django_capture_on_commit_callbacks
):
    project, model, version, _, unlabeled = live_digits()
    run = start(project, model, admin, django_capture_on_commit_callbacks, threshold=0.9995)

    run = workflow_run_process(run_id=run.id)

    assert run.status == WorkflowRun.Status.DONE and run.done == run.total == len(unlabeled)
    written = Annotation.objects.filter(workflow_version_id=run.workflow_version_id)
    by_node = {node: list(written.filter(workflow_node=node)) for node in ("accept", "review")}
    assert by_node["accept"] and by_node["review"]
    assert run.counts["accept"] == len(by_node["accept"])
    for a in by_node["accept"]:
        assert a.status == AnnotationStatus.ACCEPTED and a.model_version_id == version.id
        assert a.input.status == InputStatus.LABELED
        assert (a.workflow_version_id, a.workflow_node) == (run.workflow_version_id, "accept")
        assert a.workflow_version.number == 1
        assert max(a.provenance["scores"].values()) >= 0.9995
    for a in by_node["review"]:
        assert a.status == AnnotationStatus.PENDING_REVIEW and a.review_tier == 1
        assert a.input.status == InputStatus.IN_REVIEW


def test_a_restarted_run_goes_on_after_its_last_batch_and_writes_nothing_twice(
    live_digits, admin, settings, django_capture_on_commit_callbacks
):
    project, model, _, _, unlabeled = live_digits()
    settings.WORKFLOWS_RUN_BATCH = 20
    run = start(project, model, admin, django_capture_on_commit_callbacks, threshold=0.0)
    # given a run that committed its first batch before its worker died
    ids = sorted(i.id for i in unlabeled)
    WorkflowRun.objects.filter(id=run.id).update(
        status=WorkflowRun.Status.RUNNING, cursor=ids[19], done=20
    )

    # when the task is delivered again
    run = workflow_run_process(run_id=run.id)

    # then only the inputs after the cursor were written, each once
    written = Annotation.objects.filter(workflow_version_id=run.workflow_version_id)
    assert sorted(written.values_list("input_id", flat=True)) == ids[20:]
    assert run.status == WorkflowRun.Status.DONE and run.done == run.total == len(ids)


def test_a_run_of_a_model_without_a_live_version_fails_clearly(
    project, admin, django_capture_on_commit_callbacks
):
    from training.services.versions import model_router_ensure

    model = model_router_ensure(project=project)
    run = start(project, model, admin, django_capture_on_commit_callbacks)

    run = workflow_run_process(run_id=run.id)

    assert run.status == WorkflowRun.Status.FAILED
    assert run.error == "node 'classify': Classifier has no live version yet: train it first."


def test_a_dry_run_writes_nothing_and_returns_every_nodes_output(
    live_digits, admin, django_capture_on_commit_callbacks
):
    project, model, version, concepts, _ = live_digits()
    workflow = workflow_create(
        project=project, name="Branching", document=branching(model.id, threshold=0.0), actor=admin
    )
    pixels, _ = digits_data(3, 1)
    before = (Annotation.objects.count(), Input.objects.count())
    with django_capture_on_commit_callbacks():
        run = workflow_dry_run_create(
            workflow_version=workflow.versions.get(), actor=admin, data=digit_png(pixels[0])
        )

    run = workflow_dry_run_process(run_id=run.id)

    assert run.status == WorkflowRun.Status.DONE, run.error
    nodes = run.result["nodes"]
    assert list(nodes) == ["input", "embed", "classify", "threshold", "accept", "review"]
    assert nodes["embed"]["embedding"]["dim"] == 16 * 16
    scores = nodes["classify"]["concepts"]["inputs"][0]
    assert {s["concept_id"] for s in scores} == {c.id for c in concepts.values()}
    assert nodes["classify"]["concepts"]["source"] == {
        "version": version.number,
        "model": "Classifier",
    }
    assert nodes["threshold"]["passed_inputs"] == {"type": "selection", "inputs": [True]}
    assert nodes["accept"]["rows"][0]["labels"][0]["concept_id"] == scores[0]["concept_id"]
    assert run.result["models"]["classify"] == f"Classifier v{version.number}"
    assert (Annotation.objects.count(), Input.objects.count()) == before


def test_a_dry_run_refuses_a_file_that_is_no_image(project, admin):
    from workflows.services.workflows import workflow_default_ensure

    workflow = workflow_default_ensure(project=project)

    with pytest.raises(ServiceError):
        workflow_dry_run_create(
            workflow_version=workflow.versions.get(), actor=admin, data=b"not an image"
        )


def test_routing_runs_the_default_workflow_and_records_it_on_each_label(live_digits, admin):
    # given a live version whose every concept reaches its threshold
    from training.models import ModelVersion
    from workflows.models import Workflow
    from workflows.services.routing import version_route

    project, model, version, _, unlabeled = live_digits()
    thresholds = {k: {**t, "threshold": 0.0} for k, t in version.thresholds.items()}
    ModelVersion.objects.filter(id=version.id).update(thresholds=thresholds)

    # when the version routes
    tally = version_route(version_id=version.id)

    # then every label names the default workflow's version and its writer node
    default = Workflow.objects.get(project=project, is_default=True)
    written = Annotation.objects.filter(model_version=version)
    assert written.count() == tally["auto"] + tally["doubt"] == len(unlabeled)
    nodes = set(written.values_list("workflow_node", flat=True))
    assert nodes <= {"write_accepted", "write_spot_check", "write_doubt"} and nodes
    assert set(written.values_list("workflow_version__workflow", flat=True)) == {default.id}
    assert tally["workflow_version"] == default.versions.order_by("-number").first().number


def test_routing_follows_the_loop_settings_as_a_new_default_version(live_digits, admin):
    from workflows.models import Workflow
    from workflows.services.workflows import workflow_default_current

    project, *_ = live_digits()
    first = workflow_default_current(project=project)
    assert workflow_default_current(project=project) == first  # unchanged settings: same

    project.spot_check_rate = 0.37
    project.save(update_fields=["spot_check_rate"])
    second = workflow_default_current(project=project)

    assert second.number == first.number + 1
    sampler = next(n for n in second.document["nodes"] if n["id"] == "spot_check")
    assert sampler["params"]["fraction"] == 0.37
    assert Workflow.objects.filter(project=project, is_default=True).count() == 1


def test_the_default_workflow_is_not_edited_by_hand(live_digits, admin):
    from labeling.services.errors import ServiceError
    from workflows.models import Workflow
    from workflows.services.workflows import workflow_update

    project, *_ = live_digits()
    default = Workflow.objects.get(project=project, is_default=True)
    document = default.versions.order_by("-number").first().document

    with pytest.raises(ServiceError, match="follows the loop settings"):
        workflow_update(workflow=default, actor=admin, document={**document, "nodes": []})


def test_new_inputs_are_routed_by_the_live_version_once_embedded(
    live_digits, admin, settings, django_capture_on_commit_callbacks
):
    # given: a live version that routed the project, every concept above its threshold
    from datetime import timedelta

    from django.utils import timezone

    from labeling import hooks
    from training.models import Embedding, ModelVersion
    from workflows.services.routing import version_route

    project, model, version, _, unlabeled = live_digits()
    thresholds = {k: {**t, "threshold": 0.0} for k, t in version.thresholds.items()}
    ModelVersion.objects.filter(id=version.id).update(thresholds=thresholds)
    newcomers = unlabeled[:5]
    # the first routing saw the others only: these five were embedded later
    Embedding.objects.filter(input__in=newcomers).delete()
    first = version_route(version_id=version.id)
    assert first["total"] == len(unlabeled) - 5  # not embedded yet: not a candidate yet
    since = timezone.now() - timedelta(seconds=1)
    from training.services.embeddings import embeddings_compute

    embeddings_compute(project_id=project.id)
    settings.CELERY_TASK_ALWAYS_EAGER = True

    # when the model loop announces the new embeddings
    with django_capture_on_commit_callbacks(execute=True):
        hooks.announce(hooks.INPUTS_EMBEDDED, project_id=project.id, since=since)

    # then the five are routed, each once, and the version's tally counts them on top
    written = Annotation.objects.filter(model_version=version, input__in=newcomers)
    assert sorted(written.values_list("input_id", flat=True)) == sorted(i.id for i in newcomers)
    version.refresh_from_db()
    assert version.routing["total"] == len(unlabeled) and version.routing["done"] == len(unlabeled)
    assert version.routing["auto"] + version.routing["doubt"] == len(unlabeled)
    # and routing the version again writes nothing twice
    again = version_route(version_id=version.id, embedded_since=since)
    assert again["total"] == len(unlabeled)
    assert Annotation.objects.filter(model_version=version).count() == len(unlabeled)


def test_a_new_workflow_can_start_as_a_copy_of_the_routing(client, live_digits, admin):
    from workflows.models import Workflow

    project, *_ = live_digits()
    client.force_login(admin)

    response = client.post(
        f"/projects/{project.id}/workflows/", {"name": "My routing", "start": "routing"}
    )

    copy = Workflow.objects.get(project=project, name="My routing")
    default = Workflow.objects.get(project=project, is_default=True)
    assert response.status_code == 302 and not copy.is_default
    assert copy.versions.get().document == default.versions.order_by("-number").first().document
