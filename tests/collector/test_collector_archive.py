"""The archive of closed days (collector.archive) and its verification by anyone
(collector.archive_verify, `qiyas verify --archive`), on SQLite and PostgreSQL.

Records are real signed COSE_Sign1 stored through the collector's own batch path; the archive is
real Parquet on disk; tampering is done to the files the way an attacker would (rewriting a
Parquet file, dropping one in), and `verify` must name what changed.
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from probe_signing import SigningProbe

from agent.core import topics
from agent.keys import load_or_create
from collector import archive, archive_verify, batch, key_registry, registry
from collector.store import ProbeRow, Store
from tools.cli import main as qiyas

NOW_MS = archive.day_start_ms(archive.day_of(1_764_000_000_000)) + 10 * 3_600_000
DAY = archive.day_of(NOW_MS) - timedelta(days=2)
T0 = archive.day_start_ms(DAY)


class Fleet:
    """Two probes with a day of records: a has a hole at seq 6 it never explained; b lost seqs
    4–5 and said so in an outbox-full status record."""

    def __init__(self, store: Store, tmp_path: Path) -> None:
        self.store = store
        self.a, self.b = SigningProbe("ma-rab-ftth-01"), SigningProbe("ma-cas-5g-02")
        self.key = load_or_create(tmp_path / "regulator.key")
        self.root = archive.Root(str(tmp_path / "archive"))
        for probe, operator, technology, region in (
            (self.a, "Orange", "FTTH", "MA-04"),
            (self.b, "IAM", "5G-FWA", "MA-06"),
        ):
            registry.add_key(store, probe.probe, probe.public_key)
            registry.set_probe(store, ProbeRow(probe.probe, operator, technology, region))
        self.store_records(self.a, [s for s in range(1, 11) if s != 6])
        self.store_records(self.b, [1, 2, 3, 6, 7])
        self.store_records(
            self.b, [8], kind="status", values={"event": "outbox-full", "dropped": 2}
        )

    def store_records(self, probe: SigningProbe, seqs: list[int], **fields: Any) -> None:
        messages = []
        for seq in seqs:
            if not fields:
                values = {"down_mbps": 100.0 + seq, "up_mbps": 10.0 + seq / 4}
                rec = probe.record(seq, kind="capacity", values=values, time_ms=T0 + seq * 60_000)
            else:
                rec = probe.record(seq, time_ms=T0 + seq * 60_000, **fields)
            messages.append((topics.records(probe.probe), rec))
        outcome = batch.process(self.store, self.store.key, messages, NOW_MS)
        assert outcome.stored == len(seqs), outcome

    def write(self, now_ms: int = NOW_MS) -> list[archive.DayWritten]:
        return archive.write_closed(
            self.store, self.root, self.key.public_key, self.key.sign, now_ms, 3_600_000
        )

    def registry(self) -> key_registry.Registry:
        data, signature = key_registry.export(self.store, self.key.public_key, self.key.sign, 0)
        return key_registry.load(data, signature, self.key.public_key)

    def verify(self) -> archive_verify.Report:
        return archive_verify.verify(self.root, self.registry())


@pytest.fixture
def fleet(store: Store, tmp_path: Path) -> Fleet:
    return Fleet(store, tmp_path)


def _gaps(report: archive_verify.Report) -> dict[str, dict[str, Any]]:
    return {g.probe: g.doc() for g in report.gaps}


def test_a_closed_day_is_archived_signed_and_verifies(fleet: Fleet) -> None:
    [written] = fleet.write()
    assert (written.day, written.revision, written.rows) == (DAY, 1, 15)
    files = fleet.root.listing()
    assert f"kind=capacity/day={DAY}/r0001.parquet" in files
    assert f"kind=status/day={DAY}/r0001.parquet" in files
    manifest = json.loads(fleet.root.read(archive.manifest_file(DAY, 1)))
    assert manifest["merkle"]["size"] == 15 and manifest["corrections"] is False
    assert {f["kind"]: f["rows"] for f in manifest["files"]} == {"capacity": 14, "status": 1}
    metadata = pq.read_metadata(fleet.root.path(f"kind=capacity/day={DAY}/r0001.parquet"))
    assert metadata.row_group(0).column(0).compression == "ZSTD"

    report = fleet.verify()
    assert report.ok, report.problems
    assert report.records == 15 and report.days[0]["root"] == written.root
    gaps = _gaps(report)
    assert gaps["ma-rab-ftth-01"]["ranges"] == [[6, 6]]
    assert gaps["ma-rab-ftth-01"]["unexplained"] == 1
    assert gaps["ma-cas-5g-02"]["ranges"] == [[4, 5]]
    assert (gaps["ma-cas-5g-02"]["reported_dropped"], gaps["ma-cas-5g-02"]["unexplained"]) == (2, 0)


def test_labels_and_metrics_are_columns_and_the_original_is_kept(fleet: Fleet) -> None:
    fleet.write()
    table = pq.read_table(fleet.root.path(f"kind=capacity/day={DAY}/r0001.parquet"))
    rows = table.to_pylist()
    assert [(r["probe"], r["seq"]) for r in rows[:2]] == [("ma-cas-5g-02", 1), ("ma-cas-5g-02", 2)]
    first = rows[0]
    assert (first["operator"], first["technology"], first["region"]) == ("IAM", "5G-FWA", "MA-06")
    assert first["down_mbps"] == 101.0 and first["validity"] is None
    stored = {(r.probe, r.seq): r.raw for r in fleet.store.records()}
    assert all(r["cose"] == stored[(r["probe"], r["seq"])] for r in rows)


def test_a_day_is_written_once(fleet: Fleet) -> None:
    fleet.write()
    before = fleet.root.listing()
    assert fleet.write(NOW_MS + 3_600_000) == []
    assert fleet.root.listing() == before


def test_a_late_record_lands_in_a_correction_and_the_day_still_verifies(fleet: Fleet) -> None:
    [first] = fleet.write()
    fleet.store_records(fleet.a, [6])  # the probe was offline; its record arrives after archiving
    [correction] = fleet.write(NOW_MS + 3_600_000)
    assert (correction.revision, correction.rows, correction.tree_size) == (2, 1, 16)
    assert f"kind=capacity/day={DAY}/r0002.parquet" in fleet.root.listing()
    manifest = json.loads(fleet.root.read(archive.manifest_file(DAY, 2)))
    assert manifest["corrections"] is True
    assert [(r["revision"], r["root"]) for r in manifest["revisions"]] == [
        (1, first.root),
        (2, correction.root),
    ]
    assert len(manifest["files"]) == 3  # the first revision's two files and the correction

    report = fleet.verify()
    assert report.ok, report.problems
    assert report.records == 16
    assert "ma-rab-ftth-01" not in _gaps(report)  # the late record filled the hole


def test_a_crash_before_the_manifest_is_repaired_by_the_next_run(fleet: Fleet) -> None:
    [first] = fleet.write()
    manifest = Path(fleet.root.path(archive.manifest_file(DAY, 1)))
    manifest.unlink()  # as if the writer died after the data files, before the manifest
    [again] = fleet.write()
    assert (again.revision, again.root) == (1, first.root)
    assert fleet.verify().ok


def _rewrite(path: str, change: Any) -> None:
    table = pq.read_table(path)
    pq.write_table(change(table), path, compression="zstd")


def _tamper_value(table: pa.Table) -> pa.Table:
    rows = table.to_pylist()
    rows[3]["down_mbps"] = 999.0
    return pa.Table.from_pylist(rows, schema=table.schema)


def _tamper_original(table: pa.Table) -> pa.Table:
    rows = table.to_pylist()
    raw = bytearray(rows[3]["cose"])
    raw[-1] ^= 1  # a bit of the signature
    rows[3]["cose"] = bytes(raw)
    return pa.Table.from_pylist(rows, schema=table.schema)


def _remove_record(table: pa.Table) -> pa.Table:
    return pa.concat_tables([table.slice(0, 3), table.slice(4)])


def _add_record(table: pa.Table) -> pa.Table:
    return pa.concat_tables([table, table.slice(0, 1)])


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (_tamper_value, ["SHA-256"]),
        (_tamper_original, ["SHA-256", "bad signature", "Merkle root"]),
        (_remove_record, ["SHA-256", "13 rows", "Merkle root"]),
        (_add_record, ["SHA-256", "15 rows", "Merkle root"]),
    ],
    ids=["value", "signed-original", "removed", "added"],
)
def test_a_changed_archived_record_is_found(fleet: Fleet, change: Any, expected: list[str]) -> None:
    fleet.write()
    _rewrite(fleet.root.path(f"kind=capacity/day={DAY}/r0001.parquet"), change)
    report = fleet.verify()
    assert not report.ok
    text = "\n".join(report.problems)
    for needle in expected:
        assert needle in text, text


def test_a_file_dropped_into_a_partition_is_found(fleet: Fleet) -> None:
    fleet.write()
    source = fleet.root.path(f"kind=capacity/day={DAY}/r0001.parquet")
    extra = fleet.root.path(f"kind=capacity/day={DAY}/extra.parquet")
    pq.write_table(pq.read_table(source).slice(0, 2), extra)
    report = fleet.verify()
    assert any("extra.parquet: a data file that no manifest lists" in p for p in report.problems)


def test_a_manifest_edited_and_not_resigned_is_found(fleet: Fleet) -> None:
    fleet.write()
    path = Path(fleet.root.path(archive.manifest_file(DAY, 1)))
    path.write_bytes(path.read_bytes().replace(b'"rows": 14', b'"rows": 13'))
    report = fleet.verify()
    assert any("signature does not verify" in p for p in report.problems), report.problems


def test_a_registry_not_signed_by_the_pinned_key_is_refused(fleet: Fleet, tmp_path: Path) -> None:
    other = load_or_create(tmp_path / "other.key")
    data, signature = key_registry.export(fleet.store, other.public_key, other.sign, 0)
    with pytest.raises(key_registry.RegistryFileError, match="pinned"):
        key_registry.load(data, signature, fleet.key.public_key)
    with pytest.raises(key_registry.RegistryFileError, match="does not verify"):
        key_registry.load(data.replace(b"ma-rab", b"ma-raB"), signature)


def test_the_command_line_archives_and_verifies(
    fleet: Fleet, store_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    key = str(tmp_path / "regulator.key")
    out, keys = str(tmp_path / "cli-archive"), str(tmp_path / "keys.json")
    assert qiyas(["archive", "keys", "--db", store_url, "--regulator-key", key, "--out", keys]) == 0
    write = ["archive", "write", "--db", store_url, "--regulator-key", key, "--out", out]
    assert qiyas([*write, "--day", DAY.isoformat()]) == 0
    capsys.readouterr()
    verify = ["verify", "--archive", out, "--keys", keys, "--json"]
    assert qiyas(verify) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] and report["records"] == 15
    _rewrite(f"{out}/kind=capacity/day={DAY}/r0001.parquet", _remove_record)
    assert qiyas(verify) == 1
    assert qiyas(["verify", "--archive", out]) == 2  # no registry: a usage error, not a verdict
