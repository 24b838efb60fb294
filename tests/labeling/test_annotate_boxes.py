"""The labeling page of a project with box groups: the box editor's context, posting boxes,
refused boxes, pre-annotations from a model, drafts and undo that keep boxes."""

import json

import pytest
from django.urls import reverse
from factories import InputFactory

from labeling.models import (
    Annotation,
    AnnotationDraft,
    AnnotationSource,
    AnnotationStatus,
    QueueSlot,
    Region,
)
from labeling.selectors import BOX_COLOURS, input_pre_annotations
from labeling.services.annotations import RegionSpec, annotation_create
from labeling.services.queue import queue_slots_open
from labeling.services.taxonomy import concept_archive, concept_create

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def taxonomy(project, admin):
    """ "objects" draws boxes (face, car); "scene" labels the whole image (indoor, outdoor)."""
    objects = concept_create(project=project, name="objects", actor=admin, scope="regions")
    scene = concept_create(project=project, name="scene", actor=admin, exclusive=True)
    return {
        "face": concept_create(project=project, name="face", parent=objects, actor=admin),
        "car": concept_create(project=project, name="car", parent=objects, actor=admin),
        "indoor": concept_create(project=project, name="indoor", parent=scene, actor=admin),
        "outdoor": concept_create(project=project, name="outdoor", parent=scene, actor=admin),
    }


@pytest.fixture
def input(project, taxonomy):
    input = InputFactory(project=project)
    queue_slots_open(input=input, overlap=project.overlap)
    return input


@pytest.fixture
def anna(client, annotator):
    client.force_login(annotator)
    return client


def url(name: str, project, **kwargs) -> str:
    return reverse(f"labeling:{name}", kwargs={"project_id": project.id, **kwargs})


def box(concept, x=0.1, y=0.2, w=0.3, h=0.4) -> dict:
    return {"concept": concept.id, "x": x, "y": y, "w": w, "h": h}


def model_suggestion(project, input, regions, status=AnnotationStatus.PENDING_REVIEW):
    return annotation_create(
        project_id=project.id,
        input_id=input.id,
        source=AnnotationSource.MODEL,
        status=status,
        concept_ids=[],
        regions=regions,
    )


def post_boxes(anna, project, input, regions, concepts=()):
    anna.get(url("label", project))
    data = {"regions": regions if isinstance(regions, str) else json.dumps(regions)}
    if concepts:
        data["concepts"] = [str(c.id) for c in concepts]
    return anna.post(url("label_submit", project, input_id=input.id), data, **HTMX)


def editor_config(response) -> dict:
    return response.context["box_editor"]


# ---------------------------------------------------------------------------- page


def test_the_page_of_a_box_project_carries_the_box_choices_with_keys_and_colours(
    anna, project, input, taxonomy
):
    response = anna.get(url("label", project))

    html = response.content.decode()
    choices = response.context["box_choices"]
    assert [(c.name, c.key, c.color) for c in choices] == [
        ("face", "1", BOX_COLOURS[0]),
        ("car", "2", BOX_COLOURS[1]),
    ]
    assert 'id="box-editor"' in html and 'id="regions-field"' in html
    assert 'id="box-editor-config"' in html
    # The legend shows each box concept with its key; the whole-image group stays a radio.
    assert 'data-box-key="1"' in html and 'data-box-key="2"' in html
    assert f'type="radio" name="concepts" value="{taxonomy["indoor"].id}"' in html
    assert f'name="concepts" value="{taxonomy["face"].id}"' not in html
    assert editor_config(response)["boxes"] == []
    # The help overlay explains the U rule on a box page.
    assert "undo your last box edit" in html


def test_a_project_without_box_groups_has_no_box_editor(anna, project, admin):
    digit = concept_create(project=project, name="digit", actor=admin, exclusive=True)
    concept_create(project=project, name="3", parent=digit, actor=admin)
    queue_slots_open(input=InputFactory(project=project), overlap=1)

    response = anna.get(url("label", project))

    assert response.context["box_choices"] == []
    assert 'id="box-editor"' not in response.content.decode()


def test_the_pending_model_boxes_are_offered_as_pre_annotations(anna, project, input, taxonomy):
    older = model_suggestion(project, input, [RegionSpec(taxonomy["car"].id, (0, 0, 0.5, 0.5))])
    model_suggestion(
        project,
        input,
        [
            RegionSpec(taxonomy["face"].id, (0.1, 0.2, 0.3, 0.4), confidence=0.82),
            RegionSpec(taxonomy["car"].id, (0.5, 0.5, 0.25, 0.25), confidence=0.4),
        ],
    )
    assert older.regions.count() == 1

    response = anna.get(url("label", project))

    expected = [
        {**box(taxonomy["face"]), "confidence": 0.82},
        {**box(taxonomy["car"], 0.5, 0.5, 0.25, 0.25), "confidence": 0.4},
    ]
    assert response.context["pre_annotations"] == expected
    assert editor_config(response)["boxes"] == [{**b, "model": True} for b in expected]
    assert 'id="pre-annotation-note"' in response.content.decode()


def test_decided_model_boxes_and_archived_concepts_are_not_offered(project, input, taxonomy, admin):
    model_suggestion(
        project,
        input,
        [RegionSpec(taxonomy["face"].id, (0.1, 0.1, 0.2, 0.2))],
        status=AnnotationStatus.REJECTED,
    )
    boxed = {taxonomy["face"].id, taxonomy["car"].id}
    assert input_pre_annotations(input.id, boxed) == []

    model_suggestion(
        project,
        input,
        [
            RegionSpec(taxonomy["face"].id, (0.1, 0.1, 0.2, 0.2)),
            RegionSpec(taxonomy["car"].id, (0.4, 0.4, 0.2, 0.2)),
        ],
    )
    concept_archive(concept=taxonomy["car"], actor=admin)
    offered = input_pre_annotations(input.id, {taxonomy["face"].id})
    assert [r["concept"] for r in offered] == [taxonomy["face"].id]


