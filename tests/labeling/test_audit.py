"""The audit trail: an annotation's timeline, the project's events, the CSV export, the
input page, and who may see each."""

import csv
import io
from datetime import timedelta

import pytest
from django.http import StreamingHttpResponse
from django.urls import reverse
from django.utils import timezone
from factories import InputFactory, MembershipFactory, UserFactory

from labeling import audit
from labeling.models import (
    Annotation,
    AnnotationLabel,
    AnnotationSource,
    AnnotationStatus,
    Input,
    ReviewDecision,
    Role,
)
from labeling.services.review import review_decide
from labeling.services.taxonomy import concept_create

pytestmark = pytest.mark.django_db

Action = ReviewDecision.Action
T0 = timezone.now().replace(microsecond=0) - timedelta(days=1)


@pytest.fixture
def concepts(project, admin):
    """An exclusive "Species" (Robin or Sparrow) and a free-standing "Blurry" flag."""
    species = concept_create(project=project, name="Species", actor=admin, exclusive=True)
    return {
        "robin": concept_create(project=project, name="Robin", parent=species, actor=admin),
        "sparrow": concept_create(project=project, name="Sparrow", parent=species, actor=admin),
        "blurry": concept_create(project=project, name="Blurry", actor=admin),
    }


def annotate(input: Input, author, concepts, *, at=None, **fields) -> Annotation:
    """An annotation of ``input`` by ``author`` (None: the model) with ``concepts``."""
    fields.setdefault("source", AnnotationSource.HUMAN if author else AnnotationSource.MODEL)
    annotation = Annotation.objects.create(
        project=input.project, input=input, author=author, **fields
    )
    AnnotationLabel.objects.bulk_create(
        [AnnotationLabel(annotation=annotation, concept=c) for c in concepts]
    )
    if at is not None:
        Annotation.objects.filter(id=annotation.id).update(created_at=at)
    return annotation


def decide(annotation, reviewer, action, tier, *, at=None, **fields) -> ReviewDecision:
    decision = ReviewDecision.objects.create(
        project=annotation.project,
        annotation=annotation,
        reviewer=reviewer,
        action=action,
        tier=tier,
        **fields,
    )
    if at is not None:  # the test fixes the clock; the app never rewrites a decision
        ReviewDecision.objects.filter(id=decision.id).update(created_at=at)
    return decision


@pytest.fixture
def reviewed(project, annotator, reviewer, admin, concepts):
    """Anna's Robin annotation, rejected at tier 2 and approved at tier 1 (in that time
    order, though the approval was written first), and a model annotation."""
    input = InputFactory(project=project)
    annotation = annotate(input, annotator, [concepts["robin"]], at=T0, time_spent_ms=4200)
    approve = decide(annotation, reviewer, Action.APPROVE, 1, at=T0 + timedelta(minutes=2))
    reject = decide(
        annotation, admin, Action.REJECT, 2, at=T0 + timedelta(minutes=1), reason="Blurry bird"
    )
    model = annotate(
        InputFactory(project=project), None, [concepts["blurry"]], at=T0 + timedelta(minutes=3)
    )
    return {"annotation": annotation, "approve": approve, "reject": reject, "model": model}


# ---------------------------------------------------------------------------- timeline


def test_timeline_is_creation_then_decisions_in_time_order(reviewed, concepts):
    timeline = audit.annotation_timeline(reviewed["annotation"])

    assert [(e.kind, e.actor, e.tier) for e in timeline.events] == [
        ("created", "anna_annotator", None),
        ("reject", "alice_admin", 2),
        ("approve", "rita_reviewer", 1),
    ]
    assert timeline.events[1].reason == "Blurry bird"
    assert [label.path for label in timeline.events[0].labels] == ["species/robin"]


def test_timeline_shows_the_dictionary_versions_the_annotator_saw(project, annotator, concepts):
    annotation = annotate(
        InputFactory(project=project),
        annotator,
        [concepts["robin"]],
        dictionary_versions={str(concepts["robin"].id): 3},
    )

    timeline = audit.annotation_timeline(annotation)

    assert [(label.name, version) for label, version in timeline.dictionary] == [("Robin", 3)]


