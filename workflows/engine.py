"""Running a workflow on one batch of inputs: pure, the caller injects the model runners.

``plan_compile`` validates once and fixes the order; ``Plan.run`` then costs one call per
node per batch (operators are vectorised over the batch, the engine has no per-input loop).
Routing runs batch after batch through the same plan; a dry run is ``run`` on a batch of
one, its ``outputs`` every node's output (but those marked ``suppress_output``).

A model node runs through ``runners[node_id](inputs, context)``, which returns a value for
each port the model type produces. Annotation writers return their rows under ``rows``;
the engine collects them in node order into ``RunResult.rows`` for the caller to write.
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from workflows.ports import Images
from workflows.spec import INPUT, Context, Problem, Registry, Workflow
from workflows.validate import analyse

Runner = Callable[[dict[str, Any], Context], dict[str, Any]]


class WorkflowInvalid(ValueError):
    def __init__(self, problems: list[Problem]):
        super().__init__("; ".join(p.message for p in problems))
        self.problems = problems


class NodeFailed(RuntimeError):
    """A node raised or returned the wrong thing; ``node_id`` names it."""

    def __init__(self, node_id: str, message: str):
        super().__init__(f"node {node_id!r}: {message}")
        self.node_id = node_id


@dataclass
class RunResult:
    outputs: dict[str, dict[str, Any]]  # node id -> port -> value (not suppressed ones)
    rows: list = field(default_factory=list)  # AnnotationRow of every writer, node order
    rows_by_node: dict[str, list] = field(default_factory=dict)


@dataclass(frozen=True)
class Plan:
    workflow: Workflow
    order: tuple[str, ...]
    kinds: Mapping
    params: Mapping[str, dict]
    bindings: Mapping[str, dict[str, tuple[str, str]]]

    @property
    def models(self) -> list[str]:
        """The model nodes, for which the caller must pass runners."""
        return [n for n in self.order if self.kinds[n].run is None]

    def run(
        self, images: Images, *, runners: Mapping[str, Runner], context: Context | None = None
    ) -> RunResult:
        context = context or Context(input_ids=images.input_ids)
        missing = [n for n in self.models if n not in runners]
        if missing:
            raise NodeFailed(missing[0], "no runner was given for this model node")
        values: dict[str, dict[str, Any]] = {}
        result = RunResult(outputs={})
        for node_id in self.order:
            kind = self.kinds[node_id]
            node_inputs = {
                port: values[source][source_port]
                for port, (source, source_port) in self.bindings[node_id].items()
            }
            if kind.name == INPUT:
                out = {"image": images}
            elif kind.run is None:
                out = self._model(node_id, runners[node_id], node_inputs, context)
            else:
                try:
                    out = kind.run(node_inputs, self.params[node_id], node_id, context)
                except (ValueError, KeyError, TypeError) as error:
                    raise NodeFailed(node_id, str(error)) from error
            if kind.writes:
                rows = out.pop("rows")
                result.rows_by_node[node_id] = rows
                result.rows += rows
            values[node_id] = out
            if not self.workflow.node(node_id).suppress_output:
                result.outputs[node_id] = out
        return result

    def _model(self, node_id, runner, node_inputs, context) -> dict:
        out = runner(node_inputs, context)
        produced = [p.name for p in self.kinds[node_id].outputs]
        lacking = [name for name in produced if name not in (out or {})]
        if lacking:
            raise NodeFailed(node_id, f"the model gave no {', '.join(lacking)}")
        return out


def plan_compile(workflow: Workflow, registry: Registry) -> Plan:
    """Validate and fix the order; WorkflowInvalid lists the problems."""
    analysis = analyse(workflow, registry)
    if analysis.problems:
        raise WorkflowInvalid(analysis.problems)
    return Plan(
        workflow,
        tuple(analysis.order),
        analysis.kinds,
        analysis.params,
        analysis.bindings,
    )
