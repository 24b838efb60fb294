"""``annotation-writer``: the rows of annotations to write. The only node that writes; this
is its pure decision, the caller writes the rows through the portal's one annotation writer.

An input gets a row when it is selected (all inputs carrying a label when no selection is
wired) and carries at least one label. Scores are rounded to 4 places, as routing stores
them. The provenance records the model version that scored (``version``, ``model``) and
each label's score and threshold; the caller stores the workflow version and the writer
node beside it (the annotation's own columns).
"""

from dataclasses import dataclass

import numpy as np

from workflows.params import Param
from workflows.ports import Concepts, PortType
from workflows.spec import NodeKind, Port

ACCEPTED, PENDING_REVIEW = "accepted", "pending_review"


@dataclass(frozen=True)
class AnnotationRow:
    input_id: int
    status: str  # accepted | pending_review
    band: str  # auto | doubt | "" (the model's band, for the review rules)
    labels: list[tuple]  # (concept id, score)
    provenance: dict


def annotation_rows(
    concepts: Concepts,
    selection: np.ndarray | None,
    input_ids: np.ndarray,
    *,
    status: str,
    band: str,
    spot_check: bool,
) -> list[AnnotationRow]:
    labels = concepts.labels if selection is None else concepts.labels & selection[:, None]
    rows = np.flatnonzero(labels.any(axis=1))
    if not len(rows):
        return []
    keys = [str(c) for c in concepts.concept_ids]
    ids = list(concepts.concept_ids)
    limits = list(concepts.thresholds or concepts.tuned or [None] * len(ids))
    limits = [None if t is None or not np.isfinite(t) else float(t) for t in limits]
    scores = np.round(concepts.scores[rows], 4).tolist()  # Python floats, once
    chosen = labels[rows]
    where_row, where_column = np.nonzero(chosen)
    starts = np.searchsorted(where_row, np.arange(len(rows) + 1)).tolist()
    columns_all = where_column.tolist()
    base = dict(concepts.source)
    out = []
    for k, input_id in enumerate(np.asarray(input_ids)[rows].tolist()):
        columns = columns_all[starts[k] : starts[k + 1]]
        row_scores = scores[k]
        out.append(
            AnnotationRow(
                input_id=input_id,
                status=status,
                band=band,
                labels=[(ids[c], row_scores[c]) for c in columns],
                provenance={
                    **base,
                    "scores": {keys[c]: row_scores[c] for c in columns},
                    "thresholds": {keys[c]: limits[c] for c in columns},
                    "spot_check": spot_check,
                },
            )
        )
    return out


def _run(inputs, params, node_id, context) -> dict:
    concepts = inputs["concepts"]
    selection = inputs.get("inputs")
    rows = annotation_rows(
        concepts,
        selection,
        context.input_ids,
        status=params["status"],
        band=params["band"],
        spot_check=params["spot_check"],
    )
    written = concepts.labels.any(axis=1)
    if selection is not None:
        written &= selection
    return {"written": written, "rows": rows}


KIND = NodeKind(
    name="annotation-writer",
    title="Annotation writer",
    inputs=(
        Port("concepts", PortType.CONCEPTS, "The labels (with scores) to write."),
        Port("inputs", PortType.SELECTION, "Which inputs to write (default: all labeled).", False),
    ),
    outputs=(Port("written", PortType.SELECTION, "The inputs written."),),
    params=(
        Param(
            "status",
            str,
            PENDING_REVIEW,
            "accepted: written as final (success); pending_review: waits for a person.",
            choices=(ACCEPTED, PENDING_REVIEW),
        ),
        Param(
            "band",
            str,
            "",
            "The model's band recorded on the annotation: auto, doubt, or empty.",
            choices=("auto", "doubt", ""),
        ),
        Param("spot_check", bool, False, "Mark the annotations as spot checks of auto labels."),
    ),
    run=_run,
    writes=True,
)
