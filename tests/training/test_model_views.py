"""The model pages: who may see them, training from the page, metrics, the threshold
slider, promote / roll back, and similar inputs."""

import pytest
from django.urls import reverse

from labeling.models import Annotation, AnnotationStatus
from training.models import ModelVersion
from training.services.embeddings import embeddings_compute
from training.services.versions import model_router_ensure, version_queue, version_train

pytestmark = pytest.mark.django_db


@pytest.fixture
def trained(digits_project, admin):
    project, concepts, items = digits_project(classes=3, count=240, labeled=0.6)
    embeddings_compute(project_id=project.id)
    model = model_router_ensure(project=project)
    version = version_train(version_id=version_queue(model=model, actor=admin).id)
    assert version.status == ModelVersion.Status.READY, version.error
    return project, version, concepts, items


def url(name, project, **kwargs):
    return reverse(f"labeling:{name}", kwargs={"project_id": project.id, **kwargs})


def test_outsider_gets_404_and_annotator_403(client, trained, outsider, annotator):
    project, version, *_ = trained
    pages = [
        url("models", project),
        url("model_run", project),
        url("model_version", project, version_id=version.id),
        url("model_threshold", project, version_id=version.id) + "?concept=1&t=0.5",
    ]
    client.force_login(outsider)
    assert {client.get(p).status_code for p in pages} == {404}
    assert client.post(url("model_train", project)).status_code == 404
    client.force_login(annotator)
    assert {client.get(p).status_code for p in pages} == {403}
    assert client.post(url("model_train", project)).status_code == 403
    assert client.post(url("model_settings", project)).status_code == 403
    action = url("model_version_action", project, version_id=version.id)
    assert client.post(action, {"action": "rollback"}).status_code == 403


def test_another_projects_version_is_404(client, trained, other_project):
    project, version, *_ = trained
    other_admin = other_project.memberships.get().user
    client.force_login(other_admin)

    response = client.get(url("model_version", other_project, version_id=version.id))

    assert response.status_code == 404


def test_models_page_shows_live_version_and_versions(client, trained, admin):
    project, version, *_ = trained
    client.force_login(admin)

    page = client.get(url("models", project)).content.decode()

    assert "Train now" in page
    assert f"v{version.number}" in page
    assert "● live" in page


def test_models_page_says_when_concepts_are_withheld_for_lack_of_eval_labels(
    client, trained, admin
):
    project, version, *_ = trained
    keys = sorted(version.thresholds)
    withheld = {"threshold": None, "kept": 0, "coverage": 0.0, "missing": "evidence"}
    version.thresholds = {
        **{k: {**version.thresholds[k], "threshold": 0.9} for k in keys},
        keys[0]: withheld,
    }
    version.save(update_fields=["thresholds"])
    client.force_login(admin)

    page = client.get(url("models", project)).content.decode()

    assert 'id="thresholds-withheld"' in page
    assert f"labels {len(keys) - 1} of {len(keys)} concepts automatically; 1 need" in page


def test_models_page_says_nothing_when_every_concept_has_a_threshold(client, trained, admin):
    project, version, *_ = trained
    version.thresholds = {k: {**t, "threshold": 0.9} for k, t in version.thresholds.items()}
    version.save(update_fields=["thresholds"])
    client.force_login(admin)

    page = client.get(url("models", project)).content.decode()

    assert 'id="thresholds-withheld"' not in page


def test_train_now_queues_one_run_only(client, trained, admin):
    project, *_ = trained
    client.force_login(admin)

    client.post(url("model_train", project))
    client.post(url("model_train", project))

    model = model_router_ensure(project=project)
    assert model.versions.filter(status=ModelVersion.Status.QUEUED).count() == 1


def test_version_page_has_curves_confusion_and_thresholds(client, trained, admin):
    project, version, concepts, _ = trained
    client.force_login(admin)

    page = client.get(url("model_version", project, version_id=version.id)).content.decode()

    assert 'class="pr-chart"' in page
    assert 'id="confusion-1"' in page
    assert page.count('type="range"') == len(concepts)


def test_threshold_slider_reports_the_curve_point(client, trained, admin):
    project, version, concepts, _ = trained
    concept = concepts[1]
    client.force_login(admin)
    curve = version.metrics["concepts"][str(concept.id)]["curve"]

    low = client.get(
        url("model_threshold", project, version_id=version.id), {"concept": concept.id, "t": "0.1"}
    ).content.decode()
    high = client.get(
        url("model_threshold", project, version_id=version.id), {"concept": concept.id, "t": "0.9"}
    ).content.decode()

    assert f"{curve['precision'][10]:.3f}" in low
    assert f"{curve['precision'][90]:.3f}" in high or curve["precision"][90] is None
    assert 'data-threshold="0.1"' in low


def test_threshold_for_unknown_concept_is_404(client, trained, admin):
    project, version, *_ = trained
    client.force_login(admin)

    response = client.get(
        url("model_threshold", project, version_id=version.id), {"concept": 999999, "t": "0.5"}
    )

    assert response.status_code == 404


def test_rollback_from_the_page_takes_labels_back(client, trained, admin):
    from training.services.routing import version_route

    project, version, *_ = trained
    version_route(version_id=version.id)
    assert Annotation.objects.filter(model_version=version).exists()
    client.force_login(admin)

    client.post(url("model_version_action", project, version_id=version.id), {"action": "rollback"})

    assert not Annotation.objects.filter(
        model_version=version, status=AnnotationStatus.ACCEPTED
    ).exists()


def test_similar_inputs_lists_neighbours(client, trained, annotator):
    project, version, concepts, items = trained
    client.force_login(annotator)

    page = client.get(url("input_similar", project, input_id=items[0][0].id)).content.decode()

    assert page.count("<img") == 12
    assert f"/inputs/{items[0][0].id}/thumb/" not in page


def test_audit_and_review_pages_show_a_model_annotations_provenance(client, trained, admin):
    from training.services.routing import version_route

    project, version, *_ = trained
    # the fixture's eval split is too small for tuned thresholds: every input is sure
    version.thresholds = {c: {**t, "threshold": 0.0} for c, t in version.thresholds.items()}
    version.save(update_fields=["thresholds"])
    project.spot_check_rate = 1.0
    project.save()
    version_route(version_id=version.id)
    checked = Annotation.objects.filter(model_version=version, model_band="auto").first()
    assert checked is not None and checked.status == AnnotationStatus.PENDING_REVIEW
    client.force_login(admin)

    audit = client.get(url("annotation_audit", project, annotation_id=checked.id)).content.decode()
    review = client.get(url("review", project)).content.decode()

    assert f"v{version.number}" in audit and "threshold" in audit
    assert 'id="model-provenance"' in review and "spot check" in review
