"""Per-concept thresholds tuned to a target precision, with the evidence to back them.

Walk a concept's labeled inputs from the highest score down. After the first ``warmup`` of
them, stop at the first cut where the precision of everything above falls below the target;
every cut above that dip whose precision reaches the target is a *candidate*. Stopping at the
first dip (rather than taking the lowest cut that happens to reach the target again further
down) keeps small evidence from buying coverage by luck. No candidate: the target is out of
reach, the concept is never labeled automatically.

A candidate must also rest on enough evidence:

- at least ``min_kept`` inputs above it;
- with ``confidence`` (e.g. 0.95), the one-sided Clopper-Pearson lower bound of its
  precision (``intervals.precision_lower_bound``) must reach the target: 13 of 13 right
  proves only 0.79, and a target of 0.99 needs 299 of 299. The threshold is then the lowest
  candidate that proves it (the most coverage the evidence supports).

An exclusive group (``pooled``) answers one question per input, so the promise is about its
automatic labels as a whole: when the concepts' lowest candidates together prove the target
(their evidence summed), each of them is accepted there even if its own share of the
evidence is too small to prove it alone. Every concept's own precision must still reach the
target. Without a threshold the model's confident guesses go to review as suggestions.

The evidence is whatever scored, labeled inputs the caller has: the eval split, and for a
type that is cheap to refit, out-of-fold scores over the train split too.
"""

from dataclasses import asdict, dataclass

import numpy as np

from training.ml.intervals import precision_lower_bound, right_answers_needed


@dataclass(frozen=True)
class Tuned:
    threshold: float | None  # None: not labeled automatically
    precision: float | None  # on the evidence, at the threshold
    recall: float | None
    coverage: float  # share of the evidence at or above the threshold
    kept: int  # evidence inputs at or above the threshold
    # without a threshold, why: "target" (no cut reaches it) or "evidence" (too little)
    missing: str | None = None
    # the inputs at or above the cut the threshold rests on (the lowest candidate when it was
    # withheld), and how many of them are right
    evidence: int = 0
    evidence_hits: int = 0
    # the lower bound of the precision there (pooled: the group's); None without a bound
    bound: float | None = None
    # more right answers above the cut its own bound needs to reach the target (withheld)
    needed: int | None = None
    pooled: bool = False  # accepted on its exclusive group's pooled evidence

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Cuts:
    """A concept's candidate cuts, top down: the score of each, the inputs at or above it
    and the right ones among them; and the evidence's size and positives."""

    scores: np.ndarray
    kept: np.ndarray
    hits: np.ndarray
    n: int
    positives: int


def cuts_walk(scores: np.ndarray, truth: np.ndarray, target: float, warmup: int = 5) -> Cuts:
    scores = np.asarray(scores, dtype=np.float64)
    truth = np.asarray(truth, dtype=bool)
    n = len(scores)
    order = np.argsort(-scores, kind="mergesort")
    sorted_scores, sorted_truth = scores[order], truth[order]
    hits = np.cumsum(sorted_truth)
    precision = hits / np.arange(1, n + 1)
    # a cut may only fall between different scores: ties go together
    last_of_tie = np.r_[sorted_scores[1:] != sorted_scores[:-1], True] if n else np.array([])
    chosen = []
    for k in range(n):
        if sorted_scores[k] <= 0:
            break
        if not last_of_tie[k]:
            continue
        if precision[k] < target:
            if k + 1 > warmup:
                break
            continue
        if hits[k]:
            chosen.append(k)
    index = np.asarray(chosen, dtype=np.int64)
    return Cuts(sorted_scores[index], index + 1, hits[index], n, int(truth.sum()))


def tune_threshold(
    scores: np.ndarray,
    truth: np.ndarray,
    target: float,
    *,
    warmup: int = 5,
    min_kept: int = 1,
    confidence: float = 0.0,
) -> Tuned:
    """One concept's threshold (``tune_group`` of one, not pooled)."""
    return tune_group(
        [(scores, truth)], target, warmup=warmup, min_kept=min_kept, confidence=confidence
    )[0]


