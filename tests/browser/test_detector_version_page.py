"""A detector's version page in the browser: the admin opens it from the Models tab's
Detectors card and reads mAP, the per-concept AP table and the box PR chart, then drags a
concept's threshold slider and sees the precision there change.

The version's figures are computed by the real evaluation (``training.ml.detection_eval``)
on hand-made boxes, so the page shows what a trained detector's would, without training one
in the browser test."""

import numpy as np
import pytest
from browser_helpers import login, shot
from factories import PASSWORD
from playwright.sync_api import expect

from labeling.services.taxonomy import concept_create
from training.ml.detection_eval import box_curves, box_thresholds, evaluate_detections
from training.models import ModelVersion
from training.services.versions import model_create

BOX = [0.1, 0.1, 0.2, 0.2]
FAR = [0.7, 0.7, 0.1, 0.1]


def evaluation(concept_ids: list[int]) -> tuple[dict, dict]:
    """Metrics and thresholds as ``detector_evaluate`` stores them: 40 images, one true box
    each (two concepts in turn), one detection each scoring 0.99 down to 0.6; every fifth
    detection below 0.8 lands far from its box."""
    truth, predictions = [], []
    for i in range(40):
        k = i % 2
        score = 0.99 - 0.01 * i
        wrong = score < 0.8 and i % 5 == 0
        truth.append((np.array([BOX]), np.array([k])))
        predictions.append((np.array([FAR if wrong else BOX]), np.array([score]), np.array([k])))
    report = evaluate_detections(truth, predictions, 2)
    curves = box_curves(truth, predictions, 2)
    tuned = box_thresholds(truth, predictions, 2, 0.95, min_kept=5)
    per_concept = {
        str(c): {**report["per_class"][i], "curve": curves[i]} for i, c in enumerate(concept_ids)
    }
    metrics = {
        "kind": "regions",
        "map50": report["map50"],
        "map": report["map"],
        "per_concept": per_concept,
        "eval_images": 40,
        "eval_boxes": 40,
        "target_precision": 0.95,
    }
    return metrics, {str(c): tuned[i].to_dict() for i, c in enumerate(concept_ids)}


@pytest.mark.django_db(transaction=True)
def test_admin_reads_a_detectors_version_and_moves_a_threshold(
    live_server, new_context, project, admin
):
    group = concept_create(project=project, name="digit", actor=admin, scope="regions")
    zero, one = (
        concept_create(project=project, name=name, parent=group, actor=admin)
        for name in ("zero", "one")
    )
    model = model_create(
        project=project, name="Digit detector", type="visual-detector", params={}, actor=admin
    )
    metrics, thresholds = evaluation([zero.id, one.id])
    ModelVersion.objects.create(
        model=model,
        number=1,
        status=ModelVersion.Status.READY,
        layout={"concept_ids": [zero.id, one.id]},
        metrics=metrics,
        thresholds=thresholds,
        counts={"train_inputs": 160, "eval_inputs": 40},
    )
    page = new_context().new_page()
    login(page, live_server, admin.username, PASSWORD)

    # when the admin opens the version from the Detectors card
    page.goto(f"{live_server.url}/projects/{project.id}/models/")
    page.locator("#detectors").get_by_role("link", name="v1").click()

    # then: mAP, the per-concept AP table and one PR chart per concept
    expect(page.locator("#map50")).to_contain_text(f"{metrics['map50']:.3f}")
    table = page.locator("#concept-metrics")
    expect(table).to_contain_text("AP@0.5")
    expect(table.locator("tbody tr")).to_have_count(2)
    chart = page.locator(f"#pr-{zero.id}")
    expect(chart.locator("polyline.curve")).to_have_count(1)
    readout = page.locator(f"#thr-{zero.id}")
    expect(readout).to_contain_text("precision")
    tuned = thresholds[str(zero.id)]["threshold"]
    expect(readout).to_contain_text(f"{tuned:.3f}")

    # when the slider goes down to 0.6: the far boxes come in and precision falls
    chart.locator("input[type=range]").fill("0.6")
    expect(readout).to_contain_text("0.600")
    expect(readout.locator(".thr-precision")).not_to_have_text("1.000")
    shot(page, "detector_version_page")
