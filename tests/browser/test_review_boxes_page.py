"""Reviewing boxes: they are drawn on the image; a reviewer corrects them with the keyboard
and the mouse; a refused correction says why, next to the form, and keeps the edits."""

import pytest
from browser_helpers import login, shot
from factories import PASSWORD, UserFactory
from labeling_helpers import digit_image, member
from playwright.sync_api import expect

from labeling.models import Annotation, AnnotationStatus, ReviewDecision, Role
from labeling.services.annotations import RegionSpec, annotation_create
from labeling.services.ingest import input_ingest
from labeling.services.projects import membership_invite, project_create
from labeling.services.review import review_tiers_configure
from labeling.services.taxonomy import concept_create

FACE_BOX = (0.25, 0.25, 0.25, 0.25)  # pixels 16..32 of the 64 x 64 image
CAR_BOX = (0.5, 0.5, 0.25, 0.25)


@pytest.fixture
def waiting(admin):
    """A 64 x 64 image with anna's face and car boxes (and "indoor") waiting at tier 1, and
    rita, its tier-1 reviewer."""
    project = project_create(name="Street scenes", created_by=admin)
    objects = concept_create(project=project, name="objects", actor=admin, scope="regions")
    face = concept_create(project=project, name="face", parent=objects, actor=admin)
    car = concept_create(project=project, name="car", parent=objects, actor=admin)
    scene = concept_create(project=project, name="scene", actor=admin, exclusive=True)
    indoor = concept_create(project=project, name="indoor", parent=scene, actor=admin)
    review_tiers_configure(project=project, tiers=[("all", 1.0)])
    image = input_ingest(project=project, name="street.png", data=digit_image(7)).input
    anna = member(project, "anna_annotator")
    annotation = annotation_create(
        project_id=project.id,
        input_id=image.id,
        source="human",
        status=AnnotationStatus.PENDING_REVIEW,
        concept_ids=[indoor.id],
        regions=[RegionSpec(face.id, FACE_BOX), RegionSpec(car.id, CAR_BOX)],
        author=anna,
        review_tier=1,
    )
    rita = UserFactory(username="rita_reviewer")
    membership_invite(project=project, identifier=rita.username, role=Role.REVIEWER, review_tier=1)
    return {"project": project, "annotation": annotation, "face": face, "car": car, "rita": rita}


def open_review(new_context, live_server, project, user, annotation):
    page = new_context().new_page()
    login(page, live_server, user.username, PASSWORD)
    page.goto(f"{live_server.url}/projects/{project.id}/review/")
    expect(page.locator("#review-item")).to_have_attribute("data-annotation", str(annotation.id))
    return page


def boxes_of(annotation: Annotation) -> list[tuple]:
    return [(r.concept_id, r.box) for r in annotation.regions.order_by("position")]


def test_the_reviewer_moves_a_box_deletes_another_and_the_original_is_kept(
    live_server, new_context, waiting
):
    project, annotation = waiting["project"], waiting["annotation"]
    face, car = waiting["face"], waiting["car"]
    page = open_review(new_context, live_server, project, waiting["rita"], annotation)

    # the two boxes are drawn on the image, over it, in their concepts' colours
    boxes = page.locator("#review-boxes g.box")
    expect(boxes).to_have_count(2)
    expect(boxes.nth(0)).to_have_attribute("aria-label", "Box 1: face")
    image = page.locator("#review-image").bounding_box()
    first = boxes.nth(0).locator("rect.frame").bounding_box()  # its 2 px stroke included
    assert first["x"] == pytest.approx(image["x"] + 0.25 * image["width"], abs=1.5)
    assert first["width"] == pytest.approx(0.25 * image["width"], abs=2.5)
    expect(page.locator(f"#box-legend li[data-concept='{face.id}'] .count")).to_have_text("1")
    shot(page, "review_regions_01_boxes_shown")

    # when she presses C: the first box is selected; two steps right, Shift+Down (10 px)
    page.keyboard.press("c")
    expect(page.locator("#correct-form")).to_be_visible()
    expect(boxes.nth(0)).to_be_focused()
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowRight")
    page.keyboard.press("Shift+ArrowDown")
    expect(page.locator("#box-status")).to_contain_text("box 1 selected: face")
    moved = boxes.nth(0).locator("rect.frame").bounding_box()
    assert moved["x"] - first["x"] == pytest.approx(2 / 64 * image["width"], abs=1.5)
    assert moved["y"] - first["y"] == pytest.approx(10 / 64 * image["height"], abs=1.5)

    # and Tab to the car, Delete
    page.keyboard.press("Tab")
    expect(boxes.nth(1)).to_be_focused()
    page.keyboard.press("Delete")
    expect(boxes).to_have_count(1)
    expect(page.locator(f"#box-legend li[data-concept='{car.id}'] .count")).to_have_text("0")
    shot(page, "review_regions_02_box_moved_car_deleted")

    # and saves the correction with Enter
    page.keyboard.press("Enter")
    expect(page.locator("#review-notice")).to_have_text(
        f"Corrected (input #{annotation.input_id})."
    )

    # then the correction holds the moved face alone, and the original is kept as it was
    correction = Annotation.objects.get(corrects=annotation)
    ((concept, box),) = boxes_of(correction)
    assert concept == face.id
    assert box == pytest.approx((0.25 + 2 / 64, 0.25 + 10 / 64, 0.25, 0.25))
    annotation.refresh_from_db()
    assert annotation.status == AnnotationStatus.SUPERSEDED
    assert boxes_of(annotation) == [
        (face.id, pytest.approx(FACE_BOX)),
        (car.id, pytest.approx(CAR_BOX)),
    ]
    decision = annotation.decisions.get()
    assert (decision.action, decision.correction) == (ReviewDecision.Action.CORRECT, correction)


