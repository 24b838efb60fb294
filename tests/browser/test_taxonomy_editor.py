"""A staff user creates a project and builds its taxonomy in the htmx editor."""

import re

from browser_helpers import login, shot
from factories import PASSWORD, UserFactory
from playwright.sync_api import expect


def node(page, key: str):
    """The row of one concept in the tree (its own row, not its children's)."""
    return page.locator(f"li[data-concept='{key}'] > .node")


def notice(page):
    """The editor's message about the last change."""
    return page.locator("#taxonomy-editor").get_by_role("status")


def add_concept(page, name: str, *, parent: str = "", exclusive: bool = False) -> None:
    form = page.locator("#add-concept")
    form.get_by_label("Concept name").fill(name)
    if parent:
        form.get_by_label("Parent").select_option(label=parent)
    if exclusive:
        form.get_by_label("single choice for its children").check()
    form.get_by_role("button", name="Add").click()
    expect(notice(page)).to_contain_text(f"Added “{name}”.")


def test_admin_creates_project_and_taxonomy(live_server, new_context):
    # given a staff user, who may create projects
    UserFactory(username="sam_staff", is_staff=True)
    page = new_context().new_page()
    page.on("dialog", lambda dialog: dialog.accept())  # hx-confirm asks before archiving
    login(page, live_server, "sam_staff", PASSWORD)

    # when they create a project
    page.get_by_role("link", name="+ New project").click()
    page.fill("#id_name", "Pets")
    page.get_by_role("button", name="Create project").click()

    # then they land on its taxonomy page, told what to do next
    expect(page).to_have_url(re.compile(r"/projects/\d+/taxonomy/$"))
    expect(page.locator(".alert.success")).to_contain_text("Project “Pets” created.")
    expect(page.get_by_role("heading", level=1)).to_have_text("Pets")
    expect(page.locator("#taxonomy-editor")).to_contain_text("No concepts yet.")

    # when they add a single-choice parent and two children under it
    add_concept(page, "animal", exclusive=True)
    add_concept(page, "cat", parent="animal")
    add_concept(page, "dog", parent="animal")

    # then the tree nests the children under the parent, which is a single choice
    expect(node(page, "animal").locator(".badge")).to_have_text("single choice")
    children = page.locator("li[data-concept='animal'] > ul > li > .node a.name")
    expect(children).to_have_text(["cat", "dog"])
    shot(page, "taxonomy_01_tree")

    # when they give "cat" a synonym through its Edit… panel
    cat = node(page, "cat")
    cat.locator("summary", has_text="Edit…").click()
    cat.get_by_label("Synonym of cat").fill("kitty")
    cat.get_by_role("button", name="Add synonym").click()

    # then the synonym shows next to the concept
    expect(notice(page)).to_contain_text("“kitty” now means “cat”.")
    expect(node(page, "cat").locator(".synonym")).to_have_text(["kitty"])

    # when they rename "dog" to "puppy"
    dog = node(page, "dog")
    dog.locator("summary", has_text="Edit…").click()
    shot(page, "taxonomy_02_edit_panel_open")
    dog.get_by_label("New name of dog").fill("puppy")
    dog.get_by_role("button", name="Rename").click()

    # then the concept shows its new name and keeps its key, so imports still match
    expect(notice(page)).to_contain_text("Renamed to “puppy”.")
    expect(node(page, "dog").locator("a.name")).to_have_text("puppy")
    expect(node(page, "dog").locator("code")).to_have_text("dog")

    # when they archive it (accepting the confirmation)
    node(page, "dog").get_by_role("button", name="Archive").click()

    # then it stays in the tree, greyed out and restorable, and leaves the Add form's parents
    expect(notice(page)).to_contain_text("Archived “puppy”.")
    expect(node(page, "dog")).to_have_class(re.compile(r"\barchived\b"))
    expect(node(page, "dog").get_by_role("button", name="Restore")).to_be_visible()
    parents = page.locator("#add-concept select[name=parent] option")
    expect(parents).to_have_text(["(top level)", "animal", "animal › cat"])

    # and the History panel lists every change, newest first
    history = page.locator("#change-log li")
    expect(history).to_have_count(6)
    expected = [
        r"sam_staff archived\s+puppy",
        r"sam_staff renamed\s+puppy\s+\(dog → puppy\)",
        r"sam_staff added synonym\s+cat\s+“kitty”",
        r"sam_staff created\s+(dog|puppy)",  # the name then, or the name now
        r"sam_staff created\s+cat",
        r"sam_staff created\s+animal",
    ]
    for row, pattern in zip(history.all(), expected, strict=True):
        expect(row).to_have_text(re.compile(pattern))
    shot(page, "taxonomy_03_history")

    # and a reload shows the same tree: the changes were saved, not only drawn
    page.reload()
    expect(node(page, "cat").locator(".synonym")).to_have_text(["kitty"])
    expect(node(page, "dog").locator("a.name")).to_have_text("puppy")
    expect(node(page, "dog")).to_have_class(re.compile(r"\barchived\b"))
