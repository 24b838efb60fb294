"""Two review tiers with real people: approve, reject with a reason, the annotator's fix."""

import pytest
from browser_helpers import login, shot
from django.urls import NoReverseMatch, reverse
from factories import PASSWORD, UserFactory
from labeling_helpers import digit_project, label_with_key, member, open_label_page
from playwright.sync_api import expect

from labeling.models import (
    Annotation,
    AnnotationDraft,
    AnnotationStatus,
    InputStatus,
    Project,
    ReviewDecision,
    Role,
)
from labeling.services.projects import membership_invite
from labeling.services.review import review_tiers_configure

REASON = "That is a 0: the loop is closed"
APPROVE, REJECT = ReviewDecision.Action.APPROVE, ReviewDecision.Action.REJECT


def reviewer_of(project: Project, username: str, tier: int):
    user = UserFactory(username=username)
    membership_invite(project=project, identifier=username, role=Role.REVIEWER, review_tier=tier)
    return user


def open_review_page(new_context, live_server, project: Project, user):
    page = new_context().new_page()
    login(page, live_server, user.username, PASSWORD)
    page.goto(f"{live_server.url}/projects/{project.id}/review/")
    expect(page.locator("#review-item")).to_be_visible()
    return page


def expect_reviewing(page, annotation: Annotation) -> None:
    expect(page.locator("#review-item")).to_have_attribute("data-annotation", str(annotation.id))
    expect(page.locator("#review-image")).to_be_visible()


def expect_decided(page, action: str, annotation: Annotation) -> None:
    """The notice of the decision, and an empty queue: nothing else waits at this tier."""
    expect(page.locator("#review-notice")).to_have_text(f"{action} (input #{annotation.input_id}).")
    expect(page.locator("#review-empty")).to_be_visible()


def trail(annotation: Annotation) -> list[tuple]:
    return [
        (d.tier, d.action, d.reviewer.username, d.reason, d.bulk)
        for d in annotation.decisions.select_related("reviewer")
    ]


