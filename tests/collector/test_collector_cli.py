"""`qiyas collector keys|quarantine|export|run` and `qiyas verify`, as a user runs them."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from collector_helpers import ProbeSide
from probe_signing import SigningProbe

from agent.core import acks, topics
from collector import batch, registry
from collector.store import Store, open_store
from hil.mosquitto import Mosquitto
from tools.cli import main

T0 = 1789999200000  # 2026-09-21T14:00:00Z: records are measured a minute apart from here


def qiyas(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _seeded(store: Store, probe: SigningProbe, count: int) -> list[bytes]:
    """count records of probe, one a minute from T0, stored through the ingest path."""
    registry.add_key(store, probe.probe, probe.public_key)
    signed = [probe.record(seq, time_ms=T0 + seq * 60_000) for seq in range(count)]
    batch.process(store, store.key, [(topics.records(probe.probe), s) for s in signed], T0)
    return signed


def test_keys_add_then_list(capsys: pytest.CaptureFixture[str], store_url: str) -> None:
    probe = SigningProbe("ma-cli-0001")
    code, out, _ = qiyas(
        capsys, "collector", "keys", "add", "--db", store_url,
        "--probe", probe.probe, "--public-key", probe.public_key.hex(),
    )  # fmt: skip
    assert code == 0
    code, out, _ = qiyas(capsys, "collector", "keys", "list", "--db", store_url, "--json")
    assert code == 0
    [key] = json.loads(out)
    assert (key["probe"], key["kid"], key["public_key"]) == (
        probe.probe,
        probe.kid.hex(),
        probe.public_key.hex(),
    )


def test_keys_add_from_a_bundle_checks_its_kid(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    db = str(tmp_path / "c.db")
    probe = SigningProbe("ma-cli-0002")
    bundle = {"probe": probe.probe, "kid": probe.kid.hex(), "public_key": probe.public_key.hex()}
    good, bad = tmp_path / "good.json", tmp_path / "bad.json"
    good.write_text(json.dumps({**bundle, "board": "rpi4", "firmware": "1.0"}))
    bad.write_text(json.dumps({**bundle, "kid": "00" * 8}))

    code, _, err = qiyas(capsys, "collector", "keys", "add", "--db", db, "--bundle", str(bad))
    assert code == 2
    assert "kid 0000000000000000 does not match the public key" in err
    code, out, _ = qiyas(
        capsys, "collector", "keys", "add", "--db", db, "--bundle", str(good), "--json"
    )
    assert code == 0
    assert json.loads(out)["kid"] == probe.kid.hex()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--probe", "p1", "--public-key", "zz"], "--public-key is not valid hex"),
        (["--probe", "p1", "--public-key", "ab" * 31], "32 bytes, not 31"),
        (["--probe", "bad/probe", "--public-key", "ab" * 32], "probe id 'bad/probe'"),
        (["--probe", "p1"], "needs --bundle FILE, or --probe ID and --public-key HEX"),
    ],
)
def test_keys_add_refuses_bad_input_with_exit_2(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, args: list[str], message: str
) -> None:
    code, _, err = qiyas(capsys, "collector", "keys", "add", "--db", str(tmp_path / "c.db"), *args)
    assert code == 2
    assert message in err


def test_a_database_that_cannot_be_opened_is_bad_input(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    db = str(tmp_path / "no" / "such" / "folder" / "c.db")
    code, _, err = qiyas(capsys, "collector", "keys", "list", "--db", db)
    assert code == 2
    assert "folder does not exist" in err


def test_quarantine_lists_topic_reason_and_time(
    capsys: pytest.CaptureFixture[str], store: Store, store_url: str
) -> None:
    batch.process(store, store.key, [(topics.records("ma-cli-0003"), b"\x00garbage")], T0)

    code, out, _ = qiyas(capsys, "collector", "quarantine", "--db", store_url, "--json")

    assert code == 0
    [item] = json.loads(out)
    assert item["topic"] == "qiyas/v1/probes/ma-cli-0003/records"
    assert item["reason"].startswith("not a valid COSE_Sign1: not well-formed CBOR")
    assert item["received_at"].startswith("2026-")


def test_export_cose_is_the_signed_bytes_and_verifies(
    capsys: pytest.CaptureFixture[str], store: Store, store_url: str, tmp_path: Path
) -> None:
    signed = _seeded(store, SigningProbe("ma-cli-0004"), 5)
    out_file = tmp_path / "records.cose"

    code, _, _ = qiyas(
        capsys, "collector", "export", "--db", store_url, "--format", "cose", "--out", str(out_file)
    )
    assert code == 0
    assert out_file.read_bytes() == b"".join(signed)

    code, out, _ = qiyas(capsys, "verify", str(out_file), "--db", store_url, "--json")
    assert code == 0
    results = json.loads(out)
    assert [r["record"]["seq"] for r in results] == [0, 1, 2, 3, 4]
    assert all(r["valid"] for r in results)


def test_verify_names_what_is_wrong_and_exits_1(
    capsys: pytest.CaptureFixture[str], store: Store, store_url: str, tmp_path: Path
) -> None:
    stranger = SigningProbe("ma-cli-0006")
    good, tampered = _seeded(store, SigningProbe("ma-cli-0005"), 2)
    broken = bytearray(tampered)
    broken[-3] ^= 0x40
    seq_file = tmp_path / "mixed.cbor"
    seq_file.write_bytes(good + bytes(broken) + stranger.record(1) + b"\x84\x01")

    code, out, _ = qiyas(capsys, "verify", str(seq_file), "--db", store_url, "--json")

    assert code == 1
    results = json.loads(out)
    assert [r["valid"] for r in results] == [True, False, False, False]
    assert "bad signature" in results[1]["reason"]
    assert f"unknown kid {stranger.kid.hex()}" in results[2]["reason"]
    assert "truncated" in results[3]["reason"]


def test_verify_of_a_missing_file_is_bad_usage(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, _, err = qiyas(
        capsys, "verify", str(tmp_path / "nope.cbor"), "--db", str(tmp_path / "c.db")
    )
    assert code == 2
    assert "cannot read" in err


def test_export_jsonl_and_csv_with_a_time_window(
    capsys: pytest.CaptureFixture[str], store: Store, store_url: str, tmp_path: Path
) -> None:
    probe = SigningProbe("ma-cli-0007")
    _seeded(store, probe, 10)
    # From the 3rd minute (inclusive, in ms) to 14:07 (exclusive, in ISO 8601): seq 3 to 6.
    window = ["--since", str(T0 + 3 * 60_000), "--until", "2026-09-21T14:07:00Z"]

    code, out, _ = qiyas(
        capsys, "collector", "export", "--db", store_url, "--format", "jsonl", "--out", "-",
        *window,
    )  # fmt: skip
    assert code == 0
    lines = [json.loads(line) for line in out.splitlines()]
    assert [r["seq"] for r in lines] == [3, 4, 5, 6]
    assert {r["kid"] for r in lines} == {probe.kid.hex()}

    csv_file = tmp_path / "records.csv"
    code, _, _ = qiyas(
        capsys, "collector", "export", "--db", store_url, "--format", "csv",
        "--out", str(csv_file), *window,
    )  # fmt: skip
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(csv_file.read_text())))
    assert [int(r["seq"]) for r in rows] == [3, 4, 5, 6]
    assert json.loads(rows[0]["values"]) == {"outbox_depth": 0, "uptime_s": 3}


def test_export_refuses_a_bad_time(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, err = qiyas(
        capsys, "collector", "export", "--db", str(tmp_path / "c.db"), "--format", "csv",
        "--out", "-", "--since", "yesterday",
    )  # fmt: skip
    assert code == 2
    assert "--since 'yesterday' is neither ISO 8601 nor milliseconds" in err


def test_collector_run_rejects_a_bad_broker_url(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, _, err = qiyas(
        capsys, "collector", "run", "--broker", "http://x", "--db", str(tmp_path / "c.db")
    )
    assert code == 2
    assert "is not mqtt://HOST[:PORT]" in err


async def test_collector_run_process_ingests_and_stops_on_sigterm(
    tmp_path: Path, mosquitto: Mosquitto, probe_side: ProbeSide
) -> None:
    db = tmp_path / "c.db"
    probe = SigningProbe("ma-cli-0008")
    with open_store(str(db)) as store:
        registry.add_key(store, probe.probe, probe.public_key)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tools.cli", "collector", "run",
        "--broker", mosquitto.url, "--db", str(db), "--client-id", "cli-test",
        stderr=subprocess.PIPE, cwd=Path(__file__).parents[2],
        env={**os.environ, "COLUMNS": "200"},
    )  # fmt: skip
    try:
        assert proc.stderr is not None
        async with asyncio.timeout(20):
            while b"subscribed to" not in await proc.stderr.readline():
                pass
        await probe_side.publish(topics.records(probe.probe), probe.record(1))
        assert await probe_side.next_acks(1) == [(probe.probe, 1, 1, acks.STORED)]
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = await asyncio.wait_for(proc.communicate(), 20)
    assert proc.returncode == 0
    assert b"1 stored" in err


def test_export_parquet_with_metadata_metrics_and_a_data_dictionary(
    capsys: pytest.CaptureFixture[str], store: Store, store_url: str, tmp_path: Path
) -> None:
    import pyarrow.parquet as pq
    from collector_helpers import FLEET, HOURS, seed_fleet

    from collector.store import now_ms

    seed_fleet(store, now_ms())
    out_file = tmp_path / "open-data.parquet"

    code, _, _ = qiyas(
        capsys, "collector", "export", "--db", store_url, "--format", "parquet",
        "--out", str(out_file),
    )  # fmt: skip

    assert code == 0
    table = pq.read_table(out_file)
    assert table.num_rows == len(FLEET) * HOURS * 2
    rows = table.to_pylist()
    fwa = [r for r in rows if r["probe"] == "ma-cas-fwa-01" and r["kind"] == "capacity"]
    assert {(r["operator"], r["technology"], r["region"]) for r in fwa} == {
        ("IAM", "5G-FWA", "MA-06")
    }
    assert sorted(r["down_mbps"] for r in fwa) == [120.0 + 3 * h for h in range(HOURS)]
    assert json.loads(fwa[0]["context"])["radio"]["rsrp_dbm"] == -97
    described = table.schema.field("rtt_ms").metadata[b"description"].decode()
    assert "ms" in described
    dictionary = json.loads((tmp_path / "open-data.parquet.dictionary.json").read_text())
    assert [c["column"] for c in dictionary] == table.schema.names
