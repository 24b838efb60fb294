"""The Python client sets up a project's review through the API, against a live server."""

import pytest
from factories import UserFactory
from rest_framework.authtoken.models import Token

from labeling.models import Project
from labeling.review_rules import TierRule
from labeling.services.review import tier_rules
from portal.client import ApiError, Client

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_client_sets_up_review_tiers_and_reads_them_back(live_server):
    # given an admin's client and a new project (no tiers)
    staff = UserFactory(username="sam_staff", is_staff=True)
    client = Client(base_url=live_server.url, api_key=Token.objects.create(user=staff).key)
    project = client.projects.create(name="Reviewed birds")["id"]
    assert client.review_settings.get(project=project)["tiers"] == []

    # when it sets two tiers with reasons, consensus and gold rate, then changes the gold rate
    client.members.add(project=project, user="rita@example.com", role="reviewer", review_tier=2)
    client.review_settings.set(
        project=project,
        tiers=[{"mode": "all", "sample_rate": 1.0}, {"mode": "disagreements", "sample_rate": 1}],
        reject_reasons=["Wrong species"],
        consensus_auto_accept=False,
        consensus_majority=0,
        gold_rate=0.05,
        region_iou=0.6,
    )
    settings = client.review_settings.update(project=project, gold_rate=0.2)

    # then the server holds them, and the project counts two tiers
    assert settings == {
        "tiers": [
            {"mode": "all", "sample_rate": 1.0},
            {"mode": "disagreements", "sample_rate": 1.0},
        ],
        "reject_reasons": ["Wrong species"],
        "consensus_auto_accept": False,
        "consensus_majority": 0,
        "gold_rate": 0.2,
        "region_iou": 0.6,
    }
    assert client.projects.get(project)["review_tiers"] == 2
    assert tier_rules(Project.objects.get(id=project)) == [
        TierRule(1, "all", 1.0),
        TierRule(2, "disagreements", 1.0),
    ]

    # and a broken rule raises ApiError with the service's message
    with pytest.raises(ApiError) as refused:
        client.review_settings.update(project=project, tiers=[{"mode": "whenever"}])
    assert (refused.value.status, "Unknown review mode" in str(refused.value)) == (400, True)
