"""Roll-ups: mergeable sketches of each headline metric (collector.sketch) kept beside the raw
records, so that the regulator's aggregates over any period read thousands of sketches instead
of millions of rows.

Two levels, as the analyst's questions need them:

- `rollup_fleet`: per UTC hour and per UTC day × (operator, technology, region, tier, validity),
  for fleet figures. A week is seven day rows per group; the hours at the edges of a period that
  does not start or end at midnight come from the hour rows.
- `rollup_probe_day`: per probe × local (Africa/Casablanca) day × peak or off-peak hours ×
  validity, for per-probe weighting and probe-level bootstrap intervals. Peak hours are
  18:00–23:00 local time (docs/methodology.md, "peak").

Labels are the probe registry's when the record is rolled up (minutes after it arrives), which is
the label valid at measurement time as long as the registry keeps no history (issue 21). A label
the registry does not know is stored as '' and read back as None.

`refresh` is the job: it rolls up the records received in [watermark, now − LAG_MS), one slice of
arrival time at a time, each slice one transaction that merges its sketches and moves the
watermark; killed at any point, it leaves the roll-ups and the watermark of the last committed
slice, and a restart carries on from there. LAG_MS is there because a record's received_at_ms is
taken before its batch commits: every batch that can still commit a row received before
now − LAG_MS has long committed (batches commit in milliseconds; a minute is a wide margin).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from collector import metrics
from collector.sketch import ALPHA, Sketch, key_sql

HOUR_MS = 3_600_000
DAY_MS = 86_400_000
GRAINS = {"hour": HOUR_MS, "day": DAY_MS}
LAG_MS = 60_000
STEP_MS = HOUR_MS
PEAK_START_MS, PEAK_END_MS = 18 * HOUR_MS, 23 * HOUR_MS
LABELS = ("operator", "technology", "region", "tier", "validity")
RELATIVE_ERROR = ALPHA
_STATE = "records"
_UPSERT_ROWS = 400  # rows per INSERT … ON CONFLICT statement (SQLite's parameter bound)

_FLEET_KEY = "grain, metric, start_ms, operator, technology, region, tier, validity"
_PROBE_KEY = "metric, day_ms, probe, peak, validity"


def watermark(store: Any) -> int | None:
    """Records received before this have been rolled up (None: the job has never run)."""
    rows = store.query("SELECT received_before_ms FROM rollup_state WHERE name = ?", [_STATE])
    return int(rows[0][0]) if rows else None


@dataclass(frozen=True)
class Slice:
    received_from_ms: int
    received_before_ms: int
    sketches: int  # roll-up rows written


def refresh(
    store: Any,
    now_ms: int,
    lag_ms: int = LAG_MS,
    step_ms: int = STEP_MS,
    on_slice: Callable[[Slice], None] | None = None,
) -> list[Slice]:
    """Roll up what arrived since the last run, up to now − lag_ms; the slices committed."""
    horizon = now_ms - lag_ms
    done: list[Slice] = []
    while True:
        with store.transaction():
            start = _lock_watermark(store)
            # Straight to the next arrival: days without records cost one query, not a slice each.
            rows = store.query(
                "SELECT MIN(received_at_ms) FROM records WHERE received_at_ms >= ?",
                [start if start is not None else -(2**63)],
            )
            first = rows[0][0]
            if first is None or first >= horizon:
                _set_watermark(store, max(horizon, start if start is not None else horizon))
                return done
            start = start if start is not None else int(first)
            end = min(first - first % step_ms + step_ms, horizon)
            written = _roll_up(store, start, end)
            _set_watermark(store, end)
        piece = Slice(start, end, written)
        done.append(piece)
        if on_slice is not None:
            on_slice(piece)


def _lock_watermark(store: Any) -> int | None:
    lock = " FOR UPDATE" if store.dialect == "postgres" else ""
    rows = store.query(
        f"SELECT received_before_ms FROM rollup_state WHERE name = ?{lock}", [_STATE]
    )
    return int(rows[0][0]) if rows else None


def _set_watermark(store: Any, ms: int) -> None:
    store.execute(
        "INSERT INTO rollup_state (name, received_before_ms) VALUES (?, ?)"
        " ON CONFLICT (name) DO UPDATE SET received_before_ms = excluded.received_before_ms",
        [_STATE, ms],
    )


def bucket_counts(
    store: Any, metric: str, group_sql: Sequence[str], where: str, params: Sequence[Any]
) -> list[Any]:
    """(group columns…, bucket key, count) of metric's values over records r joined with probes p
    matching where: the database counts, Python only merges."""
    groups = ", ".join(group_sql)
    n = len(group_sql)
    rows: list[Any] = store.query(
        f"SELECT {groups}, {key_sql('r.' + metric)}, COUNT(*)"
        " FROM records r LEFT JOIN probes p ON p.probe = r.probe"
        f" WHERE r.{metric} IS NOT NULL AND {where}"
        f" GROUP BY {', '.join(str(i + 1) for i in range(n + 1))}",
        params,
    )
    return rows


_FLEET_GROUPS = [
    f"r.time_ms - (r.time_ms % {HOUR_MS})",
    "COALESCE(p.operator, '')",
    "COALESCE(p.technology, '')",
    "COALESCE(p.region, '')",
    "COALESCE(p.tier, '')",
    "COALESCE(r.validity, '')",
]
_PROBE_GROUPS = [
    f"r.local_time_ms - (r.local_time_ms % {DAY_MS})",
    "r.probe",
    f"CASE WHEN r.local_time_ms % {DAY_MS} >= {PEAK_START_MS}"
    f" AND r.local_time_ms % {DAY_MS} < {PEAK_END_MS} THEN 1 ELSE 0 END",
    "COALESCE(r.validity, '')",
]


def _roll_up(store: Any, start: int, end: int) -> int:
    written = 0
    for metric in metrics.NAMES:
        where, params = "r.received_at_ms >= ? AND r.received_at_ms < ?", [start, end]
        fleet: dict[tuple[Any, ...], Sketch] = {}
        for *group, k, n in bucket_counts(store, metric, _FLEET_GROUPS, where, params):
            hour, labels = int(group[0]), tuple(group[1:])
            for grain, size in GRAINS.items():
                fleet.setdefault((grain, metric, hour - hour % size, *labels), Sketch()).add(k, n)
        written += _merge_into(store, "rollup_fleet", _FLEET_KEY, "start_ms", fleet)
        per_probe: dict[tuple[Any, ...], Sketch] = {}
        for day, probe, peak, validity, k, n in bucket_counts(
            store, metric, _PROBE_GROUPS, where, params
        ):
            key = (metric, int(day), probe, bool(peak), validity)
            per_probe.setdefault(key, Sketch()).add(k, n)
        written += _merge_into(store, "rollup_probe_day", _PROBE_KEY, "day_ms", per_probe)
    return written


def _merge_into(
    store: Any, table: str, key_cols: str, time_col: str, fresh: dict[tuple[Any, ...], Sketch]
) -> int:
    """Add fresh sketches to the stored ones of the same key (read first, written merged)."""
    if not fresh:
        return 0
    cols = [c.strip() for c in key_cols.split(",")]
    time_at = cols.index(time_col)
    metric_at = cols.index("metric")
    by_metric: dict[str, set[int]] = {}
    for key in fresh:
        by_metric.setdefault(key[metric_at], set()).add(key[time_at])
    for metric, times in by_metric.items():
        ordered = sorted(times)
        for i in range(0, len(ordered), _UPSERT_ROWS):
            part = ordered[i : i + _UPSERT_ROWS]
            rows = store.query(
                f"SELECT {key_cols}, sketch FROM {table} WHERE metric = ?"
                f" AND {time_col} IN ({', '.join('?' * len(part))})",
                [metric, *part],
            )
            for *stored_key, blob in rows:
                key = tuple(
                    bool(v) if c == "peak" else v for c, v in zip(cols, stored_key, strict=True)
                )
                if key in fresh:
                    fresh[key].merge_bytes(bytes(blob))
    items = list(fresh.items())
    marks = "(" + ", ".join("?" * (len(cols) + 2)) + ")"
    for i in range(0, len(items), _UPSERT_ROWS):
        rows_now = items[i : i + _UPSERT_ROWS]
        params: list[Any] = []
        for key, sk in rows_now:
            params += [*key, sk.count, sk.encode()]
        store.execute(
            f"INSERT INTO {table} ({key_cols}, count, sketch) VALUES "
            + ", ".join([marks] * len(rows_now))
            + f" ON CONFLICT ({key_cols}) DO UPDATE SET count = excluded.count,"
            " sketch = excluded.sketch",
            params,
        )
    return len(items)
