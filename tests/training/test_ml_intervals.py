"""Wilson intervals against textbook values (Newcombe 1998, Table I, method 3)."""

import pytest

from training.ml.intervals import wilson_interval


@pytest.mark.parametrize(
    ("successes", "n", "low", "high"),
    [
        (81, 263, 0.2553, 0.3662),
        (15, 148, 0.0624, 0.1605),
        (0, 20, 0.0, 0.1611),
        (1, 29, 0.0061, 0.1718),
    ],
)
def test_matches_published_values(successes, n, low, high):
    interval = wilson_interval(successes, n)
    assert interval.low == pytest.approx(low, abs=5e-4)
    assert interval.high == pytest.approx(high, abs=5e-4)


def test_all_agreeing_checks_are_weak_evidence_when_few():
    few, many = wilson_interval(13, 13), wilson_interval(1300, 1300)
    assert few.high == 1.0 and few.low == pytest.approx(0.772, abs=1e-3)
    assert many.low > 0.997


def test_no_trials_have_no_interval_and_impossible_counts_are_refused():
    assert wilson_interval(0, 0) is None
    with pytest.raises(ValueError):
        wilson_interval(5, 4)
