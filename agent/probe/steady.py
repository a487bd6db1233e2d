"""Working conditions: when a series measured interval by interval has settled.

One detector for every test that loads the line: capacity (goodput per interval) and the
responsiveness measurement (goodput, and round-trip times under load). It follows the "working
conditions" test of draft-ietf-ippm-responsiveness (section "Reaching Working Conditions"):

    every interval i, the moving average  m_i = mean(x_{i-W+1} .. x_i)      (W = `window`, MAD)
    the series is stable at i when        stdev(m_{i-W+1} .. m_i) <= tolerance * mean(same)
                                                                       (`tolerance` = SDT)

so it needs 2W-1 intervals before it can say "stable" (7 at W = 4). It differs from the draft
in what follows detection (docs/methodology.md): the steady window starts at the first of the W
intervals of the moving average that was stable, and it lasts while every later evaluation stays
stable; an evaluation that is not stable ends it, and the next stable one opens a new window.
A token-bucket burst followed by the shaped rate thus ends its window, and the result is taken
over the rate that lasts, not over the burst. The stability figure is the coefficient of variation
(population standard deviation over mean) of the samples of the steady window.

Sans-IO: samples in, verdicts out; no clock, no sockets.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

WINDOW = 4  # MAD of the draft: intervals per moving average, and moving averages compared
TOLERANCE = 0.05  # SDT of the draft: allowed standard deviation as a share of the mean


@dataclass(frozen=True)
class SteadyWindow:
    """A run of intervals over which the series was stable: samples[start:end]."""

    start: int
    end: int
    mean: float
    cv: float | None  # coefficient of variation of its samples; None when the mean is 0

    @property
    def count(self) -> int:
        return self.end - self.start


def mean(values: Sequence[float]) -> float:
    return math.fsum(values) / len(values)


def coefficient_of_variation(values: Sequence[float]) -> float | None:
    """Population standard deviation / mean; None for no values or a zero mean."""
    if not values:
        return None
    m = mean(values)
    if m == 0:
        return None
    variance = math.fsum((v - m) ** 2 for v in values) / len(values)
    return math.sqrt(variance) / abs(m)


class WorkingConditions:
    """Feed one sample per interval with add(); it tells whether the series is stable now."""

    def __init__(self, window: int = WINDOW, tolerance: float = TOLERANCE) -> None:
        if window < 2:
            raise ValueError(f"window {window} must be at least 2 intervals")
        if not 0 < tolerance < 1:
            raise ValueError(f"tolerance {tolerance} must be a share between 0 and 1")
        self.window = window
        self.tolerance = tolerance
        self.samples: list[float] = []
        self.averages: list[float] = []  # averages[k] is the moving average ending at sample k
        self.stable = False
        self._run_start: int | None = None  # first sample of the current steady window
        self._last: SteadyWindow | None = None  # the latest steady window, open or closed

    def add(self, sample: float) -> bool:
        """One interval's value (a rate, a delay); True when the series is stable after it."""
        if not math.isfinite(sample) or sample < 0:
            raise ValueError(f"sample {sample!r} is not a finite non-negative number")
        self.samples.append(sample)
        w = self.window
        if len(self.samples) >= w:
            self.averages.append(mean(self.samples[-w:]))
        else:
            self.averages.append(math.nan)
        self.stable = self._evaluate()
        end = len(self.samples)
        if self.stable:
            if self._run_start is None:
                self._run_start = end - w
            self._last = self._summarise(self._run_start, end)
        else:
            self._run_start = None
        return self.stable

    def moving_average(self) -> float | None:
        """The moving average over the last `window` samples; None before there are enough."""
        if len(self.samples) < self.window:
            return None
        return self.averages[-1]

    def steady(self) -> SteadyWindow | None:
        """The latest steady window (still open when `stable`), or None if never stable."""
        return self._last

    def _evaluate(self) -> bool:
        w = self.window
        if len(self.samples) < 2 * w - 1:
            return False
        recent = self.averages[-w:]
        m = mean(recent)
        if m <= 0:
            return False
        spread = math.sqrt(math.fsum((a - m) ** 2 for a in recent) / w)
        return spread <= self.tolerance * m

    def _summarise(self, start: int, end: int) -> SteadyWindow:
        values = self.samples[start:end]
        return SteadyWindow(start, end, mean(values), coefficient_of_variation(values))


def steady_window(
    samples: Iterable[float], window: int = WINDOW, tolerance: float = TOLERANCE
) -> SteadyWindow | None:
    """The latest steady window of a whole series (None if it never became stable)."""
    detector = WorkingConditions(window, tolerance)
    for sample in samples:
        detector.add(sample)
    return detector.steady()
