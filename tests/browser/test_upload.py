"""An admin uploads a batch of images and reads the per-file report."""

import re

import pytest
from browser_helpers import image_bytes, login, natural_widths, shot, zip_bytes
from factories import PASSWORD
from playwright.sync_api import expect

from labeling.models import Input
from labeling.services.taxonomy import concept_create, concept_synonym_add


@pytest.fixture(autouse=True)
def _cheap_backbone(settings):
    # A stored upload asks for embeddings, which Celery (eager here) computes inside the
    # upload request. With the real backbone, a fresh data folder first exports it to ONNX:
    # the first upload then took longer than the report's wait and its test failed, on a
    # fresh clone only. These tests are about the upload and its report, not the network.
    settings.TRAINING_BACKBONE = "pixels16"


def upload(page, files: list[tuple[str, str, bytes]]) -> None:
    """Choose ``(name, mime type, bytes)`` files on the Upload tab, send them, await the report."""
    page.get_by_role("navigation").get_by_role("link", name="Upload").click()
    expect(page.locator("#upload-button")).to_be_disabled()
    page.set_input_files(
        "#file-input",
        [{"name": name, "mimeType": mime, "buffer": data} for name, mime, data in files],
    )
    expect(page.locator("#file-list")).to_contain_text(f"{len(files)} file(s)")
    page.click("#upload-button")
    # The browser moves to the batch page; the eager task has processed it by then.
    expect(page.locator("#batch-report")).to_have_attribute("data-status", "done")


def report_row(page, name: str):
    return page.locator("#file-report tbody tr").filter(
        has=page.locator("td.mono", has_text=re.compile(f"^{re.escape(name)}$"))
    )


def test_upload_batch_with_broken_and_duplicate(live_server, new_context, project, admin, tmp_path):
    # given three real images, a broken one, and a copy of the first under another name
    red = image_bytes("PNG", color=(220, 30, 30))
    files = [
        ("red.png", "image/png", red),
        ("green.jpg", "image/jpeg", image_bytes("JPEG", color=(30, 200, 30))),
        ("blue.png", "image/png", image_bytes("PNG", color=(30, 30, 220))),
        ("broken.png", "image/png", b"garbage, not pixels " * 8),
        ("red-copy.png", "image/png", red),
    ]
    page = new_context().new_page()
    login(page, live_server, admin.username, PASSWORD)
    page.goto(f"{live_server.url}/projects/{project.id}/")
    shot(page, "upload_00_dashboard_empty")

    # when the project's admin uploads them from the Upload tab
    page.get_by_role("navigation").get_by_role("link", name="Upload").click()
    shot(page, "upload_01_page")
    upload(page, files)

    # then the three distinct images are stored and each problem file is explained
    expect(page).to_have_url(re.compile(rf"/projects/{project.id}/uploads/\d+/$"))
    expect(page.locator("#batch-status")).to_have_text("Done")
    expect(page.locator("#count-stored")).to_have_text("3")
    expect(page.locator("#count-duplicate")).to_have_text("1")
    expect(page.locator("#count-rejected")).to_have_text("1")
    expect(page.locator("#file-report tbody tr")).to_have_count(2)
    broken = report_row(page, "broken.png")
    expect(broken.locator("td").nth(1)).to_have_text("Rejected")
    expect(broken.locator("td").nth(2)).to_contain_text("not a recognised image")
    duplicate = report_row(page, "red-copy.png")
    expect(duplicate.locator("td").nth(1)).to_have_text("Duplicate")
    expect(duplicate.locator("td").nth(2)).to_have_text(
        "same image as red.png (already in the project)"
    )

    # and the stored images show as thumbnails that really load
    stored = page.locator(".thumbs .thumb img")
    expect(stored).to_have_count(3)
    assert sorted(stored.evaluate_all("imgs => imgs.map(i => i.alt)")) == [
        "blue.png",
        "green.jpg",
        "red.png",
    ]
    assert all(width > 0 for width in natural_widths(stored))
    shot(page, "upload_02_report")

    # when they upload a zip with a safe entry and one that climbs out with '..'
    archive = zip_bytes(
        {
            "photos/yellow.png": image_bytes("PNG", color=(230, 220, 20)),
            "../evil.png": image_bytes("PNG", color=(10, 10, 10)),
        }
    )
    upload(page, [("photos.zip", "application/zip", archive)])

    # then the safe entry is stored and the unsafe one refused, saying why
    expect(page.locator("#count-stored")).to_have_text("1")
    expect(page.locator("#count-rejected")).to_have_text("1")
    evil = report_row(page, "photos.zip/../evil.png")
    expect(evil.locator("td").nth(1)).to_have_text("Rejected")
    expect(evil.locator("td").nth(2)).to_contain_text("..")
    expect(page.locator(".thumbs .thumb img")).to_have_count(1)
    shot(page, "upload_03_zip_report")

    # and nothing named evil.png was written anywhere
    assert not list(tmp_path.rglob("evil.png"))
    names = set(Input.objects.filter(project=project).values_list("original_name", flat=True))
    assert names == {"red.png", "green.jpg", "blue.png", "photos/yellow.png"}


