"""Active tests run as the methodology says (docs/methodology.md §4, §5, §7, §8).

For each schedule of an active test (one that puts traffic on the access line): the due times of
the fleet plan (identity offset, fresh jitter, peak-hour guarantee); the data budget's consent;
one turn at a time on the probe's single line (agent/activetests.py); the access link polled just
before and just after; and on every result the outer fields of schema v2 — when it started, how
long it ran, how it was queued, the link around it, its validity verdict. A test that gave no
usable result (the household's traffic, no server) is retried after the plan's back-off, and one
abandoned says so in a status record.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from agent.activetests import ActiveTests, Turn
from agent.budget import DEFAULT_MONTHLY_BYTES, Budget
from agent.config import AgentConfig, ConfigError
from agent.fleetplan import RETRY_FIRST_S, Due, FleetPlan
from agent.probe import linkwindow, validity
from agent.probe.source import STAMP_LINE_BYTES, CapacitySource
from agent.schedule_registry import LINK_SOURCES
from agent.sources import LinkState, Measurement, Source

log = logging.getLogger("qiyas.agent")

MEASURE_TIMEOUT_S = 300.0
DNS_RECORD_BYTES = 2 * 512  # a query and its answer, at most a classic DNS message each way
MAX_BUDGET_BYTES = 10**13

# (radio values, optical values) of a poll of the link sources; None where a source gave none.
LinkPoll = Callable[[], Awaitable[tuple[dict[str, Any] | None, dict[str, Any] | None]]]
Commit = Callable[[str, dict[str, Any], dict[str, Any] | None], object]


class Meta(Protocol):
    def meta(self, key: str) -> int: ...

    def set_meta(self, key: str, value: int) -> None: ...


def budget_from(config: AgentConfig, meta: Meta) -> Budget:
    """`[budget] monthly_bytes`, checked; the month's use so far from the outbox's metadata."""
    raw = config.section("budget").get("monthly_bytes", DEFAULT_MONTHLY_BYTES)
    if isinstance(raw, bool) or not isinstance(raw, int) or not 0 < raw <= MAX_BUDGET_BYTES:
        raise ConfigError(f"{config.origin}: budget.monthly_bytes must be an integer in 1..1e13")
    return Budget(raw, month=meta.meta("budget_month"), used=meta.meta("budget_used"))


def bytes_used(m: Measurement) -> int:
    """What one result's test put on the line, both ways (methodology §8)."""
    v = m.values
    if m.kind == "capacity":
        own = [v.get("down_test_line_bytes"), v.get("up_test_line_bytes")]
        if all(isinstance(n, int) for n in own):
            return sum(n for n in own if isinstance(n, int))
        return int(v.get("down_bytes", 0)) + int(v.get("up_bytes", 0))  # an older kernel
    if m.kind == "latency":
        return (int(v.get("sent", 0)) + int(v.get("received", 0))) * STAMP_LINE_BYTES
    if m.kind in ("web", "streaming"):
        return int(v.get("bytes", 0))  # response bodies; their headers add a few percent
    return DNS_RECORD_BYTES


def retry_reason(m: Measurement, reasons: list[str]) -> str | None:
    """Why a result asks for another attempt (methodology §5.4), or None."""
    if m.values.get("skipped") == "cross-traffic" or "cross-traffic" in reasons:
        return "cross-traffic"
    if m.kind in ("capacity", "latency", "web", "streaming") and "error" in m.values:
        return "no-server"
    if m.kind == "latency" and m.values.get("received") == 0:
        return "no-reply"
    return None


