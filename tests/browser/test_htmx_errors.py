"""A refused htmx action shows the server's message next to the form that sent it.

htmx 2 does not swap 4xx answers by itself; static/js/portal.js swaps the partials that carry
their own message (422) and shows any other answer (403 page, 429 JSON, ...) in an alert box.
"""

import json
from datetime import timedelta

import pytest
from browser_helpers import console_errors, login, shot
from django.utils import timezone
from factories import PASSWORD, UserFactory
from labeling_helpers import digit_project, label_with_key, member, open_label_page
from playwright.sync_api import expect

from labeling.models import Annotation, AnnotationStatus, Membership, Role
from labeling.services.projects import membership_invite, project_create
from labeling.services.queue import annotation_submit, queue_next
from labeling.services.review import review_tiers_configure
from labeling.services.taxonomy import concept_create
from training.models import ModelVersion
from training.services.versions import model_router_ensure

# Chromium's own line for any 4xx answer; htmx's "Response Status Error Code" must not follow.
NETWORK_LOG = "Failed to load resource"


def test_enter_with_no_concept_says_pick_one(live_server, new_context, admin):
    # given an annotator on the labeling page, watching the console
    project, digits, images = digit_project(admin=admin, inputs=3)
    anna = member(project, "anna_annotator")
    page = open_label_page(new_context, live_server, project, anna)
    errors = console_errors(page)
    shown = page.locator("#task").get_attribute("data-input")

    # when she presses Enter without picking a concept
    page.keyboard.press("Enter")

    # then the server's message shows above the same input, and the console stays clean
    expect(page.locator("#task-error")).to_be_visible()
    expect(page.get_by_role("alert")).to_have_text("Pick at least one label, or skip the item.")
    expect(page.locator("#task")).to_have_attribute("data-input", shown)
    shot(page, "htmx_errors_01_label_no_concept")

    # and labeling still works after it, with no console error on the way
    label_with_key(page, digits, "3")
    expect(page.locator("#task-error")).to_have_count(0)
    assert [e for e in errors if not e.startswith(NETWORK_LOG)] == []


def reviewer_of(project, username: str, tier: int = 1):
    user = UserFactory(username=username)
    membership_invite(project=project, identifier=username, role=Role.REVIEWER, review_tier=tier)
    return user


def open_page(new_context, live_server, user, path: str):
    page = new_context().new_page()
    login(page, live_server, user.username, PASSWORD)
    page.goto(f"{live_server.url}{path}")
    return page


@pytest.fixture
def submitted(admin):
    """A digits project with one review tier and one annotation waiting at tier 1."""
    project, digits, [image] = digit_project(admin=admin, name="Reviewed digits", inputs=1)
    review_tiers_configure(project=project, tiers=[("all", 1.0)])
    anna = member(project, "anna_annotator")
    queue_next(project=project, user=anna)
    annotation_submit(project=project, user=anna, input=image, concept_ids=[digits["3"].id])
    annotation = Annotation.objects.get(author=anna)
    assert annotation.status == AnnotationStatus.PENDING_REVIEW
    return project, annotation


def open_review(new_context, live_server, project, user, annotation):
    page = open_page(new_context, live_server, user, f"/projects/{project.id}/review/")
    expect(page.locator("#review-item")).to_have_attribute("data-annotation", str(annotation.id))
    return page


def test_reject_without_a_reason_says_why_one_is_needed(live_server, new_context, submitted):
    # given a reviewer looking at an annotation
    project, annotation = submitted
    rita = reviewer_of(project, "rita_reviewer")
    page = open_review(new_context, live_server, project, rita, annotation)

    # when she presses R then Enter without a reason
    page.keyboard.press("r")
    expect(page.locator("#reject-reason")).to_be_focused()
    page.keyboard.press("Enter")

    # then the message shows and the same annotation is still hers to decide
    expect(page.locator("#review-error")).to_have_text(
        "Say why you reject it: pick a reason or type one."
    )
    expect(page.locator("#review-item")).to_have_attribute("data-annotation", str(annotation.id))
    shot(page, "htmx_errors_02_review_no_reason")
    annotation.refresh_from_db()
    assert annotation.status == AnnotationStatus.PENDING_REVIEW


def test_approving_what_another_reviewer_holds_says_so(live_server, new_context, submitted):
    # given a reviewer looking at an annotation that another reviewer has since taken over
    project, annotation = submitted
    rita = reviewer_of(project, "rita_reviewer")
    page = open_review(new_context, live_server, project, rita, annotation)
    other = reviewer_of(project, "otto_reviewer")
    Annotation.objects.filter(id=annotation.id).update(
        review_leased_to=other, review_leased_until=timezone.now() + timedelta(minutes=10)
    )

    # when she presses A
    page.keyboard.press("a")

    # then she reads why nothing happened
    expect(page.locator("#review-error")).to_have_text(
        "Another reviewer is deciding this annotation right now."
    )
    shot(page, "htmx_errors_03_review_lease_conflict")
    assert not annotation.decisions.exists()


