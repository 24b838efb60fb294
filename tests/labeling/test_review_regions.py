"""Review of regions: corrections that carry boxes (service, API, page), consensus by
matching boxes, and the pure rules behind them."""

import json

import pytest
from django.urls import reverse
from factories import InputFactory, MembershipFactory, UserFactory
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from labeling.models import (
    Annotation,
    AnnotationDraft,
    AnnotationSource,
    AnnotationStatus,
    InputStatus,
    Project,
    QueueSlot,
    Region,
    ReviewDecision,
    Role,
)
from labeling.review_rules import (
    Answer,
    answers_agree,
    boxes_agree,
    boxes_same,
    consensus,
    consensus_group,
    correction_changes,
)
from labeling.services.annotations import RegionSpec, annotation_create
from labeling.services.errors import ServiceError
from labeling.services.queue import annotation_submit, queue_next, queue_slots_open
from labeling.services.review import review_decide, review_next, review_tiers_configure
from labeling.services.taxonomy import concept_create

PENDING, ACCEPTED, SUPERSEDED = (
    AnnotationStatus.PENDING_REVIEW,
    AnnotationStatus.ACCEPTED,
    AnnotationStatus.SUPERSEDED,
)
APPROVE, CORRECT, CONSENSUS = (
    ReviewDecision.Action.APPROVE,
    ReviewDecision.Action.CORRECT,
    ReviewDecision.Action.CONSENSUS,
)
FACE, CAR = 1, 2


# ---------------------------------------------------------------------------- pure rules


def test_boxes_agree_when_they_pair_up_one_to_one_by_concept():
    a = [(FACE, (0.1, 0.1, 0.2, 0.2)), (CAR, (0.5, 0.5, 0.3, 0.3))]
    # the same objects, drawn a little apart and in the other order
    b = [(CAR, (0.52, 0.5, 0.3, 0.3)), (FACE, (0.11, 0.1, 0.2, 0.2))]
    assert boxes_agree(a, b, min_iou=0.5)
    assert boxes_agree([], [], min_iou=0.5)  # both: nothing here
    assert not boxes_agree(a, b[:1], min_iou=0.5)  # one box missing
    assert not boxes_agree(a, [(CAR, a[0][1]), (FACE, a[1][1])], min_iou=0.5)  # swapped concepts


def test_boxes_agree_follows_the_overlap_setting():
    # two 0.4-wide boxes 0.1 apart: intersection 0.3 x 0.4, union 0.5 x 0.4, IoU 0.6
    a = [(FACE, (0.1, 0.1, 0.4, 0.4))]
    b = [(FACE, (0.2, 0.1, 0.4, 0.4))]
    assert boxes_agree(a, b, min_iou=0.5)
    assert boxes_agree(a, b, min_iou=0.59)
    assert not boxes_agree(a, b, min_iou=0.7)


def test_answers_agree_needs_the_same_labels_too():
    boxes = ((FACE, (0.1, 0.1, 0.2, 0.2)),)
    assert answers_agree(Answer(frozenset({7}), boxes), Answer(frozenset({7}), boxes), min_iou=0.5)
    assert not answers_agree(
        Answer(frozenset({7}), boxes), Answer(frozenset({8}), boxes), min_iou=0.5
    )


def test_consensus_group_without_boxes_picks_what_consensus_picks():
    sets = [frozenset({1}), frozenset({2}), frozenset({1})]
    answers = [Answer(s) for s in sets]
    assert consensus_group(answers, 2, min_iou=0.5) == [0, 2]
    assert consensus(sets, 2) == frozenset({1})
    assert consensus_group(answers, 0, min_iou=0.5) is None
    assert consensus(sets, 0) is None
    assert consensus_group([Answer(frozenset({1}))] * 3, 0, min_iou=0.5) == [0, 1, 2]


def test_consensus_group_agrees_pairwise_not_by_chain():
    # A matches B (IoU 0.6) and B matches C (0.6), but A and C overlap by 0.33 only
    a, b, c = (Answer(frozenset(), ((FACE, (x, 0.1, 0.4, 0.4)),)) for x in (0.1, 0.2, 0.3))
    assert consensus_group([a, b, c], 0, min_iou=0.5) is None  # not all three agree
    assert consensus_group([a, b, c], 2, min_iou=0.5) == [0, 1]  # the earliest pair
    assert consensus_group([a, c], 2, min_iou=0.5) is None


