"""Bulk approval says how many of the matches it shows and pages through them all."""

import re

from browser_helpers import login, shot
from factories import PASSWORD, UserFactory
from labeling_helpers import digit_project, member
from playwright.sync_api import expect

from labeling.models import Annotation, AnnotationLabel, AnnotationStatus, Role
from labeling.services.projects import membership_invite
from labeling.services.review import review_tiers_configure


def pending(project, image, author, concept) -> Annotation:
    annotation = Annotation.objects.create(
        project=project,
        input=image,
        author=author,
        status=AnnotationStatus.PENDING_REVIEW,
        review_tier=1,
    )
    AnnotationLabel.objects.create(annotation=annotation, concept=concept)
    return annotation


def test_bulk_approve_pages_through_what_it_does_not_show(live_server, new_context, admin):
    # given 30 annotations waiting at tier 1: 28 say "3" and 2 say "5"
    project, digits, images = digit_project(admin=admin, name="Many digits", inputs=30)
    review_tiers_configure(project=project, tiers=[("all", 1.0)])
    anna = member(project, "anna_annotator")
    rita = UserFactory(username="rita_reviewer")
    membership_invite(project=project, identifier=rita.username, role=Role.REVIEWER, review_tier=1)
    for i, image in enumerate(images):
        pending(project, image, anna, digits["5" if i < 2 else "3"])

    # when the reviewer opens bulk approval and filters on "3"
    page = new_context().new_page()
    login(page, live_server, rita.username, PASSWORD)
    page.goto(f"{live_server.url}/projects/{project.id}/review/bulk/")
    page.get_by_label("Label").select_option(str(digits["3"].id))
    page.get_by_role("button", name="Filter").click()

    # then it says it shows 24 of the 28 matches, and offers to approve all 28
    expect(page.locator("#bulk-count")).to_have_text("28")
    expect(page.locator("#bulk-showing")).to_contain_text("Showing 1–24 of 28")
    expect(page.locator("#bulk-thumbs .thumb")).to_have_count(24)
    expect(page.locator("#bulk-approve")).to_have_text("Approve all 28")
    expect(page.locator("#bulk-pager")).to_contain_text("Page 1 of 2")
    shot(page, "review_bulk_01_first_page")

    # when she goes to the next page
    page.get_by_role("link", name="Next →").click()

    # then she sees the other 4, still filtered on "3"
    expect(page).to_have_url(re.compile(rf"concept={digits['3'].id}&page=2$"))
    expect(page.locator("#bulk-showing")).to_contain_text("Showing 25–28 of 28")
    expect(page.locator("#bulk-thumbs .thumb")).to_have_count(4)
    expect(page.locator("#bulk-thumbs .caption")).to_have_text(["3"] * 4)
    expect(page.get_by_label("Label")).to_have_value(str(digits["3"].id))
    shot(page, "review_bulk_02_second_page")

    # and back
    page.get_by_role("link", name="← Previous").click()
    expect(page.locator("#bulk-showing")).to_contain_text("Showing 1–24 of 28")