def test_a_correction_is_linked_both_ways(project, annotator, reviewer, concepts):
    # given Anna's Robin waiting at tier 1, corrected by the reviewer to Sparrow
    original = annotate(
        InputFactory(project=project),
        annotator,
        [concepts["robin"]],
        status=AnnotationStatus.PENDING_REVIEW,
        review_tier=1,
    )
    decision = review_decide(
        annotation=original,
        reviewer=reviewer,
        action=Action.CORRECT,
        concept_ids=[concepts["sparrow"].id],
    )

    # when both timelines are read
    before = audit.annotation_timeline(original)
    after = audit.annotation_timeline(decision.correction)

    # then the original names the correction and its labels, and the correction the original
    correct = before.events[-1]
    assert correct.kind == "correct"
    assert correct.correction_id == decision.correction_id
    assert [label.name for label in correct.labels] == ["Sparrow"]
    assert before.corrected_by == [decision.correction]
    assert after.corrects == original


def test_timeline_carries_the_gold_answer_and_result(project, annotator, admin, concepts):
    input = InputFactory(project=project, gold_concept_ids=[concepts["sparrow"].id])
    annotation = annotate(input, annotator, [concepts["robin"]], gold_correct=False)

    timeline = audit.annotation_timeline(annotation)

    assert [label.name for label in timeline.gold] == ["Sparrow"]
    assert timeline.annotation.gold_correct is False


# ---------------------------------------------------------------------------- project events


def kinds(project, **filters) -> list[tuple[str, int]]:
    events = audit.events_load(project, audit.project_events(project, **filters))
    return [(e.kind, e.annotation.id) for e in events]


def test_project_events_are_newest_first(project, reviewed):
    a, model = reviewed["annotation"].id, reviewed["model"].id

    assert kinds(project) == [("created", model), ("approve", a), ("reject", a), ("created", a)]


def test_project_events_filter_by_annotator_and_by_action(project, reviewed):
    a, model = reviewed["annotation"].id, reviewed["model"].id

    assert kinds(project, annotator="anna_annotator") == [
        ("approve", a),
        ("reject", a),
        ("created", a),
    ]
    assert kinds(project, annotator="model") == [("created", model)]
    assert kinds(project, action="reject") == [("reject", a)]
    assert kinds(project, action="created") == [("created", model), ("created", a)]
    assert kinds(project, annotator="anna_annotator", action="approve") == [("approve", a)]
    assert kinds(project, annotator="nobody") == []


def test_project_events_leave_out_other_projects(project, other_project, reviewed, concepts):
    annotate(InputFactory(project=other_project), None, [])

    assert len(kinds(project)) == 4


# ---------------------------------------------------------------------------- CSV


def csv_rows(response) -> list[dict]:
    body = b"".join(response.streaming_content).decode()
    return list(csv.DictReader(io.StringIO(body)))


def test_audit_csv_streams_one_row_per_event(client, project, admin, reviewed):
    client.force_login(admin)

    response = client.get(reverse("labeling:audit_csv", args=[project.id]))

    assert response.status_code == 200
    assert isinstance(response, StreamingHttpResponse)
    assert response["Content-Type"].startswith("text/csv")
    assert f'filename="project-{project.id}-audit-' in response["Content-Disposition"]
    rows = csv_rows(response)
    assert list(rows[0]) == audit.CSV_COLUMNS
    a = reviewed["annotation"]
    assert [(r["event"], r["annotation_id"], r["actor"], r["tier"]) for r in rows] == [
        ("created", str(a.id), "anna_annotator", ""),
        ("reject", str(a.id), "alice_admin", "2"),
        ("approve", str(a.id), "rita_reviewer", "1"),
        ("created", str(reviewed["model"].id), "model", ""),
    ]
    created, reject = rows[0], rows[1]
    assert created["labels"] == "species/robin"
    assert created["source"] == "human"
    assert created["project_id"] == str(project.id)
    assert created["input_id"] == str(a.input_id)
    assert created["event_time"].startswith(T0.date().isoformat())
    assert reject["reason"] == "Blurry bird"
    assert reject["status_now"] == a.status
    assert rows[3]["source"] == "model"


