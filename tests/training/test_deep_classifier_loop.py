"""The deep classifier through the model loop, on real digit images: created like any
model, fine-tuned on the train split's images with progress per epoch, evaluated, given
thresholds and promoted by the shared code, its curves stored; a run killed mid-way leaves
the live version as it was; and its live version scores images as a workflow node."""

import pytest
from django.urls import reverse

import training.services.versions as versions
from labeling.services.errors import ServiceError
from training.models import ModelVersion
from training.services.predictions import prediction_for_input
from training.services.versions import model_create, version_queue, version_train
from workflows.engine import plan_compile
from workflows.model_ports import portal_registry
from workflows.runners import runners_build, stored_images
from workflows.spec import parse

pytestmark = pytest.mark.django_db
Status = ModelVersion.Status
TINY = {"image_size": 64, "epochs": 2, "batch_size": 16, "patience": 0}


@pytest.fixture(autouse=True)
def _one_thread():
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def deep(digits_project, admin):
    project, concepts, items = digits_project(classes=2, count=40, labeled=1.0)
    model = model_create(
        project=project, name="Deep", type="deep-classifier", params=TINY, actor=admin
    )
    return project, concepts, items, model


def test_a_deep_classifier_trains_evaluates_and_goes_live(deep, admin, monkeypatch, client):
    project, concepts, items, model = deep
    stages = []
    report = versions._report
    monkeypatch.setattr(
        versions, "_report", lambda v, p, s: (stages.append((p, s)), report(v, p, s))
    )

    version = version_train(version_id=version_queue(model=model, actor=admin).id)

    assert version.status == Status.READY, version.error
    curves = version.metrics["curves"]
    assert curves["epoch"] == [1, 2] and len(curves["train_loss"]) == len(curves["eval_f1"]) == 2
    assert version.metrics["macro_f1"] is not None and "confusion" in version.metrics
    assert set(version.thresholds) == {str(c.id) for c in concepts.values()}
    assert version.counts["train_inputs"] + version.counts["eval_inputs"] == 40
    assert version.promotion["promoted"] is True
    model.refresh_from_db()
    assert model.active_version_id == version.id
    # progress per epoch, with the time left once there is something to go by
    texts = [s for _, s in stages]
    assert "Fine-tuning: epoch 1 of 2" in texts
    assert any(t.startswith("Fine-tuning: epoch 2 of 2, about ") for t in texts)
    fractions = [p for p, _ in stages]
    assert fractions == sorted(fractions)

    # the live version as a workflow node: images in, concepts out with its thresholds
    document = {
        "nodes": [
            {"id": "input", "type": "input"},
            {
                "id": "classify",
                "type": "model",
                "model": {"type": "deep-classifier", "id": model.id, "version": "live"},
                "inputs": [{"node_id": "input"}],
            },
        ]
    }
    workflow = parse(document)
    resolved = runners_build(project=project, workflow=workflow)
    plan = plan_compile(workflow, portal_registry())
    ids = [i.id for i, _ in items[:5]]
    result = plan.run(stored_images(ids), runners=resolved.runners)
    scored = result.outputs["classify"]["concepts"]
    assert scored.scores.shape == (5, 2)
    assert scored.source == {"version": version.number, "model": "Deep"}

    # its page: the shared metrics, and the curves per epoch as a chart and a table
    client.force_login(admin)
    page = client.get(
        reverse("training:model_version_of", args=[project.id, model.id, version.number])
    ).content.decode()
    assert 'id="training-curves"' in page and 'id="concept-metrics"' in page
    assert page.count('class="curve loss"') == 1 and 'class="curve f1"' in page
    assert page.count("<tr") - page.count("<tr><th") >= 2  # one row per epoch at least
    models = client.get(reverse("training:models", args=[project.id])).content.decode()
    assert "Deep classifier" in models and f"/models/{model.id}/versions/1/" in models

    # on-demand scoring of a stored input needs the image, on a worker
    with pytest.raises(ServiceError, match="stage the input.s image"):
        prediction_for_input(model=model, input=items[0][0])


class Killed(BaseException):
    """What a worker killed mid-run looks like from inside: nothing after it runs."""


def test_a_run_killed_mid_way_leaves_the_live_version(deep, admin, monkeypatch):
    _, _, _, model = deep
    first = version_train(version_id=version_queue(model=model, actor=admin).id)
    assert first.status == Status.READY
    report = versions._report

    def kill_in_epoch_two(version, progress, stage):
        if "epoch 2" in stage:
            raise Killed
        report(version, progress, stage)

    monkeypatch.setattr(versions, "_report", kill_in_epoch_two)
    second = version_queue(model=model, actor=admin)
    with pytest.raises(Killed):
        version_train(version_id=second.id)

    second.refresh_from_db()
    model.refresh_from_db()
    assert second.status == Status.TRAINING and second.stage.startswith("Fine-tuning: epoch 1")
    assert not second.head and not second.metrics
    assert model.active_version_id == first.id


def test_the_models_tab_creates_a_deep_classifier_with_its_defaults(project, admin, client):
    client.force_login(admin)
    url = reverse("training:model_new", args=[project.id])

    response = client.post(url, {"name": "Fine-tuned", "type": "deep-classifier"})

    assert response.status_code == 302
    model = project.models.get(name="Fine-tuned")
    assert model.type == "deep-classifier" and model.params["image_size"] == 128
    page = client.get(response["Location"]).content.decode()
    assert "Fine-tuned" in page and "Train Fine-tuned now" in page
    again = client.post(url, {"name": "Fine-tuned", "type": "deep-classifier"})
    assert again.status_code == 200 and "already has a model called" in again.content.decode()


def test_the_curves_chart_scales_loss_to_its_top_and_f1_to_one():
    from training.selectors import CHART_H, CHART_W, training_curves

    chart = training_curves(
        {
            "epoch": [1, 2, 3],
            "train_loss": [2.0, 1.0, 0.5],
            "eval_f1": [0.5, 1.0, 0.75],
            "best_epoch": 2,
            "stopped_early": True,
        }
    )
    assert (
        chart["loss"]
        == f"0.0,0.0 {CHART_W / 2:.1f},{CHART_H / 2:.1f} {CHART_W:.1f},{CHART_H * 0.75:.1f}"
    )
    assert chart["f1"].split()[1] == f"{CHART_W / 2:.1f},0.0"
    assert chart["best_x"] == CHART_W / 2 and chart["stopped_early"]
    assert training_curves({}) is None
