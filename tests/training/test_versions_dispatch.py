"""A training run goes through its model's type: ``version_train`` calls the type's ``train``
and evaluates with its ``predict``, and keeps evaluation, thresholds and promotion shared."""

import dataclasses

import pytest
from django.conf import settings

from training import model_types
from training.model_types import CONTEXT_CLASSIFIER, context_classifier
from training.models import ModelVersion
from training.services.embeddings import embeddings_compute
from training.services.versions import model_router_ensure, version_queue, version_train

pytestmark = pytest.mark.django_db
Status = ModelVersion.Status
FAST = {"steps": 60, "learning_rate": 0.05}


@pytest.fixture
def model(digits_project):
    project, _, _ = digits_project(classes=3, count=90, labeled=0.6)
    embeddings_compute(project_id=project.id)
    model = model_router_ensure(project=project)
    model.params = FAST
    model.save(update_fields=["params"])
    return model


def test_given_a_type_with_its_own_train_then_version_train_trains_and_evaluates_through_it(
    model, admin, monkeypatch
):
    calls = {"train": [], "predict": 0, "stage": None}

    def train(**kwargs):
        calls["train"].append(kwargs)
        kwargs["progress"](0.5)
        if len(calls["train"]) == 1:  # the version's own fit (the folds' come after it)
            calls["stage"] = ModelVersion.objects.get(model=model).stage
        return context_classifier.train(**kwargs)

    def predict(artifact, features):
        calls["predict"] += 1
        return context_classifier.predict(artifact, features)

    spec = dataclasses.replace(
        CONTEXT_CLASSIFIER, train=train, predict=predict, train_stage="Fitting the test head"
    )
    monkeypatch.setitem(model_types.TYPES, spec.key, spec)

    version = version_train(version_id=version_queue(model=model, actor=admin).id)

    assert version.status == Status.READY, version.error
    kwargs, *folds = calls["train"]
    assert kwargs["params"] == CONTEXT_CLASSIFIER.clean(FAST)
    assert kwargs["layout"].width == 3
    train_inputs = version.counts["train_inputs"]
    assert len(kwargs["features"]) == train_inputs
    assert calls["stage"] == "Fitting the test head"
    # a type that refits in seconds is cross-validated for threshold evidence: one fit per
    # fold, each without its fold, and the folds' scores cover the train split once
    assert len(folds) == settings.TRAINING_THRESHOLD_FOLDS == 5
    assert sum(train_inputs - len(f["features"]) for f in folds) == train_inputs
    assert calls["predict"] == 1 + len(folds)  # the eval split once, and each held fold
    assert version.metrics["threshold_evidence"]["out_of_fold"] == train_inputs
    assert version.metrics["macro_f1"] > 0.5 and version.thresholds
    assert version.promotion["promoted"] and "first version" in version.promotion["reason"]


def test_given_a_type_that_is_slow_to_refit_then_its_thresholds_rest_on_the_eval_split(
    model, admin, monkeypatch
):
    calls = []

    def train(**kwargs):
        calls.append(len(kwargs["features"]))
        return context_classifier.train(**kwargs)

    spec = dataclasses.replace(CONTEXT_CLASSIFIER, train=train, cheap_refit=False)
    monkeypatch.setitem(model_types.TYPES, spec.key, spec)

    version = version_train(version_id=version_queue(model=model, actor=admin).id)

    assert version.status == Status.READY, version.error
    assert calls == [version.counts["train_inputs"]]
    evidence = version.metrics["threshold_evidence"]
    assert (evidence["eval"], evidence["out_of_fold"]) == (version.counts["eval_inputs"], 0)


def test_given_a_type_that_cannot_train_then_a_queued_run_fails_saying_so(
    model, admin, monkeypatch
):
    queued = version_queue(model=model, actor=admin)
    spec = dataclasses.replace(CONTEXT_CLASSIFIER, train=None)
    monkeypatch.setitem(model_types.TYPES, spec.key, spec)

    version = version_train(version_id=queued.id)

    assert version.status == Status.FAILED
    assert version.error == "A context classifier has nothing to train."
    model.refresh_from_db()
    assert model.active_version is None
