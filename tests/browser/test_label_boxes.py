"""The labeling page of a project with box groups: draw, pick, select, move, resize, delete,
undo and submit boxes with mouse and keyboard; zoom and pan; refused boxes; the model's
boxes as pre-annotations."""

import io
import json
import re

import pytest
from browser_helpers import login, shot
from factories import PASSWORD
from labeling_helpers import member, open_label_page, shown_input, wait_for_next_input
from PIL import Image, ImageDraw
from playwright.sync_api import expect

from labeling.models import Annotation, AnnotationSource, AnnotationStatus
from labeling.services.annotations import RegionSpec, annotation_create
from labeling.services.ingest import input_ingest
from labeling.services.projects import project_create
from labeling.services.taxonomy import concept_create

WIDTH, HEIGHT = 200, 150


def scene_image(index: int) -> bytes:
    """A 200x150 PNG with a few shapes, different per index."""
    image = Image.new("RGB", (WIDTH, HEIGHT), (90 + index * 40, 140, 190))
    draw = ImageDraw.Draw(image)
    draw.ellipse((110, 15, 160, 75), fill=(240, 200, 160))
    draw.rectangle((15, 85, 95, 130), fill=(200, 40, 40))
    draw.rectangle((0, 135, WIDTH, HEIGHT), fill=(70, 110, 60))
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def box_project(admin, inputs: int = 2):
    """ "objects" draws boxes (face: key 1, car: key 2); "scene" labels the whole image."""
    project = project_create(name="Street", created_by=admin)
    objects = concept_create(project=project, name="objects", actor=admin, scope="regions")
    scene = concept_create(project=project, name="scene", actor=admin, exclusive=True)
    concepts = {
        "face": concept_create(project=project, name="face", parent=objects, actor=admin),
        "car": concept_create(project=project, name="car", parent=objects, actor=admin),
        "indoor": concept_create(project=project, name="indoor", parent=scene, actor=admin),
        "outdoor": concept_create(project=project, name="outdoor", parent=scene, actor=admin),
    }
    images = [
        input_ingest(project=project, name=f"street_{i}.png", data=scene_image(i)).input
        for i in range(inputs)
    ]
    return project, concepts, images


def editor_ready(page) -> None:
    """Wait until the editor has the image's size (it sets the overlay's viewBox then)."""
    expect(page.locator("#box-editor svg")).to_have_attribute("viewBox", f"0 0 {WIDTH} {HEIGHT}")


def at(page, x: float, y: float) -> tuple[float, float]:
    """Screen position of image pixel (x, y), wherever zoom and pan put the image."""
    image = page.locator("#task-image").bounding_box()
    return image["x"] + x * image["width"] / WIDTH, image["y"] + y * image["height"] / HEIGHT


def drag(page, start: tuple[float, float], end: tuple[float, float]) -> None:
    page.mouse.move(*start)
    page.mouse.down()
    page.mouse.move(*end, steps=6)
    page.mouse.up()


def draw(page, x0, y0, x1, y1) -> None:
    drag(page, at(page, x0, y0), at(page, x1, y1))


def field_boxes(page) -> list[dict]:
    return json.loads(page.locator("#regions-field").input_value())


def in_pixels(box: dict) -> tuple[float, ...]:
    return (box["x"] * WIDTH, box["y"] * HEIGHT, box["w"] * WIDTH, box["h"] * HEIGHT)


def stored_pixels(annotation) -> list[tuple]:
    return [
        (r.concept_id, in_pixels({"x": r.x, "y": r.y, "w": r.w, "h": r.h}))
        for r in annotation.regions.order_by("position")
    ]


def px(*values):
    return pytest.approx(values, abs=1.0)  # within a pixel


