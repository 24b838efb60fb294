"""Confidence intervals for a measured proportion (a precision on n checked labels).

Wilson's score interval: unlike the normal approximation it stays inside [0, 1] and does not
collapse to a point when every check agreed, so "13 of 13" reads as 0.77–1.00 (weak
evidence), not as 1.00.
"""

import math
from dataclasses import dataclass

import numpy as np

Z_95 = 1.959963984540054  # the standard normal's 97.5 % quantile


@dataclass(frozen=True)
class Interval:
    low: float
    high: float


def wilson_interval(successes: int, n: int, z: float = Z_95) -> Interval | None:
    """The interval of a proportion of ``successes`` in ``n`` trials; None when n is 0."""
    if n <= 0:
        return None
    if not 0 <= successes <= n:
        raise ValueError(f"{successes} successes in {n} trials")
    p = successes / n
    z2 = z * z
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = z / (1 + z2 / n) * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n))
    low = 0.0 if successes == 0 else max(0.0, centre - half)
    high = 1.0 if successes == n else min(1.0, centre + half)
    return Interval(low, high)


def precision_lower_bound(hits, n, confidence: float = 0.95):
    """One-sided Clopper-Pearson bound: the precision below which ``hits`` right answers in
    ``n`` would have been seen with probability under ``1 - confidence``. Exact (never too
    high, unlike a normal approximation); "13 of 13" gives 0.79 at 95 %, and reaching 0.99
    takes 299 of 299. Vectorised; 0 where nothing is right, nan where ``n`` is 0."""
    from scipy.special import betaincinv

    hits = np.asarray(hits, dtype=np.float64)
    n = np.asarray(n, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        low = betaincinv(np.maximum(hits, 1e-12), np.maximum(n - hits + 1, 1e-12), 1 - confidence)
    low = np.where(hits <= 0, 0.0, low)
    low = np.where(n <= 0, np.nan, low)
    return float(low) if low.ndim == 0 else low


def right_answers_needed(hits: int, n: int, target: float, confidence: float = 0.95) -> int | None:
    """How many more right answers (and no wrong one) ``hits`` of ``n`` needs before its
    lower bound reaches ``target``: 0 when it does already, None for a target of 1 (no
    finite evidence proves perfection)."""
    if target >= 1:
        return None
    if n and precision_lower_bound(hits, n, confidence) >= target:
        return 0
    low, high = 0, 1
    while precision_lower_bound(hits + high, n + high, confidence) < target:
        low, high = high, high * 2
    while high - low > 1:  # the bound grows with every right answer: bisect
        middle = (low + high) // 2
        if precision_lower_bound(hits + middle, n + middle, confidence) >= target:
            high = middle
        else:
            low = middle
    return high
