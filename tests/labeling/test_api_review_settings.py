"""Review settings over the API: the whole review setup (tiers, modes, consensus, gold rate,
reject reasons) without a browser, checked by the same service as the settings page."""

import pytest
from factories import InputFactory, UserFactory
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from labeling.models import AnnotationStatus, ReviewTier, Role
from labeling.review_rules import TierRule
from labeling.services.queue import annotation_submit, queue_next, queue_slots_open
from labeling.services.review import review_next, tier_rules
from labeling.services.taxonomy import concept_create

pytestmark = pytest.mark.django_db

SETUP = {
    "tiers": [{"mode": "all", "sample_rate": 1.0}, {"mode": "sample", "sample_rate": 0.3}],
    "reject_reasons": ["Wrong species", "Too blurry to tell"],
    "consensus_auto_accept": True,
    "consensus_majority": 2,
    "gold_rate": 0.1,
    "region_iou": 0.6,
}


def api(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.get_or_create(user=user)[0].key}")
    return client


def url(project) -> str:
    return f"/api/v1/projects/{project.id}/review-settings/"


def test_a_new_project_has_no_tiers_and_default_settings(project, admin):
    response = api(admin).get(url(project))

    assert response.status_code == 200
    assert response.json() == {
        "tiers": [],
        "reject_reasons": [],
        "consensus_auto_accept": project.consensus_auto_accept,
        "consensus_majority": project.consensus_majority,
        "gold_rate": project.gold_rate,
        "region_iou": 0.5,
    }


def test_the_whole_review_setup_through_the_api(project, admin, annotator):
    # given a project with a concept, an annotator and a reviewer invited for tier 1
    robin = concept_create(project=project, name="Robin", actor=admin)
    rita = UserFactory(username="rita_reviewer")
    client = api(admin)
    invited = client.post(
        f"/api/v1/projects/{project.id}/members/",
        {"user": rita.username, "role": Role.REVIEWER, "review_tier": 1},
        format="json",
    )
    assert invited.status_code == 201

    # when the admin PUTs two tiers, reasons, consensus and gold rate
    response = client.put(url(project), SETUP, format="json")

    # then they are answered back and stored, exactly as the settings page would store them
    assert response.status_code == 200, response.json()
    assert response.json() == SETUP
    project.refresh_from_db()
    assert tier_rules(project) == [TierRule(1, "all", 1.0), TierRule(2, "sample", 0.3)]
    assert client.get(f"/api/v1/projects/{project.id}/").json()["review_tiers"] == 2

    # and an annotator's submission now waits for the tier-1 reviewer
    input = InputFactory(project=project)
    queue_slots_open(input=input, overlap=project.overlap)
    slot = queue_next(project=project, user=annotator)
    annotation = annotation_submit(
        project=project, user=annotator, input=slot.input, concept_ids=[robin.id]
    ).annotation
    assert (annotation.status, annotation.review_tier) == (AnnotationStatus.PENDING_REVIEW, 1)
    assert review_next(project=project, user=rita) == annotation

    # when she PATCHes only the gold rate and drops tier 2
    patched = client.patch(
        url(project), {"gold_rate": 0.2, "tiers": [{"mode": "all"}]}, format="json"
    )

    # then the rest stays as it was
    assert patched.status_code == 200
    assert patched.json() == {**SETUP, "gold_rate": 0.2, "tiers": [SETUP["tiers"][0]]}
    assert list(ReviewTier.objects.filter(project=project).values_list("number", flat=True)) == [1]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"tiers": [{"mode": "whenever", "sample_rate": 1}]}, "Unknown review mode"),
        ({"tiers": [{"mode": "sample", "sample_rate": 1.5}]}, "A sample rate is between 0 and 1"),
        ({"tiers": [{"mode": "all"}] * 4}, "at most 3 review tiers"),
        ({"gold_rate": 0.9}, "0.5"),
        ({"consensus_majority": -1}, "0"),
        ({"region_iou": 0.05}, "0.1"),
        ({"region_iou": 0.99}, "0.95"),
    ],
)
def test_a_broken_rule_is_a_400_with_the_services_message_and_nothing_saved(
    project, admin, change, message
):
    response = api(admin).put(url(project), {**SETUP, **change}, format="json")

    assert response.status_code == 400
    assert message in response.json()["error"]
    project.refresh_from_db()
    assert (project.review_tiers, project.gold_rate) == (0, pytest.approx(0.05))
    assert project.region_iou == pytest.approx(0.5)
    assert not project.reject_reasons.exists()


def test_only_admins_change_review_settings_and_outsiders_see_no_project(
    project, reviewer, outsider
):
    assert api(reviewer).get(url(project)).status_code == 403
    assert api(reviewer).put(url(project), SETUP, format="json").status_code == 403
    assert api(outsider).get(url(project)).status_code == 404
    project.refresh_from_db()
    assert project.review_tiers == 0


def test_the_browser_form_and_the_api_store_the_same(client, project, admin):
    # given the same settings sent by the browser form
    client.force_login(admin)
    client.post(
        f"/projects/{project.id}/review/settings/",
        {
            "tiers": "2",
            "mode_1": "all",
            "rate_1": "1",
            "mode_2": "sample",
            "rate_2": "0.3",
            "reasons": "Wrong species\nToo blurry to tell",
            "consensus_auto_accept": "1",
            "consensus_majority": "2",
            "gold_rate": "0.1",
            "region_iou": "0.6",
        },
    )

    # then the API reads back what the API would have written
    assert api(admin).get(url(project)).json() == SETUP


def test_a_put_without_the_box_overlap_keeps_it(project, admin):
    # given a project whose boxes must overlap by 0.7
    client = api(admin)
    client.patch(url(project), {"region_iou": 0.7}, format="json")

    # when an older client PUTs the settings it knows (no region_iou)
    older = {k: v for k, v in SETUP.items() if k != "region_iou"}
    response = client.put(url(project), older, format="json")

    # then the overlap stays
    assert response.status_code == 200
    assert response.json()["region_iou"] == pytest.approx(0.7)
    project.refresh_from_db()
    assert project.region_iou == pytest.approx(0.7)
