"""Out-of-fold scores: evidence for thresholds beyond the eval split.

A type that refits in seconds (the context classifier) is trained ``folds`` more times, each
time without one fold of the train split, and scores the fold it did not see. Every train
input then has a score from a model that never learned from it, so it can count as evidence
for a threshold next to the eval split: with 20 % of the labels held out for evaluation, the
evidence grows about five-fold. The scores come from models trained on a little less data
than the version itself, which makes them, if anything, slightly pessimistic.

numpy only; ``fit`` and ``predict`` are the type's own.
"""

from collections.abc import Callable

import numpy as np


def fold_of(n: int, folds: int, seed: int = 0) -> np.ndarray:
    """Each of ``n`` rows' fold (0 .. folds-1), shuffled, the folds' sizes within one."""
    order = np.random.default_rng(seed).permutation(n)
    assignment = np.empty(n, dtype=np.int64)
    assignment[order] = np.arange(n) % folds
    return assignment


def out_of_fold(
    fit: Callable[[np.ndarray, np.ndarray, np.ndarray], object],
    predict: Callable[[object, np.ndarray], np.ndarray],
    features: np.ndarray,
    y: np.ndarray,
    known: np.ndarray,
    folds: int,
    *,
    seed: int = 0,
    progress: Callable[[float], None] | None = None,
) -> np.ndarray | None:
    """(n, width) scores of each row by a model fitted without its fold; None when there
    are too few rows for ``folds`` folds of two or more."""
    n = len(y)
    if folds < 2 or n < 2 * folds:
        return None
    assignment = fold_of(n, folds, seed)
    scores = np.zeros(y.shape, dtype=np.float64)
    for fold in range(folds):
        held = assignment == fold
        model = fit(features[~held], y[~held], known[~held])
        scores[held] = predict(model, features[held])
        if progress:
            progress((fold + 1) / folds)
    return scores
