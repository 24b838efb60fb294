"""Routing on real digit images: the live version labels what it is sure of, suggests what it
doubts, leaves the rest to annotators; spot checks, superseding, rollback, and review."""

import numpy as np
import pytest
from factories import annotation_with_labels

from labeling.models import (
    Annotation,
    AnnotationSource,
    AnnotationStatus,
    Concept,
    Input,
    InputStatus,
    QueueSlot,
    ReviewDecision,
)
from labeling.review_rules import draw
from labeling.services.errors import ServiceError
from labeling.services.review import review_decide
from training.models import ModelVersion
from training.selectors import auto_label_precision
from training.services.embeddings import embeddings_compute, embeddings_load
from training.services.routing import version_rollback
from training.services.versions import (
    model_router_ensure,
    version_head,
    version_promote,
    version_queue,
    version_train,
)
from workflows.services.routing import version_route

pytestmark = pytest.mark.django_db
Status = AnnotationStatus
FAST = {"steps": 60, "learning_rate": 0.05}


def live_project(digits_project, admin, *, spot_check_rate=0.0, count=150):
    """A project whose first version is live; its unlabeled inputs are the candidates."""
    project, concepts, items = digits_project(classes=3, count=count, labeled=0.6)
    project.spot_check_rate = spot_check_rate
    project.save(update_fields=["spot_check_rate"])
    embeddings_compute(project_id=project.id)
    model = model_router_ensure(project=project)
    model.params = FAST
    model.save(update_fields=["params"])
    version = version_train(version_id=version_queue(model=model, actor=admin).id)
    assert version.status == ModelVersion.Status.READY, version.error
    model.refresh_from_db()
    assert model.active_version == version
    unlabeled = [i for i, _ in items if i.status == InputStatus.UNLABELED]
    return project, model, version, unlabeled


def top_scores(version, inputs) -> dict[int, tuple[int, float]]:
    """Input id → (concept the version puts first, its probability)."""
    ids, features = embeddings_load([i.id for i in inputs])
    head = version_head(version)
    probs = head.probabilities(features)
    concept_ids = head.layout.concept_ids
    return {
        input_id: (concept_ids[int(row.argmax())], float(row.max()))
        for input_id, row in zip(ids, probs, strict=True)
    }


def set_threshold(version, threshold: float) -> None:
    """The same threshold for every concept of the version."""
    thresholds = {c: {**t, "threshold": threshold} for c, t in version.thresholds.items()}
    ModelVersion.objects.filter(id=version.id).update(thresholds=thresholds)
    version.thresholds = thresholds