def test_two_tiers_reject_with_a_reason_and_the_annotators_fix(live_server, new_context, admin):
    # given a digits project with one image (a drawn "0"), two review tiers taking every annotation,
    # an annotator and one reviewer per tier
    project, digits, [image] = digit_project(admin=admin, name="Reviewed digits", inputs=1)
    review_tiers_configure(project=project, tiers=[("all", 1.0), ("all", 1.0)])
    anna = member(project, "anna_annotator")
    rita = reviewer_of(project, "rita_reviewer", tier=1)
    tom = reviewer_of(project, "tom_reviewer", tier=2)

    # when anna labels the image "3" with the keyboard
    label = open_label_page(new_context, live_server, project, anna)
    assert label_with_key(label, digits, "3") == image.id
    expect(label.locator("#queue-empty")).to_be_visible()
    first = Annotation.objects.get(author=anna)
    assert (first.status, first.review_tier) == (AnnotationStatus.PENDING_REVIEW, 1)

    # and the tier-1 reviewer sees it and presses A
    tier1 = open_review_page(new_context, live_server, project, rita)
    expect_reviewing(tier1, first)
    expect(tier1.locator(".badge", has_text="Tier 1")).to_be_visible()
    expect(tier1.locator("#proposal .badge.big")).to_have_text("3")
    expect(tier1.locator("#proposal")).to_contain_text("by anna_annotator")
    shot(tier1, "review_01_tier1_sees_submission")
    tier1.keyboard.press("a")
    expect_decided(tier1, "Approved", first)
    shot(tier1, "review_02_tier1_approved")

    # and the tier-2 reviewer sees the tier-1 approval, presses R, types a reason, Enter
    tier2 = open_review_page(new_context, live_server, project, tom)
    expect_reviewing(tier2, first)
    expect(tier2.locator("#earlier-decisions")).to_contain_text("Tier 1: Approved by rita_reviewer")
    tier2.keyboard.press("r")
    expect(tier2.locator("#reject-form")).to_be_visible()
    expect(tier2.locator("#reject-reason")).to_be_focused()
    tier2.keyboard.type(REASON)
    shot(tier2, "review_03_tier2_reject_reason")
    tier2.keyboard.press("Enter")
    expect_decided(tier2, "Rejected", first)
    shot(tier2, "review_04_tier2_rejected")

    # then anna, opening her label page, gets the image back with the reason and her "3"
    label.goto(f"{live_server.url}/projects/{project.id}/label/")
    expect(label.locator("#task")).to_have_attribute("data-input", str(image.id))
    expect(label.locator("#draft-note")).to_be_visible()
    expect(label.locator("#draft-note")).to_contain_text(f"Rejected: {REASON}")
    expect(label.locator(f"#label-form input[value='{digits['3'].id}']")).to_be_checked()
    shot(label, "review_05_annotator_sees_reason")

    # when she fixes it: presses 0, then Enter
    label.keyboard.press("0")
    expect(label.locator(f"#label-form input[value='{digits['0'].id}']")).to_be_checked()
    expect(label.locator(f"#label-form input[value='{digits['3'].id}']")).not_to_be_checked()
    label.keyboard.press("Enter")
    expect(label.locator("#queue-empty")).to_be_visible()
    fixed = Annotation.objects.get(author=anna, status=AnnotationStatus.PENDING_REVIEW)
    assert fixed.review_tier == 1

    # and tier 1 approves the fix, then tier 2 does
    tier1.reload()
    expect_reviewing(tier1, fixed)
    expect(tier1.locator("#proposal .badge.big")).to_have_text("0")
    expect(tier1.locator("#other-versions")).to_contain_text("Rejected")
    shot(tier1, "review_06_tier1_sees_fix")
    tier1.keyboard.press("a")
    expect_decided(tier1, "Approved", fixed)

    tier2.reload()
    expect_reviewing(tier2, fixed)
    expect(tier2.locator("#proposal .badge.big")).to_have_text("0")
    tier2.keyboard.press("a")
    expect_decided(tier2, "Approved", fixed)
    shot(tier2, "review_07_tier2_approved_fix")

    # then the fix is the input's accepted annotation, with the whole history kept
    accepted = Annotation.objects.get(input=image, status=AnnotationStatus.ACCEPTED)
    assert accepted == fixed and accepted.author == anna
    assert [label.concept_id for label in accepted.labels.all()] == [digits["0"].id]
    rejected = Annotation.objects.get(input=image, status=AnnotationStatus.REJECTED)
    assert rejected == first
    assert [label.concept_id for label in rejected.labels.all()] == [digits["3"].id]
    assert trail(rejected) == [
        (1, APPROVE, "rita_reviewer", "", False),
        (2, REJECT, "tom_reviewer", REASON, False),
    ]
    assert trail(accepted) == [
        (1, APPROVE, "rita_reviewer", "", False),
        (2, APPROVE, "tom_reviewer", "", False),
    ]
    assert Annotation.objects.filter(input=image).count() == 2
    image.refresh_from_db()
    assert image.status == InputStatus.LABELED
    assert not AnnotationDraft.objects.filter(user=anna).exists()

    # and the audit page of each annotation lists its decisions
    try:
        audit_urls = [
            reverse(
                "labeling:annotation_audit",
                kwargs={"project_id": project.id, "annotation_id": a.id},
            )
            for a in (rejected, accepted)
        ]
    except NoReverseMatch:
        pytest.skip("labeling:annotation_audit does not exist yet: audit part not checked")
    tier2.goto(f"{live_server.url}{audit_urls[0]}")
    events = tier2.locator("#timeline > li")
    expect(events).to_have_count(3)
    assert [e.get_attribute("data-kind") for e in events.all()] == ["created", APPROVE, REJECT]
    expect(events.nth(1)).to_contain_text("rita_reviewer")
    expect(events.nth(2)).to_contain_text("tom_reviewer")
    expect(events.nth(2).locator(".reason")).to_have_text(REASON)
    shot(tier2, "review_08_audit_rejected")
    tier2.goto(f"{live_server.url}{audit_urls[1]}")
    expect(events).to_have_count(3)
    assert [e.get_attribute("data-kind") for e in events.all()] == ["created", APPROVE, APPROVE]
    expect(events.nth(1)).to_contain_text("tier 1")
    expect(events.nth(2)).to_contain_text("tier 2")
    expect(events.nth(2)).to_contain_text("tom_reviewer")
    shot(tier2, "review_09_audit_accepted")
