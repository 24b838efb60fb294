"""Graph validation: every problem is data naming its node (and field)."""

from workflows.default import default_workflow
from workflows.spec import parse
from workflows.validate import validate, validate_document

EMBEDDER = {"type": "embedder", "version": "live"}
CLASSIFIER = {"type": "context-classifier", "version": "live"}


def stacked(**changes) -> dict:
    """input -> embed -> classify -> threshold -> write, with per-node changes."""
    nodes = [
        {"id": "input", "type": "input"},
        {"id": "embed", "type": "model", "model": EMBEDDER, "inputs": [{"node_id": "input"}]},
        {"id": "classify", "type": "model", "model": CLASSIFIER, "inputs": [{"node_id": "embed"}]},
        {
            "id": "threshold",
            "type": "concept-thresholder",
            "inputs": [{"node_id": "classify"}],
            "params": {"doubt_band": 0.1},
        },
        {
            "id": "write",
            "type": "annotation-writer",
            "inputs": [
                {"node_id": "threshold", "port": "passed"},
                {"node_id": "threshold", "port": "passed_inputs"},
            ],
            "params": {"status": "accepted"},
        },
    ]
    for node in nodes:
        node.update(changes.get(node["id"], {}))
    return {"nodes": nodes + changes.get("extra", [])}


def problems_of(document, kinds) -> list[tuple]:
    return [(p.node_id, p.field, p.message) for p in validate_document(document, kinds)]


def test_given_a_sound_graph_then_there_is_no_problem(kinds):
    assert problems_of(stacked(), kinds) == []


def test_given_the_default_workflow_then_it_is_valid(kinds):
    document = default_workflow(
        embedder=EMBEDDER, classifier=CLASSIFIER, doubt_band=0.2, spot_check_rate=0.05
    )

    assert validate(parse(document), kinds) == []


def test_given_an_unknown_operator_then_the_node_is_named(kinds):
    problems = problems_of(stacked(threshold={"type": "concept-guesser"}), kinds)

    assert problems[0][:2] == ("threshold", "type")
    assert "unknown node type 'concept-guesser'" in problems[0][2]


def test_given_an_unknown_model_type_or_bad_version_then_the_model_field_is_named(kinds):
    problems = problems_of(
        stacked(
            embed={"model": {"type": "time-machine"}},
            classify={"model": {"type": "context-classifier", "version": 0}},
        ),
        kinds,
    )

    assert ("embed", "model", "unknown model type 'time-machine'.") in problems
    assert (
        "classify",
        "model",
        'model.version must be "live" or a version number.',
    ) in problems


def test_given_two_nodes_with_one_id_then_the_duplicate_is_named(kinds):
    document = stacked(extra=[{"id": "write", "type": "annotation-writer"}])

    problems = problems_of(document, kinds)

    assert ("write", "id", "two nodes have the id 'write'.") in problems


def test_given_an_input_from_a_missing_node_then_it_dangles(kinds):
    problems = problems_of(stacked(classify={"inputs": [{"node_id": "embedd"}]}), kinds)

    assert ("classify", "inputs", "input 'embedd' is not a node of this workflow.") in problems
    # and the port it should have fed is reported as unfed
    assert any(p[:2] == ("classify", "inputs.embedding") for p in problems)


def test_given_no_input_node_then_the_workflow_is_refused(kinds):
    document = stacked()
    document["nodes"] = document["nodes"][1:]

    problems = problems_of(document, kinds)

    assert (None, "nodes", "A workflow needs one input node; it has none.") in problems


def test_given_two_input_nodes_then_the_second_is_named(kinds):
    problems = problems_of(stacked(extra=[{"id": "again", "type": "input"}]), kinds)

    assert ("again", "type", "only one input node is allowed ('input' is).") in problems


def test_given_a_cycle_then_the_nodes_on_it_are_named_in_order(kinds):
    # threshold's doubt concepts feed a mapper that feeds threshold: a loop
    document = stacked(
        threshold={"inputs": [{"node_id": "map"}]},
        extra=[
            {
                "id": "map",
                "type": "concept-synonym-mapper",
                "inputs": [{"node_id": "threshold", "port": "doubt"}],
            }
        ],
    )

    problems = problems_of(document, kinds)

    assert (
        "threshold",
        "inputs",
        "nodes 'threshold' -> 'map' -> 'threshold' form a cycle.",
    ) in problems


def test_given_a_node_fed_by_itself_then_it_is_a_cycle(kinds):
    document = stacked(
        extra=[
            {
                "id": "map",
                "type": "concept-synonym-mapper",
                "inputs": [{"node_id": "map"}],
            }
        ]
    )

    problems = problems_of(document, kinds)

    assert ("map", "inputs", "nodes 'map' -> 'map' form a cycle.") in problems


