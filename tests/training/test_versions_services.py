"""Training runs on real digit images: one run at a time, failures that say why, promotion
only when not worse, idempotent restarts, stale runs, and what a model may learn from."""

from datetime import timedelta

import pytest
from digits import label_input
from django.db import IntegrityError, transaction
from django.utils import timezone
from factories import InputFactory

import training.services.versions as versions
from labeling.models import (
    Annotation,
    AnnotationLabel,
    AnnotationSource,
    AnnotationStatus,
    Split,
)
from labeling.services.errors import ServiceError
from labeling.services.review import review_decide
from labeling.services.taxonomy import concept_create
from training.model_types import context_classifier
from training.models import Embedding, MLModel, ModelVersion
from training.selectors import (
    labeled_examples,
    threshold_view,
    trusted_label_count,
    version_report,
)
from training.services.embeddings import embeddings_compute
from training.services.versions import (
    model_create,
    model_router_ensure,
    version_promote,
    version_queue,
    version_train,
    versions_fail_stale,
)

pytestmark = pytest.mark.django_db
Status = ModelVersion.Status
# Fewer, bigger steps than the default: the digits separate well and the suite stays quick.
FAST = {"steps": 60, "learning_rate": 0.05}


def embedded_project(digits_project, *, count=150, labeled=0.6):
    project, concepts, items = digits_project(classes=3, count=count, labeled=labeled)
    embeddings_compute(project_id=project.id)
    model = model_router_ensure(project=project)
    model.params = FAST
    model.save(update_fields=["params"])
    return project, concepts, items, model


def train(model, actor, **kwargs) -> ModelVersion:
    return version_train(version_id=version_queue(model=model, actor=actor, **kwargs).id)


def live_project(digits_project, admin, **kwargs):
    project, concepts, items, model = embedded_project(digits_project, **kwargs)
    version = train(model, admin)
    assert version.status == Status.READY, version.error
    model.refresh_from_db()
    assert model.active_version == version
    return project, concepts, items, model, version


def labeled_in(items, concepts, split):
    """(input, digit) of the inputs that carry an accepted label, in one split."""
    return [
        (input, digit)
        for input, digit in items
        if input.split == split
        and Annotation.objects.filter(input=input, status=AnnotationStatus.ACCEPTED).exists()
    ]


# ---------------------------------------------------------------------------- queueing


def test_given_a_queued_run_then_a_second_is_refused_and_the_database_backs_it(project, admin):
    model = model_router_ensure(project=project)
    first = version_queue(model=model, actor=admin)

    with pytest.raises(ServiceError, match="already queued"):
        version_queue(model=model, actor=admin)
    assert model.versions.count() == 1

    for status in (Status.QUEUED, Status.TRAINING):
        with pytest.raises(IntegrityError), transaction.atomic():
            ModelVersion.objects.create(model=model, number=2, status=status)
    assert model.versions.count() == 1

    # once the run is over, the next one may be queued
    ModelVersion.objects.filter(id=first.id).update(status=Status.FAILED)
    assert version_queue(model=model, actor=admin).number == 2


def test_given_an_embedder_then_it_cannot_be_trained(project, admin):
    embedder = model_create(
        project=project, name="Vectors", type="embedder", params=None, actor=admin
    )

    with pytest.raises(ServiceError, match="nothing to train"):
        version_queue(model=embedder, actor=admin)
    assert not embedder.versions.exists()


# ---------------------------------------------------------------------------- model_create


@pytest.mark.parametrize(
    "name, type, params, message",
    [
        ("Odd", "no-such-type", None, "Unknown model type"),
        ("Deep", "deep-classifier", {"image_size": 32}, "image_size must be between 64"),
        ("Deep", "deep-classifier", {"freeze_stages": 8}, "freeze_stages must be between"),
        ("Head", "context-classifier", {"depth": 3}, "Unknown parameters"),
        ("Head", "context-classifier", {"steps": 5}, "steps must be between"),
        ("Head", "context-classifier", {"steps": 100.5}, "whole number"),
        ("Head", "context-classifier", {"learning_rate": "fast"}, "must be a number"),
        ("Head", "context-classifier", {"hidden": True}, "must be a number"),
        ("Head", "context-classifier", {"weight_decay": float("nan")}, "finite"),
        ("   ", "context-classifier", None, "Give the model a name"),
        ("Classifier", "context-classifier", None, "already has a model called"),
    ],
)
def test_given_bad_model_settings_then_model_create_refuses(
    project, admin, name, type, params, message
):
    model_router_ensure(project=project)  # takes the name "Classifier"

    with pytest.raises(ServiceError, match=message):
        model_create(project=project, name=name, type=type, params=params, actor=admin)
    assert MLModel.objects.filter(project=project).count() == 1