def test_audit_csv_names_the_correction_and_its_labels(
    client, project, admin, annotator, reviewer, concepts
):
    original = annotate(
        InputFactory(project=project),
        annotator,
        [concepts["robin"], concepts["blurry"]],
        status=AnnotationStatus.PENDING_REVIEW,
        review_tier=1,
    )
    decision = review_decide(
        annotation=original,
        reviewer=reviewer,
        action=Action.CORRECT,
        concept_ids=[concepts["sparrow"].id],
    )
    client.force_login(admin)

    rows = csv_rows(client.get(reverse("labeling:audit_csv", args=[project.id])))

    by_event = {(r["event"], r["annotation_id"]): r for r in rows}
    assert by_event["created", str(original.id)]["labels"] == "species/robin;blurry"
    correct = by_event["correct", str(original.id)]
    assert correct["labels"] == "species/sparrow"
    assert correct["correction_annotation_id"] == str(decision.correction_id)
    assert correct["status_now"] == "superseded"
    assert ("created", str(decision.correction_id)) in by_event


def test_audit_csv_defuses_spreadsheet_formulas(client, project, admin, annotator, concepts):
    annotation = annotate(InputFactory(project=project), annotator, [concepts["robin"]])
    decide(annotation, admin, Action.REJECT, 1, reason='=HYPERLINK("http://evil")')
    client.force_login(admin)

    rows = csv_rows(client.get(reverse("labeling:audit_csv", args=[project.id])))

    assert rows[-1]["reason"] == '\'=HYPERLINK("http://evil")'


def test_audit_csv_queries_do_not_grow_with_the_events(
    client, project, admin, annotator, reviewer, concepts, django_assert_max_num_queries
):
    for _ in range(30):
        annotation = annotate(InputFactory(project=project), annotator, [concepts["robin"]])
        decide(annotation, reviewer, Action.APPROVE, 1)
    client.force_login(admin)
    response = client.get(reverse("labeling:audit_csv", args=[project.id]))

    with django_assert_max_num_queries(8):
        rows = csv_rows(response)

    assert len(rows) == 60


# ---------------------------------------------------------------------------- pages


def test_audit_page_shows_both_decisions(client, project, reviewer, reviewed):
    client.force_login(reviewer)

    response = client.get(
        reverse("labeling:annotation_audit", args=[project.id, reviewed["annotation"].id])
    )

    page = response.content.decode()
    assert "Blurry bird" in page
    assert page.index('data-kind="reject"') < page.index('data-kind="approve"')


def test_audit_page_has_no_way_to_change_the_trail(client, project, admin, reviewed):
    client.force_login(admin)
    url = reverse("labeling:annotation_audit", args=[project.id, reviewed["annotation"].id])

    assert client.post(url, {"action": "approve"}).status_code == 405
    assert client.delete(url).status_code == 405
    assert ReviewDecision.objects.filter(annotation=reviewed["annotation"]).count() == 2


def test_audit_index_filters_and_offers_the_csv_to_admins(client, project, admin, reviewed):
    client.force_login(admin)
    url = reverse("labeling:audit", args=[project.id])

    page = client.get(url, {"action": "reject"}).content.decode()
    partial = client.get(url, {"annotator": "model"}, headers={"HX-Request": "true"})

    assert "Blurry bird" in page and 'data-kind="approve"' not in page
    assert reverse("labeling:audit_csv", args=[project.id]) in page
    assert "<html" not in partial.content.decode()
    assert partial.content.decode().count("<tr data-kind=") == 1


def test_reviewers_get_no_csv_button(client, project, reviewer, reviewed):
    client.force_login(reviewer)

    page = client.get(reverse("labeling:audit", args=[project.id])).content.decode()

    assert reverse("labeling:audit_csv", args=[project.id]) not in page


def test_input_page_shows_every_annotation_and_the_gold_form_to_admins(
    client, project, admin, reviewed, concepts
):
    input = reviewed["annotation"].input
    client.force_login(admin)

    page = client.get(reverse("labeling:input_detail", args=[project.id, input.id]))

    html = page.content.decode()
    assert reverse("labeling:annotation_audit", args=[project.id, reviewed["annotation"].id]) in (
        html
    )
    assert 'id="gold-form"' in html
    assert f'value="{concepts["sparrow"].id}"' in html


