"""``region-thresholder``: which of a detector's boxes pass their concept's threshold, which
are in doubt, and which images go back to the annotators.

Each box is at level 2 when its score passes its concept's threshold, 1 when it falls in the
doubt band (``band`` short of passing; from ``1 - band`` when the threshold is None, i.e.
out of reach) and 0 otherwise (dropped: too weak to show anyone). Per image:

- passed: some box passes and none is in doubt; its passing boxes are written as final;
- in doubt: some box is in doubt; its passing and doubtful boxes become a suggestion for
  review;
- failed: no box reaches the doubt band. The detector saw nothing it believes, which is
  where objects are missed: the image goes back to the annotators (first, when the queue
  orders by uncertainty). An image the detector finds empty is never labeled "empty" by it.
"""

import numpy as np

from workflows.operators.concept_thresholder import TABLE, TUNED, source_params
from workflows.params import Param
from workflows.ports import PortType, Regions
from workflows.spec import NodeKind, Port


def box_thresholds(
    regions: Regions, *, source: str, table: dict, default: float | None
) -> np.ndarray:
    """The threshold of every box (nan: none, never passes): its concept's tuned one, or the
    table's (concept id as a string -> number or None), ``default`` for the rest."""
    if source == TUNED:
        if regions.tuned is None:
            raise ValueError("the boxes carry no tuned thresholds (is a detector upstream?)")
        lookup, fallback = {str(k): v for k, v in regions.tuned.items()}, None
    else:
        lookup, fallback = table, default
    values = [lookup.get(str(c), fallback) for c in regions.concept_ids]
    return np.array([np.nan if v is None else float(v) for v in values], dtype=np.float64)


def regions_threshold(regions: Regions, limits: np.ndarray, *, n: int, band: float) -> dict:
    """The five outputs for a batch of ``n`` images (see the module)."""
    scores = np.asarray(regions.scores if regions.scores is not None else [], dtype=np.float64)
    index = np.asarray(regions.input_index, dtype=int)
    # the rule of ``training.ml.routing.box_levels`` (predictions on demand use that one;
    # this core imports nothing from training, and a test checks that the two agree)
    reachable = ~np.isnan(limits)
    passes = reachable & (scores >= np.where(reachable, limits, np.inf))
    near = ~passes & (scores >= np.where(reachable, limits, 1.0) - band) & (band > 0)
    has_pass = np.bincount(index[passes], minlength=n)[:n] > 0
    has_doubt = np.bincount(index[near], minlength=n)[:n] > 0
    passed_inputs = has_pass & ~has_doubt
    doubt_inputs = has_doubt
    applied = np.asarray(limits, dtype=np.float64)
    return {
        "passed": regions.subset(
            passes & passed_inputs[index], thresholds=applied[passes & passed_inputs[index]]
        ),
        "passed_inputs": passed_inputs,
        "doubt": regions.subset(
            (passes | near) & doubt_inputs[index],
            thresholds=applied[(passes | near) & doubt_inputs[index]],
        ),
        "doubt_inputs": doubt_inputs,
        "failed_inputs": ~passed_inputs & ~doubt_inputs,
    }


def _check(params: dict) -> list[tuple[str, str]]:
    if params["source"] == TABLE and not params["table"] and params["default_threshold"] is None:
        return [("table", "give thresholds per concept, or a default threshold.")]
    return []


def _run(inputs, params, node_id, context) -> dict:
    regions: Regions = inputs["regions"]
    limits = box_thresholds(
        regions, source=params["source"], table=params["table"], default=params["default_threshold"]
    )
    return regions_threshold(regions, limits, n=len(context.input_ids), band=params["doubt_band"])


KIND = NodeKind(
    name="region-thresholder",
    title="Region thresholder",
    inputs=(Port("regions", PortType.REGIONS, "A detector's boxes with their scores."),),
    outputs=(
        Port("passed", PortType.REGIONS, "The passing boxes of the images that pass."),
        Port("passed_inputs", PortType.SELECTION, "Images whose boxes all pass."),
        Port("doubt", PortType.REGIONS, "Passing and doubtful boxes of images in doubt."),
        Port("doubt_inputs", PortType.SELECTION, "Images with a box in the doubt band."),
        Port("failed_inputs", PortType.SELECTION, "Images with no believable box: annotators."),
    ),
    params=(
        *source_params("the detector version's tuned box thresholds"),
        Param(
            "doubt_band",
            float,
            0.3,
            "Boxes this far short of passing are in doubt (suggestions for review).",
            0.0,
            1.0,
        ),
    ),
    run=_run,
    check=_check,
)
