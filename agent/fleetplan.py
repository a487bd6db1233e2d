"""When a probe's tests are due: fleet-fair offsets, fresh jitter, a peak-hour guarantee, retries.

docs/methodology.md §5.2–5.4. Pure computation over times given to it (seconds since 1970, UTC):
no clock is read here, so a simulated day or month runs in microseconds in the tests.

- Offset: SHA-256(probe id, schedule name), first 8 bytes, modulo the interval. Probes started
  together (after a power cut) are spread over the interval, and each keeps its place.
- Jitter: fresh for every run, uniform in ±min(interval / 10, 300 s), so a probe does not sample
  the same minute of every hour for ever.
- Peak hours (local time, Africa/Casablanca by default, 18–23 h after ARCEP): per local day, at
  least `peak_share` of the day's runs fall in peak hours. A day whose natural grid gives fewer
  moves that many of its off-peak runs into the peak window (the day's run count is unchanged,
  so the data budget is too).
- Retries: a test that gave no result is retried after 60 s, then 120 s, then 240 s, never past
  its next due time; the reason is kept for the record.
"""

from __future__ import annotations

import bisect
import hashlib
import math
import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

DEFAULT_TIMEZONE = "Africa/Casablanca"
PEAK_HOURS = (18, 23)  # local hours [start, end)
PEAK_SHARE = 0.3
MAX_JITTER_S = 300.0
RETRY_FIRST_S = 60.0
MAX_RETRIES = 3


def fleet_offset(probe: str, schedule: str, interval_s: float) -> float:
    """Where in each interval this probe's run of this schedule falls, in [0, interval_s)."""
    digest = hashlib.sha256(f"{probe}\x00{schedule}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 * interval_s


@dataclass(frozen=True)
class Due:
    at: float  # seconds since 1970, UTC
    peak: bool  # falls in the configured peak hours (local time)
    moved: bool  # moved into the peak by the guarantee


class FleetPlan:
    """The due times of one schedule of one probe."""

    def __init__(
        self,
        probe: str,
        schedule: str,
        interval_s: float,
        rng: random.Random | None = None,
        timezone: str = DEFAULT_TIMEZONE,
        peak_hours: tuple[int, int] = PEAK_HOURS,
        peak_share: float = PEAK_SHARE,
        retry_first_s: float = RETRY_FIRST_S,
    ) -> None:
        if interval_s <= 0:
            raise ValueError(f"interval {interval_s} s must be positive")
        start, end = peak_hours
        if not 0 <= start < end <= 24:
            raise ValueError(f"peak hours {peak_hours} must be 0 <= start < end <= 24")
        if not 0 <= peak_share <= 1:
            raise ValueError(f"peak share {peak_share} must be in 0..1")
        self.schedule = schedule
        self.interval_s = interval_s
        self.offset_s = fleet_offset(probe, schedule, interval_s)
        self.jitter_s = min(interval_s / 10, MAX_JITTER_S)
        self.rng = rng or random.Random()
        self.zone = ZoneInfo(timezone)
        self.peak_hours = peak_hours
        self.peak_share = peak_share
        self.retry_first_s = retry_first_s  # the first back-off; each next one doubles
        self._day: tuple[float, float] | None = None  # [start, end) of the planned local day
        self._plan: list[Due] = []
        self._tally: dict[float, tuple[int, int]] = {}  # local day start -> (runs, peak runs)

    def is_peak(self, t: float) -> bool:
        hour = datetime.fromtimestamp(t, self.zone).hour
        return self.peak_hours[0] <= hour < self.peak_hours[1]

    def next_due(self, after: float) -> Due:
        """The first run due strictly after `after`."""
        day_of = after
        for _ in range(400):  # days: an interval is at most a week (config)
            start, end = self._local_day(day_of)
            if self._day != (start, end):
                self._day = (start, end)
                self._plan = self._plan_day(start, end)
            k = bisect.bisect_right([d.at for d in self._plan], after)
            if k < len(self._plan):
                return self._plan[k]
            day_of = end
        raise RuntimeError("no run due within 400 days")  # unreachable with a valid interval

    def retry_at(self, now: float, attempt: int, next_due: float) -> float | None:
        """When to retry after failed attempt number `attempt` (1 = the first try), or None
        when the retries are spent or the next due run comes first."""
        if attempt > MAX_RETRIES:
            return None
        at = now + self.retry_first_s * 2 ** (attempt - 1)
        return at if at < next_due else None

    def ran(self, due: Due) -> None:
        """Count a run that gave a result, for the peak share reported in health records."""
        day = self._local_day(due.at)[0]
        runs, peak = self._tally.get(day, (0, 0))
        self._tally = {day: (runs + 1, peak + due.peak)}  # only the current day is reported

    def peak_share_today(self, now: float) -> float | None:
        """Share of today's (local day's) completed runs that fell in peak hours; None: no run."""
        runs, peak = self._tally.get(self._local_day(now)[0], (0, 0))
        return peak / runs if runs else None

    def _local_day(self, t: float) -> tuple[float, float]:
        local = datetime.fromtimestamp(t, self.zone)
        midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
        following = (midnight + timedelta(days=1)).replace(tzinfo=None)
        end = following.replace(tzinfo=self.zone)
        return midnight.timestamp(), end.timestamp()

    def _plan_day(self, start: float, end: float) -> list[Due]:
        """The day's runs: the fleet grid with fresh jitter, then the peak guarantee."""
        T = self.interval_s
        k = math.ceil((start - self.offset_s) / T)
        times = []
        while (t := k * T + self.offset_s) < end:
            jittered = t + self.rng.uniform(-self.jitter_s, self.jitter_s)
            times.append(min(max(jittered, start), end - 1e-3))  # stays in its day
            k += 1
        peak = [t for t in times if self.is_peak(t)]
        off_peak = [t for t in times if not self.is_peak(t)]
        needed = math.ceil(self.peak_share * len(times) - 1e-9) - len(peak)
        window = self._peak_window(start)
        moved: list[float] = []
        if needed > 0 and off_peak and window is not None:
            needed = min(needed, len(off_peak))
            # The off-peak runs given up are spread over the day; the moved ones spread over the
            # peak window, each at this probe's offset within its share of the window.
            step = len(off_peak) / needed
            given_up = {off_peak[int(i * step)] for i in range(needed)}
            off_peak = [t for t in off_peak if t not in given_up]
            w0, w1 = window
            share = (w1 - w0) / needed
            frac = self.offset_s / T
            spread = min(self.jitter_s, share / 2)
            moved = [
                min(max(w0 + (i + frac) * share + self.rng.uniform(-spread, spread), w0), w1 - 1)
                for i in range(needed)
            ]
        plan = [Due(t, True, False) for t in peak]
        plan += [Due(t, False, False) for t in off_peak]
        plan += [Due(t, True, True) for t in moved]
        return sorted(plan, key=lambda d: d.at)

    def _peak_window(self, day_start: float) -> tuple[float, float] | None:
        midnight = datetime.fromtimestamp(day_start, self.zone).replace(tzinfo=None)
        w0 = (midnight + timedelta(hours=self.peak_hours[0])).replace(tzinfo=self.zone)
        w1 = (midnight + timedelta(hours=self.peak_hours[1])).replace(tzinfo=self.zone)
        lo, hi = w0.timestamp(), w1.timestamp()
        return (lo, hi) if hi > lo else None