def test_a_refused_correction_shows_why_next_to_the_form_and_keeps_the_edits(
    live_server, new_context, waiting, settings
):
    # given at most two boxes per image, and an annotation with two
    settings.LABELING_MAX_REGIONS = 2
    project, annotation, car = waiting["project"], waiting["annotation"], waiting["car"]
    page = open_review(new_context, live_server, project, waiting["rita"], annotation)
    boxes = page.locator("#review-boxes g.box")
    expect(boxes).to_have_count(2)

    # when she presses C, picks "car" by its key (the selected face stays a face), and drags
    # a third box on the image
    page.keyboard.press("c")
    key = page.locator(f"#box-legend li[data-concept='{car.id}']").get_attribute("data-key")
    assert key
    page.keyboard.press(key)
    expect(page.locator("#box-current")).to_have_text("car")
    expect(boxes.nth(0)).to_have_attribute("data-concept", str(waiting["face"].id))
    stage = page.locator("#review-boxes").bounding_box()
    page.mouse.move(stage["x"] + 0.05 * stage["width"], stage["y"] + 0.05 * stage["height"])
    page.mouse.down()
    page.mouse.move(stage["x"] + 0.15 * stage["width"], stage["y"] + 0.12 * stage["height"])
    page.mouse.move(stage["x"] + 0.2 * stage["width"], stage["y"] + 0.2 * stage["height"])
    page.mouse.up()
    expect(boxes).to_have_count(3)
    expect(boxes.nth(2)).to_have_attribute("data-concept", str(car.id))
    page.keyboard.press("Enter")

    # then the refusal is shown in the correction form, which stays open with her three boxes
    error = page.locator("#correct-form #review-error")
    expect(error).to_be_visible()
    expect(error).to_have_text(
        "3 boxes on one image: at most 2 are allowed. Split the work or label the image as a whole."
    )
    expect(page.locator("#correct-form")).to_be_visible()
    expect(boxes).to_have_count(3)
    shot(page, "review_regions_03_refused_correction")
    annotation.refresh_from_db()
    assert annotation.status == AnnotationStatus.PENDING_REVIEW
    assert annotation.regions.count() == 2
    assert not Annotation.objects.filter(corrects=annotation).exists()

    # and once she deletes the new box, the correction goes through (as an approval: unchanged)
    boxes.nth(2).click()
    page.keyboard.press("Delete")
    expect(boxes).to_have_count(2)
    page.keyboard.press("Enter")
    expect(page.locator("#review-notice")).to_have_text(
        f"No change: recorded as an approval (input #{annotation.input_id})."
    )


def test_the_corner_resizes_a_box_and_esc_puts_the_boxes_back(live_server, new_context, waiting):
    project, annotation = waiting["project"], waiting["annotation"]
    page = open_review(new_context, live_server, project, waiting["rita"], annotation)
    boxes = page.locator("#review-boxes g.box")
    page.keyboard.press("c")
    expect(boxes.nth(0)).to_be_focused()
    frame = boxes.nth(0).locator("rect.frame")
    before = frame.bounding_box()

    # when she drags the face's corner square (where the car's corner touches it) 40 px
    # right and down
    handle = boxes.nth(0).locator("rect.handle").bounding_box()
    x, y = handle["x"] + handle["width"] / 2, handle["y"] + handle["height"] / 2
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x + 20, y + 20)
    page.mouse.move(x + 40, y + 40)
    page.mouse.up()

    # then the face grew, the car stayed, and the new sizes are what the form would send
    expect(boxes.nth(0)).to_be_focused()
    after = frame.bounding_box()
    assert after["width"] - before["width"] == pytest.approx(40, abs=2)
    assert after["height"] - before["height"] == pytest.approx(40, abs=2)
    field = page.locator("#correct-regions")
    expect(field).to_be_enabled()
    sent = page.evaluate("JSON.parse(document.querySelector('#correct-regions').value)")
    assert sent[0]["w"] > 0.25 + 0.05
    assert (sent[1]["x"], sent[1]["w"]) == (pytest.approx(0.5), pytest.approx(0.25))

    # and Esc cancels the correction: the boxes are as stored, nothing would be sent
    page.keyboard.press("Escape")
    expect(page.locator("#correct-form")).to_be_hidden()
    expect(field).to_be_disabled()
    restored = frame.bounding_box()
    assert restored["width"] == pytest.approx(before["width"], abs=2.5)
    assert not Annotation.objects.filter(corrects=annotation).exists()
