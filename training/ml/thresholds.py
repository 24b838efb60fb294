"""Per-concept thresholds tuned to a target precision on the eval split.

Walk the eval inputs from the highest score down. After the first ``warmup`` of them, stop at
the first cut where the precision of everything above falls below the target: the threshold
is the lowest score kept. Stopping at the first dip (rather than taking the lowest threshold
that happens to reach the target again further down) keeps small eval sets from buying
coverage by luck. No cut reaches the target: the concept is never labeled automatically.

A threshold must also rest on at least ``min_kept`` eval inputs above it: a cut kept because
one or two eval examples happened to score high says nothing about the next thousand
inputs, so with too little evidence the concept is not labeled automatically either (the
model's confident guesses then go to review as suggestions).
"""

from dataclasses import asdict, dataclass

import numpy as np


@dataclass(frozen=True)
class Tuned:
    threshold: float | None  # None: the target is out of reach, never auto-label
    precision: float | None  # on the eval split, at the threshold
    recall: float | None
    coverage: float  # share of eval inputs at or above the threshold
    kept: int  # eval inputs at or above the threshold
    # without a threshold, why: "target" (no cut reaches it) or "evidence" (too few kept)
    missing: str | None = None
    # the eval inputs at or above the best cut that reached the target, and how many of them
    # are right: what the threshold rests on (also when it was withheld for too little)
    evidence: int = 0
    evidence_hits: int = 0

    def to_dict(self) -> dict:
        return asdict(self)


def tune_threshold(
    scores: np.ndarray, truth: np.ndarray, target: float, *, warmup: int = 5, min_kept: int = 1
) -> Tuned:
    scores = np.asarray(scores, dtype=np.float64)
    truth = np.asarray(truth, dtype=bool)
    n, positives = len(scores), int(truth.sum())
    order = np.argsort(-scores, kind="mergesort")
    sorted_scores, sorted_truth = scores[order], truth[order]
    hits = np.cumsum(sorted_truth)
    precision = hits / np.arange(1, n + 1)
    # a cut may only fall between different scores: ties go together
    last_of_tie = np.r_[sorted_scores[1:] != sorted_scores[:-1], True] if n else np.array([])
    best = -1
    for k in range(n):
        if sorted_scores[k] <= 0:
            break
        if not last_of_tie[k]:
            continue
        if precision[k] < target:
            if k + 1 > warmup:
                break
            continue
        best = k
    if best < 0 or hits[best] == 0:
        return Tuned(None, None, 0.0 if positives else None, 0.0, 0, missing="target")
    evidence = {"evidence": best + 1, "evidence_hits": int(hits[best])}
    if best + 1 < min_kept:
        return Tuned(None, None, 0.0 if positives else None, 0.0, 0, "evidence", **evidence)
    return Tuned(
        threshold=float(sorted_scores[best]),
        precision=float(precision[best]),
        recall=float(hits[best] / positives) if positives else None,
        coverage=float((best + 1) / n),
        kept=best + 1,
        **evidence,
    )