def test_a_correction_that_keeps_labels_and_boxes_changes_nothing():
    boxes = [(FACE, (0.1, 0.2, 0.3, 0.4)), (CAR, (0.5, 0.5, 0.1, 0.1))]
    assert boxes_same(boxes, list(reversed(boxes)))
    assert not correction_changes(frozenset({3}), frozenset({3}), boxes, boxes[::-1])
    moved = [(FACE, (0.1 + 1 / 64, 0.2, 0.3, 0.4)), boxes[1]]
    assert correction_changes(frozenset({3}), frozenset({3}), boxes, moved)
    assert correction_changes(frozenset({3}), frozenset({3}), boxes, boxes[:1])
    assert correction_changes(frozenset({3}), frozenset({4}), boxes, boxes)


# ---------------------------------------------------------------------------- fixtures


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
def tiers(project, taxonomy):
    review_tiers_configure(project=project, tiers=[("all", 1.0), ("all", 1.0)])
    project.refresh_from_db()
    return project


def box(concept, x=0.1, y=0.2, w=0.3, h=0.4) -> dict:
    return {"concept": concept.id, "x": x, "y": y, "w": w, "h": h}


def boxes_of(annotation: Annotation) -> list[tuple]:
    return [(r.concept_id, r.box) for r in annotation.regions.order_by("position")]


def labels_of(annotation: Annotation) -> list[int]:
    return sorted(annotation.labels.values_list("concept_id", flat=True))


def submitted(project, user, labels=(), regions=None) -> Annotation:
    slot = queue_next(project=project, user=user)
    assert slot is not None, f"{user.username} has nothing to label"
    return annotation_submit(
        project=project, user=user, input=slot.input, concept_ids=list(labels), regions=regions
    ).annotation


def queued(project):
    input = InputFactory(project=project, width=64, height=64)
    queue_slots_open(input=input, overlap=project.overlap)
    return input


@pytest.fixture
def pending(tiers, annotator, taxonomy):
    """Anna's annotation waiting at tier 1: "indoor", a face and a car."""
    queued(tiers)
    return submitted(
        tiers,
        annotator,
        [taxonomy["indoor"].id],
        [box(taxonomy["face"]), box(taxonomy["car"], 0.5, 0.5, 0.25, 0.25)],
    )


# ---------------------------------------------------------------------------- corrections


def test_a_correction_with_boxes_keeps_the_original_and_carries_the_new_boxes(
    pending, reviewer, taxonomy
):
    # when the reviewer moves the face and drops the car
    moved = box(taxonomy["face"], x=0.1 + 2 / 64)
    decision = review_decide(annotation=pending, reviewer=reviewer, action=CORRECT, regions=[moved])

    # then a new annotation has the reviewer's boxes and the labels as they were
    correction = Annotation.objects.get(corrects=pending)
    assert (decision.action, decision.correction) == (CORRECT, correction)
    assert (correction.author, correction.status, correction.review_tier) == (reviewer, PENDING, 2)
    assert boxes_of(correction) == [
        (taxonomy["face"].id, pytest.approx((0.1 + 2 / 64, 0.2, 0.3, 0.4)))
    ]
    assert labels_of(correction) == [taxonomy["indoor"].id]
    # and the original keeps its own boxes and labels, superseded
    pending.refresh_from_db()
    assert pending.status == SUPERSEDED
    assert boxes_of(pending) == [
        (taxonomy["face"].id, pytest.approx((0.1, 0.2, 0.3, 0.4))),
        (taxonomy["car"].id, pytest.approx((0.5, 0.5, 0.25, 0.25))),
    ]
    assert QueueSlot.objects.get(input=pending.input).annotation == correction


def test_a_label_only_correction_copies_the_boxes_with_their_links(tiers, reviewer, taxonomy):
    # given a model's doubtful suggestion: a face with a classification of it ("car" here)
    input = queued(tiers)
    suggestion = annotation_create(
        project_id=tiers.id,
        input_id=input.id,
        source=AnnotationSource.MODEL,
        status=PENDING,
        concept_ids=[taxonomy["indoor"].id],
        regions=[
            RegionSpec(taxonomy["face"].id, (0.1, 0.1, 0.2, 0.2), confidence=0.8),
            RegionSpec(taxonomy["car"].id, (0.1, 0.1, 0.2, 0.2), confidence=0.6, parent=0),
        ],
        review_tier=1,
        model_band="doubt",
    )

    # when the reviewer corrects only the whole-image label
    review_decide(
        annotation=suggestion,
        reviewer=reviewer,
        action=CORRECT,
        concept_ids=[taxonomy["outdoor"].id],
    )

    # then the correction has the same boxes, the child still pointing to its parent
    correction = Annotation.objects.get(corrects=suggestion)
    face, car = correction.regions.order_by("position")
    assert (face.concept_id, car.concept_id, car.parent_id) == (
        taxonomy["face"].id,
        taxonomy["car"].id,
        face.id,
    )
    assert (face.confidence, car.confidence) == (None, None)  # a person has looked at them
    assert labels_of(correction) == [taxonomy["outdoor"].id]
    assert suggestion.regions.count() == 2


