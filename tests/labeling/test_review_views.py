"""Reviewer pages: the tier queue, decisions over htmx, bulk approval, review settings;
and the reject reason on the annotator's page."""

import pytest
from django.urls import reverse
from factories import AnnotationFactory, InputFactory, MembershipFactory, UserFactory

from labeling.models import (
    Annotation,
    AnnotationLabel,
    AnnotationStatus,
    Project,
    RejectReason,
    ReviewDecision,
    ReviewTier,
    Role,
)
from labeling.review_rules import TierRule
from labeling.services.queue import annotation_submit, queue_next, queue_slots_open
from labeling.services.review import review_decide, review_tiers_configure, tier_rules
from labeling.services.taxonomy import concept_create

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}
PENDING = AnnotationStatus.PENDING_REVIEW
APPROVE, REJECT = ReviewDecision.Action.APPROVE, ReviewDecision.Action.REJECT


@pytest.fixture
def concepts(project, admin):
    species = concept_create(project=project, name="Species", actor=admin, exclusive=True)
    return {
        "robin": concept_create(project=project, name="Robin", parent=species, actor=admin),
        "sparrow": concept_create(project=project, name="Sparrow", parent=species, actor=admin),
    }


@pytest.fixture
def two_tiers(project, concepts):
    review_tiers_configure(project=project, tiers=[("all", 1.0), ("all", 1.0)])
    project.refresh_from_db()
    return project


@pytest.fixture
def tom(project):
    """The tier-2 reviewer."""
    user = UserFactory(username="tom_reviewer")
    MembershipFactory(project=project, user=user, role=Role.REVIEWER, review_tier=2)
    return user


def pending_at(project: Project, tier: int, author, concepts=()) -> Annotation:
    annotation = AnnotationFactory(
        input=InputFactory(project=project), author=author, status=PENDING, review_tier=tier
    )
    for concept in concepts:
        AnnotationLabel.objects.create(annotation=annotation, concept=concept)
    return annotation


def as_user(client, user):
    client.force_login(user)
    return client


def url(name: str, project: Project, **kwargs) -> str:
    return reverse(f"labeling:{name}", kwargs={"project_id": project.id, **kwargs})


def decide_url(project: Project, annotation: Annotation) -> str:
    return url("review_decide", project, annotation_id=annotation.id)


# ---------------------------------------------------------------------------- who sees what


@pytest.mark.parametrize("name", ["review", "review_bulk"])
def test_reviewers_and_admins_open_the_review_pages(client, project, admin, reviewer, name):
    for user in (reviewer, admin):
        response = as_user(client, user).get(url(name, project))
        assert response.status_code == 200, user.username


@pytest.mark.parametrize("name", ["review", "review_bulk", "review_settings"])
def test_annotators_may_not_review_and_outsiders_see_no_project(
    client, project, annotator, outsider, name
):
    assert as_user(client, annotator).get(url(name, project)).status_code == 403
    assert as_user(client, outsider).get(url(name, project)).status_code == 404


def test_only_admins_open_the_review_settings(client, project, admin, reviewer):
    assert as_user(client, reviewer).get(url("review_settings", project)).status_code == 403
    assert as_user(client, admin).get(url("review_settings", project)).status_code == 200


def test_deciding_is_for_reviewers_of_the_project(client, two_tiers, annotator, outsider, concepts):
    annotation = pending_at(two_tiers, 1, annotator, [concepts["robin"]])
    data = {"action": APPROVE}

    assert (
        as_user(client, annotator).post(decide_url(two_tiers, annotation), data).status_code == 403
    )
    assert (
        as_user(client, outsider).post(decide_url(two_tiers, annotation), data).status_code == 404
    )
    assert not annotation.decisions.exists()


def test_deciding_takes_no_get(client, two_tiers, reviewer, annotator):
    annotation = pending_at(two_tiers, 1, annotator)
    assert as_user(client, reviewer).get(decide_url(two_tiers, annotation)).status_code == 405


# ---------------------------------------------------------------------------- the review page


def test_the_review_page_shows_the_next_annotation_of_the_reviewers_tier(
    client, two_tiers, annotator, reviewer, tom, concepts
):
    # given anna's Robin approved at tier 1, and another annotation waiting at tier 1
    waiting_two = pending_at(two_tiers, 1, annotator, [concepts["robin"]])
    review_decide(annotation=waiting_two, reviewer=reviewer, action=APPROVE)
    waiting_one = pending_at(two_tiers, 1, annotator, [concepts["sparrow"]])

    # when the tier-2 reviewer opens the review page
    response = as_user(client, tom).get(url("review", two_tiers))

    # then it shows the tier-2 annotation, its labels and the tier-1 decision
    page = response.content.decode()
    assert f'data-annotation="{waiting_two.id}"' in page
    assert '<span class="badge brand">Tier 2</span>' in page
    assert '<span class="badge brand big">Robin</span>' in page
    assert "Tier 1: <strong>Approved</strong> by rita_reviewer" in page
    assert f'data-annotation="{waiting_one.id}"' not in page


