"""The headline metrics the regulator compares: which record value each is, its unit and labels.

Each metric is copied at ingest from the record's values into a column of its own, so aggregates
over millions of records read one indexed number instead of parsing JSON. The names here are the
column names, the API's `metric` parameter and the export's data dictionary.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Metric:
    name: str
    kind: str  # the record kind carrying it
    key: str  # its key in the record's values
    unit: str
    label_fr: str
    label_ar: str
    higher_is_better: bool
    # What an access link can give; outside it a value is not a measurement (issue 19: ±1.7e308
    # reached the aggregates). Up to 100 Gbit/s, and a minute of round trip.
    plausible: tuple[float, float] = (0.0, 100_000.0)


METRICS: tuple[Metric, ...] = (
    Metric(
        "down_mbps", "capacity", "down_mbps", "Mbit/s", "Débit descendant", "سرعة التنزيل", True
    ),
    Metric("up_mbps", "capacity", "up_mbps", "Mbit/s", "Débit montant", "سرعة الرفع", True),
    Metric(
        "rtt_ms",
        "latency",
        "rtt_ms_median",
        "ms",
        "Latence",
        "زمن الاستجابة",
        False,
        (0.0, 60_000.0),
    ),
    Metric(
        "loaded_rtt_ms_down",
        "capacity",
        "loaded_rtt_ms_median_down",
        "ms",
        "Latence en charge (descendant)",
        "زمن الاستجابة تحت الحمل (تنزيل)",
        False,
        (0.0, 60_000.0),
    ),
    Metric(
        "loaded_rtt_ms_up",
        "capacity",
        "loaded_rtt_ms_median_up",
        "ms",
        "Latence en charge (montant)",
        "زمن الاستجابة تحت الحمل (رفع)",
        False,
        (0.0, 60_000.0),
    ),
)
BY_NAME = {m.name: m for m in METRICS}
NAMES = tuple(m.name for m in METRICS)


def _numbers(kind: str, values: dict[str, Any]) -> Iterator[tuple[Metric, float]]:
    for m in METRICS:
        value = values.get(m.key) if m.kind == kind else None
        if isinstance(value, int | float) and not isinstance(value, bool):
            yield m, float(value)


def extract(kind: str, values: dict[str, Any]) -> dict[str, float]:
    """The metrics a record of kind with these values carries (numbers only; absent ≠ 0), each
    within its plausible range: one outside it is no figure (see `implausible`)."""
    return {m.name: v for m, v in _numbers(kind, values) if m.plausible[0] <= v <= m.plausible[1]}


def implausible(kind: str, values: dict[str, Any]) -> str | None:
    """Why a record's headline values cannot be measurements, if one cannot (its flag)."""
    found = [
        f"{m.key} {v:g} outside {m.plausible[0]:g}..{m.plausible[1]:g} {m.unit}"
        for m, v in _numbers(kind, values)
        if not m.plausible[0] <= v <= m.plausible[1]
    ]
    return "; ".join(found) or None