def test_given_good_settings_then_model_create_fills_in_the_defaults(project, admin):
    model = model_create(
        project=project,
        name="  Wide head ",
        type="context-classifier",
        params={"hidden": 64, "steps": 500},
        actor=admin,
    )

    assert model.name == "Wide head"
    assert model.params == {
        "hidden": 64,
        "steps": 500,
        "learning_rate": 0.01,
        "weight_decay": 1e-3,
        "batch_size": 4096,
        "crops": 0,
    }
    assert not model.routes


# ---------------------------------------------------------------------------- training


@pytest.mark.parametrize(
    "split, message",
    [
        (Split.TRAIN, "No labeled inputs in the eval split"),
        (Split.EVAL, "Not enough labeled inputs in the train split: 0."),
    ],
)
def test_given_too_few_labels_then_the_run_fails_saying_why_and_the_live_one_stays(
    digits_project, admin, split, message
):
    project, concepts, items, model, live = live_project(digits_project, admin)
    only = [input.id for input, _ in labeled_in(items, concepts, split)]
    assert only

    version = train(model, admin, input_ids=only)

    version.refresh_from_db()
    assert version.status == Status.FAILED
    assert message in version.error
    assert version.stage == "Failed"
    assert not version.head
    model.refresh_from_db()
    assert model.active_version == live


def test_given_labels_waiting_for_their_embedding_then_the_failure_says_so(digits_project, admin):
    project, concepts, items, model = embedded_project(digits_project, count=30, labeled=1.0)
    Embedding.objects.filter(input__split=Split.TRAIN).delete()
    waiting = sum(1 for input, _ in items if input.split == Split.TRAIN)

    version = train(model, admin)

    assert version.status == Status.FAILED
    assert f"Not enough labeled inputs in the train split: 0 ({waiting} wait" in version.error


def relabel_wrongly(items, concepts, split):
    """A later import says every labeled input of the split is the next digit (0→1, 1→2...)."""
    for input, digit in labeled_in(items, concepts, split):
        label_input(input, concepts[(digit + 1) % len(concepts)])


def test_given_a_worse_version_then_it_is_ready_but_not_promoted_and_says_why(
    digits_project, admin
):
    project, concepts, items, model, live = live_project(digits_project, admin)
    relabel_wrongly(items, concepts, Split.TRAIN)  # the eval labels stay right

    worse = train(model, admin)

    assert worse.status == Status.READY, worse.error
    assert worse.promoted_at is None
    model.refresh_from_db()
    assert model.active_version == live
    promotion = worse.promotion
    assert promotion["promoted"] is False
    assert promotion["compared_with"] == live.number
    assert promotion["ours"] < promotion["theirs"] - versions.PROMOTION_TOLERANCE
    assert promotion["theirs"] > 0.8
    assert f"{promotion['ours']:.3f}" in promotion["reason"]
    assert f"{promotion['theirs']:.3f}" in promotion["reason"]
    assert promotion["reason"].startswith("Not promoted")


def test_given_an_equally_good_version_then_it_goes_live_naming_both_numbers(digits_project, admin):
    project, concepts, items, model, first = live_project(digits_project, admin)

    second = train(model, admin)

    model.refresh_from_db()
    assert model.active_version == second
    assert second.promotion["promoted"] is True
    assert second.promotion["compared_with"] == first.number
    assert f"{second.promotion['theirs']:.3f}" in second.promotion["reason"]
    assert second.routing == {"status": "queued"}


def test_promoting_by_hand_makes_a_ready_version_live_and_refuses_the_rest(digits_project, admin):
    project, concepts, items, model, live = live_project(digits_project, admin)
    relabel_wrongly(items, concepts, Split.TRAIN)
    worse = train(model, admin)
    assert worse.promotion["promoted"] is False

    promoted = version_promote(version=worse, actor=admin)

    model.refresh_from_db()
    assert model.active_version == worse
    assert promoted.promoted_at is not None
    assert promoted.promotion["promoted"] is True
    assert "by hand" in promoted.promotion["reason"]
    with pytest.raises(ServiceError, match="already live"):
        version_promote(version=worse, actor=admin)

    queued = version_queue(model=model, actor=admin)
    with pytest.raises(ServiceError, match="Only a ready version"):
        version_promote(version=queued, actor=admin)
    ModelVersion.objects.filter(id=queued.id).update(status=Status.FAILED)
    with pytest.raises(ServiceError, match="Only a ready version"):
        version_promote(version=queued, actor=admin)
    model.refresh_from_db()
    assert model.active_version == worse


