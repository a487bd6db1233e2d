"""The hot store by UTC day: partitions made ahead and dropped after the retention, record
identities that outlive them, the migration from version 5 that keeps every row, and the local
time of Morocco across the Ramadan change. On SQLite and PostgreSQL alike."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from probe_signing import SigningProbe

from agent.core import acks, topics
from collector import archive, batch, localtime, partitions, registry, schema
from collector.replay import SeqWindow
from collector.store import Store, open_store
from tools.cli import main

DAY = partitions.DAY_MS
MIDNIGHT = 1_790_208_000_000  # 2026-09-24T00:00:00Z
PREVIOUS = 6  # the last schema before records were partitioned


def ingest(store: Store, *signed: bytes, probe: SigningProbe, at: int) -> batch.Outcome:
    messages = [(topics.records(probe.probe), raw) for raw in signed]
    return batch.process(store, store.key, messages, at, SeqWindow(store.highest_seq))


def acks_of(outcome: batch.Outcome) -> list[int]:
    return [status for entries in outcome.acks.values() for (_, _, status) in entries]


def test_partitions_are_made_ahead_and_dropped_after_the_retention(store: Store) -> None:
    probe = SigningProbe("ma-part-0001")
    registry.add_key(store, probe.probe, probe.public_key)
    before, after = probe.record(1, time_ms=MIDNIGHT - 1), probe.record(2, time_ms=MIDNIGHT)
    ingest(store, before, after, probe=probe, at=MIDNIGHT + 1000)
    first, second = date(2026, 9, 23), date(2026, 9, 24)

    done = partitions.maintain(store, MIDNIGHT + 1000, ahead_days=3, retention_days=30)
    assert done.dropped == []
    if store.dialect == "postgres":
        # Made ahead: today and three days; the record of the 23rd made its own on arrival.
        assert partitions.held_days(store) == [
            first,
            second,
            *(date(2026, 9, d) for d in (25, 26, 27)),
        ]
        placed = store.query("SELECT tableoid::regclass::text, seq FROM records ORDER BY seq")
        assert placed == [("records_20260923", 1), ("records_20260924", 2)]
    else:
        assert partitions.held_days(store) == [first, second]

    # 30 days after the 23rd closed, that day goes; the 24th, one millisecond later, stays.
    later = MIDNIGHT + 30 * DAY
    done = partitions.maintain(store, later, ahead_days=0, retention_days=30)
    assert done.dropped == [first]
    assert [r.seq for r in store.records()] == [2]
    assert partitions.held_days(store)[0] == second
    # The identity outlives the day: a late resend of the dropped record is not stored again.
    outcome = ingest(store, before, probe=probe, at=later)
    assert acks_of(outcome) == [acks.DUPLICATE]
    assert [r.seq for r in store.records()] == [2]
    assert store.highest_seq(probe.probe, 1) == 2


def test_a_day_past_the_retention_waits_for_the_archive(store: Store) -> None:
    probe = SigningProbe("ma-part-0002")
    registry.add_key(store, probe.probe, probe.public_key)
    ingest(store, probe.record(1, time_ms=MIDNIGHT + 5), probe=probe, at=MIDNIGHT + 10)
    later = MIDNIGHT + 100 * DAY
    done = partitions.maintain(store, later, 0, 30, archived=lambda day: False)
    assert done.dropped == [] and done.kept_unarchived == [date(2026, 9, 24)]
    assert store.count_records() == 1
    done = partitions.maintain(store, later, 0, 30, archived=lambda day: True)
    assert done.dropped == [date(2026, 9, 24)] and store.count_records() == 0


def test_a_record_with_a_stored_identity_and_another_payload_is_quarantined(store: Store) -> None:
    probe = SigningProbe("ma-part-0003")
    registry.add_key(store, probe.probe, probe.public_key)
    original = probe.record(7, time_ms=MIDNIGHT, values={"uptime_s": 1, "outbox_depth": 0})
    forged = probe.record(7, time_ms=MIDNIGHT + 3 * DAY, values={"uptime_s": 2, "outbox_depth": 0})
    ingest(store, original, probe=probe, at=MIDNIGHT)
    # Another day, so another partition: the identity table still sees the same identity.
    assert acks_of(ingest(store, forged, probe=probe, at=MIDNIGHT + 3 * DAY)) == [acks.QUARANTINED]
    assert acks_of(ingest(store, original, probe=probe, at=MIDNIGHT + 3 * DAY)) == [acks.DUPLICATE]
    [row] = list(store.records())
    assert row.raw == original
    [evidence] = store.quarantine()
    assert evidence.raw == forged
    assert "same identity, another payload" in evidence.reason


# IANA tz database, file `africa`, rules "Morocco" for 2026 (as `zdump -v -c 2026,2027
# Africa/Casablanca` prints them): UTC+1 until 2026-02-15T02:00Z, UTC+0 for Ramadan, UTC+1 again
# from 2026-03-22T02:00Z.
RAMADAN_STARTS, RAMADAN_ENDS = 1_771_120_800_000, 1_774_144_800_000
HOUR = 3_600_000
OFFSETS = [
    (RAMADAN_STARTS - 1, HOUR),
    (RAMADAN_STARTS, 0),
    (RAMADAN_ENDS - 1, 0),
    (RAMADAN_ENDS, HOUR),
]


def test_local_time_follows_morocco_across_ramadan(store: Store) -> None:
    probe = SigningProbe("ma-part-0004")
    registry.add_key(store, probe.probe, probe.public_key)
    signed = [probe.record(i + 1, time_ms=t) for i, (t, _) in enumerate(OFFSETS)]
    ingest(store, *signed, probe=probe, at=RAMADAN_ENDS)
    stored = store.query("SELECT time_ms, local_time_ms FROM records ORDER BY time_ms")
    assert [(t, local - t) for t, local in stored] == OFFSETS
    if store.dialect == "postgres":  # the migration's SQL reads PostgreSQL's copy of the rules
        expr = localtime.local_ms_sql_postgres("t")
        for t, offset in OFFSETS:
            assert store.query(f"SELECT {expr} FROM (SELECT ?::bigint AS t) s", [t]) == [
                (t + offset,)
            ]


def _columns(store: Store) -> list[tuple[Any, ...]]:
    rows = store.query(
        "SELECT id, probe, epoch, seq, kid, kind, time_ms, synced, received_at_ms, record, raw,"
        " flag, down_mbps, up_mbps, rtt_ms, loaded_rtt_ms_down, loaded_rtt_ms_up, validity"
        " FROM records ORDER BY id"
    )
    out = []
    for row in rows:
        rec = row[9] if isinstance(row[9], dict) else json.loads(row[9])
        out.append(
            (
                *row[:4],
                bytes(row[4]),
                *row[5:7],
                bool(row[7]),
                row[8],
                rec,
                bytes(row[10]),
                *row[11:],
            )
        )
    return out


def test_the_migration_from_the_previous_schema_keeps_every_row(
    store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    probes = [SigningProbe(f"ma-mig5-{i:04d}") for i in range(3)]
    signed: dict[tuple[str, int], bytes] = {}
    with open_store(store_url, migrate=False) as v5:
        assert v5.migrate(target=PREVIOUS) == [1, 2, 3, 4, 5, 6]
        for p in probes:
            registry.add_key(v5, p.probe, p.public_key)
        # Rows as version 6 stored them, over three UTC days, one of them flagged.
        json_type = schema.TYPES[v5.dialect]["json"]
        for n in range(30):
            p = probes[n % 3]
            seq = n // 3 + 1
            time_ms = MIDNIGHT - DAY + n * 7_200_000
            values = {"down_mbps": 10.0 + n, "up_mbps": 1.0 + n}
            raw = p.record(seq, time_ms=time_ms, kind="capacity", values=values)
            signed[(p.probe, seq)] = raw
            v5.execute(
                "INSERT INTO records (probe, epoch, seq, kid, kind, time_ms, synced,"
                " received_at_ms, record, raw, flag, down_mbps, up_mbps, validity)"
                " VALUES (?, 1, ?, ?, 'capacity', ?, ?, ?,"
                f" CAST(? AS {json_type}), ?, ?, ?, ?, ?)",
                (
                    p.probe,
                    seq,
                    p.kid,
                    time_ms,
                    True,
                    time_ms + 500,
                    json.dumps({"values": values}),
                    raw,
                    "seq far outside the replay window" if n == 29 else None,
                    values["down_mbps"],
                    values["up_mbps"],
                    "valid" if n % 2 else None,
                ),
            )
        before = _columns(v5)
        assert v5.schema_version() == PREVIOUS

    with open_store(store_url) as upgraded:
        assert upgraded.schema_version() == schema.MIGRATIONS[-1][0]
        assert _columns(upgraded) == before
        assert len(before) == 30
        local = upgraded.query("SELECT time_ms, local_time_ms FROM records")
        assert all(lt == localtime.local_ms(t) for t, lt in local)
        identities = upgraded.query(
            "SELECT probe, seq, payload_sha256, flagged FROM record_identity ORDER BY probe, seq"
        )
        assert len(identities) == 30
        for probe_id, seq, digest, flagged in identities:
            assert bytes(digest) == schema.payload_sha256(signed[(probe_id, seq)])
            assert bool(flagged) == (probe_id == "ma-mig5-0002" and seq == 10)
        if upgraded.dialect == "postgres":
            assert partitions.held_days(upgraded) == [date(2026, 9, d) for d in (23, 24, 25)]
        # Flagged records still do not count for the replay window.
        assert upgraded.highest_seq("ma-mig5-0002", 1) == 9

        # After the migration: a resend is a duplicate, a new record gets the next id.
        p = probes[0]
        outcome = ingest(
            upgraded,
            signed[(p.probe, 1)],
            p.record(11, time_ms=MIDNIGHT + DAY),
            probe=p,
            at=MIDNIGHT + DAY,
        )
        assert acks_of(outcome) == [acks.DUPLICATE, acks.STORED]
        assert max(r[0] for r in _columns(upgraded)) == before[-1][0] + 1


def test_the_maintain_command_rolls_up_and_keeps_what_the_archive_lacks(
    store: Store, store_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    probe = SigningProbe("ma-part-0005")
    registry.add_key(store, probe.probe, probe.public_key)
    raw = probe.record(1, time_ms=MIDNIGHT, kind="capacity", values={"down_mbps": 80.0})
    ingest(store, raw, probe=probe, at=MIDNIGHT + 1000)
    argv = ["collector", "maintain", "--db", store_url, "--retention-days", "30", "--json"]
    # The record's day is older than 30 days (today is later than 2026-10-24 on this machine),
    # and the empty archive does not hold it: it stays.
    assert main([*argv, "--archive", str(tmp_path)]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["days_kept_unarchived"] == ["2026-09-24"] and doc["days_dropped"] == []
    assert doc["rollup_slices"] >= 1 and doc["rollup_rows_written"] > 0
    assert store.count_records() == 1
    if store.dialect == "postgres":
        assert len(doc["partitions_created"]) == 8  # today and seven days ahead
    # Without an archive to wait for, the day goes; a second run has nothing to do.
    assert main(argv) == 0
    assert json.loads(capsys.readouterr().out)["days_dropped"] == ["2026-09-24"]
    assert main(argv) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["days_dropped"] == [] and doc["partitions_created"] == []
    assert doc["rollup_slices"] == 0 or doc["rollup_rows_written"] == 0


def test_a_late_record_of_an_archived_day_keeps_the_day_until_its_correction(
    store: Store, store_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    probe = SigningProbe("ma-part-0006")
    registry.add_key(store, probe.probe, probe.public_key)
    ingest(store, probe.record(1, time_ms=MIDNIGHT), probe=probe, at=MIDNIGHT + 1000)
    key = Ed25519PrivateKey.generate()
    public = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    root, day = archive.Root(str(tmp_path / "archive")), date(2026, 9, 24)
    assert archive.write_day(store, root, day, public, key.sign, MIDNIGHT + 2 * DAY)
    # The probe was offline: a record of the archived day arrives three days later.
    ingest(store, probe.record(2, time_ms=MIDNIGHT + 5), probe=probe, at=MIDNIGHT + 5 * DAY)
    argv = ["collector", "maintain", "--db", store_url, "--retention-days", "30", "--json"]
    argv += ["--archive", str(tmp_path / "archive")]
    assert main(argv) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["days_kept_unarchived"] == ["2026-09-24"] and doc["days_dropped"] == []
    assert store.count_records() == 2
    # Once its correction is written, the day goes.
    correction = archive.write_day(store, root, day, public, key.sign, MIDNIGHT + 6 * DAY)
    assert correction is not None and correction.revision == 2
    assert main(argv) == 0
    assert json.loads(capsys.readouterr().out)["days_dropped"] == ["2026-09-24"]
    assert store.count_records() == 0