def test_boxes_drawn_picked_moved_resized_deleted_undone_and_submitted(
    live_server, new_context, admin
):
    # given an annotator on the labeling page of a project with a box group
    project, concepts, _ = box_project(admin)
    anna = member(project, "anna_annotator")
    page = open_label_page(new_context, live_server, project, anna)
    legend = page.locator("#box-legend")
    expect(legend.locator("[aria-pressed=true]")).to_have_text("1face")
    editor_ready(page)
    first = shown_input(page)
    shot(page, "label_boxes_01_empty")

    # when she presses 2 (car) and drags a box, then 1 (face) and drags two more
    page.keyboard.press("2")
    expect(legend.locator("[aria-pressed=true]")).to_have_text("2car")
    draw(page, 20, 30, 80, 90)
    page.keyboard.press("1")
    draw(page, 100, 20, 150, 70)
    draw(page, 10, 100, 40, 140)

    # then three boxes, each with the concept picked before it, at the pixels dragged
    expect(page.locator("#box-list li")).to_have_count(3)
    boxes = field_boxes(page)
    assert [b["concept"] for b in boxes] == [concepts[c].id for c in ("car", "face", "face")]
    assert [in_pixels(b) for b in boxes] == [
        px(20, 30, 60, 60),
        px(100, 20, 50, 50),
        px(10, 100, 30, 40),
    ]
    shot(page, "label_boxes_02_drawn")

    # when Tab selects the first box, → moves it 1 px and Shift+↓ 10 px
    page.keyboard.press("Tab")
    expect(page.locator("#box-list li.selected")).to_contain_text("1 car")
    page.keyboard.press("ArrowRight")
    page.keyboard.press("Shift+ArrowDown")
    assert in_pixels(field_boxes(page)[0]) == px(21, 40, 60, 60)

    # and she drags its bottom-right handle 10 px right and down
    handle = page.locator("#box-editor [data-handle=se]").bounding_box()
    centre = (handle["x"] + handle["width"] / 2, handle["y"] + handle["height"] / 2)
    drag(page, centre, at(page, 91, 110))
    assert in_pixels(field_boxes(page)[0]) == px(21, 40, 70, 70)
    shot(page, "label_boxes_03_resized")

    # and Tab selects the second box and 2 makes it a car
    page.keyboard.press("Tab")
    page.keyboard.press("2")
    expect(page.locator("#box-list li.selected")).to_contain_text("2 car")

    # when Tab selects the third box and Delete removes it
    page.keyboard.press("Tab")
    page.keyboard.press("Delete")
    expect(page.locator("#box-list li")).to_have_count(2)
    # then U brings it back, and Delete (it is selected again) removes it for good
    page.keyboard.press("u")
    expect(page.locator("#box-list li")).to_have_count(3)
    expect(page.locator("#box-list li.selected")).to_contain_text("3 face")
    page.keyboard.press("Delete")
    expect(page.locator("#box-list li")).to_have_count(2)

    # when she picks "outdoor" for the whole image with its own key (4) and presses Enter
    outdoor = page.locator(f"#label-form input[value='{concepts['outdoor'].id}']")
    expect(page.locator("#label-form .choice[data-key='4']")).to_contain_text("outdoor")
    page.keyboard.press("4")
    expect(outdoor).to_be_checked()
    page.keyboard.press("Enter")
    wait_for_next_input(page, first)

    # then the stored boxes are what she drew, normalised, within a pixel
    annotation = Annotation.objects.get(author=anna, input_id=first)
    drawn = stored_pixels(annotation)
    assert drawn == [
        (concepts["car"].id, px(21, 40, 70, 70)),
        (concepts["car"].id, px(100, 20, 50, 50)),
    ]
    assert list(annotation.labels.values_list("concept_id", flat=True)) == [concepts["outdoor"].id]

    # when she presses U on the next image, with no box edited there
    page.keyboard.press("u")

    # then her last submission comes back with its boxes, and Enter stores them again
    expect(page.locator("#task")).to_have_attribute("data-input", str(first))
    expect(page.locator("#draft-note")).to_contain_text("labels and boxes are back")
    expect(page.locator("#box-list li")).to_have_count(2)
    shot(page, "label_boxes_04_undone")
    page.keyboard.press("Enter")
    wait_for_next_input(page, first)
    again = Annotation.objects.get(author=anna, input_id=first)
    assert stored_pixels(again) == drawn

    # and the help (?) tells the rule of U on a box page
    page.keyboard.press("?")
    expect(page.locator("#help")).to_contain_text("undo your last box edit; once no box edit")
    shot(page, "label_boxes_08_help")


