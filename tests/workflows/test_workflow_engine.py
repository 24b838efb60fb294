"""The engine: topological order, every node's output (a dry run), writer rows, failures."""

import numpy as np
import pytest

from workflows.engine import NodeFailed, WorkflowInvalid, plan_compile
from workflows.ports import Concepts, Images, Regions
from workflows.spec import Context, parse

# written out of order on purpose: the writer first, the input last
BRANCHING = {
    "nodes": [
        {
            "id": "write",
            "type": "annotation-writer",
            "inputs": [
                {"node_id": "threshold", "port": "passed"},
                {"node_id": "threshold", "port": "passed_inputs"},
            ],
            "params": {"status": "accepted", "band": "auto"},
        },
        {
            "id": "threshold",
            "type": "concept-thresholder",
            "inputs": [{"node_id": "classify"}],
            "params": {"source": "table", "table": {"1": 0.5, "2": 0.5}},
        },
        {
            "id": "classify",
            "type": "model",
            "model": {"type": "context-classifier", "version": 3},
            "inputs": [{"node_id": "embed"}],
        },
        {
            "id": "embed",
            "type": "model",
            "model": {"type": "embedder"},
            "inputs": [{"node_id": "input"}],
            "suppress_output": True,
        },
        {"id": "input", "type": "input"},
    ]
}
SCORES = np.array([[0.9, 0.1], [0.2, 0.3], [0.4, 0.7]])


def runners(calls: list) -> dict:
    def embed(inputs, context):
        calls.append(("embed", inputs["image"].input_ids.tolist()))
        return {"embedding": np.ones((len(inputs["image"]), 3))}

    def classify(inputs, context):
        calls.append(("classify", inputs["embedding"].shape))
        return {"concepts": Concepts.scored([1, 2], SCORES[: len(inputs["embedding"])])}

    return {"embed": embed, "classify": classify}


def test_given_nodes_in_any_order_then_each_runs_after_its_inputs(kinds):
    plan = plan_compile(parse(BRANCHING), kinds)

    assert plan.order == ("input", "embed", "classify", "threshold", "write")
    assert plan.models == ["embed", "classify"]


def test_given_a_batch_then_models_get_their_inputs_and_writers_their_rows(kinds):
    calls = []
    plan = plan_compile(parse(BRANCHING), kinds)
    ids = np.array([10, 11, 12])

    result = plan.run(Images(ids), runners=runners(calls), context=Context(input_ids=ids))

    assert calls == [("embed", [10, 11, 12]), ("classify", (3, 3))]
    assert [(r.input_id, r.labels) for r in result.rows] == [(10, [(1, 0.9)]), (12, [(2, 0.7)])]
    assert result.rows_by_node["write"] == result.rows
    assert result.outputs["write"]["written"].tolist() == [True, False, True]


def test_given_a_dry_run_of_one_image_then_every_node_but_the_suppressed_one_answers(kinds):
    plan = plan_compile(parse(BRANCHING), kinds)
    ids = np.array([10])

    result = plan.run(Images(ids), runners=runners([]), context=Context(input_ids=ids))

    assert list(result.outputs) == ["input", "classify", "threshold", "write"]
    assert result.outputs["classify"]["concepts"].scores.tolist() == [[0.9, 0.1]]
    assert result.outputs["threshold"]["passed_inputs"].tolist() == [True]
    assert [r.input_id for r in result.rows] == [10]


def test_given_an_invalid_graph_then_it_does_not_run(kinds):
    document = {"nodes": [*BRANCHING["nodes"], {"id": "input2", "type": "input"}]}

    with pytest.raises(WorkflowInvalid) as error:
        plan_compile(parse(document), kinds)

    assert [p.node_id for p in error.value.problems] == ["input2"]


def test_given_a_model_node_with_no_runner_then_the_node_is_named(kinds):
    plan = plan_compile(parse(BRANCHING), kinds)
    ids = np.array([1])

    with pytest.raises(NodeFailed) as error:
        plan.run(Images(ids), runners={"embed": runners([])["embed"]})

    assert error.value.node_id == "classify"


def test_given_a_model_that_returns_the_wrong_port_then_the_node_is_named(kinds):
    plan = plan_compile(parse(BRANCHING), kinds)
    ids = np.array([1])
    broken = {**runners([]), "classify": lambda inputs, context: {"labels": []}}

    with pytest.raises(NodeFailed, match="node 'classify': the model gave no concepts"):
        plan.run(Images(ids), runners=broken)


def test_given_tuned_thresholds_missing_at_run_time_then_the_thresholder_is_named(kinds):
    document = parse(BRANCHING)
    nodes = [
        n if n.id != "threshold" else type(n)(n.id, n.type, n.inputs, {"source": "tuned"})
        for n in document.nodes
    ]
    plan = plan_compile(type(document)(tuple(nodes)), kinds)
    ids = np.array([1])

    with pytest.raises(NodeFailed, match="node 'threshold': the scores carry no tuned"):
        plan.run(Images(ids), runners=runners([]))


def test_given_a_stacked_workflow_then_a_detectors_regions_become_crops(kinds):
    document = {
        "nodes": [
            {"id": "input", "type": "input"},
            {
                "id": "detect",
                "type": "model",
                "model": {"type": "visual-detector"},
                "inputs": [{"node_id": "input"}],
            },
            {
                "id": "crop",
                "type": "image-cropper",
                "inputs": [{"node_id": "input"}, {"node_id": "detect"}],
                "params": {"margin": 0.1},
            },
        ]
    }
    plan = plan_compile(parse(document), kinds)
    images = Images(np.array([1, 2]), sizes=np.array([[100, 100], [10, 20]]))
    detect = {
        "detect": lambda inputs, context: {
            "regions": Regions(np.array([1]), np.array([[0.5, 0.5, 0.5, 0.5]]))
        }
    }

    result = plan.run(images, runners=detect)

    assert result.outputs["crop"]["crops"].boxes.tolist() == [[4, 9, 10, 20]]
    assert result.outputs["crop"]["crops"].input_index.tolist() == [1]
