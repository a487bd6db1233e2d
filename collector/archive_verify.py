"""Re-verify an archive with nothing but the archive and the published key registry.

For each archived day: the latest manifest's signature (the regulator's key named by the
registry), every earlier manifest's signature and the hash chain between them, each listed file's
SHA-256 and row count, that no Parquet file lies in the day's partitions unlisted, every record's
COSE signature with the key valid at its time, that the columns say what the signed payload
says, and each revision's Merkle root. Then, over all days, the gaps in each probe's sequence
numbers, set against what the probe itself reported dropping (`status` records with event
`outbox-full`).
"""

from __future__ import annotations

import hashlib
import itertools
import json
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from collector import archive, key_registry
from collector.merkle import TreeHasher
from collector.verify import Verified, check_message


@dataclass
class Gap:
    probe: str
    instance: str | None  # the outbox instance, once records carry one; None: one per probe
    missing: list[tuple[int, int]]  # inclusive seq ranges the archive does not hold
    reported_dropped: int  # what the probe said it dropped (outbox-full status records)

    @property
    def missing_count(self) -> int:
        return sum(b - a + 1 for a, b in self.missing)

    def doc(self) -> dict[str, Any]:
        return {
            "probe": self.probe,
            "instance": self.instance,
            "missing": self.missing_count,
            "ranges": [list(r) for r in self.missing],
            "reported_dropped": self.reported_dropped,
            "unexplained": max(0, self.missing_count - self.reported_dropped),
        }


