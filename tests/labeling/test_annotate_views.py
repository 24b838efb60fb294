"""The annotator's pages: label page (full and htmx), submit, skip, undo, stats, history, drafts."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from factories import InputFactory, MembershipFactory, UserFactory

from labeling.models import Annotation, AnnotationDraft, AnnotationStatus, QueueSlot, Role, Skip
from labeling.services.queue import annotation_submit, queue_next, queue_slots_open
from labeling.services.taxonomy import concept_create

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def concepts(project, admin):
    species = concept_create(project=project, name="Species", actor=admin, exclusive=True)
    return {
        "robin": concept_create(project=project, name="Robin", parent=species, actor=admin),
        "sparrow": concept_create(project=project, name="Sparrow", parent=species, actor=admin),
    }


def queued_input(project):
    input = InputFactory(project=project)
    queue_slots_open(input=input, overlap=project.overlap)
    return input


@pytest.fixture
def input(project, concepts):
    return queued_input(project)


@pytest.fixture
def bob(project):
    user = UserFactory(username="bob_annotator")
    MembershipFactory(project=project, user=user, role=Role.ANNOTATOR)
    return user


@pytest.fixture
def anna(client, annotator):
    client.force_login(annotator)
    return client


def url(name: str, project, **kwargs) -> str:
    return reverse(f"labeling:{name}", kwargs={"project_id": project.id, **kwargs})


def labeled(project, user, input, concept) -> Annotation:
    return annotation_submit(
        project=project, user=user, input=input, concept_ids=[concept.id]
    ).annotation


# ---------------------------------------------------------------------------- label page


@pytest.mark.parametrize("who", ["annotator", "admin"])
def test_labelers_see_the_label_page_with_an_input_leased_to_them(
    client, request, project, input, who
):
    user = request.getfixturevalue(who)
    client.force_login(user)

    response = client.get(url("label", project))

    assert response.status_code == 200
    html = response.content.decode()
    assert "<html" in html
    assert f'data-input="{input.id}"' in html
    assert "Robin" in html and "Sparrow" in html
    assert QueueSlot.objects.get(input=input).leased_to == user


def test_a_reviewer_only_member_may_not_label(client, project, reviewer, input):
    client.force_login(reviewer)

    response = client.get(url("label", project))

    assert response.status_code == 403
    assert QueueSlot.objects.get(input=input).leased_to is None


def test_an_outsider_does_not_see_the_label_page(client, project, outsider, input):
    client.force_login(outsider)

    assert client.get(url("label", project)).status_code == 404


def test_an_anonymous_visitor_is_sent_to_log_in(client, project):
    response = client.get(url("label", project))

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_htmx_request_gets_only_the_task_partial(anna, project, input):
    response = anna.get(url("label", project), **HTMX)

    html = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in html
    assert html.lstrip().startswith('<div id="task"')
    assert f'data-input="{input.id}"' in html


def test_empty_queue_says_so(anna, project, concepts):
    response = anna.get(url("label", project))

    assert 'id="queue-empty"' in response.content.decode()


def test_choices_show_their_shortcut_keys(anna, project, input):
    html = anna.get(url("label", project), **HTMX).content.decode()

    assert "<kbd>1</kbd><span>Robin</span>" in html
    assert "<kbd>2</kbd><span>Sparrow</span>" in html


# ---------------------------------------------------------------------------- submit


def test_submit_saves_the_labels_and_serves_the_next_input(
    anna, project, annotator, input, concepts
):
    following = queued_input(project)
    anna.get(url("label", project))
    held = QueueSlot.objects.get(leased_to=annotator).input
    nxt = following if held == input else input

    response = anna.post(
        url("label_submit", project, input_id=held.id),
        {
            "concepts": [str(concepts["robin"].id)],
            "client_token": "t-1",
            "time_spent_ms": "1500",
            "versions": f"{concepts['robin'].id}:2",
        },
        **HTMX,
    )

    assert response.status_code == 200
    assert f'data-input="{nxt.id}"' in response.content.decode()
    annotation = Annotation.objects.get(author=annotator)
    assert (annotation.input, annotation.time_spent_ms) == (held, 1500)
    assert annotation.dictionary_versions == {str(concepts["robin"].id): 2}
    assert list(annotation.labels.values_list("concept_id", flat=True)) == [concepts["robin"].id]


def test_the_same_form_posted_twice_makes_one_annotation(anna, project, input, concepts):
    anna.get(url("label", project))
    form = {"concepts": [str(concepts["robin"].id)], "client_token": "same"}

    anna.post(url("label_submit", project, input_id=input.id), form, **HTMX)
    response = anna.post(url("label_submit", project, input_id=input.id), form, **HTMX)

    assert response.status_code == 200
    assert "Already submitted." in response.content.decode()
    assert Annotation.objects.count() == 1


def test_submit_with_bad_labels_is_refused_with_the_message(anna, project, input, concepts):
    anna.get(url("label", project))

    response = anna.post(
        url("label_submit", project, input_id=input.id),
        {"concepts": [str(concepts["robin"].id), str(concepts["sparrow"].id)]},
        **HTMX,
    )

    assert response.status_code == 422
    html = response.content.decode()
    assert 'id="task-error"' in html
    assert "pick one" in html
    assert f'data-input="{input.id}"' in html  # the same input, to correct
    assert not Annotation.objects.exists()


def test_submit_without_any_label_is_refused(anna, project, input):
    response = anna.post(url("label_submit", project, input_id=input.id), {"concepts": ["x"]})

    assert response.status_code == 422
    assert "Pick at least one label" in response.content.decode()


def test_submit_of_another_projects_input_in_my_project_url_is_404(
    anna, project, other_project, concepts
):
    foreign = queued_input(other_project)

    response = anna.post(
        url("label_submit", project, input_id=foreign.id),
        {"concepts": [str(concepts["robin"].id)]},
    )

    assert response.status_code == 404
    assert not Annotation.objects.exists()


def test_submit_needs_post(anna, project, input):
    assert anna.get(url("label_submit", project, input_id=input.id)).status_code == 405


@pytest.mark.parametrize(("who", "status"), [("reviewer", 403), ("outsider", 404)])
def test_non_labelers_cannot_submit(client, request, project, input, concepts, who, status):
    client.force_login(request.getfixturevalue(who))

    response = client.post(
        url("label_submit", project, input_id=input.id), {"concepts": [str(concepts["robin"].id)]}
    )

    assert response.status_code == status
    assert not Annotation.objects.exists()


def test_a_lost_lease_is_reported_and_kept_as_a_draft(
    anna, project, annotator, bob, input, concepts
):
    queue_next(project=project, user=annotator)
    QueueSlot.objects.filter(input=input).update(
        leased_to=bob, leased_until=timezone.now() + timedelta(minutes=5)
    )

    response = anna.post(
        url("label_submit", project, input_id=input.id),
        {"concepts": [str(concepts["robin"].id)]},
        **HTMX,
    )

    assert response.status_code == 200
    assert "another annotator took it" in response.content.decode()
    assert AnnotationDraft.objects.get(user=annotator).concept_ids == [concepts["robin"].id]


# ---------------------------------------------------------------------------- skip


def test_skip_passes_on_the_input(anna, project, annotator, input):
    anna.get(url("label", project))

    response = anna.post(
        url("label_skip", project, input_id=input.id), {"reason": " Not sure "}, **HTMX
    )

    html = response.content.decode()
    assert response.status_code == 200
    assert "Skipped." in html and 'id="queue-empty"' in html
    assert Skip.objects.get(user=annotator, input=input).reason == "Not sure"
    assert QueueSlot.objects.get(input=input).leased_to is None


def test_skip_of_another_projects_input_is_404(anna, project, other_project):
    foreign = queued_input(other_project)

    assert anna.post(url("label_skip", project, input_id=foreign.id)).status_code == 404
    assert not Skip.objects.exists()


def test_a_reviewer_cannot_skip(client, project, reviewer, input):
    client.force_login(reviewer)

    assert client.post(url("label_skip", project, input_id=input.id)).status_code == 403


# ---------------------------------------------------------------------------- undo


def test_undo_brings_the_last_input_back_with_its_labels_checked(
    anna, project, annotator, input, concepts
):
    labeled(project, annotator, input, concepts["sparrow"])

    response = anna.post(url("label_undo", project), **HTMX)

    html = response.content.decode()
    assert response.status_code == 200
    assert "Undone — your earlier labels are selected" in html
    assert f'data-input="{input.id}"' in html
    assert f'value="{concepts["sparrow"].id}" checked' in html
    assert not Annotation.objects.exists()


def test_undo_with_nothing_to_undo_says_so(anna, project, input):
    response = anna.post(url("label_undo", project), **HTMX)

    assert response.status_code == 200
    assert "Nothing to undo." in response.content.decode()


def test_undo_needs_post_and_a_labeler(client, project, reviewer):
    client.force_login(reviewer)

    assert client.get(url("label_undo", project)).status_code == 405
    assert client.post(url("label_undo", project)).status_code == 403


# ---------------------------------------------------------------------------- stats


def test_stats_count_my_annotations_today_and_the_open_slots(
    anna, project, annotator, input, concepts
):
    queued_input(project)
    labeled(project, annotator, input, concepts["robin"])

    html = anna.get(url("label_stats", project), **HTMX).content.decode()

    assert "<strong>1</strong> done today" in html
    assert "<strong>1</strong> left for you" in html


@pytest.mark.parametrize(("who", "status"), [("reviewer", 403), ("outsider", 404)])
def test_stats_are_for_labelers_only(client, request, project, who, status):
    client.force_login(request.getfixturevalue(who))

    assert client.get(url("label_stats", project)).status_code == status


# ---------------------------------------------------------------------------- my annotations


def test_history_lists_only_my_annotations(anna, project, annotator, bob, concepts):
    mine = queued_input(project)
    theirs = queued_input(project)
    labeled(project, annotator, mine, concepts["robin"])
    labeled(project, bob, theirs, concepts["sparrow"])

    response = anna.get(url("my_annotations", project))

    html = response.content.decode()
    assert response.status_code == 200
    assert f">#{mine.id}</a></td>" in html
    assert f">#{theirs.id}</a></td>" not in html


def test_history_filters_by_status_and_label(anna, project, annotator, concepts):
    robin_input = queued_input(project)
    sparrow_input = queued_input(project)
    labeled(project, annotator, robin_input, concepts["robin"])
    labeled(project, annotator, sparrow_input, concepts["sparrow"])

    by_label = anna.get(url("my_annotations", project), {"concept": concepts["robin"].id})
    by_status = anna.get(url("my_annotations", project), {"status": "pending_review"})

    assert [a.input for a in by_label.context["page"]] == [robin_input]
    assert list(by_status.context["page"]) == []


def test_reviewed_annotations_are_not_editable_in_history(anna, project, annotator, concepts):
    project.review_tiers = 1
    project.save()
    annotation = labeled(project, annotator, queued_input(project), concepts["robin"])
    Annotation.objects.filter(id=annotation.id).update(status=AnnotationStatus.ACCEPTED)

    html = anna.get(url("my_annotations", project)).content.decode()

    assert url("annotation_fix", project, annotation_id=annotation.id) not in html
    assert "reviewed" in html


def test_a_reviewer_has_no_history_page(client, project, reviewer):
    client.force_login(reviewer)

    assert client.get(url("my_annotations", project)).status_code == 403


# ---------------------------------------------------------------------------- fix


def test_fix_changes_the_labels_of_my_open_annotation(anna, project, annotator, input, concepts):
    annotation = labeled(project, annotator, input, concepts["robin"])

    response = anna.post(
        url("annotation_fix", project, annotation_id=annotation.id),
        {"concepts": [str(concepts["sparrow"].id)]},
        follow=True,
    )

    assert response.redirect_chain[-1][0] == url("my_annotations", project)
    assert f"Annotation of input {input.id} updated." in response.content.decode()
    labels = list(annotation.labels.values_list("concept_id", flat=True))
    assert labels == [concepts["sparrow"].id]


def test_fix_with_bad_labels_shows_the_error(anna, project, annotator, input, concepts):
    annotation = labeled(project, annotator, input, concepts["robin"])

    response = anna.post(
        url("annotation_fix", project, annotation_id=annotation.id), {"concepts": []}, follow=True
    )

    assert "Pick at least one label" in response.content.decode()
    labels = list(annotation.labels.values_list("concept_id", flat=True))
    assert labels == [concepts["robin"].id]


def test_fix_of_someone_elses_annotation_is_404(anna, project, bob, input, concepts):
    annotation = labeled(project, bob, input, concepts["robin"])

    response = anna.post(
        url("annotation_fix", project, annotation_id=annotation.id),
        {"concepts": [str(concepts["sparrow"].id)]},
    )

    assert response.status_code == 404
    labels = list(annotation.labels.values_list("concept_id", flat=True))
    assert labels == [concepts["robin"].id]


# ---------------------------------------------------------------------------- drafts


def test_draft_resubmit_creates_the_annotation(anna, project, annotator, input, concepts):
    draft = AnnotationDraft.objects.create(
        project=project, input=input, user=annotator, concept_ids=[concepts["robin"].id]
    )

    response = anna.post(url("draft_submit", project, draft_id=draft.id), follow=True)

    assert f"Draft for input {input.id} submitted." in response.content.decode()
    assert Annotation.objects.get(author=annotator).input == input
    assert not AnnotationDraft.objects.exists()


def test_draft_resubmit_while_the_input_is_taken_keeps_the_draft(
    anna, project, annotator, bob, input, concepts
):
    labeled(project, bob, input, concepts["sparrow"])
    draft = AnnotationDraft.objects.create(
        project=project, input=input, user=annotator, concept_ids=[concepts["robin"].id]
    )

    response = anna.post(url("draft_submit", project, draft_id=draft.id), follow=True)

    assert "still taken by others" in response.content.decode()
    assert AnnotationDraft.objects.filter(id=draft.id).exists()
    assert not Annotation.objects.filter(author=annotator).exists()


def test_history_lists_my_drafts(anna, project, annotator, input, concepts):
    draft = AnnotationDraft.objects.create(
        project=project, input=input, user=annotator, concept_ids=[concepts["robin"].id]
    )

    html = anna.get(url("my_annotations", project)).content.decode()

    assert url("draft_submit", project, draft_id=draft.id) in html


def test_someone_elses_draft_is_404(anna, project, bob, input, concepts):
    draft = AnnotationDraft.objects.create(
        project=project, input=input, user=bob, concept_ids=[concepts["robin"].id]
    )

    assert anna.post(url("draft_submit", project, draft_id=draft.id)).status_code == 404
    assert not Annotation.objects.exists()
