"""The document as dataclasses, and the node kinds as the API will list them."""

import pytest

from workflows.default import default_workflow
from workflows.operators import OPERATORS
from workflows.spec import Node, NodeInput, SpecError, parse


def test_given_a_document_then_it_parses_to_frozen_nodes_and_back():
    document = default_workflow(
        embedder={"type": "embedder", "version": "live"},
        classifier={"type": "context-classifier", "id": 3, "version": 7},
        doubt_band=0.2,
        spot_check_rate=0.05,
    )

    workflow = parse(document)

    classify = workflow.node("classify")
    assert classify == Node(
        "classify",
        "model",
        (NodeInput("embed"),),
        {},
        {"type": "context-classifier", "id": 3, "version": 7},
        False,
    )
    assert parse(workflow.to_document()) == workflow
    with pytest.raises(AttributeError):
        classify.id = "other"


def test_given_unknown_keys_or_bad_inputs_then_parsing_names_the_node():
    document = {
        "nodes": [
            {"id": "input", "type": "input", "colour": "blue"},
            {"id": "s", "type": "random-sampler", "inputs": [{"port": "x"}]},
        ]
    }

    with pytest.raises(SpecError) as error:
        parse(document)

    assert [(p.node_id, p.field) for p in error.value.problems] == [
        ("input", "colour"),
        ("s", "inputs"),
    ]


def test_every_operator_declares_typed_ports_and_documented_params():
    names = {kind.name for kind in OPERATORS}

    assert names == {
        "concept-thresholder",
        "region-thresholder",
        "concept-synonym-mapper",
        "random-sampler",
        "image-cropper",
        "visual-searcher",
        "annotation-writer",
    }
    for kind in OPERATORS:
        listed = kind.describe()
        assert listed["outputs"], kind.name
        assert all(p["help"] for p in listed["params"]), kind.name
    writers = [k.name for k in OPERATORS if k.writes]
    assert writers == ["annotation-writer"]