@dataclass
class Report:
    days: list[dict[str, Any]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    records: int = 0
    gaps: list[Gap] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def doc(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "records": self.records,
            "days": self.days,
            "problems": self.problems,
            "gaps": [g.doc() for g in self.gaps],
        }


@dataclass
class _Seen:
    """What the gap report needs from each verified record."""

    seqs: dict[tuple[str, str | None], set[int]] = field(default_factory=dict)
    dropped: dict[tuple[str, str | None], int] = field(default_factory=dict)

    def add(self, rec: dict[str, Any]) -> None:
        key = (rec["probe"], None)
        self.seqs.setdefault(key, set()).add(rec["seq"])
        values = rec.get("values") or {}
        if rec["kind"] == "status" and values.get("event") == "outbox-full":
            dropped = values.get("dropped")
            if isinstance(dropped, int) and not isinstance(dropped, bool) and dropped > 0:
                self.dropped[key] = self.dropped.get(key, 0) + dropped


def _ranges(seqs: set[int]) -> list[tuple[int, int]]:
    """Seq ranges missing between the lowest and highest seq held."""
    ordered = sorted(seqs)
    return [(a + 1, b - 1) for a, b in itertools.pairwise(ordered) if b > a + 1]


def verify(root: archive.Root, registry: key_registry.Registry) -> Report:
    report = Report()
    seen = _Seen()
    listing = root.listing()
    for day in archive.archived_days(root):
        _verify_day(root, registry, day, listing, report, seen)
    for (probe, instance), seqs in sorted(seen.seqs.items(), key=lambda kv: kv[0][0]):
        missing = _ranges(seqs)
        dropped = seen.dropped.get((probe, instance), 0)
        if missing or dropped:
            report.gaps.append(Gap(probe, instance, missing, dropped))
    for path in listing:
        if path.endswith(".parquet") and not _listed_anywhere(path, report):
            report.problems.append(f"{path}: a data file that no manifest lists")
    return report


def _listed_anywhere(path: str, report: Report) -> bool:
    return any(path in day.get("listed", ()) for day in report.days)


def _verify_day(
    root: archive.Root,
    registry: key_registry.Registry,
    day: date,
    listing: list[str],
    report: Report,
    seen: _Seen,
) -> None:
    name = day.isoformat()
    problems_before = len(report.problems)

    def problem(text: str) -> None:
        report.problems.append(f"{name}: {text}")

    revisions = archive.manifests(root, day)
    if not revisions or revisions != list(range(1, len(revisions) + 1)):
        problem(f"manifest revisions {revisions} are not 1…n")
        return
    docs: list[dict[str, Any]] = []
    previous: bytes | None = None
    for revision in revisions:
        relative = archive.manifest_file(day, revision)
        try:
            data = root.read(relative)
            signature = root.read(relative + ".sig")
            doc = json.loads(data)
        except (archive.ArchiveError, ValueError) as exc:
            problem(f"{relative}: {exc}")
            return
        if not key_registry.verify_signature(registry.regulator_key, data, signature):
            problem(f"{relative}: the regulator's signature does not verify")
        expected_previous = hashlib.sha256(previous).hexdigest() if previous else None
        if doc.get("previous_manifest_sha256") != expected_previous:
            problem(f"{relative}: does not chain to the manifest of revision {revision - 1}")
        if doc.get("day") != name or doc.get("revision") != revision:
            problem(f"{relative}: names day {doc.get('day')} revision {doc.get('revision')}")
        docs.append(doc)
        previous = data
    latest = docs[-1]
    listed = {entry["path"] for entry in latest["files"]}
    report.days.append({"day": name, "revisions": len(docs), "listed": sorted(listed)})

    hasher = TreeHasher()
    roots = {r["revision"]: (r["tree_size"], r["root"]) for r in latest["revisions"]}
    for doc in docs[:-1]:  # earlier manifests' roots must be the ones the latest one repeats
        if roots.get(doc["revision"]) != (doc["merkle"]["size"], doc["merkle"]["root"]):
            problem(f"revision {doc['revision']}: its root differs from the one manifest repeats")
    for revision in revisions:
        leaves = []
        for entry in latest["files"]:
            if entry["revision"] == revision:
                leaves += _verify_file(root, registry, entry, problem)
        for leaf in sorted(leaves):
            hasher.add(leaf[3])
            seen.add(leaf[4])
        report.records += len(leaves)
        expected = roots.get(revision)
        if expected != (hasher.size, hasher.root().hex()):
            problem(
                f"revision {revision}: Merkle root over {hasher.size} records is "
                f"{hasher.root().hex()}, the manifest says {expected}"
            )
    report.days[-1]["ok"] = len(report.problems) == problems_before
    report.days[-1]["records"] = hasher.size
    report.days[-1]["root"] = hasher.root().hex()


def _verify_file(
    root: archive.Root,
    registry: key_registry.Registry,
    entry: dict[str, Any],
    problem: Any,
) -> list[tuple[str, int, int, bytes, dict[str, Any]]]:
    import pyarrow.parquet as pq

    path = entry["path"]
    try:
        digest, size = root.sha256(path)
    except OSError as exc:
        problem(f"{path}: listed in the manifest but cannot be read: {exc}")
        return []
    if digest != entry["sha256"] or size != entry["bytes"]:
        problem(f"{path}: SHA-256 {digest} ({size} B), the manifest says {entry['sha256']}")
    try:
        table = pq.read_table(root.path(path), filesystem=root.fs)
        # Timestamps as integer ms: exact, as signed (a float round trip could be off by one).
        for column in ("time", "received_at"):
            at = table.schema.get_field_index(column)
            table = table.set_column(at, column, table.column(column).cast("int64"))
        cols = table.to_pydict()
    except Exception as exc:  # pyarrow's errors for a damaged file are several types
        problem(f"{path}: not a readable Parquet file: {exc}")
        return []
    rows = len(cols["cose"])
    if rows != entry["rows"]:
        problem(f"{path}: {rows} rows, the manifest says {entry['rows']}")
    leaves = []
    for i in range(rows):
        raw = cols["cose"][i]
        where = f"{path} row {i}"
        verdict = check_message(raw, registry.lookup, cols["received_at"][i])
        if not isinstance(verdict, Verified):
            problem(f"{where}: {verdict.reason}")
            continue
        rec = verdict.record
        if rec["kind"] != entry["kind"]:
            problem(f"{where}: a {rec['kind']} record in the partition kind={entry['kind']}")
        for column, signed in _SIGNED_COLUMNS.items():
            if cols[column][i] != rec[signed]:
                problem(
                    f"{where}: column {column} is {cols[column][i]!r},"
                    f" the signed record says {rec[signed]!r}"
                )
        leaves.append((rec["probe"], rec["epoch"], rec["seq"], raw, rec))
    return leaves


# Columns the signed payload also says: they must agree, or the row is not what was signed.
_SIGNED_COLUMNS = {"probe": "probe", "epoch": "epoch", "seq": "seq", "time": "time_ms"}
