"""What becomes of an input given the active version's scores. Numpy only.

Every *unit* of the layout (an exclusive group, or a single concept) is in one of three
states: ``auto`` (score at or above the concept's threshold), ``doubt`` (within ``band``
below it) or ``low``. For a group the unit's score is its top option's probability.

An input is
- ``auto`` when every group is auto and no single is in doubt (and, with no groups, at least
  one single is auto): the model writes an accepted annotation;
- ``doubt`` when it is not auto but every group is at least in doubt (with no groups: some
  single is auto or in doubt): a pending-review suggestion;
- ``low`` otherwise: it stays with the annotators.
"""

import numpy as np

from training.ml.layout import Layout

AUTO, DOUBT, LOW = "auto", "doubt", "low"
BANDS = np.array([LOW, DOUBT, AUTO])


def effective_thresholds(thresholds: list[float | None]) -> np.ndarray:
    """None (target out of reach) becomes a threshold no probability reaches."""
    return np.array([np.inf if t is None else t for t in thresholds], dtype=np.float64)


def route(
    probs: np.ndarray, layout: Layout, thresholds: list[float | None], band: float
) -> tuple[np.ndarray, np.ndarray]:
    """Per input its band (``auto``/``doubt``/``low``), and the labels (n, width) it gets:
    the auto labels for ``auto``, auto and doubtful labels for a ``doubt`` suggestion."""
    n = len(probs)
    limits = effective_thresholds(thresholds)
    # doubt starts band below the threshold; an unreachable threshold keeps a doubt band
    # under 1.0 so a confident prediction still reaches a reviewer as a suggestion
    lower = np.where(np.isinf(limits), 1.0 - band, limits - band)
    level = np.zeros((n, layout.width), dtype=np.int8)  # 0 low, 1 doubt, 2 auto
    level[probs >= lower] = 1
    level[probs >= limits] = 2

    labels = np.zeros((n, layout.width), dtype=bool)
    group_levels = []
    rows = np.arange(n)
    for group in layout.groups:
        columns = np.array(group)
        top = columns[probs[:, columns].argmax(axis=1)]
        top_level = level[rows, top]
        group_levels.append(top_level)
        labels[rows, top] = top_level > 0
    singles = np.array(layout.singles, dtype=int)
    single_levels = level[:, singles] if len(singles) else np.zeros((n, 0), dtype=np.int8)
    labels[:, singles] = single_levels > 0

    any_single_doubt = (single_levels == 1).any(axis=1)
    if group_levels:
        lowest_group = np.min(np.stack(group_levels, axis=1), axis=1)
        is_auto = (lowest_group == 2) & ~any_single_doubt
        is_doubt = ~is_auto & (lowest_group >= 1)
    else:
        best_single = single_levels.max(axis=1) if len(singles) else np.zeros(n, dtype=np.int8)
        is_auto = (best_single == 2) & ~any_single_doubt
        is_doubt = ~is_auto & (best_single >= 1)
    result = np.where(is_auto, 2, np.where(is_doubt, 1, 0))
    bands = BANDS[result]
    labels[result == 0] = False
    return bands, labels


def box_levels(scores: np.ndarray, limits: np.ndarray, band: float) -> np.ndarray:
    """Per box 2 (its score passes its concept's threshold), 1 (in the doubt band: ``band``
    short of passing, or from ``1 - band`` when the threshold is out of reach, nan) or 0
    (too weak to show anyone). ``limits``: each box's threshold."""
    scores = np.asarray(scores, dtype=np.float64)
    limits = np.asarray(limits, dtype=np.float64)
    reachable = ~np.isnan(limits)
    passes = reachable & (scores >= np.where(reachable, limits, np.inf))
    doubt_from = np.where(reachable, limits, 1.0) - band
    near = ~passes & (scores >= doubt_from) & (band > 0)
    return np.where(passes, 2, np.where(near, 1, 0)).astype(np.int8)


def image_band(levels: np.ndarray) -> str:
    """An image's band from its boxes' levels: ``doubt`` when some box is in doubt, ``auto``
    when some passes and none is in doubt, ``low`` when none reaches the doubt band (the
    detector believes nothing it saw; the image stays with the annotators)."""
    levels = np.asarray(levels)
    if (levels == 1).any():
        return DOUBT
    return AUTO if (levels == 2).any() else LOW
