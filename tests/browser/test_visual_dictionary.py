"""An admin writes a concept's visual dictionary; every save is a new version."""

import re

from browser_helpers import image_bytes, login, natural_widths, shot
from factories import PASSWORD
from playwright.sync_api import expect

from labeling.services.ingest import input_ingest
from labeling.services.taxonomy import concept_create

DEFINITION = "A small domestic feline: whiskers, pointy ears."
IS_NOT = "Not a fox: a fox has a long snout and bushy tail."


def test_visual_dictionary_edit(live_server, new_context, project, admin):
    # given a concept and an input of the project that shows it well
    cat = concept_create(project=project, name="cat", actor=admin)
    ideal = input_ingest(
        project=project, name="tabby.png", data=image_bytes(size=(64, 48), color=(200, 120, 40))
    ).input
    page = new_context().new_page()
    login(page, live_server, admin.username, PASSWORD)

    # when the admin opens the concept from the taxonomy
    page.goto(f"{live_server.url}/projects/{project.id}/taxonomy/")
    page.locator("#concept-tree").get_by_role("link", name="cat").click()

    # then the page says nobody has described it yet
    expect(page).to_have_url(re.compile(rf"/projects/{project.id}/concepts/{cat.id}/$"))
    expect(page.locator("#dictionary-version")).to_have_text("No dictionary yet")
    expect(page.locator("#history")).to_contain_text("No versions yet.")

    # when they describe it, pick an ideal example by input id, upload a not-ideal one, save
    form = page.locator("#dictionary-form")
    form.get_by_label("What it is:", exact=True).fill(DEFINITION)
    form.get_by_label("What it is not:", exact=True).fill(IS_NOT)
    form.get_by_label("Add Ideal examples by input id").fill(str(ideal.id))
    form.get_by_label("Upload Not ideal examples").set_input_files(
        {
            "name": "fox.png",
            "mimeType": "image/png",
            "buffer": image_bytes(size=(40, 40), color=(230, 90, 10)),
        }
    )
    form.get_by_role("button", name="Save new version").click()

    # then version 1 shows the text and both examples, whose thumbnails load
    expect(page.locator(".alert.success")).to_have_text("Saved version 1 of the dictionary.")
    expect(page.locator("#dictionary-version")).to_have_text("Dictionary v1")
    dictionary = page.locator("#dictionary")
    expect(dictionary).to_contain_text(DEFINITION)
    expect(dictionary).to_contain_text(IS_NOT)
    expect(page.locator("#gallery-ideal .caption")).to_have_text([f"input {ideal.id}"])
    expect(page.locator("#gallery-not_ideal .caption")).to_have_text(["uploaded"])
    thumbnails = page.locator("#dictionary img")
    expect(thumbnails).to_have_count(2)
    assert all(width > 0 for width in natural_widths(thumbnails))
    # and the form starts from what was saved
    expect(form.get_by_label("What it is:", exact=True)).to_have_value(DEFINITION)
    shot(page, "dictionary_01_v1")

    # when they refine the text and save again
    form.get_by_label("What it is:", exact=True).fill(
        "A small domestic feline: whiskers, pointy ears, vertical pupils."
    )
    form.get_by_role("button", name="Save new version").click()

    # then version 2 keeps the examples, and the History panel lists both versions
    expect(page.locator("#dictionary-version")).to_have_text("Dictionary v2")
    expect(dictionary).to_contain_text("vertical pupils")
    expect(page.locator("#dictionary img")).to_have_count(2)
    assert all(width > 0 for width in natural_widths(page.locator("#dictionary img")))
    versions = page.locator("#history li")
    expect(versions).to_have_count(2)
    expect(versions.nth(0)).to_contain_text(f"v2 by {admin.username}")
    expect(versions.nth(0)).to_contain_text("vertical pupils")
    expect(versions.nth(1)).to_contain_text(f"v1 by {admin.username}")
    expect(versions.nth(1)).not_to_contain_text("vertical pupils")
    for version in versions.all():
        expect(version).to_contain_text("2 example images")
    shot(page, "dictionary_02_v2")

    # and the taxonomy's History records both edits
    page.get_by_role("navigation").get_by_role("link", name="Taxonomy").click()
    edits = page.locator("#change-log li", has_text="edited dictionary")
    expect(edits).to_have_count(2)
    expect(edits.nth(0)).to_contain_text("v2")
    expect(edits.nth(1)).to_contain_text("v1")


def test_a_refused_save_shows_why_and_keeps_the_typed_example_ids(
    live_server, new_context, project, admin
):
    # given a concept and one input of the project
    robin = concept_create(project=project, name="robin", actor=admin)
    known = input_ingest(project=project, name="robin.png", data=image_bytes()).input
    page = new_context().new_page()
    login(page, live_server, admin.username, PASSWORD)
    page.goto(f"{live_server.url}/projects/{project.id}/concepts/{robin.id}/")

    # when the admin types a known id and one that is not in the project, and saves
    form = page.locator("#dictionary-form")
    form.get_by_label("What it is:", exact=True).fill("A small bird with a red breast.")
    ids = form.get_by_label("Add Ideal examples by input id")
    ids.fill(f"{known.id} 999999")
    form.get_by_role("button", name="Save new version").click()

    # then the error names the wrong id, and what was typed is still there to fix
    expect(page.locator(".alert.error")).to_contain_text("Input 999999 is not in this project.")
    expect(ids).to_have_value(f"{known.id} 999999")
    expect(form.get_by_label("What it is:", exact=True)).to_have_value(
        "A small bird with a red breast."
    )
    expect(page.locator("#dictionary-version")).to_have_text("No dictionary yet")
    shot(page, "dictionary_refused_keeps_ids")