class ActiveRunner:
    def __init__(
        self,
        config: AgentConfig,
        sources: dict[str, Source],
        link: LinkState,
        poll_link: LinkPoll,
        commit: Commit,
        meta: Meta,
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
        retry_first_s: float = RETRY_FIRST_S,
    ) -> None:
        self.probe = config.probe_id
        self.sources = sources
        self.link = link
        self.poll_link = poll_link
        self.commit = commit
        self.meta = meta
        self.clock = clock
        self.rng = rng or random.Random()
        self.retry_first_s = retry_first_s
        self.tests = ActiveTests(clock)
        self.budget = budget_from(config, meta)
        self.expected: dict[str, int] = {}  # the last run's bytes, per schedule
        self.plans: dict[str, FleetPlan] = {}
        self.link_sources = tuple(n for n in LINK_SOURCES if n in sources)

    def plan(self, name: str, interval_s: float) -> FleetPlan:
        plan = self.plans.get(name)
        if plan is None or plan.interval_s != interval_s:  # a `schedule` command changed it
            plan = FleetPlan(
                self.probe, name, interval_s, self.rng, retry_first_s=self.retry_first_s
            )
            self.plans[name] = plan
        return plan

    async def run_schedule(
        self,
        name: str,
        interval_of: Callable[[], float],
        stop: asyncio.Event,
        paused: Callable[[], bool],
    ) -> None:
        """Run schedule `name` at its plan's due times until stop is set."""
        while not stop.is_set():
            plan = self.plan(name, interval_of())
            due = plan.next_due(self.clock())
            if await self._sleep_until(due.at, stop):
                return
            if not paused():
                await self.run_due(name, plan, due, stop)

    async def run_due(self, name: str, plan: FleetPlan, due: Due, stop: asyncio.Event) -> None:
        """One due run of a schedule: the first attempt, and retries while it asks for them,
        at the plan's back-off and never past the next due run (methodology §5.4)."""
        following = plan.next_due(due.at).at
        attempt, reason = 1, await self.run_once(name, due, 1, None)
        while reason is not None:
            at = plan.retry_at(self.clock(), attempt, following)
            if at is None:
                detail = f"{name}: {reason}, abandoned after {attempt} attempt(s)"
                self.commit("status", {"event": "test-abandoned", "detail": detail}, None)
                return
            if await self._sleep_until(at, stop):
                return
            attempt += 1
            retry = Due(at, plan.is_peak(at), due.moved)
            reason = await self.run_once(name, retry, attempt, reason)
        plan.ran(due)

    async def run_now(self, name: str, interval_s: float) -> None:
        """One attempt now, outside the plan (`agent once`, a `measure` command)."""
        now = self.clock()
        plan = self.plan(name, interval_s)
        await self.run_once(name, Due(now, plan.is_peak(now), False), 1, None)

    async def _sleep_until(self, at: float, stop: asyncio.Event) -> bool:
        """Wait until wall-clock time `at`; True when stop was set meanwhile."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), max(0.0, at - self.clock()))
        return stop.is_set()

    async def run_once(self, name: str, due: Due, attempt: int, previous: str | None) -> str | None:
        """One attempt of an active test; the reason to retry it, or None."""
        source = self.sources[name]
        refused = self.budget.admit(name, due.at, self.expected.get(name, 0), due.moved)
        if refused is not None:
            self.commit("status", {"event": "test-skipped", "detail": f"{name}: {refused}"}, None)
            return None
        if isinstance(source, CapacitySource):
            source.duration_s = self.budget.capacity_duration(source.settings.duration_s, due.at)
        async with self.tests.turn(name, due.at) as turn:
            before = await self._snapshot()
            started = self.clock()
            try:
                results = await asyncio.wait_for(source.measure(self.link), MEASURE_TIMEOUT_S)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a source's failure is logged, never fatal
                log.error("%s measurement failed: %s: %s", name, type(exc).__name__, exc)
                results = []
            ended = self.clock()
            after = await self._snapshot()
        window, link_reasons = linkwindow.window(before, after, self.link_sources)
        queue = self._queue(turn, due, attempt, previous)
        spent, wanted = 0, None
        for m in results:
            reasons = link_reasons + (
                validity.capacity_reasons(m.values) if m.kind == "capacity" else []
            )
            extra = {
                "started_ms": round(started * 1000),
                "duration_ms": round((ended - started) * 1000),
                "queue": queue,
                "link": window,
                "validity": validity.verdict(reasons),
            }
            self.commit(m.kind, m.values, extra)
            spent += bytes_used(m)
            wanted = wanted or retry_reason(m, reasons)
        self.budget.spend(spent, ended)
        self.expected[name] = spent
        month, used = self.budget.state()
        self.meta.set_meta("budget_month", month)
        self.meta.set_meta("budget_used", used)
        return wanted

    def _queue(self, turn: Turn, due: Due, attempt: int, previous: str | None) -> dict[str, Any]:
        queue: dict[str, Any] = {**turn.queue_values(), "attempt": attempt, "peak": due.peak}
        if previous is not None:
            queue["retry_reason"] = previous
        return queue

    async def _snapshot(self) -> dict[str, Any]:
        radio, optical = await self.poll_link() if self.link_sources else (None, None)
        return linkwindow.snapshot(round(self.clock() * 1000), radio, optical)

    def health_values(self) -> dict[str, Any]:
        """What health records report of the schedule: the budget, today's peak shares."""
        now = self.clock()
        out: dict[str, Any] = dict(self.budget.report(now))
        shares = {n: p.peak_share_today(now) for n, p in self.plans.items()}
        known = {n: round(100 * s, 1) for n, s in shares.items() if s is not None}
        if known:
            out["peak_share_pct"] = known
        return out