def test_a_draft_with_boxes_starts_the_editor_with_them(anna, project, input, taxonomy):
    anna.get(url("label", project))
    AnnotationDraft.objects.create(
        project=project,
        user=input.project.memberships.get(role="annotator").user,
        input=input,
        concept_ids=[],
        regions=[box(taxonomy["car"])],
        note="undone",
    )
    model_suggestion(project, input, [RegionSpec(taxonomy["face"].id, (0, 0, 0.5, 0.5))])

    response = anna.get(url("label", project))

    # The annotator's own boxes win over the model's suggestion.
    assert editor_config(response)["boxes"] == [box(taxonomy["car"])]


# ---------------------------------------------------------------------------- submit


def test_posted_boxes_are_stored_with_the_whole_image_label(
    anna, project, annotator, input, taxonomy
):
    regions = [box(taxonomy["face"]), box(taxonomy["car"], 0.55, 0.05, 0.4, 0.3)]

    response = post_boxes(anna, project, input, regions, concepts=[taxonomy["indoor"]])

    assert response.status_code == 200
    annotation = Annotation.objects.get(author=annotator)
    stored = list(annotation.regions.order_by("position"))
    assert [r.concept_id for r in stored] == [taxonomy["face"].id, taxonomy["car"].id]
    assert stored[0].box == pytest.approx((0.1, 0.2, 0.3, 0.4))
    assert stored[1].box == pytest.approx((0.55, 0.05, 0.4, 0.3))
    assert list(annotation.labels.values_list("concept_id", flat=True)) == [taxonomy["indoor"].id]


def test_an_empty_box_list_is_an_answer(anna, project, annotator, input):
    response = post_boxes(anna, project, input, [])

    assert response.status_code == 200
    annotation = Annotation.objects.get(author=annotator)
    assert not annotation.regions.exists()


@pytest.mark.parametrize(
    ("regions", "message"),
    [
        (
            lambda t: [box(t["car"]), box(t["face"], w=0)],
            "Box 2 (face): a box must have a width and a height above zero.",
        ),
        (lambda t: [box(t["indoor"])], "Box 1: “indoor” labels the whole image, not boxes."),
        (lambda t: [{"concept": t["car"].id, "x": 0.1}], "Box 1: give its concept id and x, y"),
        (lambda t: '[{"concept": 1, "x": 0.1', "The boxes could not be read"),
        (lambda t: '{"concept": 1}', "regions must be a list of boxes."),
    ],
    ids=["zero-width", "whole-image-concept", "missing-coordinates", "not-json", "not-a-list"],
)
def test_a_bad_box_answers_422_with_the_message_on_the_same_task(
    anna, project, input, taxonomy, regions, message
):
    response = post_boxes(anna, project, input, regions(taxonomy), concepts=[taxonomy["outdoor"]])

    assert response.status_code == 422
    html = response.content.decode()
    assert 'id="task-error"' in html
    assert message in html
    assert f'data-input="{input.id}"' in html
    assert not Annotation.objects.exists() and not Region.objects.exists()
    # What the annotator chose stays chosen.
    assert f'value="{taxonomy["outdoor"].id}" checked' in html


def test_a_refused_submission_gives_the_drawn_boxes_back_to_the_editor(
    anna, project, input, taxonomy, settings
):
    settings.LABELING_MAX_REGIONS = 1
    model_suggestion(project, input, [RegionSpec(taxonomy["face"].id, (0, 0, 0.5, 0.5))])
    drawn = [box(taxonomy["car"]), box(taxonomy["face"], 0.6, 0.6, 0.2, 0.2)]

    response = post_boxes(anna, project, input, drawn)

    assert response.status_code == 422
    assert "2 boxes on one image: at most 1 are allowed" in response.content.decode()
    assert editor_config(response)["boxes"] == drawn  # not the model's suggestion again


def test_undo_brings_the_boxes_back_as_the_draft(anna, project, annotator, input, taxonomy):
    post_boxes(anna, project, input, [box(taxonomy["car"])])
    assert Region.objects.count() == 1

    response = anna.post(url("label_undo", project), **HTMX)

    assert "Undone — your earlier labels and boxes are back" in response.content.decode()
    assert editor_config(response)["boxes"] == [box(taxonomy["car"])]
    assert not Region.objects.exists()
    assert QueueSlot.objects.get(input=input).leased_to == annotator


def test_a_pre_annotation_kept_by_the_annotator_is_stored_as_their_box(
    anna, project, annotator, input, taxonomy
):
    model_suggestion(
        project, input, [RegionSpec(taxonomy["face"].id, (0.1, 0.2, 0.3, 0.4), confidence=0.9)]
    )
    page = anna.get(url("label", project))
    kept = [
        {k: b[k] for k in ("concept", "x", "y", "w", "h")} for b in editor_config(page)["boxes"]
    ]

    response = anna.post(
        url("label_submit", project, input_id=input.id), {"regions": json.dumps(kept)}, **HTMX
    )

    assert response.status_code == 200
    mine = Annotation.objects.get(author=annotator)
    region = mine.regions.get()
    assert (region.concept_id, region.confidence) == (taxonomy["face"].id, None)
    assert region.box == pytest.approx((0.1, 0.2, 0.3, 0.4))