def test_annotators_see_only_their_own_annotations_and_no_gold(
    client, project, annotator, admin, concepts
):
    input = InputFactory(project=project, gold_concept_ids=[concepts["robin"].id])
    mine = annotate(input, annotator, [concepts["robin"]])
    theirs = annotate(input, admin, [concepts["sparrow"]])
    client.force_login(annotator)

    html = client.get(reverse("labeling:input_detail", args=[project.id, input.id])).content
    html = html.decode()

    assert f'data-annotation="{mine.id}"' in html
    assert f'data-annotation="{theirs.id}"' not in html
    assert "Gold" not in html and 'id="gold-form"' not in html


def test_tiny_images_are_shown_with_crisp_pixels(client, project, admin):
    tiny = InputFactory(project=project, width=8, height=8)
    big = InputFactory(project=project, width=1024, height=768)
    client.force_login(admin)

    def image_tag(input):
        html = client.get(reverse("labeling:input_detail", args=[project.id, input.id]))
        return html.content.decode().split('id="input-image"')[1].split(">")[0]

    assert "pixel" in image_tag(tiny)
    assert "pixel" not in image_tag(big)


def test_admin_marks_and_clears_gold_from_the_input_page(client, project, admin, concepts):
    input = InputFactory(project=project)
    client.force_login(admin)
    url = reverse("labeling:input_detail", args=[project.id, input.id])

    marked = client.post(url, {"action": "set", "concepts": [concepts["robin"].id]}, follow=True)
    input.refresh_from_db()
    assert input.gold_concept_ids == [concepts["robin"].id]
    assert "Marked as a gold item" in marked.content.decode()

    refused = client.post(url, {"action": "set"}, follow=True)
    assert "Pick at least one label" in refused.content.decode()

    client.post(url, {"action": "clear"})
    input.refresh_from_db()
    assert input.gold_concept_ids is None


# ---------------------------------------------------------------------------- who sees what


def other_annotator(project):
    user = UserFactory(username="otto_annotator")
    MembershipFactory(project=project, user=user, role=Role.ANNOTATOR)
    return user


@pytest.mark.parametrize(
    "who, status",
    [
        ("admin", 200),
        ("reviewer", 200),
        ("annotator", 200),  # the annotation's author
        ("other_annotator", 403),
        ("outsider", 404),
    ],
)
def test_who_sees_an_annotation_audit_page(client, request, project, reviewed, who, status):
    user = other_annotator(project) if who == "other_annotator" else request.getfixturevalue(who)
    client.force_login(user)

    response = client.get(
        reverse("labeling:annotation_audit", args=[project.id, reviewed["annotation"].id])
    )

    assert response.status_code == status


def test_another_projects_annotation_is_not_found(client, project, other_project, admin):
    foreign = annotate(InputFactory(project=other_project), None, [])
    client.force_login(admin)

    assert (
        client.get(reverse("labeling:annotation_audit", args=[project.id, foreign.id])).status_code
        == 404
    )
    assert (
        client.get(
            reverse("labeling:input_detail", args=[project.id, foreign.input_id])
        ).status_code
        == 404
    )


@pytest.mark.parametrize(
    "name, who, status",
    [
        ("audit", "admin", 200),
        ("audit", "reviewer", 200),
        ("audit", "annotator", 403),
        ("audit", "outsider", 404),
        ("audit_csv", "admin", 200),
        ("audit_csv", "reviewer", 403),
        ("audit_csv", "annotator", 403),
        ("audit_csv", "outsider", 404),
    ],
)
def test_who_reads_the_project_trail(client, request, project, reviewed, name, who, status):
    client.force_login(request.getfixturevalue(who))

    assert client.get(reverse(f"labeling:{name}", args=[project.id])).status_code == status


@pytest.mark.parametrize(
    "who, page, gold",
    [("admin", 200, 302), ("reviewer", 200, 403), ("annotator", 200, 403), ("outsider", 404, 404)],
)
def test_who_sees_an_input_and_sets_gold(client, request, project, concepts, who, page, gold):
    input = InputFactory(project=project)
    client.force_login(request.getfixturevalue(who))

    assert client.get(
        reverse("labeling:input_detail", args=[project.id, input.id])
    ).status_code == (page)
    response = client.post(
        reverse("labeling:input_detail", args=[project.id, input.id]),
        {"concepts": [concepts["robin"].id]},
    )
    assert response.status_code == gold
