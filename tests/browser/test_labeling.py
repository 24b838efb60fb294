"""The annotator's labeling page: keyboard first, leases that keep two people apart, drafts."""

import re
from datetime import timedelta

from browser_helpers import console_errors, login, shot
from django.utils import timezone
from factories import PASSWORD
from labeling_helpers import (
    digit_project,
    join,
    label_with_key,
    member,
    open_label_page,
    shown_input,
    wait_for_next_input,
)
from playwright.sync_api import expect

from labeling.models import Annotation, AnnotationDraft, QueueSlot, Skip
from labeling.services.dictionary import dictionary_entry_save
from labeling.services.queue import queue_next

KEYS = ["3", "7", "0", "9", "3"]
SKIP_REASON = "Smudged, can't tell"


def test_annotator_labels_with_keyboard_only(live_server, new_context, admin):
    # given a digits project with eight images and dictionary entries for "3" (v1) and "7" (v2)
    project, digits, _ = digit_project(admin=admin, inputs=8)
    dictionary_entry_save(concept=digits["3"], actor=admin, definition="Two bumps open left.")
    dictionary_entry_save(concept=digits["7"], actor=admin, definition="A bar and a stroke.")
    dictionary_entry_save(concept=digits["7"], actor=admin, definition="A bar, a long stroke.")
    shown_versions = {str(digits["3"].id): 1, str(digits["7"].id): 2}
    anna = member(project, "anna_annotator")
    page = open_label_page(new_context, live_server, project, anna)
    expect(page.locator("#dictionary-pane .dict-entry")).to_have_count(2)
    expect(page.locator("#done-today")).to_have_text("0 done today")
    shot(page, "labeling_01_first_input")

    # when she labels five images with a digit key and Enter each
    labeled = {label_with_key(page, digits, key): key for key in KEYS}

    # then five different inputs went by and the counter says so
    assert len(labeled) == 5
    expect(page.locator("#done-today")).to_have_text("5 done today")
    shot(page, "labeling_02_after_five")

    # when she presses S, gives a reason and Enter
    skipped = shown_input(page)
    page.keyboard.press("s")
    expect(page.locator("#skip-reason")).to_be_focused()
    page.keyboard.type(SKIP_REASON)
    shot(page, "labeling_03_skip_reason")
    page.keyboard.press("Enter")

    # then another input shows, and the skip is recorded with her reason
    wait_for_next_input(page, skipped)
    expect(page.locator("#task-notice")).to_have_text("Skipped.")
    assert shown_input(page) not in {skipped, *labeled}
    skip = Skip.objects.get(user=anna)
    assert (skip.input_id, skip.reason) == (skipped, SKIP_REASON)
    assert not QueueSlot.objects.filter(input_id=skipped, leased_to__isnull=False).exists()
    shot(page, "labeling_04_after_skip")

    # when she presses U
    waiting = shown_input(page)
    last_id, last_key = list(labeled.items())[-1]
    page.keyboard.press("u")

    # then her last submitted input is back with its label checked
    expect(page.locator("#task")).to_have_attribute("data-input", str(last_id))
    expect(page.locator("#draft-note")).to_contain_text("Undone — your earlier labels")
    expect(page.locator(f"#label-form input[value='{digits[last_key].id}']")).to_be_checked()
    expect(page.locator("#label-form input:checked")).to_have_count(1)
    expect(page.locator("#done-today")).to_have_text("4 done today")
    shot(page, "labeling_05_undone")

    # when she submits it again with Enter
    page.keyboard.press("Enter")

    # then the input she was given before the undo shows, never the skipped one
    expect(page.locator("#task")).to_have_attribute("data-input", str(waiting))
    expect(page.locator("#done-today")).to_have_text("5 done today")
    shot(page, "labeling_06_resubmitted")

    # and she has exactly one annotation per labeled input, with the key she pressed
    annotations = Annotation.objects.filter(author=anna).prefetch_related("labels")
    assert sorted(a.input_id for a in annotations) == sorted(labeled)
    for annotation in annotations:
        assert [label.concept_id for label in annotation.labels.all()] == [
            digits[labeled[annotation.input_id]].id
        ]
        assert annotation.time_spent_ms > 0
        assert annotation.dictionary_versions == shown_versions
    assert not AnnotationDraft.objects.filter(user=anna).exists()

    # when she presses ?, then the shortcuts show; Escape hides them
    help_box = page.locator("#help")
    page.keyboard.press("?")
    expect(help_box).to_be_visible()
    expect(help_box).to_contain_text("Keyboard shortcuts")
    shot(page, "labeling_07_help")
    page.keyboard.press("Escape")
    expect(help_box).to_be_hidden()


