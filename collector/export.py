"""Open-data export of stored records: the signed originals (COSE) or decoded (JSON lines, CSV,
Parquet), with a data dictionary describing every column.

`cose` writes the stored signed bytes unchanged, one after another: an RFC 8742 CBOR sequence that
anyone can re-verify with the published probe keys (`qiyas verify`). CSV and Parquet have one row
per record: who measured it (probe and its operator, technology, region), when, the headline
metrics as numbers, and the full values and access-link context as JSON.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator
from typing import IO, Any

from collector import metrics
from collector.batch import feed_item
from collector.store import ProbeRow, RecordRow
from collector.times import iso_ms

FORMATS = ("cose", "jsonl", "csv", "parquet")

# (column, type, description): the data dictionary, in column order.
_BASE_COLUMNS: list[tuple[str, str, str]] = [
    ("probe", "text", "probe id"),
    ("operator", "text", "operator of the measured line"),
    ("technology", "text", "access technology: 5G-FWA, 4G or FTTH"),
    ("region", "text", "region, ISO 3166-2:MA code (MA-01 … MA-12)"),
    ("commune", "text", "commune of the household"),
    ("epoch", "integer", "agent start counter of the probe (increments at each agent start)"),
    ("seq", "integer", "per-probe sequence number, never repeats"),
    ("kid", "text", "key id (hex) of the probe key that signed the record"),
    (
        "kind",
        "text",
        "kind of measurement: health, status, radio, optical, latency, capacity, dns, "
        "web (page load, docs/qoe.md §3), streaming (video session, docs/qoe.md §4)",
    ),
    ("time", "timestamp", "time of measurement, ISO 8601 UTC"),
    ("synced", "boolean", "whether the probe's clock was synchronised when it measured"),
    ("received_at", "timestamp", "when the collector received and stored it, ISO 8601 UTC"),
    ("flag", "text", "why a verified record looks wrong (e.g. far outside the replay window)"),
    (
        "validity",
        "text",
        "the probe's verdict on the measurement: valid, flagged (reasons in the record's "
        "validity), or empty when the record carries none (schema v1, passive kinds); "
        "docs/methodology.md §4",
    ),
]
_JSON_COLUMNS: list[tuple[str, str, str]] = [
    (
        "values",
        "json",
        "all measured values; each key carries its unit as a suffix (_ms, _mbps…). Latency: "
        "rtt_ms_median/p95 rank a lost packet above every one that came back, null (named in "
        "invalid_by_loss) when a loss decides them; rtt_ipdv_ms = mean |RTT(i) − RTT(i−1)| of "
        "consecutive round trips (RFC 5481 IPDV form, round-trip, not one-way; called jitter_ms "
        "in older records); rtt_pdv_ms = RTT p95 − RTT minimum (RFC 5481 PDV form). Web: load_ms "
        "from resolution to the last object's last byte, ttfb_ms, objects, objects_failed, bytes, "
        "complete. Streaming: startup_ms, bitrate_kbps_mean (time-weighted over media played), "
        "bitrate_kbps_max/held/last, switches, stalls, stall_ms (start-up + played + stalled = "
        "duration_s)",
    ),
    ("context", "json", "access-link state when measured: radio cell and levels, or ONT optics"),
    ("versions", "json", "agent, board and firmware versions"),
]
COLUMNS: list[tuple[str, str, str]] = (
    _BASE_COLUMNS
    + [
        (m.name, "number", f"{m.label_fr} / {m.name} in {m.unit} (from {m.kind} records)")
        for m in metrics.METRICS
    ]
    + _JSON_COLUMNS
)


def dictionary() -> list[dict[str, str]]:
    """The data dictionary: each exported column with its type and what it holds."""
    return [{"column": c, "type": t, "description": d} for c, t, d in COLUMNS]


def _row(row: RecordRow, probe: ProbeRow | None) -> dict[str, Any]:
    rec = row.record
    out: dict[str, Any] = {
        "probe": row.probe,
        "operator": probe.operator if probe else None,
        "technology": probe.technology if probe else None,
        "region": probe.region if probe else None,
        "commune": probe.commune if probe else None,
        "epoch": row.epoch,
        "seq": row.seq,
        "kid": row.kid.hex(),
        "kind": row.kind,
        "time": row.time_ms,
        "synced": row.synced,
        "received_at": row.received_at_ms,
        "flag": row.flag,
        "validity": row.validity,
    }
    for name in metrics.NAMES:
        out[name] = row.metrics.get(name)
    for name, _, _ in _JSON_COLUMNS:
        out[name] = json.dumps(rec.get(name, {}), ensure_ascii=False, sort_keys=True)
    return out


def _rows(rows: Iterable[RecordRow], probes: dict[str, ProbeRow]) -> Iterator[dict[str, Any]]:
    for row in rows:
        yield _row(row, probes.get(row.probe))


def _write_csv(rows: Iterator[dict[str, Any]], out: IO[bytes]) -> int:
    text = io.TextIOWrapper(out, encoding="utf-8", newline="", write_through=True)
    count = 0
    try:
        writer = csv.writer(text, lineterminator="\n")
        writer.writerow([c for c, _, _ in COLUMNS])
        for r in rows:
            r["time"], r["received_at"] = iso_ms(r["time"]), iso_ms(r["received_at"])
            r["synced"] = "true" if r["synced"] else "false"
            writer.writerow(["" if r[c] is None else r[c] for c, _, _ in COLUMNS])
            count += 1
        text.flush()
    finally:
        text.detach()  # leave out open: the caller owns it
    return count


def _write_parquet(rows: Iterator[dict[str, Any]], out: IO[bytes]) -> int:
    import pyarrow as pa
    import pyarrow.parquet as pq

    types = {
        "text": pa.string(),
        "integer": pa.int64(),
        "timestamp": pa.timestamp("ms", tz="UTC"),
        "boolean": pa.bool_(),
        "number": pa.float64(),
        "json": pa.string(),
    }
    schema = pa.schema([pa.field(c, types[t], metadata={"description": d}) for c, t, d in COLUMNS])
    count = 0
    with pq.ParquetWriter(out, schema, compression="zstd") as writer:
        chunk: list[dict[str, Any]] = []
        for r in rows:
            chunk.append(r)
            if len(chunk) == 10_000:
                writer.write_table(pa.Table.from_pylist(chunk, schema=schema))
                count += len(chunk)
                chunk = []
        if chunk or count == 0:
            writer.write_table(pa.Table.from_pylist(chunk, schema=schema))
            count += len(chunk)
    return count


def write(
    rows: Iterable[RecordRow], fmt: str, out: IO[bytes], probes: dict[str, ProbeRow] | None = None
) -> int:
    """Write rows to the binary stream out in fmt; returns how many were written.

    probes: metadata by probe id, for the operator/technology/region columns.
    """
    if fmt not in FORMATS:
        raise ValueError(f"format {fmt!r} is not one of {', '.join(FORMATS)}")
    if fmt == "cose":
        count = 0
        for row in rows:
            out.write(row.raw)
            count += 1
        return count
    if fmt == "jsonl":
        count = 0
        for row in rows:
            out.write(json.dumps(feed_item(row), ensure_ascii=False).encode() + b"\n")
            count += 1
        return count
    table_rows = _rows(rows, probes or {})
    return _write_csv(table_rows, out) if fmt == "csv" else _write_parquet(table_rows, out)
