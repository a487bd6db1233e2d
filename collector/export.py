"""Open-data export of stored records: the signed originals (COSE) or decoded (JSON lines, CSV).

`cose` writes the stored signed bytes unchanged, one after another: an RFC 8742 CBOR sequence that
anyone can re-verify with the published probe keys (`qiyas verify`).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable
from typing import IO, Any

from collector.batch import feed_item
from collector.store import RecordRow
from collector.times import iso_ms

FORMATS = ("cose", "jsonl", "csv")

# The CSV columns, in order, with what each holds: the data dictionary of the export.
CSV_COLUMNS: list[tuple[str, str]] = [
    ("probe", "probe id"),
    ("epoch", "agent start counter of the probe (increments at each agent start)"),
    ("seq", "per-probe sequence number, never repeats"),
    ("kid", "key id (hex) of the probe key that signed the record"),
    ("kind", "kind of measurement (health, radio, optical, latency, capacity, dns, status)"),
    ("time", "time of measurement, ISO 8601 UTC"),
    ("synced", "whether the probe's clock was synchronised when it measured"),
    ("received_at", "when the collector received and stored it, ISO 8601 UTC"),
    ("values", "measured values as JSON; each key carries its unit as a suffix (_ms, _mbps...)"),
    ("context", "access-link state when measured (radio cell and levels, ONT optics) as JSON"),
    ("versions", "agent, board and firmware versions as JSON"),
]


def dictionary() -> list[dict[str, str]]:
    """The data dictionary: each exported column with what it holds."""
    return [{"column": name, "description": text} for name, text in CSV_COLUMNS]


def _csv_row(row: RecordRow) -> list[Any]:
    rec = row.record
    return [
        row.probe,
        row.epoch,
        row.seq,
        row.kid.hex(),
        row.kind,
        iso_ms(row.time_ms),
        "true" if row.synced else "false",
        iso_ms(row.received_at_ms),
        json.dumps(rec.get("values", {}), ensure_ascii=False, sort_keys=True),
        json.dumps(rec.get("context", {}), ensure_ascii=False, sort_keys=True),
        json.dumps(rec.get("versions", {}), ensure_ascii=False, sort_keys=True),
    ]


def write(rows: Iterable[RecordRow], fmt: str, out: IO[bytes]) -> int:
    """Write rows to the binary stream out in fmt; returns how many were written."""
    if fmt not in FORMATS:
        raise ValueError(f"format {fmt!r} is not one of {', '.join(FORMATS)}")
    count = 0
    if fmt == "cose":
        for row in rows:
            out.write(row.raw)
            count += 1
        return count
    text = io.TextIOWrapper(out, encoding="utf-8", newline="", write_through=True)
    try:
        if fmt == "jsonl":
            for row in rows:
                text.write(json.dumps(feed_item(row), ensure_ascii=False) + "\n")
                count += 1
        else:
            writer = csv.writer(text, lineterminator="\n")
            writer.writerow([name for name, _ in CSV_COLUMNS])
            for row in rows:
                writer.writerow(_csv_row(row))
                count += 1
        text.flush()
    finally:
        text.detach()  # leave out open: the caller owns it
    return count
