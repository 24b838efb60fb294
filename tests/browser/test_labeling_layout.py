"""The labeling page at laptop size: image, choices and visual dictionary in one view."""

from browser_helpers import login, shot
from factories import PASSWORD
from labeling_helpers import digit_project, member, open_label_page
from playwright.sync_api import expect

from labeling.services.dictionary import dictionary_entry_save
from labeling.services.taxonomy import concept_create

LONG_NAME = "camera_trap_infrared_photograph"


def inside(inner: dict, outer: dict) -> bool:
    return (
        inner["x"] >= outer["x"] - 0.5
        and inner["y"] >= outer["y"] - 0.5
        and inner["x"] + inner["width"] <= outer["x"] + outer["width"] + 0.5
        and inner["y"] + inner["height"] <= outer["y"] + outer["height"] + 0.5
    )


def project_with_dictionary(admin):
    project, digits, _ = digit_project(admin=admin, inputs=2)
    for key in ("3", "7"):
        dictionary_entry_save(concept=digits[key], actor=admin, definition=f"What a {key} is.")
    return project, digits


def test_dictionary_entries_start_open_and_d_toggles_them(live_server, new_context, admin):
    # given an annotator on the labeling page of a project with two dictionary entries
    project, _ = project_with_dictionary(admin)
    anna = member(project, "anna_annotator")
    page = open_label_page(new_context, live_server, project, anna)
    entries = page.locator("#dictionary-pane .dict-entry")

    # then both entries are open without a click, their text readable
    expect(entries).to_have_count(2)
    expect(page.locator("#dictionary-pane .dict-entry[open]")).to_have_count(2)
    expect(page.get_by_text("What a 3 is.")).to_be_visible()

    # when she presses D: they close; D again: they open
    page.keyboard.press("d")
    expect(page.locator("#dictionary-pane .dict-entry[open]")).to_have_count(0)
    expect(page.get_by_text("What a 3 is.")).to_be_hidden()
    page.keyboard.press("d")
    expect(page.locator("#dictionary-pane .dict-entry[open]")).to_have_count(2)

    # and the shortcut help lists D
    page.keyboard.press("?")
    expect(page.locator("#help")).to_contain_text("open or close the visual dictionary")


def test_at_1024_by_768_image_and_dictionary_show_without_scrolling(
    live_server, new_context, admin
):
    # given a project whose long concept name used to overflow its choice button
    project, _ = project_with_dictionary(admin)
    parent = concept_create(project=project, name="source", exclusive=True, actor=admin)
    concept_create(project=project, name=LONG_NAME, parent=parent, actor=admin)
    concept_create(project=project, name="camera", parent=parent, actor=admin)
    anna = member(project, "anna_annotator")

    # when she opens the labeling page on a 1024x768 screen
    page = new_context(viewport={"width": 1024, "height": 768}).new_page()
    login(page, live_server, anna.username, PASSWORD)
    page.goto(f"{live_server.url}/projects/{project.id}/label/")
    expect(page.locator("#task-image")).to_be_visible()
    shot(page, "labeling_layout_1024")

    # then the whole image and the dictionary's first entry are inside the first screen
    image = page.locator("#task-image").bounding_box()
    entry = page.locator("#dictionary-pane .dict-entry").first.bounding_box()
    assert image["y"] + image["height"] <= 768
    assert entry["y"] + entry["height"] / 2 <= 768 and entry["x"] + entry["width"] <= 1024
    assert page.evaluate("window.scrollY") == 0

    # and every choice's name stays inside its button
    for choice in page.locator("#label-form .choice").all():
        assert inside(choice.locator("span").bounding_box(), choice.bounding_box())
    # and a short name such as "camera" keeps to one line
    camera = page.locator("#label-form .choice span", has_text="camera").last.bounding_box()
    assert camera["height"] < 30
