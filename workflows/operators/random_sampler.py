"""``random-sampler``: keep a fraction of the selected inputs, the same ones on every run.

Each input draws a fixed number in [0, 1) from its id and the seed (blake2b of
``"<id>:<seed>"``, the first 8 bytes as a fraction of 2**64: the rule the portal's review
sampling uses) and is sampled when the draw is under ``fraction``. Draws are uniform and
independent of the batch: the same input id and seed always draw the same way, whichever
batch it comes in and however often the run is repeated, so a redelivered run samples the
same inputs. A seed of null takes the run's seed (the caller sets it, e.g. per model
version, so every version's spot checks are a fresh sample).
"""

import hashlib

import numpy as np

from workflows.params import Param
from workflows.ports import PortType
from workflows.spec import NodeKind, Port


def draws(input_ids: np.ndarray, seed: int) -> np.ndarray:
    """The fixed draw in [0, 1) of each input id under ``seed``."""
    blake = hashlib.blake2b
    values = [
        int.from_bytes(blake(f"{i}:{seed}".encode(), digest_size=8).digest(), "big")
        for i in np.asarray(input_ids).tolist()
    ]
    return np.array(values, dtype=np.uint64).astype(np.float64) / 2**64


def sample(
    input_ids: np.ndarray, selection: np.ndarray, *, fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """(sampled, rest): both within ``selection``; only selected inputs are drawn."""
    sampled = np.zeros(len(selection), dtype=bool)
    if fraction > 0:
        rows = np.flatnonzero(selection)
        sampled[rows] = draws(np.asarray(input_ids)[rows], seed) < fraction
    return sampled, selection & ~sampled


def _run(inputs, params, node_id, context) -> dict:
    seed = params["seed"] if params["seed"] is not None else context.seed
    sampled, rest = sample(
        context.input_ids, inputs["inputs"], fraction=params["fraction"], seed=seed
    )
    return {"sampled": sampled, "rest": rest}


KIND = NodeKind(
    name="random-sampler",
    title="Random sampler",
    inputs=(Port("inputs", PortType.SELECTION, "The inputs to sample from."),),
    outputs=(
        Port("sampled", PortType.SELECTION, "The inputs drawn (e.g. spot checks)."),
        Port("rest", PortType.SELECTION, "The selected inputs not drawn."),
    ),
    params=(
        Param("fraction", float, 0.05, "Share of the inputs kept in the sample.", 0.0, 1.0),
        Param(
            "seed",
            int,
            None,
            "Seed of the draws; null takes the run's seed (the live model version's).",
            -(2**62),
            2**62,
            nullable=True,
        ),
    ),
    run=_run,
)