def test_upload_page_drop_zone_sits_below_its_heading(live_server, new_context, project, admin):
    # given the Upload tab of a project
    page = new_context().new_page()
    login(page, live_server, admin.username, PASSWORD)
    page.goto(f"{live_server.url}/projects/{project.id}/upload/")

    # then the drop zone is one box under the "Upload images" heading, its prompt readable
    heading = page.locator("#upload-form").locator("xpath=..").get_by_role("heading", level=2)
    expect(heading).to_have_text("Upload images")
    zone = page.locator("#dropzone")
    expect(zone).to_contain_text("Drop images, folders' contents or .zip archives here")
    fragments = zone.evaluate("zone => zone.getClientRects().length")
    assert fragments == 1, f"the drop zone is drawn as {fragments} overlapping inline boxes"
    head = heading.bounding_box()
    assert zone.bounding_box()["y"] >= head["y"] + head["height"], "the drop zone hides the heading"


def test_folder_names_become_labels_and_the_inputs_are_found_by_folder(
    live_server, new_context, project, admin
):
    # given concepts Brick (also called "bricks") and a zip of texture folders
    brick = concept_create(project=project, name="Brick", actor=admin)
    concept_synonym_add(concept=brick, name="bricks", actor=admin)
    archive = zip_bytes(
        {
            "brick/00655.png": image_bytes("PNG", color=(200, 60, 40)),
            "bricks/00656.png": image_bytes("PNG", color=(190, 70, 50)),
            "stone/00001.png": image_bytes("PNG", color=(120, 120, 120)),
            "stone/00002.png": image_bytes("PNG", color=(110, 110, 110)),
        }
    )
    page = new_context().new_page()
    login(page, live_server, admin.username, PASSWORD)
    page.goto(f"{live_server.url}/projects/{project.id}/upload/")

    # when the admin uploads it with "Folder names are labels" ticked
    page.get_by_label("Folder names are labels").check()
    page.set_input_files(
        "#file-input", [{"name": "t.zip", "mimeType": "application/zip", "buffer": archive}]
    )
    page.click("#upload-button")
    expect(page.locator("#batch-report")).to_have_attribute("data-status", "done")

    # then the four images are counted as four files, not five
    expect(page.locator("#batch-report")).to_contain_text("4 of 4 files checked")
    # and the folder that names no concept is reported with its count
    expect(page.locator("#unknown-folders")).to_contain_text("stone (2 files)")
    shot(page, "upload_05_folder_labels")
    labeled = Input.objects.get(project=project, original_name="bricks/00656.png")
    assert [lb.concept_id for lb in labeled.annotations.get().labels.all()] == [brick.id]

    # and searching Inputs for the folder finds its images
    page.goto(f"{live_server.url}/projects/{project.id}/inputs/?q=stone")
    expect(page.locator("#input-grid .thumb")).to_have_count(2)
    expect(page.locator("#input-grid")).to_contain_text("stone/00001.png")
    # and a search that matches nothing says so, with the query
    page.goto(f"{live_server.url}/projects/{project.id}/inputs/?q=marble")
    expect(page.locator("#input-grid .empty")).to_have_text("No inputs match “marble”.")


def test_an_upload_with_no_file_accepted_is_shown_as_failed(
    live_server, new_context, project, admin
):
    # given two files that are not images
    page = new_context().new_page()
    login(page, live_server, admin.username, PASSWORD)
    page.goto(f"{live_server.url}/projects/{project.id}/upload/")

    # when the admin uploads them
    page.set_input_files(
        "#file-input",
        [
            {"name": "a.png", "mimeType": "image/png", "buffer": b"not pixels " * 9},
            {"name": "b.png", "mimeType": "image/png", "buffer": b"nor these " * 9},
        ],
    )
    page.click("#upload-button")

    # then the report says the upload failed, in red, and uses one word for the refusals
    expect(page.locator("#batch-report")).to_have_attribute("data-status", "failed")
    expect(page.locator("#batch-status")).to_have_text("Failed")
    expect(page.locator("#batch-error")).to_contain_text("No file was accepted")
    bar = page.locator("#batch-report .progress > div")
    assert bar.evaluate("el => getComputedStyle(el).backgroundColor") == "rgb(217, 45, 32)"
    expect(page.locator("#count-rejected + .label")).to_have_text("rejected")
    expect(page.locator("#batch-report")).not_to_contain_text("refused")
    shot(page, "upload_06_nothing_accepted")