def three_bands(project, version, inputs) -> tuple[float, dict[int, str]]:
    """Pick a threshold and doubt band that put about a third of the inputs in each band;
    returns the threshold and each input's band as the routing rule defines it."""
    scores = top_scores(version, inputs)
    levels = np.unique([p for _, p in scores.values()])
    assert len(levels) >= 6, "the scores are too alike to make three bands"

    def between(k: int) -> float:
        return float((levels[k - 1] + levels[k]) / 2)

    threshold = between(2 * len(levels) // 3)
    project.doubt_band = threshold - between(len(levels) // 3)
    project.save(update_fields=["doubt_band"])
    set_threshold(version, threshold)
    bands = {}
    for input_id, (_, p) in scores.items():
        if p >= threshold:
            bands[input_id] = "auto"
        elif p >= threshold - project.doubt_band:
            bands[input_id] = "doubt"
        else:
            bands[input_id] = "low"
    return threshold, bands


def open_slots(input_id: int) -> int:
    return QueueSlot.objects.filter(input_id=input_id, annotation__isnull=True).count()


def model_annotations(version, **filters):
    return Annotation.objects.filter(
        model_version=version, source=AnnotationSource.MODEL, **filters
    )


def ready_copy(version) -> ModelVersion:
    """Another ready version of the same model (same head), not promoted."""
    return ModelVersion.objects.create(
        model=version.model,
        number=version.number + 1,
        status=ModelVersion.Status.READY,
        layout=version.layout,
        head=bytes(version.head),
        metrics=version.metrics,
        thresholds=version.thresholds,
    )


# ---------------------------------------------------------------------------- routing


def test_sure_inputs_are_labeled_doubtful_ones_suggested_and_the_rest_left_alone(
    digits_project, admin
):
    project, model, version, unlabeled = live_project(digits_project, admin)
    threshold, bands = three_bands(project, version, unlabeled)
    scores = top_scores(version, unlabeled)
    assert {"auto", "doubt", "low"} <= set(bands.values())
    assert all(open_slots(i.id) == 1 for i in unlabeled)

    tally = version_route(version_id=version.id)

    assert tally["status"] == "done"
    assert tally["total"] == len(unlabeled)
    for band in ("auto", "doubt", "low"):
        assert tally[band] == sum(1 for b in bands.values() if b == band)
    assert tally["spot_checks"] == 0
    for input in unlabeled:
        input.refresh_from_db()
        written = list(model_annotations(version, input=input).prefetch_related("labels"))
        top, p = scores[input.id]
        if bands[input.id] == "low":
            assert written == []
            assert input.status == InputStatus.UNLABELED
            assert open_slots(input.id) == 1
            continue
        (annotation,) = written
        (label,) = annotation.labels.all()
        assert label.concept_id == top
        assert label.confidence == pytest.approx(round(p, 4))
        assert annotation.model_band == bands[input.id]
        assert open_slots(input.id) == 0
        if bands[input.id] == "auto":
            assert annotation.status == Status.ACCEPTED
            assert annotation.review_tier == 0
            assert input.status == InputStatus.LABELED
            assert annotation.provenance == {
                "version": version.number,
                "model": model.name,
                "scores": {str(top): round(p, 4)},
                "thresholds": {str(top): threshold},
                "spot_check": False,
            }
        else:
            assert annotation.status == Status.PENDING_REVIEW
            assert annotation.review_tier == 1
            assert input.status == InputStatus.IN_REVIEW


def test_given_every_auto_label_is_spot_checked_then_all_wait_for_review(digits_project, admin):
    project, model, version, unlabeled = live_project(digits_project, admin, spot_check_rate=1.0)
    set_threshold(version, 0.0)  # everything is sure

    tally = version_route(version_id=version.id)

    assert tally["auto"] == tally["spot_checks"] == len(unlabeled)
    annotations = model_annotations(version)
    assert annotations.count() == len(unlabeled)
    assert not annotations.exclude(status=Status.PENDING_REVIEW).exists()
    assert not annotations.exclude(review_tier=1).exists()
    assert all(a.provenance["spot_check"] is True for a in annotations)
    assert all(a.model_band == "auto" for a in annotations)
    assert not Input.objects.filter(id__in=[i.id for i in unlabeled]).exclude(
        status=InputStatus.IN_REVIEW
    )


def test_given_no_spot_checks_then_no_auto_label_waits_for_review(digits_project, admin):
    project, model, version, unlabeled = live_project(digits_project, admin, spot_check_rate=0.0)
    set_threshold(version, 0.0)

    tally = version_route(version_id=version.id)

    assert tally["auto"] == len(unlabeled)
    assert tally["spot_checks"] == 0
    assert model_annotations(version, status=Status.ACCEPTED).count() == len(unlabeled)
    assert not model_annotations(version, status=Status.PENDING_REVIEW).exists()


def test_given_a_version_that_is_not_live_then_routing_is_skipped(digits_project, admin):
    project, model, version, unlabeled = live_project(digits_project, admin)
    other = ready_copy(version)
    set_threshold(other, 0.0)

    result = version_route(version_id=other.id)

    assert result["status"] == "skipped"
    assert not Annotation.objects.filter(source=AnnotationSource.MODEL).exists()
    assert all(open_slots(i.id) == 1 for i in unlabeled)


def test_given_a_person_s_annotation_waits_then_the_model_leaves_the_input_alone(
    digits_project, admin, annotator
):
    project, model, version, unlabeled = live_project(digits_project, admin)
    set_threshold(version, 0.0)
    taken = unlabeled[0]
    concept = Concept.objects.get(project=project, name="1")
    waiting = annotation_with_labels(input=taken, concepts=[concept], status=Status.PENDING_REVIEW)
    Annotation.objects.filter(id=waiting.id).update(author=annotator)

    tally = version_route(version_id=version.id)

    assert tally["total"] == len(unlabeled) - 1
    assert not model_annotations(version, input=taken).exists()
    assert model_annotations(version).count() == len(unlabeled) - 1
    waiting.refresh_from_db()
    assert waiting.status == Status.PENDING_REVIEW


def test_a_newly_promoted_version_supersedes_the_old_one_s_suggestions(digits_project, admin):
    project, model, first, unlabeled = live_project(digits_project, admin)
    _, bands = three_bands(project, first, unlabeled)
    version_route(version_id=first.id)
    doubted = [i for i, b in bands.items() if b == "doubt"]
    auto = [i for i, b in bands.items() if b == "auto"]
    assert doubted and auto

    second = version_promote(version=ready_copy(first), actor=admin)
    version_route(version_id=second.id)

    old = model_annotations(first, input_id__in=doubted)
    assert old.count() == len(doubted)
    assert not old.exclude(status=Status.SUPERSEDED).exists()
    new = model_annotations(second, input_id__in=doubted)
    assert set(new.values_list("input_id", flat=True)) == set(doubted)
    assert not new.exclude(status=Status.PENDING_REVIEW).exists()
    # labels the first version wrote are not the second one's to replace
    assert model_annotations(first, status=Status.ACCEPTED).count() == len(auto)
    assert not model_annotations(second, input_id__in=auto).exists()


def test_routing_the_same_version_again_leaves_one_suggestion_per_input(digits_project, admin):
    project, model, version, unlabeled = live_project(digits_project, admin, spot_check_rate=0.5)
    _, bands = three_bands(project, version, unlabeled)
    first = version_route(version_id=version.id)
    waiting = model_annotations(version, status=Status.PENDING_REVIEW)
    before = sorted(waiting.values_list("input_id", flat=True))
    assert before and len(before) == len(set(before))

    version_route(version_id=version.id)  # the task delivered a second time

    after = sorted(waiting.values_list("input_id", flat=True))
    assert after == before
    assert model_annotations(version).count() == first["auto"] + first["doubt"]


# ---------------------------------------------------------------------------- rollback


def test_rolling_back_takes_every_label_back_and_the_earlier_version_goes_live(
    digits_project, admin
):
    project, model, first, unlabeled = live_project(digits_project, admin)
    _, bands = three_bands(project, first, unlabeled)
    version_route(version_id=first.id)
    kept = model_annotations(first, status=Status.ACCEPTED).count()
    second = version_promote(version=ready_copy(first), actor=admin)
    set_threshold(second, 0.0)
    expected = {i for i, b in bands.items() if b != "auto"}
    # a spot-check rate between the inputs' draws: some are checked, some are not
    draws = sorted(draw(i, -second.id) for i in expected)
    project.spot_check_rate = (draws[0] + draws[-1]) / 2
    project.save(update_fields=["spot_check_rate"])
    version_route(version_id=second.id)
    routed = set(model_annotations(second).values_list("input_id", flat=True))
    assert routed == expected
    assert model_annotations(second, status=Status.PENDING_REVIEW).exists()
    assert model_annotations(second, status=Status.ACCEPTED).exists()

    taken = version_rollback(version=second, actor=admin)

    assert taken.taken_back == len(routed) and taken.kept == 0
    assert not model_annotations(second).exclude(status=Status.REJECTED).exists()
    for input in Input.objects.filter(id__in=routed):
        assert input.status == InputStatus.UNLABELED
        assert open_slots(input.id) == 1
    model.refresh_from_db()
    assert model.active_version == first
    second.refresh_from_db()
    assert second.rolled_back_at is not None
    assert model_annotations(first, status=Status.ACCEPTED).count() == kept


def test_rolling_back_the_only_live_version_leaves_no_live_version(digits_project, admin):
    project, model, version, unlabeled = live_project(digits_project, admin)
    set_threshold(version, 0.0)
    version_route(version_id=version.id)

    assert version_rollback(version=version, actor=admin).taken_back == len(unlabeled)

    model.refresh_from_db()
    assert model.active_version is None
    assert all(open_slots(i.id) == 1 for i in unlabeled)


def test_a_version_that_never_went_live_cannot_be_rolled_back(digits_project, admin):
    project, model, version, unlabeled = live_project(digits_project, admin)
    version_route(version_id=version.id)
    never = ready_copy(version)
    before = list(Annotation.objects.values_list("id", "status").order_by("id"))

    with pytest.raises(ServiceError, match="never went live"):
        version_rollback(version=never, actor=admin)

    assert list(Annotation.objects.values_list("id", "status").order_by("id")) == before
    model.refresh_from_db()
    assert model.active_version == version


def test_rolling_back_keeps_what_a_reviewer_approved_and_records_who_took_the_rest(
    digits_project, admin, reviewer
):
    # given: a live version whose labels a reviewer partly confirmed: one spot check of an
    # automatic label and one doubtful suggestion approved, the rest untouched
    project, model, version, unlabeled = live_project(digits_project, admin, count=210)
    _, bands = three_bands(project, version, unlabeled)
    project.spot_check_rate = 0.5
    project.save(update_fields=["spot_check_rate"])
    version_route(version_id=version.id)
    waiting = model_annotations(version, status=Status.PENDING_REVIEW)
    spot = waiting.filter(model_band="auto").first()
    suggestion = waiting.filter(model_band="doubt").first()
    assert spot is not None and suggestion is not None
    review_decide(annotation=spot, reviewer=reviewer, action="approve")
    review_decide(annotation=suggestion, reviewer=reviewer, action="approve")
    standing = model_annotations(version, status__in=[Status.ACCEPTED, Status.PENDING_REVIEW])
    auto_total = standing.filter(model_band="auto").count()
    doubt_total = standing.filter(model_band="doubt").count()
    # approving a suggestion may send it to a further tier; it is confirmed all the same
    confirmed = {spot.id, suggestion.id}

    # when
    counts = version_rollback(version=version, actor=admin)

    # then: the confirmed labels stand, the others are taken back, each with an audit entry
    assert (counts.automatic, counts.suggestions, counts.kept) == (
        auto_total - 1,
        doubt_total - 1,
        2,
    )
    for annotation in Annotation.objects.filter(id__in=confirmed):
        assert annotation.status in (Status.ACCEPTED, Status.PENDING_REVIEW)
    taken = model_annotations(version).exclude(id__in=confirmed)
    assert set(taken.values_list("status", flat=True)) <= {Status.REJECTED, Status.SUPERSEDED}
    entries = ReviewDecision.objects.filter(action=ReviewDecision.Action.ROLLBACK)
    assert entries.count() == counts.taken_back
    entry = entries.first()
    assert entry.reviewer == admin
    assert f"v{version.number}" in entry.reason and admin.username in entry.reason
    accepted_input = Input.objects.get(id=spot.input_id)
    assert accepted_input.status == InputStatus.LABELED
    # the rollback's entries are not spot checks: the measured precision is unchanged
    assert auto_label_precision(project, version).checked == 1
    version.refresh_from_db()
    assert version.routing["rolled_back_kept"] == 2


# ---------------------------------------------------------------------------- review


def spot_checked(digits_project, admin):
    project, model, version, unlabeled = live_project(digits_project, admin, spot_check_rate=1.0)
    set_threshold(version, 0.0)
    version_route(version_id=version.id)
    return project, version, list(model_annotations(version).order_by("id"))


def test_approving_spot_checks_accepts_them_and_counts_as_confirmed(
    digits_project, admin, reviewer
):
    project, version, waiting = spot_checked(digits_project, admin)
    assert auto_label_precision(project).checked == 0

    review_decide(annotation=waiting[0], reviewer=reviewer, action="approve")
    review_decide(annotation=waiting[1], reviewer=admin, action="approve")

    for annotation in waiting[:2]:
        annotation.refresh_from_db()
        assert annotation.status == Status.ACCEPTED
        assert annotation.input.status == InputStatus.LABELED
    spot = auto_label_precision(project)
    assert (spot.checked, spot.confirmed, spot.precision) == (2, 2, 1.0)
    assert auto_label_precision(project, version).checked == 2


def test_rejecting_a_spot_check_lowers_the_precision_and_requeues_the_input(
    digits_project, admin, reviewer
):
    project, version, waiting = spot_checked(digits_project, admin)
    approved, rejected = waiting[0], waiting[1]
    review_decide(annotation=approved, reviewer=reviewer, action="approve")

    review_decide(annotation=rejected, reviewer=reviewer, action="reject", reason="It is a 2")

    rejected.refresh_from_db()
    assert rejected.status == Status.REJECTED
    input = Input.objects.get(id=rejected.input_id)
    assert input.status == InputStatus.UNLABELED
    assert open_slots(input.id) == project.overlap
    spot = auto_label_precision(project)
    assert (spot.checked, spot.confirmed, spot.precision) == (2, 1, 0.5)


def test_given_the_new_version_is_unsure_then_superseded_suggestions_go_back_to_annotators(
    digits_project, admin
):
    project, model, first, unlabeled = live_project(digits_project, admin)
    _, bands = three_bands(project, first, unlabeled)
    version_route(version_id=first.id)
    doubted = [i for i, b in bands.items() if b == "doubt"]
    second = version_promote(version=ready_copy(first), actor=admin)
    set_threshold(second, 2.0)  # out of reach, and far above the doubt band: all low

    tally = version_route(version_id=second.id)

    assert tally["low"] == tally["total"]
    assert not model_annotations(first, input_id__in=doubted).exclude(status=Status.SUPERSEDED)
    for input in Input.objects.filter(id__in=doubted):
        assert input.status == InputStatus.UNLABELED
        assert open_slots(input.id) == 1
