"""What the HTTP API and the dashboard ask of the store: filtered pages of records, percentile
aggregates per operator / region / technology (optionally per time bucket), probe health.

Percentiles are `percentile_cont` (linear interpolation): computed by PostgreSQL itself, and in
Python for SQLite, which lacks it; the tests run both and expect the same numbers.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from collector import metrics
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

    def doc(self) -> dict[str, Any]:
        out: dict[str, Any] = {"group": self.group, "count": self.count}
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
    usable results unless filters name another validity (flagged ones are out by default)."""
    if metric not in metrics.BY_NAME or group_by not in GROUPS:
        raise ValueError(f"unknown metric {metric!r} or grouping {group_by!r}")
    if filters.validity is None:
        filters = replace(filters, validity="usable")
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
