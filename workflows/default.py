"""The default workflow of a project: today's routing (``training.ml.routing.route`` and
``training.services.routing``) as a graph.

    input -> embed (embedder) -> classify (context classifier, tuned thresholds)
      -> threshold (rule complete, doubt band)
           passed  -> spot_check (random sampler, the spot-check rate)
                        rest    -> write_accepted      (accepted, band auto)
                        sampled -> write_spot_check    (pending review, band auto, spot check)
           doubt   -> write_doubt (pending review, band doubt)
           failed  -> nothing: back to the annotators

The exclusive groups come with the classifier's scores (``Concepts.groups``), its tuned
thresholds as ``Concepts.tuned``, and the spot-check seed is the run's (the caller passes
``-version.id`` as today). Which review tier a pending annotation waits in stays the review
rules' decision, made from each row's band and spot-check flag.
"""

from typing import Any


def _writer(node_id, sources, status, band, spot_check=False):
    return {
        "id": node_id,
        "type": "annotation-writer",
        "inputs": [{"node_id": s, "port": p} for s, p in sources],
        "params": {"status": status, "band": band, "spot_check": spot_check},
    }


def default_workflow(
    *,
    embedder: dict[str, Any],
    classifier: dict[str, Any],
    doubt_band: float,
    spot_check_rate: float,
) -> dict:
    """The document; ``embedder`` and ``classifier`` are model references
    (``{"type": ..., "id": ..., "version": "live"}``)."""

    writer = _writer
    return {
        "nodes": [
            {"id": "input", "type": "input"},
            {"id": "embed", "type": "model", "model": embedder, "inputs": [{"node_id": "input"}]},
            {
                "id": "classify",
                "type": "model",
                "model": classifier,
                "inputs": [{"node_id": "embed"}],
            },
            {
                "id": "threshold",
                "type": "concept-thresholder",
                "inputs": [{"node_id": "classify"}],
                "params": {"source": "tuned", "rule": "complete", "doubt_band": doubt_band},
            },
            {
                "id": "spot_check",
                "type": "random-sampler",
                "inputs": [{"node_id": "threshold", "port": "passed_inputs"}],
                "params": {"fraction": spot_check_rate, "seed": None},
            },
            writer(
                "write_accepted",
                [("threshold", "passed"), ("spot_check", "rest")],
                "accepted",
                "auto",
            ),
            writer(
                "write_spot_check",
                [("threshold", "passed"), ("spot_check", "sampled")],
                "pending_review",
                "auto",
                spot_check=True,
            ),
            writer(
                "write_doubt",
                [("threshold", "doubt"), ("threshold", "doubt_inputs")],
                "pending_review",
                "doubt",
            ),
        ]
    }


def _detection(detector: dict[str, Any], box_params: dict) -> list[dict]:
    """input -> detect (``detector``) -> boxes (a region-thresholder with ``box_params``):
    how every detector's graph starts."""
    return [
        {"id": "input", "type": "input"},
        {"id": "detect", "type": "model", "model": detector, "inputs": [{"node_id": "input"}]},
        {
            "id": "boxes",
            "type": "region-thresholder",
            "inputs": [{"node_id": "detect"}],
            "params": box_params,
        },
    ]


def detector_workflow(
    *, detector: dict[str, Any], doubt_band: float, spot_check_rate: float
) -> dict:
    """A detector's routing, the boxes' counterpart of the default workflow:

    input -> detect (the live detector, tuned box thresholds)
      -> boxes (region-thresholder, doubt band)
           passed  -> spot_check -> write_accepted / write_spot_check (as above)
           doubt   -> write_doubt (pending review)
           failed  -> nothing: no believable box, back to the annotators
    """
    return {
        "nodes": [
            *_detection(detector, {"source": "tuned", "doubt_band": doubt_band}),
            {
                "id": "spot_check",
                "type": "random-sampler",
                "inputs": [{"node_id": "boxes", "port": "passed_inputs"}],
                "params": {"fraction": spot_check_rate, "seed": None},
            },
            _writer(
                "write_accepted", [("boxes", "passed"), ("spot_check", "rest")], "accepted", "auto"
            ),
            _writer(
                "write_spot_check",
                [("boxes", "passed"), ("spot_check", "sampled")],
                "pending_review",
                "auto",
                spot_check=True,
            ),
            _writer(
                "write_doubt",
                [("boxes", "doubt"), ("boxes", "doubt_inputs")],
                "pending_review",
                "doubt",
            ),
        ]
    }


def stacked_workflow(
    *,
    detector: dict[str, Any],
    embedder: dict[str, Any],
    classifier: dict[str, Any],
    box_threshold: float = 0.5,
    label_threshold: float | None = None,
    status: str = "pending_review",
) -> dict:
    """Detector -> cropper -> classifier on crops, labeling each detected box:

    input -> detect (a detector) -> boxes (region-thresholder: boxes scoring
             ``box_threshold`` or more, no doubt band)
          -> crop (image-cropper on the passing boxes) -> embed (embedder, of each crop)
          -> classify (a context classifier trained on crops, ``crops`` = 1)
          -> labels (concept-thresholder: the classifier's tuned thresholds, or
             ``label_threshold`` for every concept)
          -> write (each box whose crop got a label: the box, and the label as a region on
             the same box, its child; ``status``)
    """
    return {
        "nodes": [
            *_detection(
                detector,
                {"source": "table", "default_threshold": box_threshold, "doubt_band": 0.0},
            ),
            {
                "id": "crop",
                "type": "image-cropper",
                "inputs": [{"node_id": "input"}, {"node_id": "boxes", "port": "passed"}],
            },
            {
                "id": "embed",
                "type": "model",
                "model": embedder,
                "inputs": [{"node_id": "input"}, {"node_id": "crop"}],
            },
            {
                "id": "classify",
                "type": "model",
                "model": classifier,
                "inputs": [{"node_id": "embed"}],
            },
            {
                "id": "labels",
                "type": "concept-thresholder",
                "inputs": [{"node_id": "classify"}],
                "params": (
                    {"source": "tuned"}
                    if label_threshold is None
                    else {"source": "table", "default_threshold": label_threshold}
                ),
            },
            {
                "id": "write",
                "type": "annotation-writer",
                "inputs": [
                    {"node_id": "labels", "port": "passed"},
                    {"node_id": "crop", "port": "crops"},
                    {"node_id": "boxes", "port": "passed"},
                ],
                "params": {"status": status, "band": "auto" if status == "accepted" else ""},
            },
        ]
    }
