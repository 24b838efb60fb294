"""Data and page helpers for the labeling-page tests: ``from labeling_helpers import ...``."""

import io

from browser_helpers import login
from factories import PASSWORD, UserFactory
from PIL import Image, ImageDraw
from playwright.sync_api import expect

from labeling.models import Concept, Input, Project, Role
from labeling.services.ingest import input_ingest
from labeling.services.projects import membership_invite, project_create
from labeling.services.taxonomy import concept_create


def digit_image(index: int) -> bytes:
    """A distinct 64x64 PNG per index: its own background colour with the index drawn on it."""
    color = (40 + (index * 53) % 200, 60 + (index * 97) % 180, 80 + (index * 31) % 160)
    image = Image.new("RGB", (64, 64), color)
    ImageDraw.Draw(image).text((24, 24), str(index), fill=(255, 255, 255))
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def digit_project(
    *, admin, name: str = "Digits", overlap: int = 1, inputs: int = 4
) -> tuple[Project, dict[str, Concept], list[Input]]:
    """A project with an exclusive "digit" parent and children "0".."9" (as labeling/demo.py
    builds it), and ``inputs`` distinct images, each queued with the project's overlap."""
    project = project_create(name=name, created_by=admin, overlap=overlap)
    parent = concept_create(project=project, name="digit", exclusive=True, actor=admin)
    digits = {
        str(d): concept_create(project=project, name=str(d), parent=parent, actor=admin)
        for d in range(10)
    }
    images = [
        input_ingest(project=project, name=f"digit_{i:02d}.png", data=digit_image(i)).input
        for i in range(inputs)
    ]
    return project, digits, images


def member(project: Project, username: str, role: str = Role.ANNOTATOR):
    """A new user (password ``PASSWORD``) who joined ``project`` with ``role``."""
    user = UserFactory(username=username)
    join(project, user, role)
    return user


def join(project: Project, user, role: str = Role.ANNOTATOR) -> None:
    membership_invite(project=project, identifier=user.username, role=role)


def open_label_page(new_context, live_server, project: Project, user):
    """A fresh browser context logged in as ``user``, on the project's labeling page."""
    page = new_context().new_page()
    login(page, live_server, user.username, PASSWORD)
    page.goto(f"{live_server.url}/projects/{project.id}/label/")
    expect(page.locator("#task")).to_be_visible()
    return page


def shown_input(page) -> int:
    """The id of the input the page is showing now."""
    return int(page.locator("#task").get_attribute("data-input"))


def wait_for_next_input(page, previous: int) -> None:
    """Wait until htmx has swapped in a task for another input (or an empty queue)."""
    expect(page.locator("#task")).not_to_have_attribute("data-input", str(previous))
    expect(page.locator("#label-stats .counter").first).to_be_visible()


def label_with_key(page, digits: dict[str, Concept], key: str) -> int:
    """Press ``key`` then Enter on the shown input; return that input's id once the next shows."""
    current = shown_input(page)
    page.keyboard.press(key)
    expect(page.locator(f"#label-form input[value='{digits[key].id}']")).to_be_checked()
    page.keyboard.press("Enter")
    wait_for_next_input(page, current)
    return current
