"""Turning byte counts into figures: the warm-up rule, the per-interval series, and the
interface counters behind the cross-traffic pause."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agent.probe.capacity import MAX_SERIES_POINTS, TICK_S, series, steady_rate
from agent.probe.crosstraffic import read_counters


def cumulative(rates_mbps: list[float]) -> list[tuple[float, int]]:
    """Samples every TICK_S of a transfer running at the given Mbit/s per tick."""
    out = [(0.0, 0)]
    for k, rate in enumerate(rates_mbps, 1):
        out.append((round(k * TICK_S, 6), out[-1][1] + int(rate * 1e6 / 8 * TICK_S)))
    return out


def test_slow_start_is_excluded() -> None:
    # Ramp 1, 2, 4, … then 100 Mbit/s for 3 s: the result is the steady rate, not the average.
    ramp = [1, 2, 4, 8, 16, 32, 64, 85]
    mbps, nbytes, seconds, warmup = steady_rate(cumulative([*ramp, *[100] * 30]))
    assert warmup == pytest.approx(0.8)  # from the first tick at ≥ 90 % of steady, after 0.5 s
    assert mbps == pytest.approx(100, rel=1e-4)
    assert seconds == pytest.approx(3.0) and nbytes == 30 * 1_250_000


def test_warm_up_is_at_least_half_a_second_and_at_most_half_the_test() -> None:
    assert steady_rate(cumulative([50] * 20))[3] == pytest.approx(0.5)
    # Never reaching the steady rate early: the first half is dropped, no more.
    assert steady_rate(cumulative([1] * 10 + [100] * 10))[3] == pytest.approx(1.0)


def test_too_short_to_say() -> None:
    assert steady_rate([(0.0, 0), (0.1, 100)])[0] is None


def test_series_is_merged_down_to_a_bounded_length() -> None:
    interval, points = series(cumulative([80.0] * 300))
    assert len(points) <= MAX_SERIES_POINTS
    assert interval == pytest.approx(0.6)
    assert points == [pytest.approx(80.0, rel=1e-3)] * len(points)
    assert series(cumulative([10.0, 20.0]))[1] == [10.0, 20.0]


@given(st.lists(st.floats(0, 10_000), min_size=2, max_size=400))
def test_the_result_lies_within_what_the_ticks_saw(rates: list[float]) -> None:
    samples = cumulative(rates)
    mbps, _, _, warmup = steady_rate(samples)
    assert mbps is not None
    assert warmup <= samples[-1][0] / 2 + TICK_S
    counted = [r for k, r in enumerate(rates) if (k + 1) * TICK_S > warmup + 1e-9]
    assert min(counted) - 1e-3 <= mbps <= max(counted) + 1e-3
    assert len(series(samples)[1]) <= MAX_SERIES_POINTS


# The layout of /proc/net/dev (header lines, then NAME: 8 receive and 8 transmit counters).
PROC_NET_DEV = """\
Inter-|   Receive                                                |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop
    lo:  123456 100 0 0 0 0 0 0   123456 100 0 0 0 0 0 0
  wan0: 9876543 5000 0 0 0 0 0 0  1234567 4000 0 0 0 0 0 0
"""


def test_interface_counters(tmp_path: Path) -> None:
    path = tmp_path / "dev"
    path.write_text(PROC_NET_DEV)
    assert read_counters("wan0", str(path)) == (9876543, 1234567)
    with pytest.raises(ValueError, match="no interface 'eth9'"):
        read_counters("eth9", str(path))
    path.write_text(PROC_NET_DEV.replace("9876543", "lots"))
    with pytest.raises(ValueError, match="unexpected counters for wan0"):
        read_counters("wan0", str(path))


@given(st.text(max_size=2000))
def test_counter_parser_takes_any_text(tmp_path_factory: pytest.TempPathFactory, text: str) -> None:
    path = tmp_path_factory.mktemp("dev") / "dev"
    path.write_text(text)
    try:
        rx, tx = read_counters("wan0", str(path))
    except ValueError:
        return
    assert rx >= 0 and tx >= 0
