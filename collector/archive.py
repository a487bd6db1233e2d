"""The archive: each closed UTC day of records written once, as Hive-partitioned Parquet, with a
manifest signed by the regulator and an RFC 9162 Merkle root over the day's signed originals.

Layout under the archive root (a local directory, or any pyarrow filesystem URI such as s3://):

    kind=capacity/day=2026-12-02/r0001.parquet      records of that kind measured that day
    kind=capacity/day=2026-12-02/r0002.parquet      a correction: records that arrived late
    manifests/day=2026-12-02/manifest-r0001.json    files, rows, SHA-256, Merkle root …
    manifests/day=2026-12-02/manifest-r0001.json.sig   Ed25519 signature over its exact bytes

A day is first written as revision 1. Records of that day stored later (a probe offline for days)
go into revision 2, 3 … — new files beside the first, never a rewrite — and a new manifest that
lists every file of every revision. The Merkle tree's leaves are the COSE_Sign1 bytes of the
day's records, revision by revision, each revision's records in (probe, epoch, seq) order; so each
revision's root is the root of a prefix of the next one's tree, and an earlier published root
stays checkable. The method is written down in docs/archive.md.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from agent.core.errors import QiyasError
from collector import metrics
from collector.key_registry import Sign
from collector.merkle import TreeHasher
from collector.store import Store
from collector.times import iso_ms

FORMAT = "qiyas-archive-day"
VERSION = 1
DAY_MS = 86_400_000
# DuckDB and Spark parallelise over row groups; DuckDB's guidance is 100 k – 1 M rows per group.
ROW_GROUP_ROWS = 250_000
# Rows read from the store per query: bounds memory whatever the size of the day.
_PAGE = 20_000
MERKLE_METHOD = "RFC 9162 section 2.1, SHA-256"
MERKLE_ORDER = "revision, then probe, epoch, seq; leaf = the record's COSE_Sign1 bytes"
# Until probe metadata is kept as a history (issue 21), the labels are those of the registry at
# the time the day is archived. The manifest says so.
LABELS_SOURCE = "probe registry when the day was archived (no metadata history yet)"

_MANIFEST = re.compile(r"manifest-r(\d{4})\.json$")


class ArchiveError(QiyasError):
    """The archive cannot be read or written; the text says which file and why."""


def day_start_ms(day: date) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp() * 1000)


def day_of(ms: int) -> date:
    return datetime.fromtimestamp(ms / 1000, UTC).date()


def _schema() -> Any:
    import pyarrow as pa

    fields = [
        pa.field("probe", pa.string(), nullable=False),
        pa.field("epoch", pa.int64(), nullable=False),
        pa.field("seq", pa.int64(), nullable=False),
        pa.field("kid", pa.string(), nullable=False),
        pa.field("time", pa.timestamp("ms", tz="UTC"), nullable=False),
        pa.field("synced", pa.bool_(), nullable=False),
        pa.field("received_at", pa.timestamp("ms", tz="UTC"), nullable=False),
        pa.field("flag", pa.string()),
        pa.field("operator", pa.string()),
        pa.field("technology", pa.string()),
        pa.field("region", pa.string()),
        pa.field("validity", pa.string()),
        *(pa.field(name, pa.float64()) for name in metrics.NAMES),
        pa.field("values", pa.string()),
        pa.field("context", pa.string()),
        pa.field("versions", pa.string()),
        pa.field("cose", pa.binary(), nullable=False),
    ]
    return pa.schema(fields)


class Root:
    """The archive root on its filesystem: a local path or a URI pyarrow knows (s3://, gs://…)."""

    def __init__(self, location: str) -> None:
        from pyarrow import fs

        try:
            if "://" in location:
                self.fs, self.base = fs.FileSystem.from_uri(location)
            else:
                from pathlib import Path

                self.fs, self.base = fs.LocalFileSystem(), str(Path(location).resolve())
        except Exception as exc:  # pyarrow raises ArrowInvalid/OSError for an unknown scheme
            raise ArchiveError(f"cannot open archive {location!r}: {exc}") from None
        self.location = location

    def path(self, relative: str) -> str:
        return f"{self.base.rstrip('/')}/{relative}"

    def read(self, relative: str) -> bytes:
        try:
            with self.fs.open_input_stream(self.path(relative)) as f:
                data: bytes = f.read()
        except OSError as exc:
            raise ArchiveError(f"cannot read {relative}: {exc}") from None
        return data

    def write(self, relative: str, data: bytes) -> None:
        self.fs.create_dir(self.path(relative).rsplit("/", 1)[0], recursive=True)
        with self.fs.open_output_stream(self.path(relative)) as f:
            f.write(data)

    def sha256(self, relative: str) -> tuple[str, int]:
        """SHA-256 (hex) and size of a file, read in chunks."""
        digest, size = hashlib.sha256(), 0
        with self.fs.open_input_stream(self.path(relative)) as f:
            while chunk := f.read(1 << 20):
                digest.update(chunk)
                size += len(chunk)
        return digest.hexdigest(), size

    def listing(self, relative: str = "") -> list[str]:
        """Paths of every file under relative, relative to the root."""
        from pyarrow import fs

        selector = fs.FileSelector(
            self.path(relative).rstrip("/"), recursive=True, allow_not_found=True
        )
        prefix = self.base.rstrip("/") + "/"
        return sorted(
            info.path.removeprefix(prefix)
            for info in self.fs.get_file_info(selector)
            if info.type == fs.FileType.File
        )


def data_file(kind: str, day: date, revision: int) -> str:
    return f"kind={kind}/day={day.isoformat()}/r{revision:04d}.parquet"


def manifest_file(day: date, revision: int) -> str:
    return f"manifests/day={day.isoformat()}/manifest-r{revision:04d}.json"


def manifests(root: Root, day: date) -> list[int]:
    """Revisions of day whose manifest exists, ascending. A revision whose files were written but
    whose manifest was not (a crash) does not count: the next run writes it again."""
    found = []
    for path in root.listing(f"manifests/day={day.isoformat()}"):
        match = _MANIFEST.search(path)
        if match:
            found.append(int(match.group(1)))
    return sorted(found)


def load_manifest(root: Root, day: date, revision: int) -> tuple[bytes, dict[str, Any]]:
    data = root.read(manifest_file(day, revision))
    try:
        doc: dict[str, Any] = json.loads(data)
    except ValueError as exc:
        raise ArchiveError(f"{manifest_file(day, revision)} is not JSON: {exc}") from None
    return data, doc


def archived_days(root: Root) -> list[date]:
    days = set()
    for path in root.listing("manifests"):
        match = re.match(r"manifests/day=(\d{4}-\d{2}-\d{2})/", path)
        if match:
            days.add(date.fromisoformat(match.group(1)))
    return sorted(days)


_SELECT = (
    "SELECT r.probe, r.epoch, r.seq, r.kid, r.kind, r.time_ms, r.synced, r.received_at_ms,"
    " r.record, r.flag, p.operator, p.technology, p.region, r.raw, "
    + ", ".join(f"r.{name}" for name in metrics.NAMES)
    + ", r.validity FROM records r LEFT JOIN probes p ON p.probe = r.probe"
)


def _day_rows(store: Store, day: date) -> Iterator[tuple[Any, ...]]:
    """The day's stored records in (probe, epoch, seq) order, page by page (keyset)."""
    start = day_start_ms(day)
    after: tuple[str, int, int] | None = None
    while True:
        where = "r.time_ms >= ? AND r.time_ms < ?"
        params: list[Any] = [start, start + DAY_MS]
        if after is not None:
            where += (
                " AND (r.probe > ? OR (r.probe = ? AND"
                " (r.epoch > ? OR (r.epoch = ? AND r.seq > ?))))"
            )
            params += [after[0], after[0], after[1], after[1], after[2]]
        rows = store.query(
            f"{_SELECT} WHERE {where} ORDER BY r.probe, r.epoch, r.seq LIMIT ?", [*params, _PAGE]
        )
        yield from rows
        if len(rows) < _PAGE:
            return
        after = (rows[-1][0], rows[-1][1], rows[-1][2])


def _archive_row(row: tuple[Any, ...]) -> dict[str, Any]:
    rec = row[8] if isinstance(row[8], dict) else json.loads(row[8])
    out: dict[str, Any] = {
        "probe": row[0],
        "epoch": row[1],
        "seq": row[2],
        "kid": bytes(row[3]).hex(),
        "time": row[5],
        "synced": bool(row[6]),
        "received_at": row[7],
        "flag": row[9],
        "operator": row[10],
        "technology": row[11],
        "region": row[12],
        # The probe's verdict (docs/methodology.md §4); null: the record carries none.
        "validity": row[14 + len(metrics.NAMES)],
        "cose": bytes(row[13]),
    }
    for i, name in enumerate(metrics.NAMES):
        out[name] = row[14 + i]
    for name in ("values", "context", "versions"):
        out[name] = json.dumps(rec.get(name, {}), ensure_ascii=False, sort_keys=True)
    return out


class _KindWriters:
    """One Parquet writer per kind met, opened on its first row."""

    def __init__(self, root: Root, day: date, revision: int) -> None:
        self.root, self.day, self.revision = root, day, revision
        self.schema = _schema()
        self.writers: dict[str, Any] = {}
        self.pending: dict[str, list[dict[str, Any]]] = {}
        self.rows: dict[str, int] = {}

    def add(self, kind: str, row: dict[str, Any]) -> None:
        self.pending.setdefault(kind, []).append(row)
        if len(self.pending[kind]) >= ROW_GROUP_ROWS:
            self._flush(kind)

    def _flush(self, kind: str) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        chunk = self.pending.pop(kind, [])
        if not chunk:
            return
        if kind not in self.writers:
            relative = data_file(kind, self.day, self.revision)
            self.root.fs.create_dir(self.root.path(relative).rsplit("/", 1)[0], recursive=True)
            self.writers[kind] = pq.ParquetWriter(
                self.root.path(relative),
                self.schema,
                filesystem=self.root.fs,
                compression="zstd",
                # Statistics on the sort columns let engines skip row groups by probe.
                write_statistics=True,
            )
        self.writers[kind].write_table(
            pa.Table.from_pylist(chunk, schema=self.schema), row_group_size=ROW_GROUP_ROWS
        )
        self.rows[kind] = self.rows.get(kind, 0) + len(chunk)

    def close(self) -> dict[str, int]:
        for kind in list(self.pending):
            self._flush(kind)
        for writer in self.writers.values():
            writer.close()
        return self.rows


@dataclass(frozen=True)
class DayWritten:
    day: date
    revision: int
    rows: int  # records in this revision
    tree_size: int  # records of the day in all revisions
    root: str


def _archived_identities(root: Root, doc: dict[str, Any]) -> set[tuple[str, int, int]]:
    import pyarrow.parquet as pq

    seen: set[tuple[str, int, int]] = set()
    for entry in doc["files"]:
        table = pq.read_table(
            root.path(entry["path"]), columns=["probe", "epoch", "seq"], filesystem=root.fs
        )
        cols = table.to_pydict()
        seen.update(zip(cols["probe"], cols["epoch"], cols["seq"], strict=True))
    return seen


def write_day(
    store: Store, root: Root, day: date, regulator_key: bytes, sign: Sign, now_ms: int
) -> DayWritten | None:
    """Archive day's records not archived yet, as its next revision; None if there are none.

    Restartable: a revision counts once its manifest is written (last), so a crash in between
    leaves files that the next run overwrites with the same content under the same names.
    """
    import pyarrow.parquet as pq

    done = manifests(root, day)
    previous: tuple[bytes, dict[str, Any]] | None = None
    archived: set[tuple[str, int, int]] = set()
    hasher = TreeHasher()
    if done:
        previous = load_manifest(root, day, done[-1])
        archived = _archived_identities(root, previous[1])
        if previous[1]["merkle"]["size"] == _count_day(store, day):
            return None
        # The tree goes on from the earlier revisions' leaves, in their order.
        for entry_revision in range(1, done[-1] + 1):
            leaves: list[tuple[str, int, int, bytes]] = []
            for entry in previous[1]["files"]:
                if entry["revision"] != entry_revision:
                    continue
                cols = pq.read_table(
                    root.path(entry["path"]),
                    columns=["probe", "epoch", "seq", "cose"],
                    filesystem=root.fs,
                ).to_pydict()
                leaves += zip(cols["probe"], cols["epoch"], cols["seq"], cols["cose"], strict=True)
            for leaf in sorted(leaves):
                hasher.add(leaf[3])
    revision = done[-1] + 1 if done else 1
    writers = _KindWriters(root, day, revision)
    for row in _day_rows(store, day):
        if (row[0], row[1], row[2]) in archived:
            continue
        hasher.add(bytes(row[13]))
        writers.add(row[4], _archive_row(row))
    rows_by_kind = writers.close()
    added = sum(rows_by_kind.values())
    if added == 0:
        return None
    files = list(previous[1]["files"]) if previous else []
    for kind, rows in sorted(rows_by_kind.items()):
        relative = data_file(kind, day, revision)
        digest, size = root.sha256(relative)
        files.append(
            {
                "path": relative,
                "kind": kind,
                "revision": revision,
                "rows": rows,
                "bytes": size,
                "sha256": digest,
            }
        )
    root_hex = hasher.root().hex()
    revisions = list(previous[1]["revisions"]) if previous else []
    revisions.append(
        {
            "revision": revision,
            "written_at": iso_ms(now_ms),
            "rows": added,
            "tree_size": hasher.size,
            "root": root_hex,
            "kind": "first" if revision == 1 else "correction (records that arrived late)",
        }
    )
    doc = {
        "format": FORMAT,
        "version": VERSION,
        "day": day.isoformat(),
        "revision": revision,
        "written_at": iso_ms(now_ms),
        "regulator_key": regulator_key.hex(),
        "labels": LABELS_SOURCE,
        "corrections": revision > 1,
        "previous_manifest_sha256": hashlib.sha256(previous[0]).hexdigest() if previous else None,
        "files": files,
        "merkle": {
            "method": MERKLE_METHOD,
            "order": MERKLE_ORDER,
            "size": hasher.size,
            "root": root_hex,
        },
        "revisions": revisions,
    }
    data = json.dumps(doc, indent=1, sort_keys=True).encode()
    # Signature first, manifest last: a manifest present is a revision complete and signed.
    root.write(manifest_file(day, revision) + ".sig", sign(data))
    root.write(manifest_file(day, revision), data)
    return DayWritten(day, revision, added, hasher.size, root_hex)


def _count_day(store: Store, day: date) -> int:
    start = day_start_ms(day)
    rows = store.query(
        "SELECT COUNT(*) FROM records WHERE time_ms >= ? AND time_ms < ?", [start, start + DAY_MS]
    )
    return int(rows[0][0])


# A record received this long before a manifest was written was committed when the day was read
# (batches commit in milliseconds; the roll-up job relies on the same margin).
_COMMIT_MARGIN_MS = 60_000


def holds_all(store: Store, root: Root, day: date) -> bool:
    """Whether the archive holds every record of day that the store holds: a manifest written
    after the last of them was received. A late record stored after the day was archived (its
    correction not written yet) makes this False, so the hot store must keep the day."""
    done = manifests(root, day)
    if not done:
        return False
    written_at = load_manifest(root, day, done[-1])[1]["written_at"]
    written_ms = int(datetime.fromisoformat(written_at.replace("Z", "+00:00")).timestamp() * 1000)
    start = day_start_ms(day)
    rows = store.query(
        "SELECT MAX(received_at_ms) FROM records WHERE time_ms >= ? AND time_ms < ?",
        [start, start + DAY_MS],
    )
    return rows[0][0] is None or int(rows[0][0]) <= written_ms - _COMMIT_MARGIN_MS


def closed_days(store: Store, closed_before_ms: int) -> list[date]:
    """Days that have records and ended before closed_before_ms."""
    last = day_of(closed_before_ms)
    cutoff = day_start_ms(last)
    rows = store.query("SELECT MIN(time_ms), MAX(time_ms) FROM records WHERE time_ms < ?", [cutoff])
    if rows[0][0] is None:
        return []
    first, end = day_of(rows[0][0]), day_of(rows[0][1])
    return [first + timedelta(days=i) for i in range((end - first).days + 1)]


def write_closed(
    store: Store, root: Root, regulator_key: bytes, sign: Sign, now_ms: int, grace_ms: int
) -> list[DayWritten]:
    """Every day that closed at least grace_ms ago: written if new, corrected if records arrived
    since. Days with nothing new are left alone."""
    written = []
    for day in closed_days(store, now_ms - grace_ms):
        result = write_day(store, root, day, regulator_key, sign, now_ms)
        if result is not None:
            written.append(result)
    return written
