"""region-thresholder and the annotation writer's region paths: boxes by threshold, images
back to annotators, rows with boxes, and the stacked detector -> cropper -> classifier."""

import numpy as np
import pytest

from workflows.engine import plan_compile
from workflows.operators.annotation_writer import crop_rows, region_rows
from workflows.operators.region_thresholder import box_thresholds, regions_threshold
from workflows.ports import Concepts, Crops, Images, Regions
from workflows.spec import Context, parse

FACE, CAR = 7, 8


def detections() -> Regions:
    """Image 0: a sure face and a weak car; image 1: one sure face; image 2: a doubtful car;
    image 3: nothing believable."""
    return Regions(
        input_index=np.array([0, 0, 1, 2, 3]),
        boxes=np.array(
            [
                [0.1, 0.1, 0.2, 0.2],
                [0.5, 0.5, 0.1, 0.1],
                [0.2, 0.3, 0.4, 0.4],
                [0.0, 0.0, 0.5, 0.5],
                [0.6, 0.6, 0.2, 0.2],
            ]
        ),
        concept_ids=(FACE, CAR, FACE, CAR, CAR),
        scores=np.array([0.95, 0.05, 0.9, 0.6, 0.1]),
        tuned={str(FACE): 0.8, str(CAR): None},
        source={"model": "Detector", "version": 2},
    )


def test_each_box_gets_its_concepts_tuned_threshold_or_the_tables():
    regions = detections()
    tuned = box_thresholds(regions, source="tuned", table={}, default=None)
    assert tuned[[0, 2]].tolist() == [0.8, 0.8]
    assert np.isnan(tuned[[1, 3, 4]]).all()
    table = box_thresholds(regions, source="table", table={str(CAR): 0.5}, default=0.99)
    assert table.tolist() == [0.99, 0.5, 0.99, 0.5, 0.5]
    with pytest.raises(ValueError, match="no tuned thresholds"):
        box_thresholds(
            Regions(np.array([0]), np.zeros((1, 4)), (FACE,)),
            source="tuned",
            table={},
            default=None,
        )


def test_images_pass_doubt_or_go_back_to_the_annotators():
    regions = detections()
    limits = box_thresholds(regions, source="tuned", table={}, default=None)
    out = regions_threshold(regions, limits, n=4, band=0.5)

    # image 0: the face passes and the car (0.05) is below every band: it passes
    assert out["passed_inputs"].tolist() == [True, True, False, False]
    # image 2: a car with no reachable threshold at 0.6 >= 1 - 0.5 is in doubt
    assert out["doubt_inputs"].tolist() == [False, False, True, False]
    assert out["failed_inputs"].tolist() == [False, False, False, True]
    assert out["passed"].concept_ids == (FACE, FACE)
    assert out["passed"].input_index.tolist() == [0, 1]
    assert out["passed"].thresholds.tolist() == [0.8, 0.8]
    assert out["doubt"].input_index.tolist() == [2]


def test_without_a_doubt_band_nothing_is_in_doubt():
    regions = detections()
    limits = box_thresholds(regions, source="tuned", table={}, default=None)
    out = regions_threshold(regions, limits, n=4, band=0.0)
    assert out["doubt_inputs"].tolist() == [False] * 4
    assert out["failed_inputs"].tolist() == [False, False, True, True]


def test_region_rows_write_each_images_boxes_with_provenance():
    regions = detections().subset(np.array([True, False, True, False, False]))
    rows = region_rows(
        regions, None, np.array([40, 41, 42, 43]), status="accepted", band="auto", spot_check=False
    )
    assert [r.input_id for r in rows] == [40, 41]
    assert rows[0].labels == []
    assert rows[0].regions == [(FACE, (0.1, 0.1, 0.2, 0.2), 0.95, None)]
    assert rows[0].provenance["model"] == "Detector"
    assert rows[0].provenance["boxes"] == [{"concept": FACE, "score": 0.95, "threshold": None}]
    selected = region_rows(
        regions,
        np.array([False, True, True, True]),
        np.array([40, 41, 42, 43]),
        status="pending_review",
        band="doubt",
        spot_check=False,
    )
    assert [r.input_id for r in selected] == [41]


def test_crop_rows_put_each_crops_labels_under_its_box():
    regions = detections()
    crops = Crops(
        input_index=np.array([0, 1]), region_index=np.array([0, 2]), boxes=np.zeros((2, 4), int)
    )
    MASK, BARE = 20, 21
    concepts = Concepts(
        (MASK, BARE),
        np.array([[0.97, 0.03], [0.4, 0.6]]),
        np.array([[True, False], [False, False]]),
        thresholds=(0.9, 0.9),
        source={"model": "Masks", "version": 1},
    )
    rows = crop_rows(
        concepts,
        crops,
        regions,
        None,
        np.array([40, 41, 42, 43]),
        status="accepted",
        band="auto",
        spot_check=False,
    )
    (row,) = rows  # the second crop passed nothing
    assert row.input_id == 40
    assert row.regions == [
        (FACE, (0.1, 0.1, 0.2, 0.2), 0.95, None),
        (MASK, (0.1, 0.1, 0.2, 0.2), 0.97, 0),
    ]
    assert row.provenance["model"] == "Masks"
    assert row.provenance["detector"] == {"model": "Detector", "version": 2}
    with pytest.raises(ValueError, match="classify the crops"):
        crop_rows(
            Concepts.scored((MASK,), np.ones((3, 1))),
            crops,
            regions,
            None,
            np.array([40, 41, 42, 43]),
            status="accepted",
            band="auto",
            spot_check=False,
        )


