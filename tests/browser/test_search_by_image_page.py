"""Search by image on the Inputs page: a file that is no image is refused next to the form;
an input's own picture brings that input back first, with its nearest neighbours."""

from browser_helpers import login, shot
from factories import PASSWORD
from labeling_helpers import digit_project
from playwright.sync_api import expect

from labeling.storage import media_path
from training.services.embeddings import embeddings_compute


def test_search_by_image_on_the_inputs_page(live_server, new_context, admin, settings, tmp_path):
    # given a digits project whose twelve images are embedded (cheap pixel features)
    settings.TRAINING_BACKBONE = "pixels16"
    project, _, inputs = digit_project(admin=admin, inputs=12)
    embeddings_compute(project_id=project.id)
    wanted = inputs[5]
    query = tmp_path / "query.png"
    query.write_bytes(media_path(wanted.file).read_bytes())
    junk = tmp_path / "notes.png"
    junk.write_bytes(b"these are notes, not a picture")
    page = new_context().new_page()
    login(page, live_server, admin.username, PASSWORD)
    page.goto(f"{live_server.url}/projects/{project.id}/inputs/")
    form = page.locator("#image-search")
    results = page.locator("#image-search-results")

    # when the admin searches with a file that is not an image
    form.locator("input[name=image]").set_input_files(str(junk))
    form.get_by_role("button", name="Find similar").click()

    # then the error is shown next to the form
    expect(results.get_by_role("alert")).to_contain_text("not a recognised image")

    # when they search with the picture of one input
    form.locator("input[name=image]").set_input_files(str(query))
    form.get_by_role("button", name="Find similar").click()

    # then that input comes first, then the others by similarity, and the error is gone
    thumbs = results.locator("a.thumb-link")
    expect(thumbs).to_have_count(12)
    expect(results.get_by_role("alert")).to_have_count(0)
    expect(thumbs.first).to_have_attribute("title", f"{wanted.original_name} · similarity 1.000")
    shot(page, "inputs-search-by-image")
    thumbs.first.click()
    page.wait_for_url(f"**/projects/{project.id}/inputs/{wanted.id}/")