def test_the_review_page_says_when_nothing_waits(client, two_tiers, reviewer):
    response = as_user(client, reviewer).get(url("review", two_tiers))

    assert b'id="review-empty"' in response.content
    assert b"Nothing waits for review at tier 1" in response.content


# ---------------------------------------------------------------------------- deciding


def test_approving_records_the_decision_and_shows_the_next_one(
    client, two_tiers, annotator, reviewer, concepts
):
    first = pending_at(two_tiers, 1, annotator, [concepts["robin"]])
    second = pending_at(two_tiers, 1, annotator, [concepts["sparrow"]])

    response = as_user(client, reviewer).post(
        decide_url(two_tiers, first), {"action": APPROVE}, **HTMX
    )

    assert response.status_code == 200
    page = response.content.decode()
    assert f"Approved (input #{first.input_id})." in page
    assert f'data-annotation="{second.id}"' in page
    assert "<html" not in page  # only the item, swapped in by htmx
    first.refresh_from_db()
    assert (first.status, first.review_tier) == (PENDING, 2)
    assert [(d.tier, d.action, d.reviewer) for d in first.decisions.all()] == [
        (1, APPROVE, reviewer)
    ]


def test_correcting_to_the_same_labels_says_it_was_recorded_as_an_approval(
    client, two_tiers, annotator, reviewer, concepts
):
    # given a robin waiting at tier 1
    robin = pending_at(two_tiers, 1, annotator, [concepts["robin"]])

    # when the reviewer saves a "correction" that keeps robin
    response = as_user(client, reviewer).post(
        decide_url(two_tiers, robin),
        {"action": ReviewDecision.Action.CORRECT, "concepts": [concepts["robin"].id]},
        **HTMX,
    )

    # then the page says so and the trail holds one approval, no correction
    assert response.status_code == 200
    assert f"No change: recorded as an approval (input #{robin.input_id})." in (
        response.content.decode()
    )
    assert [d.action for d in robin.decisions.all()] == [APPROVE]
    assert not Annotation.objects.filter(corrects=robin).exists()


def test_another_projects_annotation_is_not_found(
    client, two_tiers, other_project, reviewer, annotator
):
    elsewhere = pending_at(other_project, 1, annotator)

    response = as_user(client, reviewer).post(
        decide_url(two_tiers, elsewhere), {"action": APPROVE}, **HTMX
    )

    assert response.status_code == 404
    assert not elsewhere.decisions.exists()


def test_a_tier_1_reviewer_cannot_decide_a_tier_2_annotation(
    client, two_tiers, annotator, reviewer, concepts
):
    annotation = pending_at(two_tiers, 2, annotator, [concepts["robin"]])

    response = as_user(client, reviewer).post(
        decide_url(two_tiers, annotation), {"action": APPROVE}, **HTMX
    )

    assert response.status_code == 422
    assert b"This annotation waits at tier 2; you review tier 1." in response.content
    assert b'id="review-error"' in response.content
    assert not annotation.decisions.exists()


def test_rejecting_without_a_reason_is_refused(client, two_tiers, annotator, reviewer, concepts):
    annotation = pending_at(two_tiers, 1, annotator, [concepts["robin"]])
    as_user(client, reviewer).get(url("review", two_tiers))  # the reviewer holds it

    response = client.post(
        decide_url(two_tiers, annotation), {"action": REJECT, "reason": "  "}, **HTMX
    )

    assert response.status_code == 422
    assert b"Say why you reject it" in response.content
    # the reviewer still has the same annotation in front of them
    assert f'data-annotation="{annotation.id}"'.encode() in response.content
    annotation.refresh_from_db()
    assert (annotation.status, annotation.review_tier) == (PENDING, 1)
    assert not annotation.decisions.exists()


def test_a_reason_picked_from_the_list_rejects(client, two_tiers, annotator, reviewer, concepts):
    RejectReason.objects.create(project=two_tiers, text="Wrong species")
    annotation = pending_at(two_tiers, 1, annotator, [concepts["robin"]])

    response = as_user(client, reviewer).post(
        decide_url(two_tiers, annotation),
        {"action": REJECT, "reason": "", "reason_choice": "Wrong species"},
        **HTMX,
    )

    assert response.status_code == 200
    annotation.refresh_from_db()
    assert annotation.status == AnnotationStatus.REJECTED
    assert annotation.decisions.get().reason == "Wrong species"


def test_the_annotator_sees_the_reject_reason_and_their_earlier_labels(
    client, two_tiers, annotator, reviewer, concepts
):
    # given anna's Robin, rejected at tier 1 with a reason
    input = InputFactory(project=two_tiers)
    queue_slots_open(input=input, overlap=1)
    queue_next(project=two_tiers, user=annotator)
    annotation = annotation_submit(
        project=two_tiers, user=annotator, input=input, concept_ids=[concepts["robin"].id]
    ).annotation
    review_decide(
        annotation=annotation, reviewer=reviewer, action=REJECT, reason="Look at the streaks"
    )

    # when she opens her labeling page
    response = as_user(client, annotator).get(url("label", two_tiers))

    # then the input is back, the reason shows, and Robin is still chosen
    page = response.content.decode()
    assert f'data-input="{input.id}"' in page
    assert 'id="draft-note"' in page
    assert "Rejected: Look at the streaks" in page
    assert f'value="{concepts["robin"].id}" checked' in page
    assert f'value="{concepts["sparrow"].id}" checked' not in page