def test_approving_an_already_decided_annotation_says_so(live_server, new_context, submitted):
    # given a reviewer looking at an annotation that was accepted meanwhile
    project, annotation = submitted
    rita = reviewer_of(project, "rita_reviewer")
    page = open_review(new_context, live_server, project, rita, annotation)
    Annotation.objects.filter(id=annotation.id).update(status=AnnotationStatus.ACCEPTED)

    # when she presses A
    page.keyboard.press("a")

    # then she reads that it no longer waits for review
    expect(page.locator("#review-error")).to_have_text(
        "This annotation is not waiting for review (already decided?)."
    )
    shot(page, "htmx_errors_04_review_not_waiting")


def add_concept_form(page):
    form = page.locator("#add-concept")
    return form, form.get_by_label("Concept name")


def test_adding_a_duplicate_concept_names_it(live_server, new_context, admin):
    # given a project with a concept "brick", its admin on the taxonomy editor
    project = project_create(name="Walls", created_by=admin)
    concept_create(project=project, name="brick", actor=admin)
    page = open_page(new_context, live_server, admin, f"/projects/{project.id}/taxonomy/")

    # when she adds "brick" again
    form, name = add_concept_form(page)
    name.fill("brick")
    form.get_by_role("button", name="Add").click()

    # then the editor says that such a concept exists
    expect(page.locator("#taxonomy-error")).to_have_text("A concept named “brick” exists here.")
    shot(page, "htmx_errors_05_taxonomy_duplicate")


def test_a_refused_403_shows_next_to_the_form_and_keeps_the_typing(live_server, new_context, admin):
    # given an admin on the taxonomy editor who is demoted to annotator in another tab
    project = project_create(name="Walls", created_by=admin)
    page = open_page(new_context, live_server, admin, f"/projects/{project.id}/taxonomy/")
    Membership.objects.filter(project=project, user=admin).update(role=Role.ANNOTATOR)

    # when she types a name and adds it
    form, name = add_concept_form(page)
    name.fill("mortar")
    form.get_by_role("button", name="Add").click()

    # then the 403 page's message shows right before the form, and her typing is kept
    box = page.locator("#add-concept").locator("xpath=preceding-sibling::*[1]")
    expect(box).to_have_attribute("role", "alert")
    expect(box).to_contain_text("Not allowed: Your role in this project does not allow")
    expect(name).to_have_value("mortar")
    shot(page, "htmx_errors_06_taxonomy_403")

    # when she tries again: one box, not two
    form.get_by_role("button", name="Add").click()
    expect(page.locator("#add-concept").locator("..").get_by_role("alert")).to_have_count(1)


def test_a_throttled_429_json_answer_shows_its_detail(live_server, new_context, admin):
    # given the taxonomy editor, and a server that throttles the next POST with DRF's JSON
    project = project_create(name="Walls", created_by=admin)
    page = open_page(new_context, live_server, admin, f"/projects/{project.id}/taxonomy/")
    detail = "Request was throttled. Expected available in 7 seconds."
    page.route(
        "**/taxonomy/change/",
        lambda route: route.fulfill(
            status=429, content_type="application/json", body=json.dumps({"detail": detail})
        ),
    )

    # when she adds a concept
    form, name = add_concept_form(page)
    name.fill("mortar")
    form.get_by_role("button", name="Add").click()

    # then the detail shows next to the form and the name is still typed
    expect(page.locator("#taxonomy-editor").get_by_role("alert")).to_have_text(detail)
    expect(name).to_have_value("mortar")


def test_train_now_says_why_it_cannot_start(live_server, new_context, admin):
    # given an admin on the Models page, idle when loaded; then a run starts in another tab
    project, _, _ = digit_project(admin=admin, inputs=1)
    page = open_page(new_context, live_server, admin, f"/projects/{project.id}/models/")
    expect(page.locator("#train-now")).to_be_enabled()
    ModelVersion.objects.create(
        model=model_router_ensure(project=project), number=1, status=ModelVersion.Status.TRAINING
    )

    # when she clicks Train now
    page.locator("#train-now").click()

    # then she reads that a version is already training, and it stays while the run polls
    message = page.locator("#train-message").get_by_role("alert")
    expect(message).to_have_text("Version 1 is already training.")
    page.wait_for_timeout(1500)
    expect(message).to_have_text("Version 1 is already training.")
    shot(page, "htmx_errors_07_train_now_refused")
