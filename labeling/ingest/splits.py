"""The train/eval split, fixed by an input's hash so evaluation never leaks into training."""

EVAL = "eval"
TRAIN = "train"


def split_for_hash(sha256: str, eval_fraction: float) -> str:
    """``eval`` for a stable ``eval_fraction`` share of hashes, ``train`` for the rest."""
    position = int(sha256[:12], 16) / float(16**12)
    return EVAL if position < eval_fraction else TRAIN
