"""agent.probe.steady: the working-conditions detector of draft-ietf-ippm-responsiveness.

The series are shaped like what the access lines do (the draft's own motivation, section
"Reaching Working Conditions": slow start, then a plateau); the statistics are checked against
Python's `statistics` module as an independent implementation.
"""

from __future__ import annotations

import random
import statistics

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agent.probe.steady import (
    WorkingConditions,
    coefficient_of_variation,
    steady_window,
)


def test_a_flat_series_is_stable_after_two_windows_less_one() -> None:
    detector = WorkingConditions(window=4, tolerance=0.05)
    verdicts = [detector.add(100.0) for _ in range(10)]
    # 4 samples make the first moving average, 4 moving averages are compared: 7 samples.
    assert verdicts == [False] * 6 + [True] * 4
    window = detector.steady()
    assert window is not None
    assert (window.start, window.end, window.mean, window.cv) == (3, 10, 100.0, 0.0)


def test_slow_start_is_left_out_of_the_steady_window() -> None:
    ramp = [3.0, 6.0, 12.0, 25.0, 50.0, 90.0]  # doubling per interval, as TCP slow start
    plateau = [98.0, 101.0, 99.5, 100.5, 100.0, 99.0, 101.0, 100.0, 99.0, 100.0]
    window = steady_window(ramp + plateau)
    assert window is not None
    assert window.start >= len(ramp)
    assert window.end == len(ramp) + len(plateau)
    assert window.mean == pytest.approx(statistics.fmean((ramp + plateau)[window.start :]))


def test_a_token_bucket_burst_is_not_taken_for_the_rate() -> None:
    # A shaper's burst allowance: the line runs at 300 Mbit/s for 8 intervals, then at the
    # shaped 100. A detector that stopped at the first stable window would report the burst.
    burst = [300.0] * 8
    shaped = [100.0] * 10
    detector = WorkingConditions()
    verdicts = [detector.add(x) for x in burst + shaped]
    assert verdicts[7], "stable inside the burst"
    assert not all(verdicts[8:]), "the drop must break stability"
    window = detector.steady()
    assert window is not None
    assert window.start >= len(burst)
    assert window.mean == 100.0


def test_bursty_scheduling_is_steady_on_average_and_the_cv_says_how_bursty() -> None:
    # 5G scheduling: 100 ms ticks alternate between a full grant and none. The moving averages
    # agree (the rate the household gets is steady), and the stability figure tells the
    # burstiness that the draft's test, on averages, cannot see.
    ticks = [200.0, 0.0] * 25
    window = steady_window(ticks)
    assert window is not None
    assert window.mean == pytest.approx(100.0, rel=0.03)
    assert window.cv == pytest.approx(1.0, rel=0.03)
    # Grants every third tick: averages of 4 ticks swing between 75 and 150, never stable.
    assert steady_window([300.0, 0.0, 0.0] * 20) is None
    halves = [statistics.fmean(ticks[i : i + 2]) for i in range(0, len(ticks), 2)]
    smooth = steady_window(halves)
    assert smooth is not None and smooth.cv == 0.0


def test_noise_within_the_tolerance_is_stable_and_its_cv_is_the_population_one() -> None:
    rng = random.Random(17)
    series = [100.0 + rng.uniform(-3, 3) for _ in range(20)]
    window = steady_window(series)
    assert window is not None
    values = series[window.start : window.end]
    assert window.cv == pytest.approx(statistics.pstdev(values) / statistics.fmean(values))
    assert window.cv is not None and window.cv < 0.05


def test_a_steady_decline_is_never_stable() -> None:
    assert steady_window([100.0 * 0.9**k for k in range(30)]) is None


def test_coefficient_of_variation_edges() -> None:
    assert coefficient_of_variation([]) is None
    assert coefficient_of_variation([0.0, 0.0]) is None
    assert coefficient_of_variation([5.0]) == 0.0
    assert coefficient_of_variation([1.0, 3.0]) == pytest.approx(0.5)


def test_bad_parameters_and_samples_are_refused() -> None:
    with pytest.raises(ValueError, match="at least 2"):
        WorkingConditions(window=1)
    with pytest.raises(ValueError, match="share"):
        WorkingConditions(tolerance=0)
    detector = WorkingConditions()
    for bad in (float("nan"), float("inf"), -1.0):
        with pytest.raises(ValueError, match="not a finite non-negative"):
            detector.add(bad)
    assert detector.samples == []
    assert detector.moving_average() is None


@given(st.lists(st.floats(min_value=0, max_value=1e4, allow_nan=False), max_size=60))
def test_any_series_gives_a_window_inside_it_or_none(series: list[float]) -> None:
    detector = WorkingConditions()
    for x in series:
        detector.add(x)
    window = detector.steady()
    if window is None:
        return
    assert 0 <= window.start < window.end <= len(series)
    assert window.count >= detector.window
    assert min(series[window.start : window.end]) <= window.mean
    assert window.mean <= max(series[window.start : window.end])