@pytest.mark.parametrize(
    ("regions", "message"),
    [
        ([{"x": 0.1, "y": 0.1, "w": 0, "h": 0.2}], "Box 2 \\(face\\): a box must have a width"),
        ([{"x": 1.5, "y": 0.1, "w": 0.1, "h": 0.2}], "Box 2 \\(face\\): the box lies outside"),
        ([{"x": 0.1}], "Box 2: give its concept id and x, y, w, h"),
    ],
)
def test_a_bad_box_is_refused_with_its_message_and_nothing_is_lost(
    pending, reviewer, taxonomy, regions, message
):
    before = boxes_of(pending)
    bad = {"concept": taxonomy["face"].id, **regions[0]}

    with pytest.raises(ServiceError, match=message):
        review_decide(
            annotation=pending,
            reviewer=reviewer,
            action=CORRECT,
            regions=[box(taxonomy["car"]), bad],
        )

    pending.refresh_from_db()
    assert (pending.status, pending.review_tier) == (PENDING, 1)
    assert boxes_of(pending) == before
    assert not Annotation.objects.filter(corrects=pending).exists()
    assert not pending.decisions.exists()
    assert Region.objects.count() == 2


def test_boxes_of_a_whole_image_concept_are_refused(pending, reviewer, taxonomy):
    with pytest.raises(ServiceError, match="“indoor” labels the whole image, not boxes"):
        review_decide(
            annotation=pending,
            reviewer=reviewer,
            action=CORRECT,
            regions=[box(taxonomy["indoor"])],
        )


def test_a_correction_that_sends_the_same_boxes_is_an_approval(pending, reviewer, taxonomy):
    same = [box(taxonomy["car"], 0.5, 0.5, 0.25, 0.25), box(taxonomy["face"])]

    decision = review_decide(
        annotation=pending,
        reviewer=reviewer,
        action=CORRECT,
        regions=same,
        concept_ids=[taxonomy["indoor"].id],
    )

    assert (decision.action, decision.correction) == (APPROVE, None)
    pending.refresh_from_db()
    assert (pending.status, pending.review_tier) == (PENDING, 2)


def test_a_correction_must_say_something(pending, reviewer):
    with pytest.raises(ServiceError, match="the right labels, the right boxes, or both"):
        review_decide(annotation=pending, reviewer=reviewer, action=CORRECT)


def test_removing_every_box_is_a_correction(pending, reviewer, taxonomy):
    review_decide(annotation=pending, reviewer=reviewer, action=CORRECT, regions=[])

    correction = Annotation.objects.get(corrects=pending)
    assert not correction.regions.exists()
    assert labels_of(correction) == [taxonomy["indoor"].id]


def test_a_rejected_annotation_goes_back_with_its_boxes_in_the_draft(
    pending, reviewer, annotator, taxonomy
):
    review_decide(annotation=pending, reviewer=reviewer, action="reject", reason="Missed a car")

    draft = AnnotationDraft.objects.get(user=annotator, input=pending.input)
    assert draft.regions == [
        box(taxonomy["face"]),
        box(taxonomy["car"], 0.5, 0.5, 0.25, 0.25),
    ]
    assert draft.note == "Rejected: Missed a car"


# ---------------------------------------------------------------------------- API


def api(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.get_or_create(user=user)[0].key}")
    return client


def clarifai(concept: str, top=0.2, left=0.1, bottom=0.6, right=0.4) -> dict:
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


