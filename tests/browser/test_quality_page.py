"""An admin reads the Quality page: annotator bars, the kappa heatmap, Fleiss' gauge, the
disagreement and confusion charts."""

import pytest
from browser_helpers import login, shot
from factories import PASSWORD, AnnotationFactory, InputFactory, MembershipFactory, UserFactory
from playwright.sync_api import expect

from labeling.models import AnnotationLabel, AnnotationStatus, ReviewDecision
from labeling.services.projects import project_create
from labeling.services.taxonomy import concept_create

# Who said what on inputs 0..5 (c: cat, d: dog, b: bird). a and c agree fully (kappa 1),
# b agrees with each on 4 of 6 (kappa 1/3); dan shares only 2 inputs, too few for a kappa.
PLAN = {"ann": "cccddd", "ben": "ccdddc", "cleo": "cccddd", "dan": "cb"}


@pytest.fixture
def labeled(project, admin):
    animal = concept_create(project=project, name="animal", exclusive=True, actor=admin)
    concepts = {
        letter: concept_create(project=project, name=name, parent=animal, actor=admin)
        for letter, name in (("c", "cat"), ("d", "dog"), ("b", "bird"))
    }
    inputs = InputFactory.create_batch(6, project=project)
    for n, (name, letters) in enumerate(PLAN.items()):
        user = UserFactory(username=name)
        MembershipFactory(project=project, user=user)
        for i, letter in enumerate(letters):
            annotation = AnnotationFactory(
                input=inputs[i],
                author=user,
                time_spent_ms=(n + 1) * 1500 + i * 200,
                gold_correct=(i % 2 == 0) if i < 4 else None,
            )
            AnnotationLabel.objects.create(annotation=annotation, concept=concepts[letter])
            if i < 2:
                ReviewDecision.objects.create(
                    project=project,
                    annotation=annotation,
                    tier=1,
                    reviewer=admin,
                    action="reject" if (i + n) % 3 == 0 else "approve",
                    reason="no",
                )
                if (i + n) % 3 == 0:
                    annotation.status = AnnotationStatus.REJECTED
                    annotation.save()


def fractions(locator) -> list[float]:
    """Each bar's filled length as a fraction of its track."""
    return locator.evaluate_all(
        """tracks => tracks.map(t =>
            t.firstElementChild.getBoundingClientRect().width / t.getBoundingClientRect().width)"""
    )


def test_quality_page_charts_render(live_server, new_context, project, admin, labeled):
    page = new_context().new_page()
    login(page, live_server, admin.username, PASSWORD)

    # when the admin opens the Quality page
    page.goto(f"{live_server.url}/projects/{project.id}/quality/")

    # then every annotator has a row, the busiest with a full volume bar
    table = page.locator("#annotator-table")
    expect(table.locator("tbody td.who")).to_have_text(["ann", "ben", "cleo", "dan"])
    volume = fractions(table.locator("tbody tr td:nth-child(2) .bar-track"))
    assert volume == [pytest.approx(v, abs=0.02) for v in (1, 1, 1, 1 / 3)]
    expect(table.locator("tr[data-annotator=dan]")).to_contain_text("too few shared inputs")
    expect(table.locator("tr[data-annotator=ann] td:nth-child(7)")).to_contain_text("0.67")

    # and the heatmap shows the pairwise kappas, and n=2 where too few inputs are shared
    heatmap = page.locator("#kappa-heatmap")
    expect(heatmap.locator("td.kappa-cell")).to_have_count(6)
    ann_row = heatmap.locator("tr").nth(1)
    expect(ann_row.locator("td")).to_have_text(["", "0.33n=6", "1.00n=6", "n=2"])
    expect(heatmap.locator("td.few")).to_have_count(6)

    # and Fleiss' kappa over the four inputs only three annotators labeled, on its gauge:
    # P = (1/3 + 1 + 1 + 1/3) / 4 = 2/3, cat 3 and dog 9 of 12 so Pe = 5/8, kappa 1/9
    expect(page.locator("#fleiss-stat .value")).to_have_text("0.11")
    expect(page.locator("#fleiss-items")).to_contain_text("4 inputs labeled by exactly 3")
    marker = page.locator("#fleiss-gauge .kappa-marker").bounding_box()
    scale = page.locator("#fleiss-gauge .kappa-scale").bounding_box()
    assert (marker["x"] + 1 - scale["x"]) / scale["width"] == pytest.approx(1 / 9, abs=0.01)

    # and the concept chart shows bars for the disputed concepts, the confusions their counts
    concepts = page.locator("#concept-chart")
    expect(concepts.locator(".bar-label")).to_have_text(
        ["animal › bird", "animal › cat", "animal › dog"]
    )
    assert all(f > 0.4 for f in fractions(concepts.locator(".bar-track")))
    confused = page.locator("#confused-chart")
    expect(confused.locator(".bar-label").first).to_have_text("animal › cat ↔ dog")
    expect(confused.locator(".bar-value").first).to_have_text("2")
    shot(page, "quality_01_charts")

    # when the admin opens the page of a project nobody labeled yet
    empty = project_create(name="Empty", created_by=admin)
    page.goto(f"{live_server.url}/projects/{empty.id}/quality/")

    # then it says so instead of drawing empty charts
    expect(page.locator("#quality-empty")).to_be_visible()
    expect(page.locator(".bar-chart")).to_have_count(0)
    shot(page, "quality_02_empty")
