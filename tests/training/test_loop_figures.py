"""The figures the dashboard, the Models tab and the version page show of the loop: one
definition of "labeled automatically", spot checks per version, rollback as a state, and
the wait for embeddings and the first model."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from labeling.models import Annotation
from labeling.services.review import review_decide
from training.models import ModelVersion
from training.selectors import model_summary, version_label_counts
from training.services.embeddings import (
    EmbeddingProgress,
    LoopProgress,
    embedding_rate,
    embeddings_compute,
    loop_progress,
)
from training.services.routing import version_rollback
from training.services.versions import (
    model_router_ensure,
    version_promote,
    version_queue,
    version_train,
)
from training.templatetags.training_tags import about
from workflows.services.routing import version_route

pytestmark = pytest.mark.django_db


def url(name, project, **kwargs):
    return reverse(f"training:{name}", kwargs={"project_id": project.id, **kwargs})


@pytest.fixture
def routed(digits_project, admin):
    """A live, routed version: a threshold every concept reaches, half the automatic labels
    sampled for spot checks."""
    project, concepts, items = digits_project(classes=3, count=210, labeled=0.5)
    project.spot_check_rate = 0.5
    project.save(update_fields=["spot_check_rate"])
    embeddings_compute(project_id=project.id)
    model = model_router_ensure(project=project)
    version = version_train(version_id=version_queue(model=model, actor=admin).id)
    assert version.status == ModelVersion.Status.READY, version.error
    thresholds = {k: {**t, "threshold": 0.5} for k, t in version.thresholds.items()}
    ModelVersion.objects.filter(id=version.id).update(thresholds=thresholds)
    version.refresh_from_db()
    version_route(version_id=version.id)
    return project, model, version


def test_labeled_automatically_is_one_number_on_the_dashboard_and_the_version_page(
    client, routed, admin
):
    project, _, version = routed
    auto = Annotation.objects.filter(model_version=version, model_band="auto")
    waiting = auto.filter(status="pending_review").count()
    assert waiting and auto.filter(status="accepted").exists()
    client.force_login(admin)

    dashboard = client.get(url("summary", project)).content.decode()
    version_page = client.get(url("model_version", project, number=version.number)).content

    counts = version_label_counts(version)
    assert counts.automatic == auto.count() and counts.awaiting_check == waiting
    assert f'<span id="auto-label-count">{counts.automatic}</span>' in dashboard
    stat = version_page.decode().split('id="auto-label-count"')[1].split("</div></div>")[0]
    assert f'<div class="value">{counts.automatic}</div>' in stat
    assert f"{waiting} awaiting a spot check" in stat


def test_after_a_rollback_the_figures_describe_the_live_version(client, routed, admin):
    # given: v2 goes live, routes, gets a spot check confirmed, and is rolled back
    project, model, first = routed
    second = ModelVersion.objects.create(
        model=model,
        number=2,
        status=ModelVersion.Status.READY,
        layout=first.layout,
        head=bytes(first.head),
        metrics=first.metrics,
        thresholds={k: {**t, "threshold": 0.0} for k, t in first.thresholds.items()},
    )
    version_promote(version=second, actor=admin)
    version_route(version_id=second.id)
    check = Annotation.objects.filter(
        model_version=second, model_band="auto", status="pending_review"
    ).first()
    review_decide(annotation=check, reviewer=admin, action="approve")

    version_rollback(version=second, actor=admin)

    # then: v1 is live again and the dashboard counts its spot checks only
    summary = model_summary(project)
    assert summary.version == first
    assert summary.spot.checked == 0
    assert summary.rolled_back == second
    client.force_login(admin)
    dashboard = client.get(url("summary", project)).content.decode()
    assert "(0 of 0 of v1's spot checks confirmed)" in dashboard
    assert "v2 was rolled back" in dashboard
    models_page = client.get(url("models", project)).content.decode()
    versions = models_page.split('id="versions"')[1]
    assert '<span class="badge rejected">Rolled back</span>' in versions


def test_the_embedding_rate_and_the_wait_for_the_first_model_are_estimated():
    now = timezone.now()
    stamps = [now - timedelta(seconds=s) for s in (30, 30, 20, 10, 0)]
    assert embedding_rate(stamps, now) == pytest.approx(5 / 30)
    assert embedding_rate(stamps[:1], now) is None
    halfway = EmbeddingProgress(done=900, total=1800, failed=0, per_second=5.0)
    assert halfway.eta_seconds == 180.0
    assert LoopProgress(halfway, waiting_for_first_model=True).first_model_eta_seconds == 240.0
    assert LoopProgress(halfway, waiting_for_first_model=False).first_model_eta_seconds is None
    unmeasured = EmbeddingProgress(done=0, total=10, failed=0)
    assert unmeasured.eta_seconds is None
    assert (about(30), about(180), about(4000)) == (
        "under a minute",
        "about 3 min",
        "about 1 h 07 min",
    )


def test_the_dashboard_shows_embedding_progress_and_when_the_first_model_is_due(
    client, digits_project, admin
):
    # given: a project with inputs, half embedded a moment ago, and no model yet
    project, _, items = digits_project(classes=2, count=20, labeled=0.5)
    embeddings_compute(project_id=project.id)
    from training.models import Embedding

    half = [i.id for i, _ in items[:10]]
    Embedding.objects.filter(input_id__in=half).delete()
    Embedding.objects.update(created_at=timezone.now() - timedelta(seconds=10))
    client.force_login(admin)

    page = client.get(url("summary", project)).content.decode()
    models_tab = client.get(url("models", project)).content.decode()
    polled = client.get(url("loop_progress", project) + "?polling=1")

    assert loop_progress(project).first_model_eta_seconds is not None
    assert "Embedding 10 of 20" in page and "first model in" in page
    assert "Embedding 10 of 20" in models_tab and "first model in" in models_tab
    assert "Embedding 10 of 20" in polled.content.decode()
    assert "HX-Refresh" not in polled

    # when every input is embedded, the polling page reloads to show the outcome
    embeddings_compute(project_id=project.id)
    done = client.get(url("loop_progress", project) + "?polling=1")
    assert done["HX-Refresh"] == "true"
