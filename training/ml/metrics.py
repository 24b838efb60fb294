"""Held-out evaluation: precision, recall, F1, ROC AUC, PR curves, confusion matrices.

Numpy only. Scores are *decision scores* (``head.decision_scores``): a group option scores
its probability when it is the group's top choice and 0 otherwise, so "score >= t" means the
same thing here as in routing.
"""

from dataclasses import dataclass

import numpy as np

from training.ml.layout import Layout

# Steps of 0.01, and of 0.001 above 0.9 where high-precision thresholds live.
GRID = np.round(np.r_[np.linspace(0.0, 0.9, 91)[:-1], np.linspace(0.9, 1.0, 101)], 3)


@dataclass(frozen=True)
class Counts:
    tp: int
    fp: int
    fn: int
    tn: int

    @property
    def precision(self) -> float | None:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else None

    @property
    def recall(self) -> float | None:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else None

    @property
    def f1(self) -> float | None:
        p, r = self.precision, self.recall
        if p is None or r is None or p + r == 0:
            return 0.0 if (p is not None or r is not None) else None
        return 2 * p * r / (p + r)


def counts_at(scores: np.ndarray, truth: np.ndarray, threshold: float) -> Counts:
    predicted = scores >= threshold
    truth = truth.astype(bool)
    return Counts(
        tp=int((predicted & truth).sum()),
        fp=int((predicted & ~truth).sum()),
        fn=int((~predicted & truth).sum()),
        tn=int((~predicted & ~truth).sum()),
    )


def roc_auc(scores: np.ndarray, truth: np.ndarray) -> float | None:
    """Area under the ROC curve (Mann-Whitney U, ties count half); None without both classes."""
    truth = truth.astype(bool)
    positives, negatives = int(truth.sum()), int((~truth).sum())
    if not positives or not negatives:
        return None
    order = np.argsort(scores, kind="mergesort")
    sorted_scores = scores[order]
    ranks = np.empty(len(scores), dtype=np.float64)
    # average ranks over ties
    _, first, counts = np.unique(sorted_scores, return_index=True, return_counts=True)
    average = first + (counts - 1) / 2.0 + 1
    ranks[order] = np.repeat(average, counts)
    u = ranks[truth].sum() - positives * (positives + 1) / 2
    return float(u / (positives * negatives))


def curve(
    scores: np.ndarray,
    truth: np.ndarray,
    grid: np.ndarray = GRID,
    *,
    positives: int | None = None,
) -> dict[str, list]:
    """Precision, recall and coverage (share of inputs at or above t) at each threshold.
    ``positives``: what recall counts against when some are not among ``scores`` (a
    detector's true boxes, found or missed); else the true ones among them."""
    truth = truth.astype(bool)
    n = len(scores)
    positives = int(truth.sum()) if positives is None else positives
    precision, recall, coverage = [], [], []
    for t in grid:
        # at 0, a group option still has to be its group's top choice (score above 0)
        predicted = scores >= t if t > 0 else scores > 0
        hits = int((predicted & truth).sum())
        chosen = int(predicted.sum())
        precision.append(round(hits / chosen, 4) if chosen else None)
        recall.append(round(hits / positives, 4) if positives else None)
        coverage.append(round(chosen / n, 4) if n else None)
    return {
        "thresholds": [float(t) for t in grid],
        "precision": precision,
        "recall": recall,
        "coverage": coverage,
    }


def confusion(probs: np.ndarray, y: np.ndarray, known: np.ndarray, group: tuple[int, ...]):
    """Rows: the true option; columns: the top-scored option; over inputs labeled in the group."""
    columns = list(group)
    rows = known[:, columns[0]]
    truth = y[rows][:, columns].argmax(axis=1)
    predicted = probs[rows][:, columns].argmax(axis=1)
    matrix = np.zeros((len(columns), len(columns)), dtype=int)
    np.add.at(matrix, (truth, predicted), 1)
    return matrix.tolist()


def default_threshold(layout: Layout, column: int) -> float:
    """The plain decision: the top option of a group, a single at 0.5."""
    return 0.0 if layout.group_of(column) is not None else 0.5


def evaluate(
    probs: np.ndarray, scores: np.ndarray, y: np.ndarray, known: np.ndarray, layout: Layout
) -> dict:
    """Per-concept metrics at the plain decision, PR curves, and confusion matrices."""
    concepts = {}
    for column, concept_id in enumerate(layout.concept_ids):
        rows = known[:, column]
        s, t = scores[rows, column], y[rows, column]
        # a group option needs a non-zero score: being the top choice
        plain = counts_at(s, t, default_threshold(layout, column) or 1e-12)
        concepts[str(concept_id)] = {
            "support": int(t.sum()),
            "evaluated": int(rows.sum()),
            "precision": plain.precision,
            "recall": plain.recall,
            "f1": plain.f1,
            "auc": roc_auc(probs[rows, column], t),
            "curve": curve(s, t),
        }
    f1s = [c["f1"] for c in concepts.values() if c["f1"] is not None and c["support"]]
    aucs = [c["auc"] for c in concepts.values() if c["auc"] is not None]
    return {
        "concepts": concepts,
        "confusion": [
            {
                "concept_ids": [layout.concept_ids[c] for c in g],
                "matrix": confusion(probs, y, known, g),
            }
            for g in layout.groups
        ],
        "macro_f1": float(np.mean(f1s)) if f1s else None,
        "macro_auc": float(np.mean(aucs)) if aucs else None,
        "accuracy": _group_accuracy(probs, y, known, layout),
    }


def _group_accuracy(probs, y, known, layout: Layout) -> float | None:
    right = total = 0
    for group in layout.groups:
        columns = list(group)
        rows = known[:, columns[0]]
        right += int(
            (probs[rows][:, columns].argmax(axis=1) == y[rows][:, columns].argmax(axis=1)).sum()
        )
        total += int(rows.sum())
    return right / total if total else None