def test_api_review_next_shows_the_boxes_and_a_decision_corrects_them(pending, reviewer, taxonomy):
    client = api(reviewer)
    shown = client.get(f"/api/v1/projects/{pending.project_id}/review/next/")
    assert shown.status_code == 200, shown.content
    assert [r["data"]["concepts"][0]["name"] for r in shown.json()["regions"]] == ["face", "car"]

    answer = client.post(
        f"/api/v1/annotations/{pending.id}/decisions/",
        {"action": "correct", "regions": [clarifai("car", 0.5, 0.5, 0.7, 0.9)]},
        format="json",
    )

    assert answer.status_code == 201, answer.json()
    body = answer.json()
    correction = Annotation.objects.get(corrects=pending)
    assert (body["action"], body["correction"]) == (CORRECT, correction.id)
    (region,) = body["regions"]
    assert region["region_info"]["bounding_box"] == pytest.approx(
        {"top_row": 0.5, "left_col": 0.5, "bottom_row": 0.7, "right_col": 0.9}
    )
    assert boxes_of(correction) == [(taxonomy["car"].id, pytest.approx((0.5, 0.5, 0.4, 0.2)))]
    assert labels_of(correction) == [taxonomy["indoor"].id]  # left out: kept
    assert len(boxes_of(pending)) == 2


def test_api_decision_names_the_wrong_region(pending, reviewer):
    client = api(reviewer)
    url = f"/api/v1/annotations/{pending.id}/decisions/"

    unknown = client.post(url, {"action": "correct", "regions": [clarifai("tree")]}, format="json")
    upside_down = client.post(
        url, {"action": "correct", "regions": [clarifai("car", top=0.6, bottom=0.2)]}, format="json"
    )

    assert unknown.status_code == 409
    assert "Region 1: unknown concept 'tree'" in unknown.json()["error"]
    assert upside_down.status_code == 409
    assert "Box 1 (car): a box must have a width and a height" in upside_down.json()["error"]
    assert not Annotation.objects.filter(corrects=pending).exists()


# ---------------------------------------------------------------------------- consensus


@pytest.fixture
def overlap_two(project, taxonomy):
    """Two annotators per input, one review tier, agreement accepted by consensus."""
    review_tiers_configure(project=project, tiers=[("all", 1.0)])
    Project.objects.filter(id=project.id).update(overlap=2, consensus_auto_accept=True)
    project.refresh_from_db()
    return project


@pytest.fixture
def bob(project):
    user = UserFactory(username="bob_annotator")
    MembershipFactory(project=project, user=user, role=Role.ANNOTATOR)
    return user


def test_matching_boxes_are_accepted_by_consensus_with_the_first_ones_boxes(
    overlap_two, annotator, bob, reviewer, taxonomy
):
    input = queued(overlap_two)

    # when anna and bob draw the same face and car, a few pixels apart, in another order
    first = submitted(
        overlap_two,
        annotator,
        regions=[box(taxonomy["face"]), box(taxonomy["car"], 0.5, 0.5, 0.25, 0.25)],
    )
    second = submitted(
        overlap_two,
        bob,
        regions=[box(taxonomy["car"], 0.51, 0.5, 0.25, 0.25), box(taxonomy["face"], 0.11)],
    )

    # then anna's (the first) is accepted as drawn, bob's is superseded by it, both by consensus
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.status, second.status) == (ACCEPTED, SUPERSEDED)
    assert not first.disagreement and not second.disagreement
    assert [d.action for d in first.decisions.all()] == [CONSENSUS]
    (decision,) = second.decisions.all()
    assert decision.action == CONSENSUS
    assert f"annotation #{first.id}" in decision.reason
    assert Annotation.objects.get(input=input, status=ACCEPTED) == first
    input.refresh_from_db()
    assert input.status == InputStatus.LABELED
    assert review_next(project=overlap_two, user=reviewer) is None


def test_boxes_that_overlap_too_little_are_a_disagreement(
    overlap_two, annotator, bob, reviewer, taxonomy
):
    # given boxes of one face overlapping by IoU 0.6, and a project asking for 0.7
    Project.objects.filter(id=overlap_two.id).update(region_iou=0.7)
    overlap_two.refresh_from_db()
    input = queued(overlap_two)

    first = submitted(overlap_two, annotator, regions=[box(taxonomy["face"], 0.1, 0.1, 0.4, 0.4)])
    second = submitted(overlap_two, bob, regions=[box(taxonomy["face"], 0.2, 0.1, 0.4, 0.4)])

    for annotation in (first, second):
        annotation.refresh_from_db()
        assert (annotation.status, annotation.review_tier) == (PENDING, 1)
        assert annotation.disagreement
        assert not annotation.decisions.exists()
    input.refresh_from_db()
    assert input.status == InputStatus.IN_REVIEW


def test_the_same_boxes_with_other_labels_are_a_disagreement(overlap_two, annotator, bob, taxonomy):
    queued(overlap_two)

    first = submitted(overlap_two, annotator, [taxonomy["indoor"].id], [box(taxonomy["face"])])
    second = submitted(overlap_two, bob, [taxonomy["outdoor"].id], [box(taxonomy["face"])])

    assert {Annotation.objects.get(id=a.id).status for a in (first, second)} == {PENDING}


