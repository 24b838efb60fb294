"""annotation-writer: the rows to write, with labels, scores and provenance."""

import numpy as np

from workflows.operators.annotation_writer import annotation_rows
from workflows.ports import Concepts


def test_given_selected_labeled_inputs_then_each_gets_one_row_with_provenance():
    concepts = Concepts(
        (5, 6),
        np.array([[0.912345, 0.2], [0.3, 0.81], [0.95, 0.99]]),
        np.array([[True, False], [False, True], [True, True]]),
        thresholds=(0.9, None),
        source={"version": 3, "model": "routing"},
    )

    rows = annotation_rows(
        concepts,
        np.array([True, True, False]),
        np.array([40, 41, 42]),
        status="accepted",
        band="auto",
        spot_check=False,
    )

    assert [r.input_id for r in rows] == [40, 41]
    assert rows[0].labels == [(5, 0.9123)]
    assert rows[0].status == "accepted" and rows[0].band == "auto"
    assert rows[0].provenance == {
        "version": 3,
        "model": "routing",
        "scores": {"5": 0.9123},
        "thresholds": {"5": 0.9},
        "spot_check": False,
    }
    # an unreachable threshold is recorded as null
    assert rows[1].provenance["thresholds"] == {"6": None}


def test_given_no_selection_then_every_input_with_a_label_is_written_and_no_empty_row():
    concepts = Concepts((1,), np.array([[0.5], [0.6]]), np.array([[False], [True]]), tuned=(0.55,))

    rows = annotation_rows(
        concepts,
        None,
        np.array([7, 8]),
        status="pending_review",
        band="doubt",
        spot_check=False,
    )

    assert [(r.input_id, r.status, r.labels) for r in rows] == [(8, "pending_review", [(1, 0.6)])]
    assert rows[0].provenance["thresholds"] == {"1": 0.55}
