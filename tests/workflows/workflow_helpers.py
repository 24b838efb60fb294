"""Helpers the workflow tests import (``from workflow_helpers import branching``): not in
conftest.py, since several conftest modules sit on the path and ``from conftest import``
would pick any of them."""


def branching(model_id: int, *, version="live", threshold: float = 0.6) -> dict:
    """classifier -> thresholder (a table) -> writer accepted / writer pending review."""
    return {
        "nodes": [
            {"id": "input", "type": "input"},
            {
                "id": "embed",
                "type": "model",
                "model": {"type": "embedder", "version": "live"},
                "inputs": [{"node_id": "input"}],
            },
            {
                "id": "classify",
                "type": "model",
                "model": {"type": "context-classifier", "id": model_id, "version": version},
                "inputs": [{"node_id": "embed"}],
            },
            {
                "id": "threshold",
                "type": "concept-thresholder",
                "inputs": [{"node_id": "classify"}],
                "params": {"source": "table", "default_threshold": threshold, "doubt_band": 0.3},
            },
            {
                "id": "accept",
                "type": "annotation-writer",
                "inputs": [
                    {"node_id": "threshold", "port": "passed"},
                    {"node_id": "threshold", "port": "passed_inputs"},
                ],
                "params": {"status": "accepted", "band": "auto"},
            },
            {
                "id": "review",
                "type": "annotation-writer",
                "inputs": [
                    {"node_id": "threshold", "port": "doubt"},
                    {"node_id": "threshold", "port": "doubt_inputs"},
                ],
                "params": {"status": "pending_review", "band": "doubt"},
            },
        ]
    }