def test_second_annotator_never_sees_a_leased_input(live_server, new_context, admin):
    # given a project where each input needs one annotator, and two annotators
    project, digits, _ = digit_project(admin=admin, name="Single", overlap=1, inputs=4)
    anna = member(project, "anna_annotator")
    ben = member(project, "ben_annotator")

    # when both open the labeling page
    a = open_label_page(new_context, live_server, project, anna)
    b = open_label_page(new_context, live_server, project, ben)

    # then they get different inputs
    a_first = shown_input(a)
    assert shown_input(b) != a_first
    shot(a, "labeling_10_overlap1_anna")
    shot(b, "labeling_11_overlap1_ben")

    # when Anna submits hers and takes the next one
    label_with_key(a, digits, "1")
    a_holds = shown_input(a)

    # then Ben, reloading and then labeling all he gets, never sees either of Anna's inputs
    b.reload()
    ben_saw = []
    for _ in range(4):  # more than there are inputs: stop once his queue is empty
        if b.locator("#queue-empty").count():
            break
        ben_saw.append(label_with_key(b, digits, "2"))
    assert len(ben_saw) == 2
    assert not {a_first, a_holds} & set(ben_saw)
    expect(b.locator("#queue-empty")).to_be_visible()

    # given a project where each input needs two annotators, two inputs X and Y
    project2, digits2, _ = digit_project(admin=admin, name="Double", overlap=2, inputs=2)
    for user in (anna, ben):
        join(project2, user)
    a = open_label_page(new_context, live_server, project2, anna)
    b = open_label_page(new_context, live_server, project2, ben)
    x, y = shown_input(a), shown_input(b)
    # (first annotations first: Ben gets the input nobody has yet)
    assert x != y

    # when Anna submits X
    label_with_key(a, digits2, "4")

    # then she gets Y, which Ben is labeling too, and never X again
    expect(a.locator("#task")).to_have_attribute("data-input", str(y))
    shot(a, "labeling_12_overlap2_anna")
    shot(b, "labeling_13_overlap2_ben")
    label_with_key(a, digits2, "4")
    expect(a.locator("#queue-empty")).to_be_visible()
    shot(a, "labeling_14_overlap2_anna_done")
    # and Ben, after Y, gets X's second place
    label_with_key(b, digits2, "5")
    expect(b.locator("#task")).to_have_attribute("data-input", str(x))
    assert Annotation.objects.filter(project=project2, author=anna).count() == 2


