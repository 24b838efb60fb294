"""Confidence intervals for a measured proportion (a precision on n checked labels).

Wilson's score interval: unlike the normal approximation it stays inside [0, 1] and does not
collapse to a point when every check agreed, so "13 of 13" reads as 0.77–1.00 (weak
evidence), not as 1.00.
"""

import math
from dataclasses import dataclass

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
