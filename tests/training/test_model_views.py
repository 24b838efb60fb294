"""The model pages: who may see them, training from the page, metrics, the threshold
slider, promote / roll back, and similar inputs."""

import pytest
from django.urls import reverse

from labeling.models import Annotation, AnnotationStatus, Concept
from labeling.services.review import review_decide
from training.models import ModelVersion
from training.services.embeddings import embeddings_compute
from training.services.versions import model_router_ensure, version_queue, version_train

pytestmark = pytest.mark.django_db


@pytest.fixture
def trained(digits_project, admin):
    project, concepts, items = digits_project(classes=3, count=240, labeled=0.6)
    # 144 labels can prove 0.95 (their lower bound), not the default 0.99 (needs 299 right)
    project.target_precision = 0.95
    project.save(update_fields=["target_precision"])
    embeddings_compute(project_id=project.id)
    model = model_router_ensure(project=project)
    version = version_train(version_id=version_queue(model=model, actor=admin).id)
    assert version.status == ModelVersion.Status.READY, version.error
    return project, version, concepts, items


def url(name, project, **kwargs):
    namespace = "labeling" if name in {"annotation_audit", "review"} else "training"
    return reverse(f"{namespace}:{name}", kwargs={"project_id": project.id, **kwargs})


def test_outsider_gets_404_and_annotator_403(client, trained, outsider, annotator):
    project, version, *_ = trained
    pages = [
        url("models", project),
        url("model_run", project),
        url("model_version", project, number=version.number),
        url("model_threshold", project, number=version.number) + "?concept=1&t=0.5",
    ]
    client.force_login(outsider)
    assert {client.get(p).status_code for p in pages} == {404}
    assert client.post(url("model_train", project)).status_code == 404
    client.force_login(annotator)
    assert {client.get(p).status_code for p in pages} == {403}
    assert client.post(url("model_train", project)).status_code == 403
    assert client.post(url("model_settings", project)).status_code == 403
    action = url("model_version_action", project, number=version.number)
    assert client.post(action, {"action": "rollback"}).status_code == 403


def test_another_projects_version_is_404(client, trained, other_project):
    project, version, *_ = trained
    other_admin = other_project.memberships.get().user
    client.force_login(other_admin)

    response = client.get(url("model_version", other_project, number=version.number))

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
    assert f"labels {len(keys) - 1} of {len(keys)} concepts automatically" in page
    name = Concept.objects.get(id=int(keys[0])).name
    banner = page[page.index('id="thresholds-withheld"') :].split("</div>")[0]
    assert f"<strong>{name}</strong> (not proven yet: 0 of 10 labels)" in banner
    assert "at least 10 labeled inputs above it" in banner
    assert "95 % lower bound of their precision" in banner


def test_a_withheld_threshold_says_how_many_more_labels_prove_it_and_a_kept_one_its_bound(
    client, trained, admin
):
    # given: one concept withheld at 13 of 13 (needs 286 more for 0.99), one accepted on its
    # exclusive group's pooled evidence
    project, version, *_ = trained
    first, second = sorted(version.thresholds)[:2]
    version.thresholds[first] = {
        "threshold": None,
        "kept": 0,
        "coverage": 0.0,
        "missing": "evidence",
        "evidence": 13,
        "evidence_hits": 13,
        "bound": 0.794,
        "needed": 286,
    }
    version.thresholds[second] = {
        **version.thresholds[second],
        "threshold": 0.7,
        "evidence": 450,
        "evidence_hits": 450,
        "bound": 0.99337,
        "pooled": True,
    }
    version.metrics["threshold_evidence"] = {"eval": 60, "out_of_fold": 240, "confidence": 0.95}
    version.save(update_fields=["thresholds", "metrics"])
    client.force_login(admin)

    models_page = client.get(url("models", project)).content.decode()
    page = client.get(url("model_version", project, number=version.number)).content.decode()

    name = Concept.objects.get(id=int(first)).name
    assert f"<strong>{name}</strong> (not proven yet: needs 286 more labels)" in models_page
    table = page[page.index('id="concept-metrics"') :].split("</table>")[0]
    assert "not proven yet: needs 286 more labels" in table
    assert "proves ≥ 0.794" in table and "proves ≥ 0.993 with its group" in table
    assert "on 60 eval + 240 out-of-fold train inputs" in page


def test_a_concept_without_eval_labels_says_so_instead_of_out_of_reach(client, trained, admin):
    # given: a concept the eval split has no label of, so no threshold was found
    project, version, *_ = trained
    key = sorted(version.thresholds)[0]
    version.thresholds[key] = {"threshold": None, "kept": 0, "coverage": 0.0, "missing": "target"}
    version.metrics["concepts"][key]["support"] = 0
    version.save(update_fields=["thresholds", "metrics"])
    client.force_login(admin)

    models_page = client.get(url("models", project)).content.decode()
    version_page = client.get(url("model_version", project, number=version.number))

    name = Concept.objects.get(id=int(key)).name
    assert f"<strong>{name}</strong> (no eval labels yet)" in models_page
    assert "no eval labels yet" in version_page.content.decode()
    assert "out of reach" not in version_page.content.decode()


def test_version_page_shows_the_evidence_and_interval_each_threshold_rests_on(
    client, trained, admin
):
    # given: a concept whose threshold rests on 13 eval inputs, all right
    project, version, *_ = trained
    key = sorted(version.thresholds)[0]
    version.thresholds[key] = {
        **version.thresholds[key],
        "threshold": 0.9,
        "precision": 1.0,
        "kept": 13,
        "evidence": 13,
        "evidence_hits": 13,
    }
    version.save(update_fields=["thresholds"])
    client.force_login(admin)

    page = client.get(url("model_version", project, number=version.number)).content.decode()

    # then: 13 of 13 reads as weak evidence, an interval from 0.77 up to 1
    table = page[page.index('id="concept-metrics"') :].split("</table>")[0]
    assert "13 of 13" in table
    assert "0.77–1.00" in table
    assert 'class="badge warn"' in table


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

    page = client.get(url("model_version", project, number=version.number)).content.decode()

    assert 'class="pr-chart"' in page
    assert 'id="confusion-1"' in page
    assert page.count('type="range"') == len(concepts)


