"""A refused htmx action shows the server's message next to the form that sent it.

htmx 2 does not swap 4xx answers by itself; static/js/portal.js swaps the partials that carry
their own message (422) and shows any other answer (403 page, 429 JSON, ...) in an alert box.
"""

from browser_helpers import console_errors, shot
from labeling_helpers import digit_project, label_with_key, member, open_label_page
from playwright.sync_api import expect

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