# ---------------------------------------------------------------------------- bulk


def test_bulk_page_counts_what_the_reviewer_may_approve(
    client, two_tiers, annotator, reviewer, tom, concepts
):
    robin = [concepts["robin"]]
    for _ in range(3):
        pending_at(two_tiers, 1, annotator, robin)
    pending_at(two_tiers, 1, reviewer, robin)  # own
    pending_at(two_tiers, 2, annotator, robin)  # another tier

    response = as_user(client, reviewer).get(url("review_bulk", two_tiers))

    assert b'<strong id="bulk-count">3</strong>' in response.content
    assert b"Approve all 3" in response.content


def test_bulk_approve_approves_each_with_its_own_decision(
    client, two_tiers, annotator, reviewer, concepts
):
    robin = [concepts["robin"]]
    mine = [pending_at(two_tiers, 1, annotator, robin) for _ in range(3)]
    own = pending_at(two_tiers, 1, reviewer, robin)

    response = as_user(client, reviewer).post(url("review_bulk", two_tiers), {"confirm": "yes"})

    assert response.status_code == 302
    page = client.get(response.url).content.decode()
    assert "Approved 3 annotations at tier 1." in page
    assert '<strong id="bulk-count">0</strong>' in page
    decisions = ReviewDecision.objects.filter(project=two_tiers)
    assert sorted(d.annotation_id for d in decisions) == sorted(a.id for a in mine)
    assert all(d.bulk and d.tier == 1 and d.reviewer == reviewer for d in decisions)
    own.refresh_from_db()
    assert (own.status, own.review_tier) == (PENDING, 1)


def test_bulk_post_without_confirmation_approves_nothing(client, two_tiers, annotator, reviewer):
    pending_at(two_tiers, 1, annotator)

    response = as_user(client, reviewer).post(url("review_bulk", two_tiers), {})

    assert response.status_code == 200
    assert not ReviewDecision.objects.exists()


def test_bulk_filter_by_label(client, two_tiers, annotator, reviewer, concepts):
    pending_at(two_tiers, 1, annotator, [concepts["robin"]])
    sparrow = pending_at(two_tiers, 1, annotator, [concepts["sparrow"]])
    as_user(client, reviewer)

    response = client.post(
        url("review_bulk", two_tiers), {"confirm": "yes", "concept": str(concepts["sparrow"].id)}
    )

    assert response.status_code == 302
    assert [d.annotation_id for d in ReviewDecision.objects.all()] == [sparrow.id]


# ---------------------------------------------------------------------------- settings

SETTINGS = {
    "tiers": "2",
    "mode_1": "all",
    "rate_1": "1",
    "mode_2": "sample",
    "rate_2": "0.3",
    "reasons": "Wrong species\r\n\r\n  Too blurry to tell  \r\n",
    "consensus_auto_accept": "1",
    "consensus_majority": "2",
    "gold_rate": "0.1",
}


def test_the_admin_saves_tiers_reasons_consensus_and_gold(client, project, admin):
    response = as_user(client, admin).post(url("review_settings", project), SETTINGS)

    assert response.status_code == 302
    project.refresh_from_db()
    assert tier_rules(project) == [TierRule(1, "all", 1.0), TierRule(2, "sample", 0.3)]
    assert [r.text for r in RejectReason.objects.filter(project=project)] == [
        "Wrong species",
        "Too blurry to tell",
    ]
    assert (project.consensus_auto_accept, project.consensus_majority, project.gold_rate) == (
        True,
        2,
        0.1,
    )
    page = client.get(response.url).content.decode()
    assert "Review settings saved." in page
    assert '<option value="sample" selected>' in page
    assert "Wrong species\nToo blurry to tell</textarea>" in page


def test_the_reviewer_may_not_change_the_review_settings(client, project, reviewer):
    response = as_user(client, reviewer).post(url("review_settings", project), SETTINGS)

    assert response.status_code == 403
    project.refresh_from_db()
    assert project.review_tiers == 0
    assert not RejectReason.objects.exists()


def test_an_unknown_mode_is_refused_with_a_message(client, project, admin):
    response = as_user(client, admin).post(
        url("review_settings", project), {**SETTINGS, "mode_2": "whenever"}
    )

    assert response.status_code == 200
    assert b"Unknown review mode" in response.content
    project.refresh_from_db()
    assert project.review_tiers == 0
    assert not ReviewTier.objects.filter(project=project).exists()


def test_a_gold_rate_out_of_range_is_refused_with_a_message_and_nothing_saved(
    client, project, admin
):
    response = as_user(client, admin).post(
        url("review_settings", project), {**SETTINGS, "gold_rate": "0.9"}
    )

    assert response.status_code == 200
    assert b'class="alert error' in response.content
    project.refresh_from_db()
    assert project.gold_rate == pytest.approx(0.05)
    assert project.review_tiers == 0
    assert not RejectReason.objects.filter(project=project).exists()
