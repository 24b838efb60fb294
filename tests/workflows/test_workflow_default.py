"""The default workflow is today's routing: same bands, labels, spot checks and provenance
as ``training.ml.routing.route`` plus ``training.services.routing._write``'s rules."""

import time

import numpy as np
import pytest

from labeling.review_rules import draw
from training.ml.layout import Layout
from training.ml.routing import route
from workflows.default import default_workflow
from workflows.engine import plan_compile
from workflows.ports import Concepts, Images
from workflows.spec import Context, parse

# two exclusive groups (concepts 1-3 and 4-5) and two singles (6, 7)
LAYOUT = Layout.from_choices(
    [(1, 100), (2, 100), (3, 100), (4, 200), (5, 200), (6, None), (7, None)]
)
THRESHOLDS = [0.6, 0.55, None, 0.7, 0.7, 0.8, None]  # None: target precision out of reach
VERSION_ID, VERSION_NUMBER = 12, 4


def scores_for(n: int, seed: int) -> np.ndarray:
    """A classifier's output: softmax per group, sigmoid per single."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(scale=2.5, size=(n, LAYOUT.width))
    probs = 1 / (1 + np.exp(-logits))
    for group in LAYOUT.groups:
        columns = list(group)
        e = np.exp(logits[:, columns])
        probs[:, columns] = e / e.sum(axis=1, keepdims=True)
    return probs


def default_plan(kinds, *, band: float, spot_rate: float):
    document = default_workflow(
        embedder={"type": "embedder", "version": "live"},
        classifier={"type": "context-classifier", "id": 1, "version": "live"},
        doubt_band=band,
        spot_check_rate=spot_rate,
    )
    return plan_compile(parse(document), kinds)


def fake_runners(probs: np.ndarray) -> dict:
    def classify(inputs, context):
        # the lead's runner: the live version's head on stored embeddings
        return {
            "concepts": Concepts.scored(
                LAYOUT.concept_ids,
                probs,
                groups=LAYOUT.groups,
                tuned=tuple(THRESHOLDS),
                source={"version": VERSION_NUMBER, "model": "routing"},
            )
        }

    return {
        "embed": lambda inputs, context: {"embedding": np.zeros((len(probs), 4))},
        "classify": classify,
    }


def run_default(kinds, ids, probs, *, band, spot_rate):
    plan = default_plan(kinds, band=band, spot_rate=spot_rate)
    context = Context(input_ids=ids, workflow_version=1, seed=-VERSION_ID)
    return plan.run(Images(ids), runners=fake_runners(probs), context=context)


@pytest.mark.parametrize("band", [0.0, 0.2])
def test_given_a_fixed_batch_then_the_default_workflow_routes_exactly_as_route(kinds, band):
    n = 3000
    ids = np.arange(5001, 5001 + n)
    probs = scores_for(n, seed=7)
    spot_rate = 0.25

    result = run_default(kinds, ids, probs, band=band, spot_rate=spot_rate)

    bands, labels = route(probs, LAYOUT, THRESHOLDS, band)
    by_input = {row.input_id: row for row in result.rows}
    assert len(by_input) == len(result.rows)  # one annotation per input at most
    got_bands = np.array(
        [by_input[i].band if i in by_input else "low" for i in ids.tolist()], dtype=object
    )
    assert got_bands.tolist() == bands.tolist()
    assert {"auto", "low"} <= set(bands.tolist())
    assert band == 0 or "doubt" in set(bands.tolist())
    for row_index, input_id in enumerate(ids.tolist()):
        row = by_input.get(input_id)
        expected = [LAYOUT.concept_ids[c] for c in np.flatnonzero(labels[row_index])]
        assert ([c for c, _ in row.labels] if row else []) == expected
        if row is None:
            continue
        spot = row.band == "auto" and draw(input_id, -VERSION_ID) < spot_rate
        assert row.provenance["spot_check"] is spot
        assert row.status == ("accepted" if row.band == "auto" and not spot else "pending_review")
        # today's provenance exactly (the workflow version and node go beside it)
        keys = [str(c) for c in expected]
        columns = np.flatnonzero(labels[row_index])
        assert row.provenance == {
            "version": VERSION_NUMBER,
            "model": "routing",
            "scores": dict(zip(keys, np.round(probs[row_index, columns], 4).tolist(), strict=True)),
            "thresholds": {k: THRESHOLDS[c] for k, c in zip(keys, columns, strict=True)},
            "spot_check": spot,
        }
    spot_checks = sum(r.provenance["spot_check"] for r in result.rows)
    assert 0 < spot_checks < (bands == "auto").sum()


def test_given_a_dry_run_of_one_input_then_every_node_shows_its_output(kinds):
    probs = scores_for(1, seed=1)

    result = run_default(kinds, np.array([77]), probs, band=0.2, spot_rate=0.05)

    assert list(result.outputs) == [
        "input",
        "embed",
        "classify",
        "threshold",
        "spot_check",
        "write_accepted",
        "write_spot_check",
        "write_doubt",
    ]
    bands, _ = route(probs, LAYOUT, THRESHOLDS, 0.2)
    assert bool(result.outputs["threshold"]["passed_inputs"][0]) == (bands[0] == "auto")


def test_given_100000_inputs_then_the_engine_routes_over_10000_a_second(kinds):
    n, batch = 100_000, 5000
    ids = np.arange(1, n + 1)
    probs = scores_for(n, seed=3)
    plan = default_plan(kinds, band=0.2, spot_rate=0.05)

    started = time.perf_counter()
    written = 0
    for start in range(0, n, batch):
        part = ids[start : start + batch]
        context = Context(input_ids=part, workflow_version=1, seed=-VERSION_ID)
        runners = fake_runners(probs[start : start + batch])
        written += len(plan.run(Images(part), runners=runners, context=context).rows)
    elapsed = time.perf_counter() - started

    assert written > 0
    # the benchmark's whole budget is 10 s; the engine must be a small part of it
    assert n / elapsed >= 10_000, f"{n / elapsed:.0f} inputs/s"