STACKED = {
    "nodes": [
        {"id": "input", "type": "input"},
        {
            "id": "detect",
            "type": "model",
            "model": {"type": "visual-detector"},
            "inputs": [{"node_id": "input"}],
        },
        {
            "id": "boxes",
            "type": "region-thresholder",
            "inputs": [{"node_id": "detect"}],
            "params": {"source": "table", "default_threshold": 0.5, "doubt_band": 0},
        },
        {
            "id": "crop",
            "type": "image-cropper",
            "inputs": [{"node_id": "input"}, {"node_id": "boxes", "port": "passed"}],
        },
        {
            "id": "embed",
            "type": "model",
            "model": {"type": "crop-embedder"},
            "inputs": [{"node_id": "input"}, {"node_id": "crop"}],
        },
        {
            "id": "classify",
            "type": "model",
            "model": {"type": "context-classifier"},
            "inputs": [{"node_id": "embed"}],
        },
        {
            "id": "sure",
            "type": "concept-thresholder",
            "inputs": [{"node_id": "classify"}],
            "params": {"source": "table", "default_threshold": 0.9},
        },
        {
            "id": "write",
            "type": "annotation-writer",
            "inputs": [
                {"node_id": "sure", "port": "passed"},
                {"node_id": "crop", "port": "crops"},
                {"node_id": "boxes", "port": "passed"},
            ],
            "params": {"status": "accepted"},
        },
    ]
}


def test_a_stacked_workflow_writes_a_label_on_each_detected_region(kinds_with_crops):
    plan = plan_compile(parse(STACKED), kinds_with_crops)
    images = Images(np.array([40, 41]), sizes=np.array([[100, 100], [100, 100]]))
    runners = {
        "detect": lambda inputs, context: {
            "regions": Regions(
                np.array([0, 0, 1]),
                np.array([[0.1, 0.1, 0.3, 0.3], [0.6, 0.6, 0.3, 0.3], [0.2, 0.2, 0.5, 0.5]]),
                (FACE, FACE, FACE),
                np.array([0.9, 0.8, 0.2]),
            )
        },
        "embed": lambda inputs, context: {"embedding": np.eye(len(inputs["crops"]), 4)},
        "classify": lambda inputs, context: {
            "concepts": Concepts.scored(
                (20,), np.array([[0.95], [0.5]])[: len(inputs["embedding"])]
            )
        },
    }
    result = plan.run(images, runners=runners, context=Context(input_ids=np.array([40, 41])))
    (row,) = result.rows
    assert row.input_id == 40
    assert [(c, parent) for c, _, _, parent in row.regions] == [(FACE, None), (20, 0)]
    assert row.regions[1][1] == (0.1, 0.1, 0.3, 0.3)


@pytest.fixture
def kinds_with_crops():
    from workflows.operators import registry
    from workflows.ports import PortType
    from workflows.spec import ModelTypePorts, Port

    return registry(
        (
            ModelTypePorts(
                "visual-detector",
                (Port("image", PortType.IMAGE),),
                (Port("regions", PortType.REGIONS),),
            ),
            ModelTypePorts(
                "crop-embedder",
                (Port("image", PortType.IMAGE), Port("crops", PortType.CROPS)),
                (Port("embedding", PortType.EMBEDDING),),
            ),
            ModelTypePorts(
                "context-classifier",
                (Port("embedding", PortType.EMBEDDING),),
                (Port("concepts", PortType.CONCEPTS),),
            ),
        )
    )


def test_a_writer_with_nothing_to_write_or_crops_alone_is_refused(kinds):
    from workflows.engine import WorkflowInvalid

    document = {
        "nodes": [
            {"id": "input", "type": "input"},
            {"id": "write", "type": "annotation-writer", "inputs": []},
        ]
    }
    with pytest.raises(WorkflowInvalid, match="needs 'concepts' or 'regions'"):
        plan_compile(parse(document), kinds)


def test_the_thresholder_and_predictions_on_demand_sort_boxes_alike():
    # The core imports nothing from training, so the rule is written twice; the two agree.
    from training.ml.routing import box_levels, image_band

    rng = np.random.default_rng(7)
    n, images = 400, 60
    index = rng.integers(0, images, n)
    scores = rng.random(n)
    limits = np.where(rng.random(n) < 0.3, np.nan, rng.uniform(0.5, 0.95, n))
    regions = Regions(index, rng.random((n, 4)), tuple(range(n)), scores)
    for band in (0.0, 0.1, 0.3):
        out = regions_threshold(regions, limits, n=images, band=band)
        levels = box_levels(scores, limits, band)
        for image in range(images):
            mine = levels[index == image]
            expected = image_band(mine)
            got = (
                "doubt"
                if out["doubt_inputs"][image]
                else "auto"
                if out["passed_inputs"][image]
                else "low"
            )
            assert got == expected, (band, image, mine)
