"""Small things every page shows: the favicon, clickable-looking tools, forms on one line."""

from browser_helpers import login, shot
from factories import PASSWORD, UserFactory
from labeling_helpers import digit_project, member
from playwright.sync_api import expect

from labeling.models import Role
from labeling.services.projects import membership_invite
from labeling.services.taxonomy import concept_create


def admin_page(new_context, live_server, admin, path: str):
    page = new_context().new_page()
    login(page, live_server, admin.username, PASSWORD)
    missing = []
    page.on("response", lambda r: missing.append(r.url) if r.status == 404 else None)
    page.goto(f"{live_server.url}{path}")
    return page, missing


def test_pages_link_a_favicon_that_loads_and_nothing_is_missing(live_server, new_context, admin):
    # given a project, its admin on the dashboard
    project, _, _ = digit_project(admin=admin, inputs=1)
    page, missing = admin_page(new_context, live_server, admin, f"/projects/{project.id}/")
    page.wait_for_load_state("networkidle")

    # then the page links an icon, the icon answers 200, and no request of the page was a 404
    href = page.locator("link[rel=icon]").get_attribute("href")
    assert page.request.get(f"{live_server.url}{href}").status == 200
    assert page.request.get(f"{live_server.url}/favicon.ico").status == 200
    assert missing == []
    shot(page, "dashboard_favicon")


def effective_opacity(locator) -> float:
    return locator.evaluate(
        """el => { let o = 1; for (; el; el = el.parentElement) o *= +getComputedStyle(el).opacity;
                   return o; }"""
    )


def test_taxonomy_row_tools_look_clickable(live_server, new_context, admin):
    # given a project with two concepts, its admin on the taxonomy editor, mouse elsewhere
    project, _, _ = digit_project(admin=admin, inputs=0)
    concept_create(project=project, name="brick", actor=admin)
    page, _ = admin_page(new_context, live_server, admin, f"/projects/{project.id}/taxonomy/")
    page.mouse.move(0, 0)

    # then the Move up / Archive tools are fully opaque and not in a disabled button's grey
    up = page.get_by_role("button", name="Move brick up")
    expect(up).to_be_enabled()
    assert effective_opacity(up) == 1
    disabled_colour = page.evaluate(
        """() => { const b = document.createElement("button"); b.className = "btn small";
                   b.disabled = true; document.querySelector("#concept-tree").append(b);
                   const s = getComputedStyle(b); const out = [s.opacity, s.color]; b.remove();
                   return out; }"""
    )
    assert float(disabled_colour[0]) < 1
    assert up.evaluate("el => getComputedStyle(el).color") != "rgb(102, 112, 133)"  # --muted
    shot(page, "taxonomy_tools_clickable")


def test_members_save_stays_on_the_role_line_at_1280(live_server, new_context, admin):
    # given a project with an annotator and a reviewer
    project, _, _ = digit_project(admin=admin, inputs=0)
    member(project, "anna_annotator")
    rita = UserFactory(username="rita_reviewer")
    membership_invite(project=project, identifier=rita.username, role=Role.REVIEWER, review_tier=1)
    page, _ = admin_page(new_context, live_server, admin, f"/projects/{project.id}/members/")

    # then in every row, Save sits on the same line as the role select
    for row in page.locator("#members tbody tr").all():
        select = row.locator("select[name=role]").bounding_box()
        save = row.get_by_role("button", name="Save").bounding_box()
        assert abs((save["y"] + save["height"] / 2) - (select["y"] + select["height"] / 2)) < 4
        assert save["x"] > select["x"] + select["width"]
    shot(page, "members_one_line")


def test_import_file_field_lines_up_with_format(live_server, new_context, admin):
    # given the Export/Import page
    project, _, _ = digit_project(admin=admin, inputs=0)
    page, _ = admin_page(new_context, live_server, admin, f"/projects/{project.id}/exchange/")

    # then "File" sits above its input exactly as "Format" sits above its select
    fmt_label = page.locator("label[for=import-format]").bounding_box()
    file_label = page.locator("label[for=import-file]").bounding_box()
    fmt = page.locator("#import-format").bounding_box()
    file = page.locator("#import-file").bounding_box()
    assert fmt_label["x"] == file_label["x"] and fmt["x"] == file["x"]
    assert file["y"] >= file_label["y"] + file_label["height"] - 1
    assert abs(file["width"] - fmt["width"]) < 2
    shot(page, "import_form_aligned")
