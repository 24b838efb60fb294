"""``concept-synonym-mapper``: concepts renamed through a synonym table.

The table maps a concept id or name (as a string) to the concept it stands for; the caller
passes the taxonomy's table in the run's context, and the node's own ``table`` param adds
to (and overrides) it. Columns that map onto the same concept merge: the best score wins
and the label is on when any of them is. Concepts the table does not name are kept as they
are, or dropped (``unmapped: drop``). Thresholds carry over to a column that stays one
column; a merged column has none (threshold it again downstream). An exclusive group keeps
the columns it maps onto, and is no group any more once fewer than two remain.
"""

import numpy as np

from workflows.params import Param
from workflows.ports import Concepts, PortType
from workflows.spec import NodeKind, Port

KEEP, DROP = "keep", "drop"


def concepts_map(concepts: Concepts, table: dict, *, unmapped: str = KEEP) -> Concepts:
    targets: list = []  # the output concept of each output column, in first-seen order
    column_of: dict = {}
    source_columns: list[list[int]] = []
    for column, cid in enumerate(concepts.concept_ids):
        target = table.get(str(cid), cid if unmapped == KEEP else None)
        if target is None:
            continue
        if target not in column_of:
            column_of[target] = len(targets)
            targets.append(target)
            source_columns.append([])
        source_columns[column_of[target]].append(column)
    n = len(concepts)
    scores = np.full((n, len(targets)), -np.inf)
    labels = np.zeros((n, len(targets)), dtype=bool)
    for out, columns in enumerate(source_columns):
        scores[:, out] = concepts.scores[:, columns].max(axis=1)
        labels[:, out] = concepts.labels[:, columns].any(axis=1)
    new_column = {c: out for out, columns in enumerate(source_columns) for c in columns}

    def carried(values):
        if values is None:
            return None
        return tuple(values[cols[0]] if len(cols) == 1 else None for cols in source_columns)

    groups = []
    for group in concepts.groups:
        mapped = tuple(dict.fromkeys(new_column[c] for c in group if c in new_column))
        if len(mapped) >= 2:
            groups.append(mapped)
    return Concepts(
        tuple(targets),
        scores,
        labels,
        tuple(groups),
        carried(concepts.tuned),
        carried(concepts.thresholds),
        concepts.source,
    )


def _run(inputs, params, node_id, context) -> dict:
    table = {str(k): v for k, v in {**context.synonyms, **params["table"]}.items()}
    return {"concepts": concepts_map(inputs["concepts"], table, unmapped=params["unmapped"])}


KIND = NodeKind(
    name="concept-synonym-mapper",
    title="Concept synonym mapper",
    inputs=(Port("concepts", PortType.CONCEPTS, "Concepts to rename."),),
    outputs=(Port("concepts", PortType.CONCEPTS, "The same scores under the mapped concepts."),),
    params=(
        Param(
            "table",
            dict,
            {},
            "Concept id or name -> concept it stands for; added to the taxonomy's synonyms.",
        ),
        Param(
            "unmapped",
            str,
            KEEP,
            "keep or drop the concepts no synonym names.",
            choices=(KEEP, DROP),
        ),
    ),
    run=_run,
)