def test_given_concepts_where_regions_are_taken_then_the_mismatch_is_named(kinds):
    document = stacked(
        extra=[
            {
                "id": "crop",
                "type": "image-cropper",
                "inputs": [{"node_id": "input"}, {"node_id": "classify"}],
            }
        ]
    )

    problems = problems_of(document, kinds)

    assert (
        "crop",
        "inputs.concepts",
        "node 'crop' takes image or regions but 'classify' gives concepts.",
    ) in problems


def test_given_a_named_port_of_the_wrong_type_then_the_mismatch_is_named(kinds):
    document = stacked(
        write={
            "inputs": [
                {"node_id": "threshold", "port": "passed"},
                {"node_id": "threshold", "port": "passed", "into": "inputs"},
            ]
        }
    )

    problems = problems_of(document, kinds)

    assert (
        "write",
        "inputs.inputs",
        "node 'write' takes selection but 'threshold' gives concepts.",
    ) in problems


def test_given_an_output_the_source_lacks_then_its_outputs_are_listed(kinds):
    problems = problems_of(
        stacked(write={"inputs": [{"node_id": "threshold", "port": "above"}]}), kinds
    )

    assert problems[0][0] == "write"
    assert "'threshold' has no output 'above'" in problems[0][2]
    assert "passed_inputs" in problems[0][2]


def test_given_a_source_with_several_outputs_and_no_port_then_it_asks_which(kinds):
    problems = problems_of(stacked(write={"inputs": [{"node_id": "threshold"}]}), kinds)

    assert problems[0][:2] == ("write", "inputs")
    assert problems[0][2].startswith("say which output of 'threshold'")


def test_given_a_port_fed_twice_then_it_is_named(kinds):
    document = stacked(
        write={
            "inputs": [
                {"node_id": "threshold", "port": "passed"},
                {"node_id": "threshold", "port": "doubt", "into": "concepts"},
            ]
        }
    )

    problems = problems_of(document, kinds)

    assert ("write", "inputs.concepts", "input 'concepts' is given twice.") in problems


def test_given_params_out_of_bounds_unknown_or_missing_then_each_is_named(kinds):
    document = stacked(
        threshold={"params": {"doubt_band": 1.5, "comparator": "about", "colour": "red"}},
        write={"params": {"status": "success"}},
    )

    problems = problems_of(document, kinds)

    assert ("threshold", "params.colour", "unknown param 'colour'.") in problems
    assert ("threshold", "params.doubt_band", "doubt_band must be between 0.0 and 1.0.") in problems
    assert (
        "threshold",
        "params.comparator",
        "comparator must be one of greater, greater-or-equal, less.",
    ) in problems
    assert (
        "write",
        "params.status",
        "status must be one of accepted, pending_review.",
    ) in problems


def test_given_a_table_threshold_that_is_not_a_number_then_the_table_is_named(kinds):
    document = stacked(threshold={"params": {"source": "table", "table": {"4": "high"}}})

    problems = problems_of(document, kinds)

    assert ("threshold", "params.table", "the threshold of concept 4 must be a number.") in problems


def test_given_a_writer_fed_by_another_writer_then_two_writers_share_a_path(kinds):
    # a second writer re-labels what the first wrote, through a sampler in between
    document = stacked(
        extra=[
            {
                "id": "sample",
                "type": "random-sampler",
                "inputs": [{"node_id": "write"}],
            },
            {
                "id": "write_again",
                "type": "annotation-writer",
                "inputs": [
                    {"node_id": "threshold", "port": "passed"},
                    {"node_id": "sample", "port": "sampled"},
                ],
            },
        ]
    )

    problems = problems_of(document, kinds)

    assert problems == [
        (
            "write_again",
            "inputs",
            "two annotation writers on one path: 'write_again' writes after 'write'.",
        )
    ]


def test_given_writers_on_parallel_branches_then_they_are_allowed(kinds):
    document = stacked(
        extra=[
            {
                "id": "write_doubt",
                "type": "annotation-writer",
                "inputs": [
                    {"node_id": "threshold", "port": "doubt"},
                    {"node_id": "threshold", "port": "doubt_inputs"},
                ],
            }
        ]
    )

    assert problems_of(document, kinds) == []


def test_given_a_malformed_document_then_parsing_names_the_node(kinds):
    document = {
        "nodes": [
            {"id": "input", "type": "input"},
            {"id": "x", "type": "random-sampler", "inputs": "input", "params": []},
            {"type": "input"},
        ]
    }

    problems = problems_of(document, kinds)

    assert ("x", "inputs", "inputs must be a list.") in problems
    assert ("x", "params", "params must be an object.") in problems
    assert (None, "id", "Node #3 has no id.") in problems
    assert problems_of({"edges": []}, kinds) == [
        (None, "nodes", "A workflow is an object with a list of nodes.")
    ]
