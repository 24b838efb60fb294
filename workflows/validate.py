"""Validation of a workflow graph: pure, returns every problem found, each naming its node.

Checked, in this order (later checks need the earlier ones to hold for that node):
1. each node's kind is known (and a model node names a known model type and a version);
2. ids are unique; exactly one ``input`` node;
3. every input names an existing node and one of its outputs, lands on a port of the same
   type ("node 'crop' takes regions but 'classify' gives concepts"), no port is fed twice
   and every required port is fed;
4. params: unknown, missing, of the wrong type, out of bounds, or against a kind's own rule;
5. the graph is acyclic (a cycle is reported with the nodes on it, in order);
6. no path from the input passes through two annotation writers.
"""

from dataclasses import dataclass, field

from workflows.params import param_problems, params_clean
from workflows.spec import (
    INPUT,
    MODEL,
    Node,
    NodeKind,
    Problem,
    Registry,
    SpecError,
    Workflow,
    parse,
)


@dataclass
class Analysis:
    """What validation learnt, reused by the engine: each node's kind, cleaned params, its
    bindings (receiving port -> (source node, source port)) and a topological order."""

    problems: list[Problem] = field(default_factory=list)
    kinds: dict[str, NodeKind] = field(default_factory=dict)
    params: dict[str, dict] = field(default_factory=dict)
    bindings: dict[str, dict[str, tuple[str, str]]] = field(default_factory=dict)
    order: list[str] = field(default_factory=list)


def validate(workflow: Workflow, registry: Registry) -> list[Problem]:
    return analyse(workflow, registry).problems


def validate_document(document, registry: Registry) -> list[Problem]:
    """Parse and validate a stored or posted document (the "validate without saving" call)."""
    try:
        workflow = parse(document)
    except SpecError as error:
        return error.problems
    return validate(workflow, registry)


def analyse(workflow: Workflow, registry: Registry) -> Analysis:
    result = Analysis()
    problems = result.problems
    seen: set[str] = set()
    for node in workflow.nodes:
        if node.id in seen:
            problems.append(Problem(node.id, "id", f"two nodes have the id {node.id!r}."))
        seen.add(node.id)
        kind = _kind(node, registry, problems)
        if kind is not None:
            result.kinds.setdefault(node.id, kind)
    entries = [n for n in workflow.nodes if n.type == INPUT]
    if not entries:
        problems.append(Problem(None, "nodes", "A workflow needs one input node; it has none."))
    for extra in entries[1:]:
        problems.append(
            Problem(extra.id, "type", f"only one input node is allowed ({entries[0].id!r} is).")
        )
    nodes = {}
    for node in workflow.nodes:
        nodes.setdefault(node.id, node)
    for node in nodes.values():
        kind = result.kinds.get(node.id)
        if kind is None:
            continue
        result.bindings[node.id] = _bind(node, kind, nodes, result.kinds, problems)
        found = param_problems(kind.params, dict(node.params))
        if not found:
            cleaned = params_clean(kind.params, dict(node.params))
            found = kind.check(cleaned) if kind.check else []
            result.params[node.id] = cleaned
        problems += [Problem(node.id, f"params.{name}", msg) for name, msg in found]
    edges = {
        node_id: sorted({source for source, _ in binding.values()})
        for node_id, binding in result.bindings.items()
    }
    cycles = _cycles(list(nodes), edges)
    for cycle in cycles:
        path = " -> ".join(repr(n) for n in [*cycle, cycle[0]])
        problems.append(Problem(cycle[0], "inputs", f"nodes {path} form a cycle."))
    if not cycles:
        result.order = _order(list(nodes), edges)
        problems += _writers_in_series(result.order, edges, result.kinds)
    return result


def _kind(node: Node, registry: Registry, problems: list[Problem]) -> NodeKind | None:
    if node.type == MODEL:
        model = node.model or {}
        if "type" not in model:
            problems.append(Problem(node.id, "model", "a model node needs model.type."))
            return None
        kind = registry.kind(node)
        if kind is None:
            problems.append(Problem(node.id, "model", f"unknown model type {model['type']!r}."))
            return None
        version = model.get("version", "live")
        if version != "live" and (
            isinstance(version, bool) or not isinstance(version, int) or version < 1
        ):
            problems.append(
                Problem(node.id, "model", 'model.version must be "live" or a version number.')
            )
        return kind
    if node.model is not None:
        problems.append(Problem(node.id, "model", f"a {node.type} node takes no model."))
    kind = registry.kind(node)
    if kind is None:
        known = ", ".join(sorted([*registry.operators, MODEL]))
        problems.append(
            Problem(node.id, "type", f"unknown node type {node.type!r} (known: {known}).")
        )
    return kind


