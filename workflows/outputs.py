"""Node outputs as JSON, for a dry run's answer: one input, every port of every node."""

import numpy as np

from workflows.ports import Concepts, Crops, Images, Matches, Regions


def _round(values, places=4) -> list:
    return [None if not np.isfinite(v) else round(float(v), places) for v in values]


def value_json(value, names: dict) -> object:
    """A port's value (a batch) as JSON; ``names``: concept id -> {"key", "name"}."""
    if isinstance(value, Images):
        sizes = None if value.sizes is None else np.asarray(value.sizes).tolist()
        return {"type": "image", "input_ids": np.asarray(value.input_ids).tolist(), "sizes": sizes}
    if isinstance(value, Concepts):
        rows = []
        for i in range(len(value)):
            items = []
            for c, concept_id in enumerate(value.concept_ids):
                threshold = (value.thresholds or value.tuned or [None] * len(value.concept_ids))[c]
                items.append(
                    {
                        "concept_id": concept_id,
                        **names.get(concept_id, {"key": str(concept_id), "name": ""}),
                        "score": _round([value.scores[i, c]])[0],
                        "label": bool(value.labels[i, c]),
                        "threshold": threshold,
                    }
                )
            items.sort(key=lambda item: -(item["score"] or 0))
            rows.append(items)
        return {"type": "concepts", "source": value.source, "inputs": rows}
    if isinstance(value, Regions):
        return {
            "type": "regions",
            "input_index": np.asarray(value.input_index).tolist(),
            "boxes": [_round(b) for b in np.asarray(value.boxes)],
        }
    if isinstance(value, Crops):
        return {
            "type": "crops",
            "boxes": np.asarray(value.boxes).tolist(),
            "dropped": [list(d) for d in value.dropped],
        }
    if isinstance(value, Matches):
        return {"type": "matches", "inputs": [value.row(i) for i in range(len(value))]}
    array = np.asarray(value)
    if array.dtype == bool:
        return {"type": "selection", "inputs": array.tolist()}
    if array.ndim == 2:
        return {
            "type": "embedding",
            "dim": int(array.shape[1]),
            "norm": _round(np.linalg.norm(array, axis=1)),
            "head": [_round(row[:6]) for row in array],
        }
    return {"type": "value", "value": repr(value)[:200]}


def result_json(result, names: dict, order: list[str]) -> dict:
    """Every node's outputs (suppressed ones left out) and the rows writers would write."""
    nodes = {}
    for node_id in order:
        if node_id not in result.outputs:
            continue
        entry = {port: value_json(v, names) for port, v in result.outputs[node_id].items()}
        if node_id in result.rows_by_node:
            entry["rows"] = [
                {
                    "status": row.status,
                    "band": row.band,
                    "labels": [
                        {"concept_id": c, **names.get(c, {}), "score": s} for c, s in row.labels
                    ],
                    # boxes, and labels on a box (``parent``: its index in this list)
                    "regions": [
                        {
                            "concept_id": c,
                            **names.get(c, {}),
                            "box": list(box),
                            "score": s,
                            "parent": parent,
                        }
                        for c, box, s, parent in row.regions
                    ],
                }
                for row in result.rows_by_node[node_id]
            ]
        nodes[node_id] = entry
    return nodes
