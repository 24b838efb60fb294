"""The workflow document and the node kinds it is made of.

A document is Clarifai's ``node_inputs`` shape::

    {"nodes": [
        {"id": "classify", "type": "model",
         "model": {"type": "context-classifier", "id": 3, "version": "live"},
         "inputs": [{"node_id": "embed", "port": "embedding"}],
         "params": {}, "suppress_output": false},
        ...]}

``parse`` turns it into frozen dataclasses (or a ``SpecError`` listing what is malformed);
``workflows.validate`` checks the graph against a ``Registry`` of node kinds. An input
entry names the source node and, when that node has several outputs, its output ``port``;
``into`` names the receiving port when the receiving node has two of the same type.

Operators are registered by name; model nodes get their ports from the model type's
descriptor (``ModelTypePorts``: what it consumes and produces), passed in by the caller, so
this module knows no model type.
"""

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from workflows.params import Param
from workflows.ports import PortType

MODEL = "model"
INPUT = "input"


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a workflow, rendered by the caller next to the node."""

    node_id: str | None  # None: the workflow as a whole
    field: str | None  # "inputs", "params.<name>", "model", "id", ...
    message: str

    def to_dict(self) -> dict:
        return {"node_id": self.node_id, "field": self.field, "message": self.message}


class SpecError(ValueError):
    def __init__(self, problems: list[Problem]):
        super().__init__("; ".join(p.message for p in problems))
        self.problems = problems


@dataclass(frozen=True)
class Port:
    name: str
    type: PortType
    help: str = ""
    required: bool = True


@dataclass(frozen=True)
class Context:
    """What a run knows beyond the values on the edges, supplied by the caller."""

    input_ids: np.ndarray  # (N,) the batch's input ids
    workflow_version: int | None = None
    seed: int = 0  # the seed of samplers whose own seed is null (e.g. -model version id)
    synonyms: Mapping[str, Any] = field(default_factory=dict)  # the taxonomy's table
    indexes: Mapping[str, Any] = field(default_factory=dict)  # name -> SearchIndex


# run(inputs by port name, cleaned params, node id, context) -> outputs by port name
Run = Callable[[dict[str, Any], dict[str, Any], str, Context], dict[str, Any]]


@dataclass(frozen=True)
class NodeKind:
    name: str
    title: str
    inputs: tuple[Port, ...]
    outputs: tuple[Port, ...]
    params: tuple[Param, ...] = ()
    run: Run | None = None  # None for model nodes: the caller injects a runner
    writes: bool = False  # an annotation writer
    # rules across params: params (defaults filled in) -> [(param name, message)]
    check: Callable[[dict], list[tuple[str, str]]] | None = None
    # optional input ports of which at least one must be fed (e.g. a writer's concepts or
    # regions), and ports that need another one beside them
    one_of: tuple[str, ...] = ()
    needs: tuple[tuple[str, str], ...] = ()

    def output(self, name: str) -> Port | None:
        return next((p for p in self.outputs if p.name == name), None)

    def describe(self) -> dict:
        """The kind as the API lists it."""

        def ports(items: tuple[Port, ...]) -> list[dict]:
            return [{"name": p.name, "type": str(p.type), "help": p.help} for p in items]

        return {
            "name": self.name,
            "title": self.title,
            "inputs": ports(self.inputs),
            "outputs": ports(self.outputs),
            "params": [p.describe() for p in self.params],
            "writes": self.writes,
        }


@dataclass(frozen=True)
class ModelTypePorts:
    """A model type as the workflow sees it: the ports it consumes and produces."""

    key: str
    consumes: tuple[Port, ...]
    produces: tuple[Port, ...]


INPUT_KIND = NodeKind(
    name=INPUT,
    title="Input",
    inputs=(),
    outputs=(Port("image", PortType.IMAGE, "The batch of inputs the workflow runs on."),),
    run=lambda inputs, params, node_id, context: {},  # the engine seeds its value
)


@dataclass(frozen=True)
class Registry:
    operators: Mapping[str, NodeKind]
    model_types: Mapping[str, ModelTypePorts]

    @classmethod
    def of(cls, operators: Iterable[NodeKind], model_types: Iterable[ModelTypePorts]):
        kinds = {INPUT: INPUT_KIND, **{k.name: k for k in operators}}
        return cls(kinds, {m.key: m for m in model_types})

    def kind(self, node: "Node") -> NodeKind | None:
        """The node's kind, or None when its type (or its model's type) is unknown."""
        if node.type != MODEL:
            return self.operators.get(node.type)
        model_type = self.model_types.get(str((node.model or {}).get("type")))
        if model_type is None:
            return None
        return NodeKind(
            name=f"{MODEL}:{model_type.key}",
            title=model_type.key,
            inputs=model_type.consumes,
            outputs=model_type.produces,
        )


@dataclass(frozen=True)
class NodeInput:
    node_id: str
    port: str | None = None  # the source's output port; None when it has only one
    into: str | None = None  # the receiving port; None: the one of the matching type


@dataclass(frozen=True)
class Node:
    id: str
    type: str
    inputs: tuple[NodeInput, ...] = ()
    params: Mapping[str, Any] = field(default_factory=dict)
    model: Mapping[str, Any] | None = None
    suppress_output: bool = False


@dataclass(frozen=True)
class Workflow:
    nodes: tuple[Node, ...]

    def node(self, node_id: str) -> Node | None:
        return next((n for n in self.nodes if n.id == node_id), None)

    def to_document(self) -> dict:
        nodes = []
        for n in self.nodes:
            item: dict[str, Any] = {"id": n.id, "type": n.type}
            if n.model is not None:
                item["model"] = dict(n.model)
            item["inputs"] = [
                {k: v for k, v in (("node_id", i.node_id), ("port", i.port), ("into", i.into)) if v}
                for i in n.inputs
            ]
            item["params"] = dict(n.params)
            item["suppress_output"] = n.suppress_output
            nodes.append(item)
        return {"nodes": nodes}


NODE_KEYS = {"id", "type", "model", "inputs", "params", "suppress_output"}


def parse(document: Any) -> Workflow:
    """The document as dataclasses; SpecError lists every malformed part, by node."""
    if not isinstance(document, dict) or not isinstance(document.get("nodes"), list):
        raise SpecError([Problem(None, "nodes", "A workflow is an object with a list of nodes.")])
    problems: list[Problem] = []
    nodes = []
    for position, raw in enumerate(document["nodes"]):
        node, found = _node(position, raw)
        problems += found
        if node is not None:
            nodes.append(node)
    if not nodes and not problems:
        problems.append(Problem(None, "nodes", "A workflow needs at least an input node."))
    if problems:
        raise SpecError(problems)
    return Workflow(tuple(nodes))


def _node(position: int, raw: Any) -> tuple[Node | None, list[Problem]]:
    if not isinstance(raw, dict):
        return None, [Problem(None, "nodes", f"Node #{position + 1} is not an object.")]
    node_id = raw.get("id")
    if not isinstance(node_id, str) or not node_id.strip():
        return None, [Problem(None, "id", f"Node #{position + 1} has no id.")]
    problems = [
        Problem(node_id, key, f"unknown key {key!r}.") for key in raw if key not in NODE_KEYS
    ]
    node_type = raw.get("type")
    if not isinstance(node_type, str) or not node_type:
        problems.append(Problem(node_id, "type", "type must be a node kind's name."))
    model = raw.get("model")
    if model is not None and not isinstance(model, dict):
        problems.append(Problem(node_id, "model", "model must be an object."))
    params = raw.get("params", {})
    if not isinstance(params, dict):
        problems.append(Problem(node_id, "params", "params must be an object."))
    suppress = raw.get("suppress_output", False)
    if not isinstance(suppress, bool):
        problems.append(Problem(node_id, "suppress_output", "suppress_output must be true/false."))
    inputs, found = _inputs(node_id, raw.get("inputs", []))
    problems += found
    if problems:
        return None, problems
    node = Node(node_id, node_type, inputs, dict(params), dict(model) if model else None, suppress)
    return node, []


def _inputs(node_id: str, raw: Any) -> tuple[tuple[NodeInput, ...], list[Problem]]:
    if not isinstance(raw, list):
        return (), [Problem(node_id, "inputs", "inputs must be a list.")]
    inputs, problems = [], []
    for item in raw:
        source = item.get("node_id") if isinstance(item, dict) else None
        port = item.get("port") if isinstance(item, dict) else None
        into = item.get("into") if isinstance(item, dict) else None
        if not isinstance(source, str) or not all(
            v is None or isinstance(v, str) for v in (port, into)
        ):
            problems.append(
                Problem(node_id, "inputs", 'each input is {"node_id": ..., "port": ...}.')
            )
            continue
        inputs.append(NodeInput(source, port or None, into or None))
    return tuple(inputs), problems