def _bind(node, kind, nodes, kinds, problems) -> dict[str, tuple[str, str]]:
    """Receiving port -> (source node, source port), reporting what does not fit."""
    bound: dict[str, tuple[str, str]] = {}
    receiving = {p.name: p for p in kind.inputs}
    for entry in node.inputs:
        source = nodes.get(entry.node_id)
        if source is None:
            problems.append(
                Problem(
                    node.id, "inputs", f"input {entry.node_id!r} is not a node of this workflow."
                )
            )
            continue
        source_kind = kinds.get(source.id)
        if source_kind is None:
            continue  # its own problem is reported already
        if entry.port is None:
            if len(source_kind.outputs) != 1:
                names = ", ".join(p.name for p in source_kind.outputs) or "none"
                problems.append(
                    Problem(
                        node.id, "inputs", f"say which output of {source.id!r} (one of {names})."
                    )
                )
                continue
            given = source_kind.outputs[0]
        else:
            given = source_kind.output(entry.port)
            if given is None:
                names = ", ".join(p.name for p in source_kind.outputs) or "none"
                problems.append(
                    Problem(
                        node.id,
                        "inputs",
                        f"{source.id!r} has no output {entry.port!r} (it has {names}).",
                    )
                )
                continue
        if entry.into is not None:
            port = receiving.get(entry.into)
            if port is None:
                problems.append(
                    Problem(
                        node.id,
                        f"inputs.{entry.into}",
                        f"node {node.id!r} has no input {entry.into!r}.",
                    )
                )
                continue
            candidates = [port] if port.type == given.type else []
        else:
            candidates = [p for p in kind.inputs if p.type == given.type and p.name not in bound]
            if not candidates:
                candidates = [p for p in kind.inputs if p.type == given.type]
        if not candidates:
            takes = " or ".join(dict.fromkeys(str(p.type) for p in kind.inputs)) or "no input"
            if entry.into is not None:
                takes = str(receiving[entry.into].type)
            problems.append(
                Problem(
                    node.id,
                    f"inputs.{entry.into or given.name}",
                    f"node {node.id!r} takes {takes} but {source.id!r} gives {given.type}.",
                )
            )
            continue
        port = candidates[0]
        if port.name in bound:
            problems.append(
                Problem(node.id, f"inputs.{port.name}", f"input {port.name!r} is given twice.")
            )
            continue
        bound[port.name] = (source.id, given.name)
    for port in kind.inputs:
        if port.required and port.name not in bound:
            problems.append(
                Problem(
                    node.id,
                    f"inputs.{port.name}",
                    f"node {node.id!r} needs {port.type} on {port.name!r}; no input gives it.",
                )
            )
    if kind.one_of and not any(name in bound for name in kind.one_of):
        names = " or ".join(repr(n) for n in kind.one_of)
        problems.append(
            Problem(node.id, "inputs", f"node {node.id!r} needs {names}; no input gives either.")
        )
    for name, other in kind.needs:
        if name in bound and other not in bound:
            problems.append(
                Problem(
                    node.id,
                    f"inputs.{other}",
                    f"node {node.id!r} takes {name!r} only with {other!r} beside it.",
                )
            )
    return bound


def _cycles(nodes: list[str], edges: dict[str, list[str]]) -> list[list[str]]:
    """Each cycle (strongly connected part, or a node feeding itself) in path order."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(start: str) -> None:  # Tarjan, iterative so a long chain cannot overflow
        work = [(start, iter(edges.get(start, [])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, successors = work[-1]
            nxt = next(successors, None)
            if nxt is not None:
                if nxt not in index:
                    index[nxt] = low[nxt] = len(index)
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, iter(edges.get(nxt, []))))
                elif nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                part = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    part.append(member)
                    if member == node:
                        break
                if len(part) > 1 or node in edges.get(node, []):
                    found.append(_cycle_path(set(part), edges))

    for node in nodes:
        if node not in index:
            visit(node)
    return found


def _cycle_path(part: set[str], edges: dict[str, list[str]]) -> list[str]:
    """One cycle through the part, written in the direction data flows."""
    start = min(part)
    path, seen = [start], {start}
    while True:
        # edges point from a node to its sources; walk them, then reverse for data order
        nxt = next(s for s in edges.get(path[-1], []) if s in part)
        if nxt in seen:
            path = path[path.index(nxt) :]
            break
        path.append(nxt)
        seen.add(nxt)
    path.reverse()
    return path


def _order(nodes: list[str], edges: dict[str, list[str]]) -> list[str]:
    """Sources first; of the nodes that are ready, the first in the document goes next."""
    waiting = {n: set(edges.get(n, [])) for n in nodes}
    order: list[str] = []
    done: set[str] = set()
    while len(order) < len(nodes):
        ready = next(n for n in nodes if n not in done and waiting[n] <= done)
        order.append(ready)
        done.add(ready)
    return order


def _writers_in_series(order, edges, kinds) -> list[Problem]:
    """A writer fed, through any path, by another writer would label its inputs twice."""
    writers_before: dict[str, set[str]] = {}
    problems = []
    for node in order:
        upstream: set[str] = set()
        for source in edges.get(node, []):
            upstream |= writers_before[source]
            if kinds.get(source) is not None and kinds[source].writes:
                upstream.add(source)
        writers_before[node] = upstream
        kind = kinds.get(node)
        if kind is not None and kind.writes and upstream:
            names = ", ".join(repr(w) for w in sorted(upstream))
            problems.append(
                Problem(
                    node,
                    "inputs",
                    f"two annotation writers on one path: {node!r} writes after {names}.",
                )
            )
    return problems
