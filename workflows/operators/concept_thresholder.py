"""``concept-thresholder``: which labels pass their concept's threshold, which are in doubt.

Every *unit* (an exclusive group, whose score is its top option's, or a single concept) is
at level 2 when its score passes the threshold, 1 when it falls in the doubt band (``band``
short of passing) and 0 otherwise. A threshold of None (a target precision out of reach)
never passes; with ``greater``/``greater-or-equal`` its doubt band starts at ``1 - band``,
so a confident probability still reaches a reviewer.

Per input, under rule ``complete`` (today's routing, ``training.ml.routing.route``):
passed when every group passes and no single is in doubt (with no groups: some single
passes and none is in doubt); in doubt when not passed but every group is at least in doubt
(no groups: some single is). Under rule ``any``: passed when any label passes, in doubt
when none passes but some is in doubt. Everything else fails (back to the annotators).
"""

import numpy as np

from workflows.params import Param
from workflows.ports import Concepts, PortType
from workflows.spec import NodeKind, Port

GREATER, GREATER_OR_EQUAL, LESS = "greater", "greater-or-equal", "less"
TUNED, TABLE = "tuned", "table"
COMPLETE, ANY = "complete", "any"


def thresholds_pick(
    concepts: Concepts, *, source: str, table: dict, default: float | None
) -> tuple[float | None, ...]:
    """The threshold of each column: the model version's tuned ones, or the table's (keys are
    concept ids as strings, values a number or None), ``default`` for concepts it lacks."""
    if source == TUNED:
        if concepts.tuned is None:
            raise ValueError("the scores carry no tuned thresholds (is a model version upstream?)")
        return tuple(concepts.tuned)
    return tuple(table.get(str(cid), default) for cid in concepts.concept_ids)


def threshold(
    concepts: Concepts,
    thresholds: tuple[float | None, ...],
    *,
    comparator: str = GREATER_OR_EQUAL,
    band: float = 0.0,
    rule: str = ANY,
) -> dict:
    """The five outputs (see the kind) for a batch; vectorised over inputs."""
    scores = concepts.scores
    n, width = scores.shape
    if comparator == LESS:
        limits = np.array([-np.inf if t is None else t for t in thresholds], dtype=np.float64)
        doubt_from = limits + band
        passes, near = scores < limits, scores < doubt_from
    else:
        limits = np.array([np.inf if t is None else t for t in thresholds], dtype=np.float64)
        doubt_from = np.where(np.isinf(limits), 1.0 - band, limits - band)
        compare = np.greater if comparator == GREATER else np.greater_equal
        passes, near = compare(scores, limits), compare(scores, doubt_from)
    level = np.zeros((n, width), dtype=np.int8)
    level[near] = 1
    level[passes] = 2
    level[~concepts.labels] = 0

    labels = np.zeros((n, width), dtype=bool)
    rows = np.arange(n)
    group_levels = []
    grouped = np.zeros(width, dtype=bool)
    for group in concepts.groups:
        columns = np.array(group, dtype=int)
        grouped[columns] = True
        top = columns[scores[:, columns].argmax(axis=1)]
        top_level = level[rows, top]
        group_levels.append(top_level)
        labels[rows, top] = top_level > 0
    singles = np.flatnonzero(~grouped)
    single_levels = level[:, singles]
    labels[:, singles] = single_levels > 0

    if rule == COMPLETE:
        any_single_doubt = (single_levels == 1).any(axis=1)
        if group_levels:
            unit = np.min(np.stack(group_levels, axis=1), axis=1)
        else:
            unit = single_levels.max(axis=1) if len(singles) else np.zeros(n, dtype=np.int8)
        passed = (unit == 2) & ~any_single_doubt
        doubt = ~passed & (unit >= 1)
        passed_labels = labels & passed[:, None]
    else:
        kept = np.where(labels, level, 0)
        passed = (kept == 2).any(axis=1)
        doubt = ~passed & (kept == 1).any(axis=1)
        passed_labels = (kept == 2) & passed[:, None]
    applied = tuple(thresholds)

    def part(mask: np.ndarray) -> Concepts:
        return Concepts(
            concepts.concept_ids,
            scores,
            mask,
            concepts.groups,
            concepts.tuned,
            applied,
            concepts.source,
        )

    return {
        "passed": part(passed_labels),
        "passed_inputs": passed,
        "doubt": part(labels & doubt[:, None]),
        "doubt_inputs": doubt,
        "failed_inputs": ~passed & ~doubt,
    }


def source_params(tuned: str) -> tuple[Param, ...]:
    """Where thresholds come from (shared with the region thresholder): ``tuned`` says what
    the tuned ones are."""
    return (
        Param(
            "source",
            str,
            TUNED,
            f"tuned: {tuned}; table: the thresholds given here.",
            choices=(TUNED, TABLE),
        ),
        Param("table", dict, {}, "Concept id -> threshold (null: never passes), for source table."),
        Param(
            "default_threshold",
            float,
            None,
            "Threshold of concepts the table does not name (null: they never pass).",
            nullable=True,
        ),
    )


def _check(params: dict) -> list[tuple[str, str]]:
    problems = []
    if params["source"] == TABLE:
        if not params["table"] and params["default_threshold"] is None:
            problems.append(("table", "give thresholds per concept, or a default threshold."))
        for key, value in params["table"].items():
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, (int, float))
            ):
                problems.append(("table", f"the threshold of concept {key} must be a number."))
    return problems


def _run(inputs, params, node_id, context) -> dict:
    concepts = inputs["concepts"]
    limits = thresholds_pick(
        concepts,
        source=params["source"],
        table=params["table"],
        default=params["default_threshold"],
    )
    return threshold(
        concepts,
        limits,
        comparator=params["comparator"],
        band=params["doubt_band"],
        rule=params["rule"],
    )


KIND = NodeKind(
    name="concept-thresholder",
    title="Concept thresholder",
    inputs=(Port("concepts", PortType.CONCEPTS, "Scores to threshold."),),
    outputs=(
        Port("passed", PortType.CONCEPTS, "The labels that pass, on the inputs that pass."),
        Port("passed_inputs", PortType.SELECTION, "The inputs that pass."),
        Port("doubt", PortType.CONCEPTS, "Passing and doubtful labels of inputs in doubt."),
        Port("doubt_inputs", PortType.SELECTION, "The inputs in the doubt band."),
        Port("failed_inputs", PortType.SELECTION, "The rest: back to the annotators."),
    ),
    params=(
        *source_params("the model version's tuned thresholds"),
        Param(
            "comparator",
            str,
            GREATER_OR_EQUAL,
            "How a score passes: greater, greater-or-equal or less than the threshold.",
            choices=(GREATER, GREATER_OR_EQUAL, LESS),
        ),
        Param(
            "doubt_band",
            float,
            0.0,
            "Scores this far short of passing are in doubt (suggestions for review).",
            0.0,
            1.0,
        ),
        Param(
            "rule",
            str,
            ANY,
            "any: an input passes when any label does; complete: every exclusive group must "
            "pass and no label be in doubt (the routing rule).",
            choices=(ANY, COMPLETE),
        ),
    ),
    run=_run,
    check=_check,
)
