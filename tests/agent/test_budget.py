"""The household data budget over a simulated month (docs/methodology.md §8), clock injected.

A 200 Mbit/s line, a capacity test due every hour (10 s per direction) and a latency test every
5 minutes, planned by the fleet plan (peak guarantee on): unconstrained that is ~360 GB a month;
the default 10 GB cap must hold, with the schedule stepping down as it nears.
"""

from __future__ import annotations

import random
from collections import Counter
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from agent.budget import DEFAULT_MONTHLY_BYTES, FULL, PEAK_ONLY, REDUCED, Budget
from agent.fleetplan import FleetPlan

ZONE = ZoneInfo("Africa/Casablanca")
MONTH_START = datetime(2026, 11, 1, tzinfo=ZONE).timestamp()
MONTH_END = datetime(2026, 12, 1, tzinfo=ZONE).timestamp()
LINE_BYTES_PER_S = 200e6 / 8
STAMP_BYTES = 2 * 50 * 82  # 50 packets each way, 44-octet STAMP + UDP/IPv4/Ethernet headers


def simulate(budget: Budget) -> tuple[int, Counter[str], Counter[str]]:
    """(capacity runs, runs per budget step, skip reasons) over November 2026."""
    capacity = FleetPlan("ma-bud-0001", "capacity", 3600, random.Random(7))
    latency = FleetPlan("ma-bud-0001", "latency", 300, random.Random(8))
    ran, steps, skipped = 0, Counter[str](), Counter[str]()
    events = []
    t = MONTH_START
    while (due := capacity.next_due(t)).at < MONTH_END:
        events.append(("capacity", due))
        t = due.at
    t = MONTH_START
    while (due := latency.next_due(t)).at < MONTH_END:
        events.append(("latency", due))
        t = due.at
    last_capacity_bytes = 0
    for kind, due in sorted(events, key=lambda e: e[1].at):
        expected = STAMP_BYTES if kind == "latency" else last_capacity_bytes
        why = budget.admit(kind, due.at, expected, due.moved)
        if why is not None:
            skipped[f"{kind}: {why.split(',')[0]}"] += 1
            continue
        if kind == "capacity":
            steps[budget.step(due.at)] += 1
            duration = budget.capacity_duration(10.0, due.at)
            used = int(2 * duration * LINE_BYTES_PER_S)
            last_capacity_bytes = used
            ran += 1
        else:
            used = STAMP_BYTES
        budget.spend(used, due.at)
    return ran, steps, skipped


def test_a_simulated_month_stays_within_the_cap_and_steps_down() -> None:
    budget = Budget()
    ran, steps, skipped = simulate(budget)
    used = budget.used_bytes(MONTH_END - 1)
    assert used <= DEFAULT_MONTHLY_BYTES
    assert used > 0.95 * DEFAULT_MONTHLY_BYTES  # the cap is used, not left idle
    # Full tests first (14 × 500 MB = 7 GB), then every other one at half length, then only
    # runs the peak guarantee moved; the rest are refused with their reason.
    assert steps[FULL] == 14
    assert steps[REDUCED] >= 4 and steps[PEAK_ONLY] >= 1
    assert ran == sum(steps.values()) < 720
    assert skipped["capacity: budget: above 70 % of the month's cap"] >= 4
    assert skipped["capacity: budget: above 90 % of the month's cap"] > 0
    assert skipped["capacity: budget: the month's cap would be crossed"] > 0
    # Latency (a few kB a run) kept running all month, after capacity tests had stopped.
    assert not any(reason.startswith("latency") for reason in skipped)


def test_the_next_month_starts_afresh_and_the_state_survives_a_restart() -> None:
    budget = Budget(cap_bytes=10**9)
    budget.spend(800_000_000, MONTH_END - 60)
    assert budget.step(MONTH_END - 30) == REDUCED
    restarted = Budget(10**9, month=budget.state()[0], used=budget.state()[1])
    assert restarted.used_bytes(MONTH_END - 30) == 800_000_000
    assert restarted.used_bytes(MONTH_END + 60) == 0  # December, local time
    assert restarted.step(MONTH_END + 60) == FULL
    assert restarted.report(MONTH_END + 60) == {
        "budget_used_bytes": 0,
        "budget_cap_bytes": 10**9,
        "budget_step": FULL,
    }


def test_nonsense_is_refused() -> None:
    with pytest.raises(ValueError, match="must be positive"):
        Budget(cap_bytes=0)
    with pytest.raises(ValueError, match="cannot use"):
        Budget().spend(-1, MONTH_START)