def test_given_a_finished_run_when_its_task_comes_again_then_nothing_changes(digits_project, admin):
    project, concepts, items, model, ready = live_project(digits_project, admin)
    failed = train(model, admin, input_ids=[])
    assert failed.status == Status.FAILED
    fields = ["status", "attempts", "finished_at", "metrics", "thresholds", "error", "stage"]

    for version in (ready, failed):
        before = ModelVersion.objects.get(id=version.id)

        assert version_train(version_id=version.id) is None

        after = ModelVersion.objects.get(id=version.id)
        assert [getattr(after, f) for f in fields] == [getattr(before, f) for f in fields]
        assert bytes(after.head or b"") == bytes(before.head or b"")
    model.refresh_from_db()
    assert model.active_version == ready


def test_given_a_run_redelivered_too_often_then_it_fails_instead_of_training(
    project, admin, settings
):
    settings.TRAINING_MAX_ATTEMPTS = 2
    model = model_router_ensure(project=project)
    version = version_queue(model=model, actor=admin)
    # the worker died twice mid-run; the broker hands the task over a third time
    ModelVersion.objects.filter(id=version.id).update(status=Status.TRAINING, attempts=2)

    assert version_train(version_id=version.id) is None

    version.refresh_from_db()
    assert version.status == Status.FAILED
    assert version.error.startswith("Stopped after 2 attempts")
    assert version.attempts == 2
    assert version.finished_at is not None


def test_given_a_run_below_the_attempt_limit_then_it_runs_once_more(project, admin, settings):
    settings.TRAINING_MAX_ATTEMPTS = 2
    model = model_router_ensure(project=project)
    version = version_queue(model=model, actor=admin)
    ModelVersion.objects.filter(id=version.id).update(status=Status.TRAINING, attempts=1)

    version = version_train(version_id=version.id)

    assert version.attempts == 2
    assert version.started_at is not None
    assert not version.error.startswith("Stopped after")  # it ran (and found no concepts)
    assert "no concepts" in version.error


# ---------------------------------------------------------------------------- reports


def test_a_ready_version_s_report_names_each_concept_with_its_curve_and_confusion(
    digits_project, admin
):
    project, concepts, items, model, version = live_project(digits_project, admin)
    eval_counts = version.counts["eval_per_concept"]

    report = version_report(version)

    assert [c.name for c in report["concepts"]] == ["0", "1", "2"]
    for concept in report["concepts"]:
        assert concept.pr_points.count(",") >= 2
        assert concept.metrics["support"] == eval_counts[str(concept.concept_id)]
        if concept.tuned["threshold"] is not None:
            assert concept.tuned_point is not None
    (block,) = report["confusions"]
    assert block["names"] == ["0", "1", "2"]
    truth = [sum(n for n, _ in row) for _, row in block["rows"]]
    assert truth == [eval_counts[str(concepts[d].id)] for d in range(3)]
    right = sum(block["rows"][d][1][d][0] for d in range(3))
    assert right == round(version.metrics["accuracy"] * sum(truth))


def test_the_threshold_readout_snaps_to_the_stored_curve(digits_project, admin):
    project, concepts, items, model, version = live_project(digits_project, admin)
    concept_id = concepts[1].id
    curve = version.metrics["concepts"][str(concept_id)]["curve"]

    view = threshold_view(version, concept_id, 0.503)

    assert view.threshold == 0.5
    assert (view.precision, view.recall, view.coverage) == (
        curve["precision"][50],
        curve["recall"][50],
        curve["coverage"][50],
    )
    with pytest.raises(KeyError):
        threshold_view(version, 999_999, 0.5)


def test_the_threshold_readout_at_zero_matches_what_routing_would_label(digits_project, admin):
    project, concepts, items, model, version = live_project(digits_project, admin)
    (block,) = version.metrics["confusion"]
    matrix = block["matrix"]
    evaluated = sum(map(sum, matrix))

    for column, concept_id in enumerate(block["concept_ids"]):
        chosen = sum(row[column] for row in matrix)  # eval inputs where it is the top choice
        view = threshold_view(version, concept_id, 0.0)

        assert view.coverage == pytest.approx(chosen / evaluated, abs=1e-4)
        assert view.precision == pytest.approx(matrix[column][column] / chosen, abs=1e-4)


