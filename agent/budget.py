"""The household's data budget: a monthly cap on the bytes the probe's tests use (methodology §8).

Pure bookkeeping over times given to it (seconds since 1970): the month is the local calendar
month, so a simulated month runs without sleeping. The caller persists `state()` (the outbox's
metadata) so a restart does not reset the month's use.

As the cap nears the schedule adapts, heavy tests first: from REDUCED_SHARE of the cap capacity
tests run every other time and for half their duration; from PEAK_ONLY_SHARE only the runs the
peak-hour guarantee moved into the peak; and no test of any kind starts when the bytes it is
expected to use would cross the cap.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from agent.fleetplan import DEFAULT_TIMEZONE

DEFAULT_MONTHLY_BYTES = 10 * 10**9  # a tenth of a typical 100 GB 5G fixed-wireless allowance
REDUCED_SHARE = 0.7
PEAK_ONLY_SHARE = 0.9
MIN_CAPACITY_S = 5.0
HEAVY = ("capacity",)  # tests the steps hold back first

FULL = "full"
REDUCED = "reduced"
PEAK_ONLY = "peak-only"


class Budget:
    def __init__(
        self,
        cap_bytes: int = DEFAULT_MONTHLY_BYTES,
        timezone: str = DEFAULT_TIMEZONE,
        month: int = 0,
        used: int = 0,
    ) -> None:
        if cap_bytes <= 0:
            raise ValueError(f"monthly cap {cap_bytes} bytes must be positive")
        self.cap_bytes = cap_bytes
        self.zone = ZoneInfo(timezone)
        self.month = month  # yyyymm of the month `used` counts; 0: none yet
        self.used = used
        self._skipped_last = False  # every other capacity run in the reduced step

    def month_of(self, t: float) -> int:
        local = datetime.fromtimestamp(t, self.zone)
        return local.year * 100 + local.month

    def _roll(self, t: float) -> None:
        month = self.month_of(t)
        if month != self.month:
            self.month, self.used, self._skipped_last = month, 0, False

    def used_bytes(self, t: float) -> int:
        self._roll(t)
        return self.used

    def step(self, t: float) -> str:
        share = self.used_bytes(t) / self.cap_bytes
        if share >= PEAK_ONLY_SHARE:
            return PEAK_ONLY
        return REDUCED if share >= REDUCED_SHARE else FULL

    def spend(self, nbytes: int, t: float) -> None:
        """Count bytes a test used (both directions, retries included)."""
        if nbytes < 0:
            raise ValueError(f"a test cannot use {nbytes} bytes")
        self._roll(t)
        self.used += nbytes

    def admit(self, kind: str, t: float, expected_bytes: int, moved_into_peak: bool) -> str | None:
        """None when a test of `kind` due at t may run; otherwise why not (for the record)."""
        self._roll(t)
        if self.used + expected_bytes > self.cap_bytes:
            return "budget: the month's cap would be crossed"
        if kind not in HEAVY:
            return None
        step = self.step(t)
        if step == PEAK_ONLY and not moved_into_peak:
            return "budget: above 90 % of the month's cap, only peak-guarantee runs"
        if step == REDUCED:
            self._skipped_last = not self._skipped_last
            if self._skipped_last:
                return "budget: above 70 % of the month's cap, every other run"
        return None

    def capacity_duration(self, configured_s: float, t: float) -> float:
        """Seconds per direction for a capacity test now: halved from the reduced step on."""
        if self.step(t) == FULL:
            return configured_s
        return max(MIN_CAPACITY_S, configured_s / 2)

    def state(self) -> tuple[int, int]:
        """(month as yyyymm, bytes used in it): what to persist."""
        return self.month, self.used

    def report(self, t: float) -> dict[str, int | str]:
        """The health record's budget values."""
        return {
            "budget_used_bytes": self.used_bytes(t),
            "budget_cap_bytes": self.cap_bytes,
            "budget_step": self.step(t),
        }
