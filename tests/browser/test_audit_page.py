"""An admin marks an input gold from its page, then reads an annotation's audit timeline."""

import csv
import io

from browser_helpers import login, shot
from factories import PASSWORD, UserFactory
from labeling_helpers import digit_project, member
from playwright.sync_api import expect

from labeling.models import (
    Annotation,
    AnnotationLabel,
    AnnotationSource,
    AnnotationStatus,
    Input,
    QueueSlot,
    ReviewDecision,
    Role,
)
from labeling.services.projects import membership_invite


def test_admin_marks_gold_and_reads_the_audit_trail(live_server, new_context, admin):
    # given a digits project where Anna labeled an image "3", approved at tier 1, then
    # rejected at tier 2 with a reason
    project, digits, (labeled, other) = digit_project(admin=admin, inputs=2)
    anna = member(project, "anna")
    rita = UserFactory(username="rita")
    membership_invite(project=project, identifier="rita", role=Role.REVIEWER, review_tier=1)
    annotation = Annotation.objects.create(
        project=project,
        input=labeled,
        author=anna,
        source=AnnotationSource.HUMAN,
        status=AnnotationStatus.REJECTED,
        time_spent_ms=3400,
    )
    AnnotationLabel.objects.create(annotation=annotation, concept=digits["3"])
    ReviewDecision.objects.create(
        project=project, annotation=annotation, tier=1, reviewer=rita, action="approve"
    )
    ReviewDecision.objects.create(
        project=project,
        annotation=annotation,
        tier=2,
        reviewer=admin,
        action="reject",
        reason="That is an 8, look at the loop",
    )
    page = new_context().new_page()
    login(page, live_server, admin.username, PASSWORD)

    # when the admin opens the other input's page and marks it gold with the answer "7"
    page.goto(f"{live_server.url}/projects/{project.id}/inputs/{other.id}/")
    image = page.locator("#input-image")
    expect(image).to_have_class("input-large pixel")
    expect(page.locator("#input-facts")).to_contain_text("64 × 64 px")
    expect(page.locator("#input-annotations")).to_contain_text("No annotations yet")
    page.locator("#gold-form label.choice", has_text="7").click()
    page.click("#gold-save")

    # then the page says so, shows the answer and a way back, and the queue no longer has it
    expect(page.locator(".alert.success")).to_contain_text("Marked as a gold item")
    expect(page.locator("#gold-badge")).to_be_visible()
    expect(page.locator("#gold")).to_contain_text("7")
    expect(page.locator(f"#gold-form input[value='{digits['7'].id}']")).to_be_checked()
    expect(page.locator("#gold-clear")).to_be_visible()
    shot(page, "audit_input_gold")
    other.refresh_from_db()
    assert other.gold_concept_ids == [digits["7"].id]
    assert not QueueSlot.objects.filter(input=other, annotation__isnull=True).exists()

    # when the admin opens the labeled input and follows its annotation to the audit page
    page.goto(f"{live_server.url}/projects/{project.id}/inputs/{labeled.id}/")
    row = page.locator(f"#input-annotations tr[data-annotation='{annotation.id}']")
    expect(row).to_contain_text("anna")
    expect(row).to_contain_text("Rejected")
    row.get_by_role("link", name="History").click()

    # then the timeline reads: created by Anna, approved at tier 1, rejected at tier 2
    events = page.locator("#timeline > li")
    expect(events).to_have_count(3)
    expect(events.nth(0)).to_contain_text("Created")
    expect(events.nth(0)).to_contain_text("anna")
    expect(events.nth(0)).to_contain_text("3,400 ms")
    expect(events.nth(1)).to_contain_text("Approved")
    expect(events.nth(1)).to_contain_text("tier 1")
    expect(events.nth(1)).to_contain_text("rita")
    expect(events.nth(2)).to_contain_text("Rejected")
    expect(events.nth(2)).to_contain_text("tier 2")
    expect(events.nth(2)).to_contain_text("That is an 8, look at the loop")
    shot(page, "audit_annotation_timeline")

    # and the project's trail lists the same events and downloads them as CSV
    page.goto(f"{live_server.url}/projects/{project.id}/audit/")
    expect(page.locator("#audit-table tbody tr")).to_have_count(3)
    page.select_option("#audit-filter select[name=action]", "reject")
    expect(page.locator("#audit-table tbody tr")).to_have_count(1)
    expect(page).to_have_url(
        f"{live_server.url}/projects/{project.id}/audit/?annotator=&action=reject"
    )
    shot(page, "audit_index")
    with page.expect_download() as download:
        page.click("#audit-csv")
    rows = list(csv.DictReader(io.StringIO(download.value.path().read_text())))
    assert [r["event"] for r in rows] == ["created", "approve", "reject"]
    assert rows[2]["labels"] == "digit/3"
    assert Input.objects.get(id=labeled.id).gold_concept_ids is None
