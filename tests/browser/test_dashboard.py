"""A project member reads the dashboard's chart of accepted labels per concept."""

import pytest
from browser_helpers import image_bytes, login, shot
from factories import PASSWORD
from playwright.sync_api import expect

from labeling.models import (
    Annotation,
    AnnotationLabel,
    AnnotationSource,
    AnnotationStatus,
    InputStatus,
)
from labeling.services.ingest import input_ingest
from labeling.services.taxonomy import concept_create


@pytest.fixture
def label(project, admin):
    """``label(concept, n)``: n new images, each with an accepted annotation of ``concept``."""
    made = 0

    def add(concept, n: int) -> None:
        nonlocal made
        for _ in range(n):
            made += 1
            data = image_bytes(color=(made * 5 % 256, made * 11 % 256, made * 17 % 256))
            result = input_ingest(project=project, name=f"img{made:03d}.png", data=data)
            assert result.created
            annotation = Annotation.objects.create(
                project=project,
                input=result.input,
                author=admin,
                source=AnnotationSource.HUMAN,
                status=AnnotationStatus.ACCEPTED,
            )
            AnnotationLabel.objects.create(annotation=annotation, concept=concept)
            result.input.status = InputStatus.LABELED
            result.input.save(update_fields=["status"])

    return add


def bar_fractions(page) -> list[float]:
    """Each bar's filled length as a fraction of its track."""
    return page.locator("#label-chart .bar-track").evaluate_all(
        """tracks => tracks.map(t =>
            t.firstElementChild.getBoundingClientRect().width / t.getBoundingClientRect().width)"""
    )


def test_dashboard_chart_renders(live_server, new_context, project, admin, label):
    # given a single-choice parent with two leaves, labeled 20 and 10 times
    animal = concept_create(project=project, name="animal", exclusive=True, actor=admin)
    cat = concept_create(project=project, name="cat", parent=animal, actor=admin)
    dog = concept_create(project=project, name="dog", parent=animal, actor=admin)
    label(cat, 20)
    label(dog, 10)
    page = new_context().new_page()
    login(page, live_server, admin.username, PASSWORD)

    # when a member opens the dashboard
    page.goto(f"{live_server.url}/projects/{project.id}/")

    # then the chart has one bar per leaf concept (not the parent), as long as its count
    chart = page.locator("#label-chart")
    expect(chart.locator(".bar-label")).to_have_text(["cat", "dog"])
    expect(chart.locator(".bar-value")).to_have_text(["20", "10"])
    assert bar_fractions(page) == [pytest.approx(1.0, abs=0.01), pytest.approx(0.5, abs=0.01)]
    # and a 2:1 ratio is no imbalance
    expect(page.locator("#imbalance-warning")).to_have_count(0)
    expect(page.locator(".stat").first).to_contain_text("30")
    shot(page, "dashboard_01_balanced")

    # when a rare concept appears with a single label
    bird = concept_create(project=project, name="bird", parent=animal, actor=admin)
    label(bird, 1)
    page.reload()

    # then it gets a short bar of its own and the dashboard warns about the imbalance
    expect(chart.locator(".bar-label")).to_have_text(["cat", "dog", "bird"])
    expect(chart.locator(".bar-value")).to_have_text(["20", "10", "1"])
    cat_bar, dog_bar, bird_bar = bar_fractions(page)
    assert (cat_bar, dog_bar) == (pytest.approx(1.0, abs=0.01), pytest.approx(0.5, abs=0.01))
    assert bird_bar == pytest.approx(0.05, abs=0.01)
    expect(chart.locator(".bar-fill.low")).to_have_count(1)
    warning = page.locator("#imbalance-warning")
    expect(warning).to_be_visible()
    expect(warning).to_contain_text("“bird” has 1 label,")
    expect(warning).to_contain_text("“cat” (20)")

    # and each bar's name leads to the concept's page
    chart.get_by_role("link", name="bird").click()
    expect(page.get_by_role("heading", level=2).first).to_contain_text("bird")
    page.go_back()
    shot(page, "dashboard_02_imbalanced")


def test_the_wait_for_embeddings_and_the_first_model_is_shown_until_it_is_over(
    live_server, new_context, project, admin, settings
):
    from datetime import timedelta

    from digits import digits_fill
    from django.utils import timezone

    from training.models import Embedding
    from training.services.embeddings import embeddings_compute

    # given 20 inputs, half of them embedded a moment ago, and no model yet
    settings.TRAINING_BACKBONE = "pixels16"
    _, _, items = digits_fill(project, admin, classes=2, count=20, labeled=0.5)
    embeddings_compute(project_id=project.id)
    Embedding.objects.filter(input_id__in=[i.id for i, _ in items[:10]]).delete()
    Embedding.objects.update(created_at=timezone.now() - timedelta(seconds=10))
    page = new_context().new_page()
    login(page, live_server, admin.username, PASSWORD)

    # then the dashboard and the Models tab say how far embedding is and when the model is due
    page.goto(f"{live_server.url}/projects/{project.id}/")
    text = page.locator("#loop-progress-text")
    expect(text).to_contain_text("Embedding 10 of 20")
    expect(text).to_contain_text("first model in")
    shot(page, "dashboard_03_embedding_progress")
    page.goto(f"{live_server.url}/projects/{project.id}/models/")
    expect(text).to_contain_text("Embedding 10 of 20")
    expect(text).to_contain_text("first model in")

    # when the rest is embedded, the polled card goes away by itself
    embeddings_compute(project_id=project.id)
    expect(page.locator("#loop-progress")).to_have_count(0, timeout=15_000)