def test_threshold_slider_reports_the_curve_point(client, trained, admin):
    project, version, concepts, _ = trained
    concept = concepts[1]
    client.force_login(admin)
    curve = version.metrics["concepts"][str(concept.id)]["curve"]

    low = client.get(
        url("model_threshold", project, number=version.number), {"concept": concept.id, "t": "0.1"}
    ).content.decode()
    high = client.get(
        url("model_threshold", project, number=version.number), {"concept": concept.id, "t": "0.9"}
    ).content.decode()

    assert f"{curve['precision'][10]:.3f}" in low
    assert f"{curve['precision'][90]:.3f}" in high or curve["precision"][90] is None
    assert 'data-threshold="0.1"' in low


def test_threshold_for_unknown_concept_is_404(client, trained, admin):
    project, version, *_ = trained
    client.force_login(admin)

    response = client.get(
        url("model_threshold", project, number=version.number), {"concept": 999999, "t": "0.5"}
    )

    assert response.status_code == 404


def test_rollback_from_the_page_says_what_it_takes_back_and_what_it_keeps(client, trained, admin):
    from workflows.services.routing import version_route

    # given: a routed live version, one of whose suggestions a reviewer approved
    project, version, *_ = trained
    project.spot_check_rate = 0.0
    project.save(update_fields=["spot_check_rate"])
    version_route(version_id=version.id)
    mine = Annotation.objects.filter(model_version=version)
    automatic = mine.filter(model_band="auto").count()
    suggestions = mine.filter(model_band="doubt")
    approved = suggestions.first()
    assert approved is not None and automatic
    review_decide(annotation=approved, reviewer=admin, action="approve")
    client.force_login(admin)
    page = client.get(url("model_version", project, number=version.number)).content.decode()
    expected_doubt = suggestions.count() - 1
    assert (
        f"Take back {automatic} automatic labels and {expected_doubt} open suggestions of "
        f"version {version.number}? 1 label a reviewer confirmed stays accepted." in page
    )

    # when
    response = client.post(
        url("model_version_action", project, number=version.number),
        {"action": "rollback"},
        follow=True,
    )

    # then: the message counts each kind, the approved suggestion stands, the state shows
    text = response.content.decode()
    assert (
        f"Version {version.number} rolled back: {automatic} automatic labels and "
        f"{expected_doubt} open suggestions taken back; 1 confirmed by reviewers kept." in text
    )
    assert not mine.filter(status=AnnotationStatus.ACCEPTED).exclude(id=approved.id).exists()
    approved.refresh_from_db()
    assert approved.status != AnnotationStatus.REJECTED
    models_page = client.get(url("models", project)).content.decode()
    assert f"v{version.number} · Rolled back" in models_page
    assert "Promoted" not in models_page.split('id="model-run"')[1].split("</div>\n</div>")[0]


def test_version_pages_are_addressed_by_the_number_they_show(client, trained, admin):
    project, version, *_ = trained
    second = ModelVersion.objects.create(
        id=version.id + 100,  # a database id unlike the number the page shows
        model=version.model,
        number=2,
        status=ModelVersion.Status.READY,
        layout=version.layout,
        head=bytes(version.head),
        metrics=version.metrics,
        thresholds=version.thresholds,
    )
    client.force_login(admin)

    page = client.get(f"/projects/{project.id}/models/versions/2/").content.decode()

    assert "Version 2" in page
    by_id = client.get(f"/projects/{project.id}/models/versions/{second.id}/")
    assert by_id.status_code == 404


def test_similar_inputs_lists_neighbours(client, trained, annotator):
    project, version, concepts, items = trained
    client.force_login(annotator)

    page = client.get(url("input_similar", project, input_id=items[0][0].id)).content.decode()

    assert page.count("<img") == 12
    assert f"/inputs/{items[0][0].id}/thumb/" not in page


def test_audit_and_review_pages_show_a_model_annotations_provenance(client, trained, admin):
    from workflows.services.routing import version_route

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
    # and which workflow wrote it: the project's routing, its writer node for spot checks
    assert 'id="workflow-provenance"' in audit and "write_spot_check" in audit
    api = client.get(f"/api/v1/inputs/{checked.input_id}/").json()
    (mine,) = [a for a in api["annotations"] if a["id"] == checked.id]
    assert mine["workflow"]["node"] == "write_spot_check"
    assert mine["workflow"]["version_id"] == checked.workflow_version_id


def test_version_urls_carry_the_number_the_page_shows_not_the_database_id(
    client, project, other_project, admin
):
    # given another project's version made first, so this project's v1 has another row id
    version_queue(model=model_router_ensure(project=other_project))
    version = version_queue(model=model_router_ensure(project=project), actor=admin)
    assert version.number == 1 and version.id != 1
    client.force_login(admin)

    # then the Models tab links v1 as /versions/1/, and that page is v1 of this project
    models_page = client.get(url("models", project)).content.decode()
    page_url = url("model_version", project, number=1)
    assert page_url.endswith("/models/versions/1/") and page_url in models_page
    assert url("model_version", project, number=version.id) not in models_page
    response = client.get(page_url)
    assert response.status_code == 200 and "v1" in response.content.decode()
    assert client.get(url("model_version", project, number=version.id)).status_code == 404