def tune_group(
    columns: list[tuple[np.ndarray, np.ndarray]],
    target: float,
    *,
    warmup: int = 5,
    min_kept: int = 1,
    confidence: float = 0.0,
    pooled: bool = False,
) -> list[Tuned]:
    """Each column's (scores, truth) threshold; ``pooled``: the columns are one exclusive
    group whose evidence may be summed (see the module)."""
    cuts = [cuts_walk(scores, truth, target, warmup) for scores, truth in columns]
    own = [_own_choice(c, target, min_kept, confidence) for c in cuts]
    lowest = [len(c.kept) - 1 if len(c.kept) and c.kept[-1] >= min_kept else None for c in cuts]
    pool_bound = None
    if pooled and confidence and len(columns) > 1:
        taken = [(c, i) for c, i in zip(cuts, lowest, strict=True) if i is not None]
        if taken:
            kept = sum(int(c.kept[i]) for c, i in taken)
            hits = sum(int(c.hits[i]) for c, i in taken)
            pool_bound = precision_lower_bound(hits, kept, confidence)
    results = []
    for c, mine, low in zip(cuts, own, lowest, strict=True):
        if pool_bound is not None and pool_bound >= target and low is not None:
            results.append(_accepted(c, low, pool_bound, pooled=True))
        elif mine is not None:
            bound = precision_lower_bound(c.hits[mine], c.kept[mine], confidence)
            results.append(_accepted(c, mine, bound if confidence else None))
        else:
            results.append(_withheld(c, target, confidence))
    return results


def _own_choice(cuts: Cuts, target: float, min_kept: int, confidence: float) -> int | None:
    """The lowest candidate with enough evidence of its own, or None."""
    enough = cuts.kept >= min_kept
    if confidence:
        enough &= precision_lower_bound(cuts.hits, cuts.kept, confidence) >= target
    found = np.flatnonzero(enough)
    return int(found[-1]) if len(found) else None


def _accepted(cuts: Cuts, i: int, bound: float | None, pooled: bool = False) -> Tuned:
    kept, hits = int(cuts.kept[i]), int(cuts.hits[i])
    return Tuned(
        threshold=float(cuts.scores[i]),
        precision=hits / kept,
        recall=hits / cuts.positives if cuts.positives else None,
        coverage=kept / cuts.n,
        kept=kept,
        evidence=kept,
        evidence_hits=hits,
        bound=None if bound is None else float(bound),
        pooled=pooled,
    )


def _withheld(cuts: Cuts, target: float, confidence: float) -> Tuned:
    recall = 0.0 if cuts.positives else None
    if not len(cuts.kept):
        return Tuned(None, None, recall, 0.0, 0, missing="target")
    kept, hits = int(cuts.kept[-1]), int(cuts.hits[-1])
    bound = precision_lower_bound(hits, kept, confidence) if confidence else None
    needed = right_answers_needed(hits, kept, target, confidence) if confidence else None
    return Tuned(
        None,
        None,
        recall,
        0.0,
        0,
        missing="evidence",
        evidence=kept,
        evidence_hits=hits,
        bound=None if bound is None else float(bound),
        needed=needed,
    )


def tune_layout(
    scores: np.ndarray,
    y: np.ndarray,
    known: np.ndarray,
    layout,
    target: float,
    *,
    warmup: int = 5,
    min_kept: int = 1,
    confidence: float = 0.0,
) -> dict[str, Tuned]:
    """Every concept's threshold by concept id (a string), from decision scores (n, width)
    and targets over ``layout`` (``training.ml.layout.Layout``): an exclusive group's
    concepts pooled, each multi-label concept on its own."""

    def column(c: int) -> tuple[np.ndarray, np.ndarray]:
        rows = known[:, c]
        return scores[rows, c], y[rows, c]

    tuned: dict[int, Tuned] = {}
    options = dict(warmup=warmup, min_kept=min_kept, confidence=confidence)
    for group in layout.groups:
        found = tune_group([column(c) for c in group], target, pooled=True, **options)
        tuned.update(zip(group, found, strict=True))
    for c in layout.singles:
        tuned[c] = tune_threshold(*column(c), target, **options)
    return {str(layout.concept_ids[c]): tuned[c] for c in range(layout.width)}