def test_zoom_and_pan_keep_boxes_on_the_pixels_drawn(live_server, new_context, admin):
    # given an annotator on a box page
    project, concepts, _ = box_project(admin)
    anna = member(project, "anna_annotator")
    page = open_label_page(new_context, live_server, project, anna)
    editor_ready(page)
    viewport = page.locator("#box-editor")
    fitted = page.locator("#task-image").bounding_box()["width"]

    # when she zooms in with + twice and the wheel once
    page.keyboard.press("+")
    page.keyboard.press("+")
    page.mouse.move(*at(page, 100, 75))
    page.mouse.wheel(0, -100)

    # then the image is larger than the editor shows, and the zoom reads so
    expect(page.locator("#box-zoom")).not_to_have_text("100%")
    zoomed = page.locator("#task-image").bounding_box()["width"]
    assert zoomed > fitted * 1.8
    assert zoomed > viewport.bounding_box()["width"]

    # when she holds Space and drags the image to the right (pan)
    before = page.locator("#task-image").bounding_box()["x"]
    page.keyboard.down(" ")
    frame = viewport.bounding_box()
    middle = (frame["x"] + frame["width"] / 2, frame["y"] + frame["height"] / 2)
    drag(page, middle, (middle[0] + 60, middle[1]))
    page.keyboard.up(" ")

    # then the image moved and no box was drawn
    assert page.locator("#task-image").bounding_box()["x"] > before + 30
    assert field_boxes(page) == []

    # and a drag with the middle button pans back
    before = page.locator("#task-image").bounding_box()["x"]
    page.mouse.move(*middle)
    page.mouse.down(button="middle")
    page.mouse.move(middle[0] - 40, middle[1], steps=4)
    page.mouse.up(button="middle")
    assert page.locator("#task-image").bounding_box()["x"] < before - 20
    assert field_boxes(page) == []

    # when she draws a box on what she sees
    centre = page.evaluate(
        "() => { const r = document.querySelector('#box-editor').getBoundingClientRect();"
        " return [r.left + r.width / 2, r.top + r.height / 2]; }"
    )
    image = page.locator("#task-image").bounding_box()
    cx = (centre[0] - image["x"]) * WIDTH / image["width"]
    cy = (centre[1] - image["y"]) * HEIGHT / image["height"]
    x0, y0 = round(cx) - 10, round(cy) - 8
    draw(page, x0, y0, x0 + 20, y0 + 16)

    # then it holds the image pixels under the pointer
    assert [in_pixels(b) for b in field_boxes(page)] == [px(x0, y0, 20, 16)]
    shot(page, "label_boxes_05_zoomed")

    # and Fit shows the whole image again
    page.get_by_role("button", name="Fit").click()
    expect(page.locator("#box-zoom")).to_have_text("100%")
    assert page.locator("#task-image").bounding_box()["width"] == pytest.approx(fitted, abs=1)


def test_refused_boxes_show_the_message_and_stay_on_the_image(
    live_server, new_context, admin, settings
):
    # given a server that takes one box per image, and an annotator with two drawn
    settings.LABELING_MAX_REGIONS = 1
    project, concepts, _ = box_project(admin)
    anna = member(project, "anna_annotator")
    page = open_label_page(new_context, live_server, project, anna)
    editor_ready(page)
    first = shown_input(page)
    draw(page, 20, 20, 60, 60)
    draw(page, 100, 40, 140, 90)

    # when she presses Enter
    page.keyboard.press("Enter")

    # then the server's message shows, in view, above the same image
    error = page.locator("#task-error")
    expect(error).to_be_visible()
    expect(error).to_be_in_viewport()
    expect(error).to_contain_text("2 boxes on one image: at most 1 are allowed")
    expect(page.locator("#task")).to_have_attribute("data-input", str(first))
    # and her boxes are still there to fix
    expect(page.locator("#box-list li")).to_have_count(2)
    assert [in_pixels(b) for b in field_boxes(page)] == [px(20, 20, 40, 40), px(100, 40, 40, 50)]
    shot(page, "label_boxes_06_refused")
    assert not Annotation.objects.filter(author=anna).exists()

    # when she removes the second box with its × and submits
    page.get_by_role("button", name="Remove box 2").click()
    page.keyboard.press("Enter")

    # then the one box is stored
    wait_for_next_input(page, first)
    annotation = Annotation.objects.get(author=anna, input_id=first)
    assert stored_pixels(annotation) == [(concepts["face"].id, px(20, 20, 40, 40))]


