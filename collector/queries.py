"""What the HTTP API and the dashboard ask of the store: filtered pages of records, percentile
aggregates per operator / region / technology (optionally per time bucket), probe health.

Percentiles are `percentile_cont` (linear interpolation): computed by PostgreSQL itself, and in
Python for SQLite, which lacks it; the tests run both and expect the same numbers.
When the roll-ups can answer an aggregate (collector.rollups), it is read from their sketches,
within their stated relative error, and each group says so (`source`, `relative_error`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from collector import metrics, rollups
from collector.sketch import Sketch
from collector.store import Store, now_ms
from collector.times import iso_ms

GROUPS = ("operator", "region", "technology", "probe")
# Which results by the probe's verdict (docs/methodology.md §4): `usable` (valid, or no verdict as
# in schema v1) is what aggregates take by default; the others select one class or all.
VALIDITY = {
    "usable": "(r.validity IS NULL OR r.validity <> 'flagged')",
    "valid": "r.validity = 'valid'",
    "flagged": "r.validity = 'flagged'",
    "unknown": "r.validity IS NULL",
    "all": None,
}
PERCENTILES = (0.1, 0.25, 0.5, 0.75, 0.9)
# Probe health: seen within this long is "active", within LATE_MS "late", else "silent".
ACTIVE_MS = 3_600_000
LATE_MS = 24 * 3_600_000


@dataclass(frozen=True)
class Filters:
    probe: str | None = None
    operator: str | None = None
    region: str | None = None
    technology: str | None = None
    kind: str | None = None
    since_ms: int | None = None
    until_ms: int | None = None
    validity: str | None = None  # a key of VALIDITY; None: all records, `usable` in aggregates

    def where(self) -> tuple[list[str], list[Any]]:
        """SQL conditions on records r joined with probes p, and their parameters."""
        clauses: list[str] = []
        params: list[Any] = []
        for column, value in (
            ("r.probe", self.probe),
            ("p.operator", self.operator),
            ("p.region", self.region),
            ("p.technology", self.technology),
            ("r.kind", self.kind),
        ):
            if value is not None:
                clauses.append(f"{column} = ?")
                params.append(value)
        if self.since_ms is not None:
            clauses.append("r.time_ms >= ?")
            params.append(self.since_ms)
        if self.until_ms is not None:
            clauses.append("r.time_ms < ?")
            params.append(self.until_ms)
        condition = VALIDITY[self.validity or "all"]
        if condition is not None:
            clauses.append(condition)
        return clauses, params


_FROM = " FROM records r LEFT JOIN probes p ON p.probe = r.probe"


def _where_sql(clauses: Sequence[str]) -> str:
    return (" WHERE " + " AND ".join(clauses)) if clauses else ""


def record_doc(row: Sequence[Any]) -> dict[str, Any]:
    """id, probe, epoch, seq, kid, kind, time_ms, synced, received_at_ms, record, flag, operator,
    technology, region, validity → the API's view of one record."""
    rec = row[9] if isinstance(row[9], dict) else json.loads(row[9])
    return {
        "id": row[0],
        "probe": row[1],
        "epoch": row[2],
        "seq": row[3],
        "kid": bytes(row[4]).hex(),
        "kind": row[5],
        "time": iso_ms(row[6]),
        "synced": bool(row[7]),
        "received_at": iso_ms(row[8]),
        "values": rec.get("values", {}),
        "context": rec.get("context", {}),
        "versions": rec.get("versions", {}),
        "flag": row[10],
        "operator": row[11],
        "technology": row[12],
        "region": row[13],
        # The probe's verdict on the measurement, with its reasons; null: it gave none.
        "validity": rec.get("validity") if row[14] is not None else None,
    }


_RECORD_SELECT = (
    "SELECT r.id, r.probe, r.epoch, r.seq, r.kid, r.kind, r.time_ms, r.synced, r.received_at_ms,"
    " r.record, r.flag, p.operator, p.technology, p.region, r.validity"
)


