"""Regions: box groups in the taxonomy, submitting boxes (service and API), their checks."""

import math
from datetime import timedelta

import pytest
from django.utils import timezone
from factories import InputFactory, UserFactory
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from labeling.models import AnnotationDraft, Concept, QueueSlot, Region
from labeling.selectors import label_choices
from labeling.services.errors import ServiceError
from labeling.services.projects import project_create
from labeling.services.queue import (
    Outcome,
    annotation_submit,
    draft_resubmit,
    queue_next,
    queue_slots_open,
)
from labeling.services.taxonomy import (
    concept_create,
    concept_move,
    concept_set_scope,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def taxonomy(project, admin):
    """ "objects" draws boxes (face, car); "scene" labels the whole image (indoor, outdoor)."""
    objects = concept_create(project=project, name="objects", actor=admin, scope="regions")
    scene = concept_create(project=project, name="scene", actor=admin, exclusive=True)
    return {
        "objects": objects,
        "face": concept_create(project=project, name="face", parent=objects, actor=admin),
        "car": concept_create(project=project, name="car", parent=objects, actor=admin),
        "scene": scene,
        "indoor": concept_create(project=project, name="indoor", parent=scene, actor=admin),
    }


def queued(project):
    input = InputFactory(project=project)
    queue_slots_open(input=input, overlap=project.overlap)
    return input


def box(concept, x=0.1, y=0.2, w=0.3, h=0.4):
    return {"concept": concept.id, "x": x, "y": y, "w": w, "h": h}


def submit(project, user, input, concept_ids=(), regions=None, **kwargs):
    queue_next(project=project, user=user)
    return annotation_submit(
        project=project,
        user=user,
        input=input,
        concept_ids=list(concept_ids),
        regions=regions,
        **kwargs,
    )


def test_box_groups_mark_their_leaves_and_leave_the_classifier_out(project, taxonomy):
    choices = {c.name: c.regions for c in label_choices(project)}
    assert choices == {"face": True, "car": True, "indoor": False}


def test_boxes_and_a_whole_image_label_in_one_submission(project, annotator, taxonomy):
    input = queued(project)
    submission = submit(
        project,
        annotator,
        input,
        [taxonomy["indoor"].id],
        [box(taxonomy["face"]), box(taxonomy["car"], 0.5, 0.5, 0.7, 0.2)],
    )
    assert submission.outcome is Outcome.CREATED
    regions = list(submission.annotation.regions.order_by("position"))
    assert [r.concept_id for r in regions] == [taxonomy["face"].id, taxonomy["car"].id]
    assert regions[0].box == pytest.approx((0.1, 0.2, 0.3, 0.4))
    assert regions[1].box == pytest.approx((0.5, 0.5, 0.5, 0.2))  # clipped at the right edge
    assert list(submission.annotation.labels.values_list("concept_id", flat=True)) == [
        taxonomy["indoor"].id
    ]


def test_an_image_with_nothing_to_box_is_an_answer(project, annotator, taxonomy):
    submission = submit(project, annotator, queued(project))
    assert submission.outcome is Outcome.CREATED
    assert not submission.annotation.regions.exists()


@pytest.mark.parametrize(
    ("region", "message"),
    [
        ({"x": 0.1, "y": 0.1, "w": 0, "h": 0.2}, "width and a height above zero"),
        ({"x": math.nan, "y": 0.1, "w": 0.1, "h": 0.2}, "finite"),
        ({"x": 1.5, "y": 0.1, "w": 0.1, "h": 0.2}, "outside the image"),
        ({"x": 0.1, "y": 0.1, "w": "wide", "h": 0.2}, "four numbers"),
        ({"x": 0.1, "y": 0.1}, "x, y, w, h"),
    ],
)
def test_a_bad_box_is_refused_with_its_number(project, annotator, taxonomy, region, message):
    good = box(taxonomy["car"])
    bad = {"concept": taxonomy["face"].id, **region}
    with pytest.raises(ServiceError, match=f"Box 2.*{message}"):
        submit(project, annotator, queued(project), regions=[good, bad])
    assert not Region.objects.exists()


def test_boxes_only_for_box_groups_and_labels_only_for_the_others(
    project, annotator, taxonomy, admin
):
    input = queued(project)
    with pytest.raises(ServiceError, match="“indoor” labels the whole image"):
        submit(project, annotator, input, regions=[box(taxonomy["indoor"])])
    with pytest.raises(ServiceError, match="face: drawn as boxes"):
        submit(project, annotator, input, [taxonomy["face"].id])
    other = project_create(name="Other", created_by=admin)
    stranger = concept_create(project=other, name="face", actor=admin, scope="regions")
    with pytest.raises(ServiceError, match="unknown or archived concept"):
        submit(project, annotator, input, regions=[box(stranger)])


def test_too_many_boxes_on_one_image(project, annotator, taxonomy, settings):
    settings.LABELING_MAX_REGIONS = 3
    regions = [box(taxonomy["face"], x=i / 10, w=0.05) for i in range(4)]
    with pytest.raises(ServiceError, match="4 boxes on one image: at most 3"):
        submit(project, annotator, queued(project), regions=regions)


def test_a_lost_lease_keeps_the_boxes_in_the_draft(project, annotator, taxonomy):
    input = queued(project)
    QueueSlot.objects.filter(input=input).update(
        leased_to=UserFactory(username="someone"),
        leased_until=timezone.now() + timedelta(hours=1),
    )
    submission = annotation_submit(
        project=project,
        user=annotator,
        input=input,
        concept_ids=[],
        regions=[box(taxonomy["face"])],
    )
    assert submission.outcome is Outcome.LOST
    draft = AnnotationDraft.objects.get(user=annotator, input=input)
    assert draft.regions == [box(taxonomy["face"])]

    QueueSlot.objects.filter(input=input).update(leased_to=None, leased_until=None)
    again = draft_resubmit(draft=draft, user=annotator)
    assert again.outcome is Outcome.CREATED
    assert again.annotation.regions.get().concept_id == taxonomy["face"].id


def test_scope_is_set_on_top_level_groups_before_anything_is_labeled(
    project, annotator, taxonomy, admin
):
    with pytest.raises(ServiceError, match="top-level"):
        concept_set_scope(concept=taxonomy["face"], scope="input", actor=admin)
    submit(project, annotator, queued(project), regions=[box(taxonomy["face"])])
    with pytest.raises(ServiceError, match="already has 1 label"):
        concept_set_scope(concept=taxonomy["objects"], scope="input", actor=admin)
    with pytest.raises(ServiceError, match="labels of one kind do not turn into the other"):
        concept_move(concept=taxonomy["face"], parent=taxonomy["scene"], actor=admin)
    animals = concept_create(project=project, name="animals", actor=admin)
    concept_set_scope(concept=animals, scope="regions", actor=admin)
    animals.refresh_from_db()
    assert animals.scope == Concept.Scope.REGIONS


# ---------------------------------------------------------------------------- API


def api(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.get_or_create(user=user)[0].key}")
    return client


def clarifai(concept, top=0.2, left=0.1, bottom=0.6, right=0.4):
    return {
        "region_info": {
            "bounding_box": {
                "top_row": top,
                "left_col": left,
                "bottom_row": bottom,
                "right_col": right,
            }
        },
        "data": {"concepts": [{"id": concept, "value": 1}]},
    }


def test_api_submits_and_returns_regions_in_clarifais_shape(project, annotator, taxonomy):
    input = queued(project)
    client = api(annotator)
    assert client.get(f"/api/v1/projects/{project.id}/queue/next/").status_code == 200
    answer = client.post(
        f"/api/v1/inputs/{input.id}/annotations/",
        {"concepts": [{"id": "scene", "value": "indoor"}], "regions": [clarifai("face")]},
        format="json",
    )
    assert answer.status_code == 201, answer.json()
    (region,) = answer.json()["regions"]
    assert region["data"]["concepts"][0]["name"] == "face"
    assert region["region_info"]["bounding_box"] == pytest.approx(
        {"top_row": 0.2, "left_col": 0.1, "bottom_row": 0.6, "right_col": 0.4}
    )
    detail = client.get(f"/api/v1/inputs/{input.id}/").json()
    assert detail["annotations"][0]["regions"][0]["id"] == region["id"]


def test_api_names_the_wrong_region(project, annotator, taxonomy):
    input = queued(project)
    client = api(annotator)
    client.get(f"/api/v1/projects/{project.id}/queue/next/")
    url = f"/api/v1/inputs/{input.id}/annotations/"
    unknown = client.post(url, {"regions": [clarifai("tree")]}, format="json")
    assert unknown.status_code == 400
    assert "Region 1: unknown concept 'tree'" in unknown.json()["error"]
    upside_down = client.post(
        url, {"regions": [clarifai("car", top=0.6, bottom=0.2)]}, format="json"
    )
    assert upside_down.status_code == 400
    assert "Box 1 (car): a box must have a width and a height" in upside_down.json()["error"]