def test_lost_lease_keeps_draft(live_server, new_context, admin):
    # given Anna is shown input X
    project, digits, _ = digit_project(admin=admin, inputs=2)
    anna = member(project, "anna_annotator")
    ben = member(project, "ben_annotator")
    page = open_label_page(new_context, live_server, project, anna)
    x = shown_input(page)

    # when her lease runs out and Ben is given X (it is first in the queue)
    QueueSlot.objects.filter(input_id=x).update(
        leased_until=timezone.now() - timedelta(minutes=1), priority=1.0
    )
    assert queue_next(project=project, user=ben).input_id == x

    # and she then picks 6 and presses Enter
    page.keyboard.press("6")
    page.keyboard.press("Enter")

    # then she is told another annotator took it and her labels are kept as a draft
    notice = page.locator("#task-notice")
    expect(notice).to_have_class(re.compile(r"\bwarning\b"))
    expect(notice).to_contain_text("another annotator took it")
    expect(notice).to_contain_text("kept as a draft")
    expect(page.locator("#task")).not_to_have_attribute("data-input", str(x))
    assert not Annotation.objects.filter(input_id=x).exists()
    shot(page, "labeling_20_lease_lost")

    # when she opens My annotations
    page.get_by_role("link", name="My annotations").first.click()

    # then the draft for X is listed with a Resubmit button
    drafts = page.locator("#drafts")
    expect(drafts).to_contain_text(f"input #{x}")
    expect(drafts.get_by_role("button", name="Resubmit")).to_have_count(1)
    draft = AnnotationDraft.objects.get(user=anna, input_id=x)
    assert draft.concept_ids == [digits["6"].id]
    shot(page, "labeling_21_drafts")

    # and resubmitting while Ben still holds X keeps the draft
    drafts.get_by_role("button", name="Resubmit").click()
    expect(page.locator(".alert.warning")).to_contain_text("still taken by others")
    expect(page.locator("#drafts")).to_contain_text(f"input #{x}")


def test_double_click_submits_once(live_server, new_context, admin):
    # given a project with two places per input (so a duplicate could take the second one),
    # and Anna is shown an input and picked 8
    project, digits, _ = digit_project(admin=admin, overlap=2, inputs=3)
    anna = member(project, "anna_annotator")
    page = open_label_page(new_context, live_server, project, anna)
    first = shown_input(page)
    page.keyboard.press("8")

    # when she double-clicks Submit
    page.locator("#submit-label").dblclick()

    # then one annotation is recorded and the next input shows
    wait_for_next_input(page, first)
    expect(page.locator("#done-today")).to_have_text("1 done today")
    assert Annotation.objects.filter(input_id=first).count() == 1

    # when the same form is posted twice at once (a retried request)
    second = shown_input(page)
    page.keyboard.press("2")
    statuses = page.evaluate(
        """() => {
            const form = document.querySelector("#label-form");
            const headers = JSON.parse(document.body.getAttribute("hx-headers"));
            const post = () => fetch(form.getAttribute("hx-post"), {
                method: "POST",
                body: new FormData(form),
                headers: {...headers, "HX-Request": "true"},
            }).then(r => r.status);
            return Promise.all([post(), post()]);
        }"""
    )

    # then both succeed and still only one annotation exists for that input
    assert statuses == [200, 200]
    assert Annotation.objects.filter(input_id=second).count() == 1
    assert Annotation.objects.filter(author=anna).count() == 2


def test_reviewer_only_member_gets_403_on_label_page(live_server, new_context, project, reviewer):
    # given a reviewer of the project
    page = new_context().new_page()
    login(page, live_server, reviewer.username, PASSWORD)

    # then the project shows no Label tab, and typing the address is refused
    page.goto(f"{live_server.url}/projects/{project.id}/")
    expect(page.locator("nav.tabs").get_by_role("link", name="Label")).to_have_count(0)
    response = page.goto(f"{live_server.url}/projects/{project.id}/label/")
    assert response.status == 403
    shot(page, "labeling_30_reviewer_403")


def test_labeling_skipping_and_undoing_leave_the_console_clean(live_server, new_context, admin):
    # given an annotator on the labeling page, with the console watched
    project, digits, _ = digit_project(admin=admin, inputs=3)
    anna = member(project, "anna_annotator")
    page = open_label_page(new_context, live_server, project, anna)
    errors = console_errors(page)

    # when she labels with a key, undoes with U, clicks Undo, skips and labels again
    label_with_key(page, digits, "3")
    page.keyboard.press("u")
    expect(page.locator("#draft-note")).to_be_visible()
    current = shown_input(page)
    page.locator("#submit-label").click()
    wait_for_next_input(page, current)
    page.locator("#undo-button").click()
    expect(page.locator("#draft-note")).to_be_visible()
    current = shown_input(page)
    page.keyboard.press("s")
    page.keyboard.press("Enter")
    wait_for_next_input(page, current)

    # then nothing was written to the console as an error (htmx warns on bad selectors there)
    assert errors == []