# ---------------------------------------------------------------------------- stale runs


def test_only_runs_silent_for_longer_than_the_limit_are_failed(project, admin, settings):
    settings.TRAINING_STALE_MINUTES = 10
    now = timezone.now()
    runs = {}
    for name, status, silent in [
        ("Stale", Status.TRAINING, 11),
        ("Slow", Status.TRAINING, 9),
        ("Waiting", Status.QUEUED, None),
    ]:
        model = model_create(
            project=project, name=name, type="context-classifier", params=None, actor=admin
        )
        runs[name] = ModelVersion.objects.create(
            model=model,
            number=1,
            status=status,
            stage="Training the head" if silent else "Waiting for a worker",
            heartbeat_at=now - timedelta(minutes=silent) if silent else None,
        )

    assert versions_fail_stale(now=now) == [runs["Stale"].id]

    statuses = {n: ModelVersion.objects.get(id=v.id) for n, v in runs.items()}
    assert statuses["Stale"].status == Status.FAILED
    assert "stopped reporting" in statuses["Stale"].error
    assert "Training the head" in statuses["Stale"].error
    assert statuses["Slow"].status == Status.TRAINING
    assert statuses["Waiting"].status == Status.QUEUED
    assert versions_fail_stale(now=now) == []


def test_given_a_run_failed_as_stale_while_its_worker_goes_on_then_it_never_comes_back(
    digits_project, admin, monkeypatch
):
    project, concepts, items, model = embedded_project(digits_project, count=90)
    real_train_head = context_classifier.train_head

    def frozen_then_resumed(*args, **kwargs):
        # the worker hung long enough for the scheduler to give up on it, then carries on
        ModelVersion.objects.update(heartbeat_at=timezone.now() - timedelta(hours=1))
        assert versions_fail_stale()
        return real_train_head(*args, **kwargs)

    monkeypatch.setattr(context_classifier, "train_head", frozen_then_resumed)
    version = version_queue(model=model, actor=admin)

    assert version_train(version_id=version.id) is None

    version.refresh_from_db()
    assert version.status == Status.FAILED
    assert "stopped reporting" in version.error
    assert not version.head
    model.refresh_from_db()
    assert model.active_version is None


# ---------------------------------------------------------------------------- training data


def model_annotation(input, concept, *, status) -> Annotation:
    annotation = Annotation.objects.create(
        project=input.project,
        input=input,
        source=AnnotationSource.MODEL,
        status=status,
        review_tier=1 if status == AnnotationStatus.PENDING_REVIEW else 0,
        model_band="auto",
    )
    AnnotationLabel.objects.create(annotation=annotation, concept=concept, confidence=0.97)
    return annotation


def test_a_model_learns_from_its_own_labels_only_once_a_reviewer_approved_them(
    project, admin, reviewer
):
    kind = concept_create(project=project, name="kind", exclusive=True, actor=admin)
    cat = concept_create(project=project, name="cat", parent=kind, actor=admin)
    dog = concept_create(project=project, name="dog", parent=kind, actor=admin)
    imported, unchecked, approved, rejected, overruled = (
        InputFactory(project=project, split=Split.TRAIN) for _ in range(5)
    )
    label_input(imported, cat)
    model_annotation(unchecked, dog, status=AnnotationStatus.ACCEPTED)
    checked = model_annotation(approved, dog, status=AnnotationStatus.PENDING_REVIEW)
    review_decide(annotation=checked, reviewer=reviewer, action="approve")
    turned_down = model_annotation(rejected, cat, status=AnnotationStatus.PENDING_REVIEW)
    review_decide(annotation=turned_down, reviewer=reviewer, action="reject", reason="a dog")
    # a person said cat; the model's later, unchecked label must not override it
    label_input(overruled, cat)
    model_annotation(overruled, dog, status=AnnotationStatus.ACCEPTED)

    examples = labeled_examples(project, split=Split.TRAIN)

    checked.refresh_from_db()
    assert checked.status == AnnotationStatus.ACCEPTED
    assert examples == {imported.id: {cat.id}, approved.id: {dog.id}, overruled.id: {cat.id}}
    assert trusted_label_count(project) == 3
    assert labeled_examples(project, split=Split.EVAL) == {}
