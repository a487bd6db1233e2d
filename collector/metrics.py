"""The headline metrics the regulator compares: which record value each is, its unit and labels.

Each metric is copied at ingest from the record's values into a column of its own, so aggregates
over millions of records read one indexed number instead of parsing JSON. The names here are the
column names, the API's `metric` parameter and the export's data dictionary.
"""

from __future__ import annotations

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


METRICS: tuple[Metric, ...] = (
    Metric(
        "down_mbps", "capacity", "down_mbps", "Mbit/s", "Débit descendant", "سرعة التنزيل", True
    ),
    Metric("up_mbps", "capacity", "up_mbps", "Mbit/s", "Débit montant", "سرعة الرفع", True),
    Metric("rtt_ms", "latency", "rtt_ms_median", "ms", "Latence", "زمن الاستجابة", False),
    Metric(
        "loaded_rtt_ms_down",
        "capacity",
        "loaded_rtt_ms_median_down",
        "ms",
        "Latence en charge (descendant)",
        "زمن الاستجابة تحت الحمل (تنزيل)",
        False,
    ),
    Metric(
        "loaded_rtt_ms_up",
        "capacity",
        "loaded_rtt_ms_median_up",
        "ms",
        "Latence en charge (montant)",
        "زمن الاستجابة تحت الحمل (رفع)",
        False,
    ),
)
BY_NAME = {m.name: m for m in METRICS}
NAMES = tuple(m.name for m in METRICS)


def extract(kind: str, values: dict[str, Any]) -> dict[str, float]:
    """The metrics a record of kind with these values carries (numbers only; absent ≠ 0)."""
    out: dict[str, float] = {}
    for m in METRICS:
        if m.kind != kind:
            continue
        value = values.get(m.key)
        if isinstance(value, int | float) and not isinstance(value, bool):
            out[m.name] = float(value)
    return out
