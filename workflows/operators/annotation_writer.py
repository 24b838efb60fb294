"""``annotation-writer``: the rows of annotations to write. The only node that writes; this
is its pure decision, the caller writes the rows through the portal's one annotation writer.

What it writes depends on what is wired:

- ``concepts``: whole-image labels. An input gets a row when it is selected (all inputs
  carrying a label when no selection is wired) and carries at least one label.
- ``regions``: a detector's boxes. An input gets a row when it is selected and has a box.
- ``concepts`` + ``crops`` + ``regions`` (the stacked workflow detector -> cropper ->
  classifier): the concepts' rows are crops; each crop whose classification carries a label
  writes its region (the detected box) with the labels as regions on the same box, children
  of it. ``inputs`` then selects crops.

Scores are rounded to 4 places, as routing stores them. The provenance records the model
version that scored (``version``, ``model``) and each label's score and threshold; the
caller stores the workflow version and the writer node beside it (the annotation's own
columns).
"""

from dataclasses import dataclass

import numpy as np

from workflows.params import Param
from workflows.ports import Concepts, Crops, PortType, Regions
from workflows.spec import NodeKind, Port

ACCEPTED, PENDING_REVIEW = "accepted", "pending_review"


@dataclass(frozen=True)
class AnnotationRow:
    input_id: int
    status: str  # accepted | pending_review
    band: str  # auto | doubt | "" (the model's band, for the review rules)
    labels: list[tuple]  # (concept id, score)
    provenance: dict
    # (concept id, (x, y, w, h), score, index of the parent region in this list or None)
    regions: list[tuple] = ()


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


def _box(boxes: np.ndarray, i: int) -> tuple[float, float, float, float]:
    return tuple(round(float(v), 6) for v in boxes[i])


def _limit(value) -> float | None:
    return None if value is None or not np.isfinite(value) else round(float(value), 4)


def region_rows(
    regions: Regions,
    selection: np.ndarray | None,
    input_ids: np.ndarray,
    *,
    status: str,
    band: str,
    spot_check: bool,
) -> list[AnnotationRow]:
    """A row per selected image with at least one box, its boxes in order."""
    index = np.asarray(regions.input_index, dtype=int)
    keep = np.ones(len(index), dtype=bool) if selection is None else selection[index]
    boxes = np.asarray(regions.boxes, dtype=np.float64).reshape(-1, 4)
    scores = np.zeros(len(index)) if regions.scores is None else np.asarray(regions.scores)
    limits = regions.thresholds if regions.thresholds is not None else [None] * len(index)
    by_input: dict[int, list[int]] = {}
    for i in np.flatnonzero(keep).tolist():
        by_input.setdefault(int(index[i]), []).append(i)
    ids = np.asarray(input_ids)
    out = []
    for row, members in sorted(by_input.items()):
        out.append(
            AnnotationRow(
                input_id=int(ids[row]),
                status=status,
                band=band,
                labels=[],
                provenance={
                    **regions.source,
                    "boxes": [
                        {
                            "concept": regions.concept_ids[i],
                            "score": round(float(scores[i]), 4),
                            "threshold": _limit(limits[i]),
                        }
                        for i in members
                    ],
                    "spot_check": spot_check,
                },
                regions=[
                    (regions.concept_ids[i], _box(boxes, i), round(float(scores[i]), 4), None)
                    for i in members
                ],
            )
        )
    return out


def crop_rows(
    concepts: Concepts,
    crops: Crops,
    regions: Regions,
    selection: np.ndarray | None,
    input_ids: np.ndarray,
    *,
    status: str,
    band: str,
    spot_check: bool,
) -> list[AnnotationRow]:
    """A row per image with a labeled crop: each such crop's detected box, and its labels as
    child regions on the same box."""
    if len(concepts) != len(crops):
        raise ValueError(
            f"the concepts have {len(concepts)} rows but there are {len(crops)} crops: "
            "classify the crops' embeddings"
        )
    labels = concepts.labels if selection is None else concepts.labels & selection[:, None]
    boxes = np.asarray(regions.boxes, dtype=np.float64).reshape(-1, 4)
    region_scores = np.zeros(len(boxes)) if regions.scores is None else regions.scores
    limits = list(concepts.thresholds or concepts.tuned or [None] * len(concepts.concept_ids))
    ids = np.asarray(input_ids)
    by_input: dict[int, list[int]] = {}
    for k in np.flatnonzero(labels.any(axis=1)).tolist():
        by_input.setdefault(int(crops.input_index[k]), []).append(k)
    out = []
    for row, crop_list in sorted(by_input.items()):
        written, checks = [], []
        for k in crop_list:
            r = int(crops.region_index[k])
            parent = len(written)
            written.append(
                (
                    regions.concept_ids[r] if regions.concept_ids else None,
                    _box(boxes, r),
                    round(float(region_scores[r]), 4),
                    None,
                )
            )
            for c in np.flatnonzero(labels[k]).tolist():
                score = round(float(concepts.scores[k, c]), 4)
                written.append((concepts.concept_ids[c], _box(boxes, r), score, parent))
                checks.append(
                    {
                        "region": parent,
                        "concept": concepts.concept_ids[c],
                        "score": score,
                        "threshold": _limit(limits[c]),
                    }
                )
        out.append(
            AnnotationRow(
                input_id=int(ids[row]),
                status=status,
                band=band,
                labels=[],
                provenance={
                    **concepts.source,
                    "detector": dict(regions.source),
                    "regions": checks,
                    "spot_check": spot_check,
                },
                regions=written,
            )
        )
    return out


def _run(inputs, params, node_id, context) -> dict:
    concepts, regions, crops = inputs.get("concepts"), inputs.get("regions"), inputs.get("crops")
    selection = inputs.get("inputs")
    options = {
        "status": params["status"],
        "band": params["band"],
        "spot_check": params["spot_check"],
    }
    n = len(context.input_ids)
    if concepts is not None and crops is not None:
        if regions is None:
            raise ValueError("wire the regions the crops were cut from")
        rows = crop_rows(concepts, crops, regions, selection, context.input_ids, **options)
    elif concepts is not None:
        rows = annotation_rows(concepts, selection, context.input_ids, **options)
    elif regions is not None:
        rows = region_rows(regions, selection, context.input_ids, **options)
    else:
        raise ValueError("wire concepts or regions to write")
    written = np.zeros(n, dtype=bool)
    positions = {int(i): p for p, i in enumerate(np.asarray(context.input_ids).tolist())}
    for row in rows:
        written[positions[row.input_id]] = True
    return {"written": written, "rows": rows}


KIND = NodeKind(
    name="annotation-writer",
    title="Annotation writer",
    inputs=(
        Port("concepts", PortType.CONCEPTS, "The labels (with scores) to write.", False),
        Port("regions", PortType.REGIONS, "Boxes to write (or the crops' regions).", False),
        Port("crops", PortType.CROPS, "With concepts: the concepts' rows are these crops.", False),
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
    one_of=("concepts", "regions"),
    needs=(("crops", "concepts"), ("crops", "regions")),
)