def test_model_boxes_are_pre_annotations_the_annotator_keeps_or_deletes(
    live_server, new_context, admin
):
    # given a model's boxes waiting for review on every input: a face and a car
    project, concepts, images = box_project(admin)
    for image in images:
        annotation_create(
            project_id=project.id,
            input_id=image.id,
            source=AnnotationSource.MODEL,
            status=AnnotationStatus.PENDING_REVIEW,
            concept_ids=[],
            regions=[
                RegionSpec(concepts["face"].id, (0.55, 0.1, 0.25, 0.4), confidence=0.87),
                RegionSpec(concepts["car"].id, (0.075, 0.55, 0.4, 0.3), confidence=0.31),
            ],
        )
    anna = member(project, "anna_annotator")

    # when the annotator opens the labeling page
    page = open_label_page(new_context, live_server, project, anna)
    editor_ready(page)
    first = shown_input(page)

    # then both show dashed with the model's confidence, and the page says what they are
    expect(page.locator("#box-editor .box.model")).to_have_count(2)
    expect(page.locator("#box-editor .box.model rect").first).to_have_attribute(
        "stroke-dasharray", re.compile(r"\d")
    )
    expect(page.locator("#box-editor")).to_contain_text("1 face · 87%")
    expect(page.locator("#box-editor")).to_contain_text("2 car · 31%")
    expect(page.locator("#pre-annotation-note")).to_be_visible()
    shot(page, "label_boxes_07_pre_annotations")

    # when she deletes the car (Tab twice, Delete) and accepts the face as it is (Enter)
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")
    expect(page.locator("#box-list li.selected")).to_contain_text("2 car")
    page.keyboard.press("Delete")
    page.keyboard.press("Enter")
    wait_for_next_input(page, first)

    # then her annotation holds the face box where the model put it, as her own
    mine = Annotation.objects.get(author=anna, input_id=first)
    region = mine.regions.get()
    assert (region.concept_id, region.confidence) == (concepts["face"].id, None)
    assert region.box == pytest.approx((0.55, 0.1, 0.25, 0.4))

    # and on the next image, a face she moves turns solid (hers) while the car stays dashed
    editor_ready(page)
    page.keyboard.press("Tab")
    page.keyboard.press("ArrowLeft")
    expect(page.locator("#box-editor .box.model")).to_have_count(1)
    assert in_pixels(field_boxes(page)[0]) == px(109, 15, 50, 60)


def photo(width: int, height: int) -> bytes:
    """A photo-sized PNG: a gradient with a few shapes."""
    image = Image.linear_gradient("L").resize((width, height)).convert("RGB")
    draw = ImageDraw.Draw(image)
    draw.ellipse((width * 0.55, height * 0.1, width * 0.8, height * 0.5), fill=(230, 190, 150))
    draw.rectangle((width * 0.1, height * 0.55, width * 0.45, height * 0.85), fill=(40, 90, 200))
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


@pytest.mark.parametrize("screen", [(1280, 900), (1024, 768)])
def test_a_photo_fills_the_editor_with_legend_and_hint_in_the_first_screen(
    live_server, new_context, admin, screen
):
    # given a box project whose image is a 640x480 photo, with a model's suggestion on it
    project, concepts, _ = box_project(admin, inputs=0)
    image = input_ingest(project=project, name="photo.png", data=photo(640, 480)).input
    annotation_create(
        project_id=project.id,
        input_id=image.id,
        source=AnnotationSource.MODEL,
        status=AnnotationStatus.PENDING_REVIEW,
        concept_ids=[],
        regions=[RegionSpec(concepts["face"].id, (0.55, 0.1, 0.25, 0.4), confidence=0.93)],
    )
    anna = member(project, "anna_annotator")

    # when she opens the labeling page on that screen
    page = new_context(viewport={"width": screen[0], "height": screen[1]}).new_page()
    login(page, live_server, anna.username, PASSWORD)
    page.goto(f"{live_server.url}/projects/{project.id}/label/")
    expect(page.locator("#box-editor svg")).to_have_attribute("viewBox", "0 0 640 480")
    draw_at = page.locator("#task-image").bounding_box()
    page.mouse.move(draw_at["x"] + 60, draw_at["y"] + 60)
    page.mouse.down()
    page.mouse.move(draw_at["x"] + 200, draw_at["y"] + 160, steps=4)
    page.mouse.up()
    shot(page, f"label_boxes_10_photo_{screen[0]}")

    # then the image takes the editor's whole width, is the largest pane, and the legend,
    # the image and the hint line are all in the first screen
    editor = page.locator("#box-editor").bounding_box()
    shown = page.locator("#task-image").bounding_box()
    choices = page.locator(".choices-pane").bounding_box()
    assert shown["width"] == pytest.approx(editor["width"], abs=1)
    assert shown["height"] == pytest.approx(shown["width"] * 480 / 640, abs=1)
    assert shown["width"] > 1.5 * choices["width"]
    for part in ("#box-legend", "#box-editor", "#box-hint"):
        box = page.locator(part).bounding_box()
        assert box["y"] + box["height"] <= screen[1], part
    assert page.locator("#box-hint").bounding_box()["height"] < 50  # two lines at most
    # and every legend entry shows its swatch, key and name on one line
    for entry in page.locator("#box-legend .box-concept").all():
        assert entry.locator(".swatch").bounding_box()["width"] > 5
        assert entry.bounding_box()["height"] < 36