def records_page(
    store: Store, filters: Filters, after_id: int = 0, limit: int = 100
) -> tuple[list[dict[str, Any]], int | None]:
    """Records matching filters with id > after_id, in id order; and the cursor of the next page
    (None on the last one). Keyset pagination: stable while records keep arriving."""
    clauses, params = filters.where()
    clauses.append("r.id > ?")
    params.append(after_id)
    rows = store.query(
        f"{_RECORD_SELECT}{_FROM}{_where_sql(clauses)} ORDER BY r.id LIMIT ?", [*params, limit + 1]
    )
    items = [record_doc(r) for r in rows[:limit]]
    return items, (items[-1]["id"] if len(rows) > limit else None)


def latest_id(store: Store) -> int:
    return int(store.query("SELECT COALESCE(MAX(id), 0) FROM records")[0][0])


def percentile_cont(ordered: Sequence[float], p: float) -> float:
    """PostgreSQL's percentile_cont over values already sorted ascending (not empty)."""
    pos = p * (len(ordered) - 1)
    low = int(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


@dataclass
class Aggregate:
    group: str | None
    bucket_ms: int | None
    count: int
    percentiles: dict[float, float] = field(default_factory=dict)
    share_below: float | None = None
    # Where the figures come from: "raw" rows (exact) or "rollup" sketches, whose percentiles
    # are within relative_error of the exact ones (counts are exact either way).
    source: str = "raw"
    relative_error: float = 0.0

    def doc(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "group": self.group,
            "count": self.count,
            "source": self.source,
            "relative_error": self.relative_error,
        }
        if self.bucket_ms is not None:
            out["bucket"] = iso_ms(self.bucket_ms)
        for p, v in self.percentiles.items():
            out["median" if p == 0.5 else f"p{round(p * 100)}"] = round(v, 3)
        if self.share_below is not None:
            out["share_below"] = round(self.share_below, 4)
        return out


def aggregate(
    store: Store,
    metric: str,
    group_by: str,
    filters: Filters,
    threshold: float | None = None,
    bucket_ms: int | None = None,
) -> list[Aggregate]:
    """Percentiles of metric per group (and per time bucket when bucket_ms is given), over the
    usable results unless filters name another validity (flagged ones are out by default).

    From the roll-ups when the question allows it (see rollup_aggregate), else from raw rows."""
    if metric not in metrics.BY_NAME or group_by not in GROUPS:
        raise ValueError(f"unknown metric {metric!r} or grouping {group_by!r}")
    if filters.validity is None:
        filters = replace(filters, validity="usable")
    if threshold is None:
        from_rollups = rollup_aggregate(store, metric, group_by, filters, bucket_ms)
        if from_rollups is not None:
            return from_rollups
    return raw_aggregate(store, metric, group_by, filters, threshold, bucket_ms)


def raw_aggregate(
    store: Store,
    metric: str,
    group_by: str,
    filters: Filters,
    threshold: float | None = None,
    bucket_ms: int | None = None,
) -> list[Aggregate]:
    """aggregate() computed from raw rows (exact percentile_cont)."""
    group_col = "r.probe" if group_by == "probe" else f"p.{group_by}"
    bucket_col = f"(r.time_ms - (r.time_ms % {int(bucket_ms)}))" if bucket_ms else "NULL"
    clauses, params = filters.where()
    clauses.append(f"r.{metric} IS NOT NULL")
    where = _where_sql(clauses)
    if store.dialect == "postgres":
        below = (
            f", AVG(CASE WHEN r.{metric} < ? THEN 1.0 ELSE 0.0 END)"
            if threshold is not None
            else ""
        )
        pct = ", ".join(str(p) for p in PERCENTILES)
        rows = store.query(
            f"SELECT {group_col}, {bucket_col}, COUNT(*),"
            f" percentile_cont(ARRAY[{pct}]) WITHIN GROUP (ORDER BY r.{metric}){below}"
            f"{_FROM}{where} GROUP BY 1, 2 ORDER BY 2, 1",
            ([threshold] if threshold is not None else []) + params,
        )
        return [
            Aggregate(
                group=r[0],
                bucket_ms=r[1],
                count=r[2],
                percentiles=dict(zip(PERCENTILES, r[3], strict=True)),
                share_below=float(r[4]) if threshold is not None else None,
            )
            for r in rows
        ]
    rows = store.query(
        f"SELECT {group_col}, {bucket_col}, r.{metric}{_FROM}{where} ORDER BY 2, 1, 3", params
    )
    out: list[Aggregate] = []
    values: list[float] = []
    for i, (group, bucket, value) in enumerate(rows):
        values.append(value)
        last = i + 1 == len(rows) or rows[i + 1][0] != group or rows[i + 1][1] != bucket
        if last:
            agg = Aggregate(group, bucket, len(values))
            agg.percentiles = {p: percentile_cont(values, p) for p in PERCENTILES}
            if threshold is not None:
                agg.share_below = sum(v < threshold for v in values) / len(values)
            out.append(agg)
            values = []
    return out


# The roll-ups' validity column holds '' for "no verdict".
_ROLLUP_VALIDITY = {
    "usable": "validity <> 'flagged'",
    "valid": "validity = 'valid'",
    "flagged": "validity = 'flagged'",
    "unknown": "validity = ''",
    "all": None,
}


def rollup_aggregate(
    store: Store,
    metric: str,
    group_by: str,
    filters: Filters,
    bucket_ms: int | None = None,
) -> list[Aggregate] | None:
    """aggregate() from the roll-ups, or None when they cannot answer it: a grouping or filter by
    probe or a kind other than the metric's, a period or bucket not made of whole hours, or a job
    that has never run. Records received since the job's last slice are counted from raw rows
    (a few minutes' worth) and merged in, so the answer is as fresh as the raw one."""
    received_before = rollups.watermark(store)
    if received_before is None or not _rollups_can_answer(metric, group_by, filters, bucket_ms):
        return None

    def bucket_of(start_ms: int) -> int | None:
        return start_ms - start_ms % bucket_ms if bucket_ms else None

    sketches: dict[tuple[str | None, int | None], Sketch] = {}
    labels, label_params = _rollup_label_clauses(filters)
    for grain, low, high in _grain_ranges(filters.since_ms, filters.until_ms, bucket_ms):
        clauses = ["grain = ?", "metric = ?", *labels]
        params: list[Any] = [grain, metric, *label_params]
        for bound, value in ((">=", low), ("<", high)):
            if value is not None:
                clauses.append(f"start_ms {bound} ?")
                params.append(value)
        for group, start_ms, blob in store.query(
            f"SELECT {group_by}, start_ms, sketch FROM rollup_fleet{_where_sql(clauses)}", params
        ):
            key = (group or None, bucket_of(start_ms))
            sketches.setdefault(key, Sketch()).merge_bytes(bytes(blob))
    # The tail: what arrived since the last slice, counted from the raw rows.
    clauses, params = filters.where()
    clauses.append("r.received_at_ms >= ?")
    params.append(received_before)
    hour_col = f"r.time_ms - (r.time_ms % {rollups.HOUR_MS})"
    for group, hour, k, n in rollups.bucket_counts(
        store, metric, [f"p.{group_by}", hour_col], " AND ".join(clauses), params
    ):
        sketches.setdefault((group, bucket_of(int(hour))), Sketch()).add(k, n)
    return [
        Aggregate(
            group,
            bucket,
            sk.count,
            sk.quantiles(PERCENTILES),
            source="rollup",
            relative_error=rollups.RELATIVE_ERROR,
        )
        for (group, bucket), sk in sorted(sketches.items(), key=_bucket_then_group)
        if sk.count
    ]


def _rollups_can_answer(
    metric: str, group_by: str, filters: Filters, bucket_ms: int | None
) -> bool:
    return not (
        group_by == "probe"
        or filters.probe is not None
        or filters.kind not in (None, metrics.BY_NAME[metric].kind)
        or bucket_ms not in (None, *rollups.GRAINS.values())
        or any(t is not None and t % rollups.HOUR_MS for t in (filters.since_ms, filters.until_ms))
    )


def _rollup_label_clauses(filters: Filters) -> tuple[list[str], list[Any]]:
    clauses, params = [], []
    for column, value in (
        ("operator", filters.operator),
        ("region", filters.region),
        ("technology", filters.technology),
    ):
        if value is not None:
            clauses.append(f"{column} = ?")
            params.append(value)
    validity = _ROLLUP_VALIDITY[filters.validity or "all"]
    if validity is not None:
        clauses.append(validity)
    return clauses, params


def _bucket_then_group(item: tuple[tuple[str | None, int | None], Sketch]) -> tuple[Any, ...]:
    # As PostgreSQL orders the raw answer: by bucket, then group, NULL last.
    (group, bucket), _ = item
    return (bucket is None, bucket or 0, group is None, group or "")


def _grain_ranges(
    since: int | None, until: int | None, bucket_ms: int | None
) -> list[tuple[str, int | None, int | None]]:
    """[since, until) as (grain, start, end) pieces: whole UTC days from day rows, the hours
    before the first and after the last midnight from hour rows (all hours for hourly buckets)."""
    if bucket_ms == rollups.HOUR_MS:
        return [("hour", since, until)]
    day = rollups.DAY_MS
    first = None if since is None else -(-since // day) * day
    last = None if until is None else until // day * day
    if first is not None and last is not None and first >= last:
        return [("hour", since, until)]
    pieces: list[tuple[str, int | None, int | None]] = [("day", first, last)]
    if since is not None and first is not None and since < first:
        pieces.append(("hour", since, first))
    if until is not None and last is not None and last < until:
        pieces.append(("hour", last, until))
    return pieces


def probe_health(store: Store, probe: str | None = None) -> list[dict[str, Any]]:
    """Each registered probe (or the one named) with its metadata, last record (status: active,
    late, silent, never) and presence (online/offline as its agent last announced)."""
    where, params = ("WHERE k.probe = ?", [probe]) if probe is not None else ("", [])
    rows = store.query(
        "SELECT k.probe, p.operator, p.technology, p.region, p.commune, p.board, p.firmware,"
        " (SELECT MAX(r.received_at_ms) FROM records r WHERE r.probe = k.probe),"
        " (SELECT COUNT(*) FROM records r WHERE r.probe = k.probe AND r.flag IS NOT NULL),"
        " SUM(CASE WHEN k.revoked_at_ms IS NULL AND k.not_after_ms IS NULL THEN 1 ELSE 0 END),"
        " pp.state, pp.reason, pp.updated_at_ms"
        " FROM probe_keys k LEFT JOIN probes p ON p.probe = k.probe"
        " LEFT JOIN probe_presence pp ON pp.probe = k.probe "
        f"{where} GROUP BY k.probe, p.operator, p.technology, p.region, p.commune, p.board,"
        " p.firmware, pp.state, pp.reason, pp.updated_at_ms ORDER BY k.probe",
        params,
    )
    now = now_ms()
    out = []
    for r in rows:
        last_seen = r[7]
        if last_seen is None:
            status = "never"
        elif now - last_seen <= ACTIVE_MS:
            status = "active"
        elif now - last_seen <= LATE_MS:
            status = "late"
        else:
            status = "silent"
        out.append(
            {
                "probe": r[0],
                "operator": r[1],
                "technology": r[2],
                "region": r[3],
                "commune": r[4],
                "board": r[5],
                "firmware": r[6],
                "last_seen": iso_ms(last_seen) if last_seen is not None else None,
                "status": status,
                "flagged_records": int(r[8]),
                "current_keys": int(r[9]),
                # From the probe's retained status message: connected now or not, and why.
                "presence": r[10],
                "presence_reason": r[11],
                "presence_since": iso_ms(r[12]) if r[12] is not None else None,
            }
        )
    return out
