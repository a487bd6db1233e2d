"""The probe registry: key validity, rotation and revocation, probe metadata, replay window,
and the versioned schema — on SQLite and PostgreSQL alike."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from probe_signing import SigningProbe

from agent.core import acks, topics
from collector import batch, registry, schema
from collector.replay import WINDOW, SeqWindow
from collector.store import ProbeRow, Store, open_store
from tools.cli import main

T0 = 1_789_999_200_000  # 2026-09-21T14:00:00Z
HOUR = 3_600_000


def ingest(store: Store, *signed: tuple[str, bytes], at: int = T0) -> batch.Outcome:
    return batch.process(store, store.key, list(signed), at, SeqWindow(store.highest_seq))


def on_topic(probe: SigningProbe, raw: bytes) -> tuple[str, bytes]:
    return topics.records(probe.probe), raw


def test_a_new_database_is_migrated_once(store_url: str) -> None:
    with open_store(store_url) as first:
        assert first.schema_version() == schema.MIGRATIONS[-1][0]
    with open_store(store_url) as again:
        assert again.migrate() == []


def test_upgrading_from_version_1_keeps_records_and_fills_metrics(
    store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    probe = SigningProbe("ma-mig-0001")
    signed = probe.record(1, kind="capacity", values={"down_mbps": 95.5, "up_mbps": 20.0})
    with monkeypatch.context() as m:
        m.setattr(schema, "MIGRATIONS", schema.MIGRATIONS[:1])
        with open_store(store_url) as v1:
            registry.add_key(v1, probe.probe, probe.public_key)
            v1.execute(  # a row as version 1 stored it, before metric columns existed
                "INSERT INTO records (probe, epoch, seq, kid, kind, time_ms, synced,"
                " received_at_ms, record, raw) VALUES (?, 1, 1, ?, 'capacity', ?, ?, ?, ?, ?)",
                (
                    probe.probe,
                    probe.kid,
                    T0,
                    True,
                    T0,
                    json.dumps({"values": {"down_mbps": 95.5, "up_mbps": 20.0}}),
                    signed,
                ),
            )
            assert v1.schema_version() == 1

    with open_store(store_url) as upgraded:
        assert upgraded.schema_version() == schema.MIGRATIONS[-1][0]
        [row] = list(upgraded.records())
    assert row.raw == signed
    assert row.metrics == {"down_mbps": 95.5, "up_mbps": 20.0}


def test_metrics_are_extracted_at_ingest(store: Store) -> None:
    probe = SigningProbe("ma-met-0001")
    registry.add_key(store, probe.probe, probe.public_key)
    values = {"down_mbps": 180.0, "up_mbps": 31.5, "loaded_rtt_ms_median_down": 66.0}
    ingest(
        store,
        on_topic(probe, probe.record(1, kind="capacity", values=values, time_ms=T0)),
        on_topic(probe, probe.record(2, kind="latency", values={"rtt_ms_median": 14}, time_ms=T0)),
        on_topic(
            probe, probe.record(3, kind="capacity", values={"error": "no server"}, time_ms=T0)
        ),
    )
    rows = {r.seq: r.metrics for r in store.records()}
    assert rows == {
        1: {"down_mbps": 180.0, "up_mbps": 31.5, "loaded_rtt_ms_down": 66.0},
        2: {"rtt_ms": 14.0},
        3: {},
    }


def test_a_revoked_key_is_quarantined_not_dropped(store: Store) -> None:
    probe = SigningProbe("ma-rev-0001")
    key = registry.add_key(store, probe.probe, probe.public_key)
    before = probe.record(1, time_ms=T0)
    assert ingest(store, on_topic(probe, before), at=T0).stored == 1

    registry.revoke_key(store, key.kid, at_ms=T0 + HOUR)
    outcome = ingest(store, on_topic(probe, probe.record(2, time_ms=T0)), at=T0 + 2 * HOUR)

    assert outcome.acks == {probe.probe: [(1, 2, acks.QUARANTINED)]}
    [q] = store.quarantine()
    assert f"key {key.kid.hex()} of probe {probe.probe} was revoked" in q.reason
    assert store.count_records() == 1


def test_rotation_accepts_late_records_of_the_old_key_and_refuses_new_ones(store: Store) -> None:
    old = SigningProbe("ma-rot-0001")
    new = SigningProbe("ma-rot-0001")
    registry.add_key(store, old.probe, old.public_key)
    registry.rotate_key(store, new.probe, new.public_key, at_ms=T0)

    outcome = ingest(
        store,
        on_topic(old, old.record(1, time_ms=T0 - 1)),  # measured before rotation, arrives after
        on_topic(old, old.record(2, time_ms=T0 + 1)),  # measured after: the old key is expired
        on_topic(new, new.record(3, time_ms=T0 + 2)),
        at=T0 + HOUR,
    )

    assert sorted(outcome.acks[old.probe]) == [
        (1, 1, acks.STORED),
        (1, 2, acks.QUARANTINED),
        (1, 3, acks.STORED),
    ]
    [q] = store.quarantine()
    assert f"key {old.kid.hex()} of probe {old.probe} expired" in q.reason


def test_a_key_is_not_valid_before_its_time(store: Store) -> None:
    probe = SigningProbe("ma-nbf-0001")
    registry.add_key(store, probe.probe, probe.public_key, not_before_ms=T0)

    outcome = ingest(store, on_topic(probe, probe.record(1, time_ms=T0 - HOUR)))

    assert outcome.quarantined == 1
    assert "is not valid before" in store.quarantine()[0].reason


def test_a_seq_far_outside_the_replay_window_is_flagged(store: Store) -> None:
    probe = SigningProbe("ma-rpl-0001")
    registry.add_key(store, probe.probe, probe.public_key)
    ingest(
        store,
        on_topic(probe, probe.record(10, time_ms=T0)),
        on_topic(probe, probe.record(11, time_ms=T0)),
    )
    far = 11 + WINDOW + 1

    ingest(
        store,
        on_topic(probe, probe.record(far, time_ms=T0)),
        on_topic(probe, probe.record(12, time_ms=T0)),
    )
    ingest(
        store, on_topic(probe, probe.record(13, time_ms=T0))
    )  # a new window: read back from the store

    rows = {r.seq: r for r in store.records()}
    flags = {seq: r.flag for seq, r in rows.items()}
    assert batch.feed_item(rows[far])["flag"] == flags[far]  # feed and JSON export show it
    assert "flag" not in batch.feed_item(rows[12])
    assert flags[far] == (
        f"seq {far} is {WINDOW + 1} beyond the highest seen (11) for epoch 1, "
        f"outside the replay window of {WINDOW}"
    )
    assert {seq: f for seq, f in flags.items() if seq != far} == {
        10: None,
        11: None,
        12: None,
        13: None,
    }


def test_probe_metadata_is_checked_and_updated_field_by_field(store: Store) -> None:
    registry.set_probe(store, ProbeRow("ma-meta-0001", operator="IAM", region="MA-06"))
    registry.set_probe(store, ProbeRow("ma-meta-0001", technology="5G-FWA"))

    probe = store.probe("ma-meta-0001")
    assert probe is not None
    assert (probe.operator, probe.region, probe.technology) == ("IAM", "MA-06", "5G-FWA")
    for bad, words in [
        (ProbeRow("ma-meta-0001", region="MA-13"), "region 'MA-13' is not one of"),
        (ProbeRow("ma-meta-0001", technology="DSL"), "technology 'DSL' is not one of"),
        (ProbeRow("ma-meta-0001", consent_date="12/01/2026"), "is not YYYY-MM-DD"),
    ]:
        with pytest.raises(registry.RegistryError, match=words):
            registry.set_probe(store, bad)


def test_cli_probes_rotate_revoke_and_bundle_metadata(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    db = str(tmp_path / "c.db")
    probe, successor = SigningProbe("ma-clir-0001"), SigningProbe("ma-clir-0001")
    bundle = tmp_path / "bundle.json"
    bundle.write_text(
        json.dumps(
            {
                "probe": probe.probe,
                "kid": probe.kid.hex(),
                "public_key": probe.public_key.hex(),
                "board": "rpi4-rm520n",
                "firmware": "1.2.0",
            }
        )
    )

    def qiyas(*argv: str) -> tuple[int, str, str]:
        code = main(["collector", *argv, "--db", db])
        out, err = capsys.readouterr()
        return code, out, err

    assert qiyas("keys", "add", "--bundle", str(bundle))[0] == 0
    code, _, err = qiyas("probes", "set", "--probe", probe.probe, "--consent-date", "soon")
    assert (code, "consent date 'soon' is not YYYY-MM-DD" in err) == (2, True)
    code, out, _ = qiyas(
        "probes", "set", "--probe", probe.probe, "--operator", "Orange", "--region", "MA-07",
        "--technology", "FTTH", "--commune", "Marrakech", "--consent-date", "2026-05-01", "--json",
    )  # fmt: skip
    assert code == 0
    shown = json.loads(out)
    assert (shown["board"], shown["operator"]) == ("rpi4-rm520n", "Orange")
    assert shown["region"] == "MA-07"

    code, out, _ = qiyas(
        "keys", "rotate", "--probe", probe.probe, "--public-key", successor.public_key.hex(),
        "--at", "2026-09-21T14:00:00Z", "--json",
    )  # fmt: skip
    assert (code, json.loads(out)["not_before"]) == (0, "2026-09-21T14:00:00.000Z")
    code, out, _ = qiyas("keys", "revoke", "--kid", successor.kid.hex(), "--json")
    assert code == 0 and json.loads(out)["revoked_at"] is not None
    code, out, _ = qiyas("keys", "list", "--json")
    by_kid = {k["kid"]: k for k in json.loads(out)}
    assert by_kid[probe.kid.hex()]["not_after"] == "2026-09-21T14:00:00.000Z"
    assert by_kid[successor.kid.hex()]["revoked_at"] is not None
    code, _, err = qiyas("keys", "revoke", "--kid", "00" * 8)
    assert (code, "no key with kid 0000000000000000" in err) == (2, True)
