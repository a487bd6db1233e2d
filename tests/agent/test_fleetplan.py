"""agent.fleetplan: a fleet spreads over the interval, the peak share is met, retries back off.

Clock injected (times are given, none is read) and randomness seeded: a simulated day or month
runs without sleeping. Local time is Africa/Casablanca from the system's tz database (IANA), which
knows Morocco's UTC+1 with the return to UTC+0 during Ramadan.
"""

from __future__ import annotations

import random
from collections import Counter
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from agent.fleetplan import MAX_RETRIES, FleetPlan, fleet_offset

CASABLANCA = ZoneInfo("Africa/Casablanca")


def _utc(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


def _day_of_runs(plan: FleetPlan, start: float, end: float) -> list[float]:
    runs, t = [], start
    while (due := plan.next_due(t)).at < end:
        runs.append(due)
        t = due.at
    return runs


def test_a_fleet_started_together_spreads_over_the_interval() -> None:
    # 1200 probes powered on at the same instant (a power cut ends at 03:07:00 UTC).
    boot = _utc("2026-12-03T03:07:00")
    interval = 3600.0
    firsts = []
    for n in range(1200):
        plan = FleetPlan(f"ma-cas-{n:04d}", "capacity", interval, random.Random(n), peak_share=0)
        firsts.append(plan.next_due(boot).at - boot)
    # At worst the run just ahead was jittered to before the boot: the next one is taken.
    assert all(0 < f <= interval + 2 * plan.jitter_s for f in firsts)
    # Twelve 5-minute bins: 100 expected in each; a uniform spread stays well inside 60..140
    # (the old "first run within 10 s" put all 1200 in the first bin).
    bins = Counter(min(int(f // 300), 11) for f in firsts)
    print("first runs per 5-minute bin:", [bins[b] for b in range(12)])
    assert all(60 <= bins[b] <= 140 for b in range(12)), bins


def test_each_probe_keeps_its_place_with_fresh_jitter() -> None:
    plan = FleetPlan("ma-rab-0042", "latency", 600.0, random.Random(1), peak_share=0)
    offset = fleet_offset("ma-rab-0042", "latency", 600.0)
    assert offset == plan.offset_s
    assert 0 <= offset < 600.0
    t = _utc("2026-12-03T00:00:00")
    places = []
    for _ in range(200):
        due = plan.next_due(t)
        places.append((due.at - offset + 300) % 600 - 300)  # distance from the probe's place
        t = due.at
    assert max(abs(p) for p in places) <= plan.jitter_s + 1e-6
    assert len({round(p, 3) for p in places}) > 150, "jitter is fresh at every run"
    # Another schedule of the same probe, or another probe, sits elsewhere.
    assert fleet_offset("ma-rab-0042", "capacity", 600.0) != offset
    assert fleet_offset("ma-rab-0043", "latency", 600.0) != offset


@pytest.mark.parametrize(("interval", "share"), [(3600.0, 0.3), (4 * 3600.0, 0.3), (900.0, 0.5)])
def test_the_peak_share_is_met_for_a_simulated_day(interval: float, share: float) -> None:
    plan = FleetPlan("ma-fes-0007", "capacity", interval, random.Random(7), peak_share=share)
    # 2026-12-03 in Casablanca: UTC+1, so the local day is 23:00 UTC the day before onwards.
    start, end = _utc("2026-12-02T23:00:00"), _utc("2026-12-03T23:00:00")
    runs = _day_of_runs(plan, start - 1, end)
    natural = 86400 / interval
    assert abs(len(runs) - natural) <= 1, "the guarantee moves runs, it adds none"
    peak = [d for d in runs if d.peak]
    for d in peak:
        assert 18 <= datetime.fromtimestamp(d.at, CASABLANCA).hour < 23
    assert len(peak) / len(runs) >= share
    for d in runs:
        plan.ran(d)
    assert plan.peak_share_today(end - 60) == pytest.approx(len(peak) / len(runs))


def test_peak_hours_are_local_time_through_ramadan() -> None:
    # During Ramadan 2026 Morocco keeps UTC+0 (tz database "Africa/Casablanca"): 18:00 local is
    # 18:00 UTC, not 17:00 UTC as in December.
    plan = FleetPlan("ma-tng-0001", "capacity", 3600.0, random.Random(3))
    assert plan.is_peak(_utc("2026-12-03T17:30:00"))  # 18:30 local (UTC+1)
    assert not plan.is_peak(_utc("2026-12-03T22:30:00"))  # 23:30 local
    assert plan.is_peak(_utc("2026-03-01T22:30:00"))  # 22:30 local (UTC+0)
    assert not plan.is_peak(_utc("2026-03-01T17:30:00"))  # 17:30 local
    start = datetime(2026, 3, 1, tzinfo=CASABLANCA).timestamp()
    runs = _day_of_runs(plan, start - 1, start + 86400)
    assert sum(d.peak for d in runs) / len(runs) >= 0.3


def test_a_month_keeps_the_peak_share_every_day() -> None:
    plan = FleetPlan("ma-aga-0100", "capacity", 2 * 3600.0, random.Random(11))
    day = datetime(2026, 12, 1, tzinfo=CASABLANCA).timestamp()
    for _ in range(31):
        runs = _day_of_runs(plan, day - 1, day + 86400)
        assert sum(d.peak for d in runs) / len(runs) >= 0.3
        day += 86400


def test_retries_back_off_and_never_pass_the_next_run() -> None:
    plan = FleetPlan("ma-oda-0005", "capacity", 3600.0, random.Random(5))
    now = 1_000_000.0
    assert [plan.retry_at(now, a, now + 3600) for a in (1, 2, 3)] == [
        now + 60,
        now + 120,
        now + 240,
    ]
    assert plan.retry_at(now, MAX_RETRIES + 1, now + 3600) is None
    assert plan.retry_at(now, 1, now + 30) is None


def test_bad_plans_are_refused() -> None:
    with pytest.raises(ValueError, match="positive"):
        FleetPlan("p", "s", 0)
    with pytest.raises(ValueError, match="peak hours"):
        FleetPlan("p", "s", 60, peak_hours=(23, 18))
    with pytest.raises(ValueError, match="peak share"):
        FleetPlan("p", "s", 60, peak_share=1.5)