def test_two_empty_answers_agree_and_both_are_accepted(overlap_two, annotator, bob):
    # "nothing to box here", twice: nothing differs between them, both accepted as for labels
    queued(overlap_two)

    first = submitted(overlap_two, annotator)
    second = submitted(overlap_two, bob)

    assert {Annotation.objects.get(id=a.id).status for a in (first, second)} == {ACCEPTED}


# ---------------------------------------------------------------------------- the page

HTMX = {"HTTP_HX_REQUEST": "true"}


def page_of(client, user, project):
    client.force_login(user)
    return client.get(reverse("labeling:review", kwargs={"project_id": project.id}))


def decide_url(annotation) -> str:
    return reverse(
        "labeling:review_decide",
        kwargs={"project_id": annotation.project_id, "annotation_id": annotation.id},
    )


def test_the_review_page_draws_the_boxes_with_a_legend(client, pending, reviewer):
    response = page_of(client, reviewer, pending.project)

    html = response.content.decode()
    assert response.status_code == 200
    assert html.count('<g class="box"') == 2
    assert 'aria-label="Box 1: face"' in html and 'aria-label="Box 2: car"' in html
    assert 'x="10.0000%" y="20.0000%" width="30.0000%" height="40.0000%"' in html
    assert 'id="box-legend"' in html and 'id="review-boxes-data"' in html
    # the box concepts are drawn, not offered as whole-image labels in the correction form
    form = html.split('id="correct-form"')[1]
    assert 'name="concepts" value' in form
    assert f'value="{pending.regions.first().concept_id}"' not in form
    # the box field is sent only once the editor changed the boxes
    assert (
        'id="correct-regions"' in form and "disabled" in form.split('id="correct-regions"')[1][:300]
    )


def test_a_models_boxes_show_their_confidence(client, tiers, reviewer, taxonomy):
    input = queued(tiers)
    annotation_create(
        project_id=tiers.id,
        input_id=input.id,
        source=AnnotationSource.MODEL,
        status=PENDING,
        concept_ids=[],
        regions=[RegionSpec(taxonomy["car"].id, (0.2, 0.2, 0.5, 0.5), confidence=0.873)],
        review_tier=1,
        model_band="doubt",
    )

    html = page_of(client, reviewer, tiers).content.decode()

    assert '<g class="box model"' in html
    assert "car 0.87" in html


def test_the_page_posts_a_correction_with_boxes(client, pending, reviewer, taxonomy):
    page_of(client, reviewer, pending.project)  # the reviewer holds it

    response = client.post(
        decide_url(pending),
        {
            "action": CORRECT,
            "concepts": [str(taxonomy["indoor"].id)],
            "regions": json.dumps([box(taxonomy["face"], 0.2)]),
        },
        **HTMX,
    )

    assert response.status_code == 200
    assert b"Corrected" in response.content
    correction = Annotation.objects.get(corrects=pending)
    assert boxes_of(correction) == [(taxonomy["face"].id, pytest.approx((0.2, 0.2, 0.3, 0.4)))]


def test_a_refused_correction_comes_back_open_with_the_edits_and_the_error(
    client, pending, reviewer, taxonomy, settings
):
    settings.LABELING_MAX_REGIONS = 2
    page_of(client, reviewer, pending.project)
    three = [box(taxonomy["face"]), box(taxonomy["car"]), box(taxonomy["car"], 0.6, 0.6, 0.1, 0.1)]

    response = client.post(
        decide_url(pending),
        {"action": CORRECT, "concepts": [], "regions": json.dumps(three)},
        **HTMX,
    )

    html = response.content.decode()
    assert response.status_code == 422
    form = html.split('id="correct-form"')[1].split("</form>")[0]
    assert "hidden" not in html.split('id="correct-form"')[0][-120:] + form[:20]
    assert "3 boxes on one image: at most 2 are allowed" in form
    assert 'id="review-error"' in form
    assert html.count('<g class="box"') == 3  # the reviewer's boxes, not the stored two
    assert not Annotation.objects.filter(corrects=pending).exists()


def test_unreadable_boxes_are_refused(client, pending, reviewer):
    page_of(client, reviewer, pending.project)

    response = client.post(decide_url(pending), {"action": CORRECT, "regions": "[{oops"}, **HTMX)

    assert response.status_code == 422
    assert b"The boxes sent could not be read" in response.content
