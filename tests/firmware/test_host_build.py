"""The firmware's host build end to end: its loop under CPython, the modem a `hil` emulator on a
PTY, a real Mosquitto, the real collector. What a regulator depends on: every record the
firmware committed is stored exactly once, through a reset that cuts it mid-flight.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from agent.core import cose, record
from agent.core.ed25519 import SigningKey
from agent.core.keyid import kid_for
from hil.fleet import qiyas
from hil.mosquitto import Mosquitto

PROBE = "esp32-host-1"
REPO = Path(__file__).resolve().parent.parent.parent


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.1)  # polling the collector's database: there is no event to wait on


def cli(*argv: str) -> str:
    done = subprocess.run(qiyas(*argv), capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout


class Process:
    """A child process with its output in a log file, stopped (and reaped) on exit."""

    def __init__(self, argv: list[str], log: Path) -> None:
        self.log = log
        with open(log, "ab") as out:
            self.proc = subprocess.Popen(argv, stdout=out, stderr=out, cwd=REPO)

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture
def modem(tmp_path: Path, real_modem) -> Iterator[tuple[str, int | None]]:
    """A SIMCom emulator on a PTY: (port, pid to signal for the power key); or the real modem
    given with --modem-port, which has no power key here."""
    if real_modem is not None:
        yield real_modem.port, None
        return
    yield from emulated_modem(tmp_path, "healthy")


def emulated_modem(tmp_path: Path, scenario: str) -> Iterator[tuple[str, int]]:
    with open(tmp_path / "modem.log", "wb") as log:
        proc = subprocess.Popen(
            qiyas("hil", "modem", "--dialect", "simcom", "--scenario", scenario),
            stdout=subprocess.PIPE,
            stderr=log,
        )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    try:
        yield json.loads(line)["port"], proc.pid
    finally:
        proc.terminate()
        proc.wait(10)


class Collector:
    """`qiyas collector run` as a process that a test stops and starts again."""

    def __init__(self, broker: Mosquitto, tmp_path: Path) -> None:
        self.db = tmp_path / "collector.db"
        self.argv = qiyas("collector", "run", "--broker", broker.url, "--db", str(self.db))
        self.log = tmp_path / "collector.log"
        self.proc: Process | None = None

    def start(self) -> None:
        self.proc = Process(self.argv, self.log)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.stop()
            self.proc = None


@pytest.fixture
def collector(mosquitto: Mosquitto, tmp_path: Path) -> Iterator[Collector]:
    c = Collector(mosquitto, tmp_path)
    c.start()
    yield c
    c.stop()


def stored(db: Path) -> list[dict[str, object]]:
    if not db.exists():
        return []
    out = cli("collector", "export", "--db", str(db), "--format", "jsonl", "--out", "-")
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def device_files(
    tmp_path: Path, broker: Mosquitto, port: str, pid: int | None
) -> tuple[Path, bytes]:
    seed = os.urandom(32)
    key_file = tmp_path / "probe.key"
    key_file.write_bytes(seed)
    settings = {
        "probe_id": PROBE,
        "board": "lilygo-t-sim7600",
        "state_dir": str(tmp_path / "flash"),
        "key_file": str(key_file),
        "broker": {"host": broker.host, "port": broker.port},
        "schedule": {"radio": 1, "health": 2},
        "ack_timeout_s": 2,
        "watchdog_s": 30,
        "modem": {
            "port": port,
            "power_signal_pid": pid,
            "baud": 115200,
            "dialect": "auto",
            "boot_wait_s": 5,
        },
    }
    (tmp_path / "flash").mkdir()
    path = tmp_path / "qiyas.json"
    path.write_text(json.dumps(settings))
    return path, SigningKey(seed).public_key


def firmware(settings: Path, log: Path) -> Process:
    return Process([sys.executable, "-m", "firmware.host", "--settings", str(settings)], log)


def pending(tmp_path: Path) -> set[int]:
    return {int(n.split("-")[0]) for n in os.listdir(tmp_path / "flash" / "outbox" / "records")}


def issued(tmp_path: Path) -> int:
    state = json.loads((tmp_path / "flash" / "outbox" / "state.json").read_text())
    return int(state["next_seq"]) - 1


@pytest.mark.timeout(90)
def test_records_stored_exactly_once_through_a_reset(
    tmp_path: Path,
    mosquitto: Mosquitto,
    modem: tuple[str, int | None],
    collector: Collector,
    real_modem,
) -> None:
    settings, public = device_files(tmp_path, mosquitto, *modem)
    db = collector.db
    cli("collector", "keys", "add", "--db", str(db), "--probe", PROBE,
        "--public-key", public.hex())  # fmt: skip
    log = tmp_path / "firmware.log"

    first = firmware(settings, log)
    wait_until(lambda: len(stored(db)) >= 3, 30, "3 records from the first boot")
    # The collector goes away: records are published but nobody acknowledges them...
    collector.stop()
    wait_until(lambda: len(pending(tmp_path)) >= 3, 30, "3 unacknowledged records")
    # ...and the board resets with them in flight: no goodbye, nothing flushed.
    first.stop(signal.SIGKILL)
    before = issued(tmp_path)
    waiting = pending(tmp_path)

    second = firmware(settings, log)
    collector.start()
    wait_until(
        lambda: waiting <= {r["seq"] for r in stored(db)} and _radio_from_a_later_boot(stored(db)),
        45,
        "the first boot's pending records and a radio record from the second boot",
    )
    second.stop()  # SIGTERM: the outbox keeps what was not acknowledged yet

    rows = stored(db)
    keys = [(r["epoch"], r["seq"]) for r in rows]
    assert len(keys) == len(set(keys)), "a record was stored twice"
    seqs = [r["seq"] for r in rows]
    assert len(seqs) == len(set(seqs)), "a sequence number was used twice"
    first_epoch = min(int(str(r["epoch"])) for r in rows)  # a new outbox's is random
    assert {r["epoch"] for r in rows} == {first_epoch, first_epoch + 1}
    # Nothing lost: every number issued is stored or still waiting in the outbox; the only
    # possible gap is a number reserved at the instant of the reset, whose record was never made.
    missing = set(range(1, issued(tmp_path) + 1)) - set(seqs) - pending(tmp_path)
    assert missing <= {before}, f"records lost: {sorted(missing)}"
    assert all(r["probe"] == PROBE for r in rows)
    radio = [r for r in rows if r["kind"] == "radio"]
    if real_modem is None:  # what the emulated SIM7600 says
        assert radio[0]["values"]["model"] == "SIMCOM_SIM7600E-H"
        assert radio[0]["context"]["radio"]["serving_cell"]["rsrp_dbm"] == -95.1


@pytest.mark.timeout(90)
def test_records_made_during_a_broker_outage_arrive_after_it(
    tmp_path: Path, mosquitto: Mosquitto, modem: tuple[str, int | None], collector: Collector
) -> None:
    settings, public = device_files(tmp_path, mosquitto, *modem)
    db = collector.db
    cli("collector", "keys", "add", "--db", str(db), "--probe", PROBE,
        "--public-key", public.hex())  # fmt: skip
    fw = firmware(settings, tmp_path / "firmware.log")
    try:
        wait_until(lambda: len(stored(db)) >= 2, 30, "2 records before the outage")
        mosquitto.stop()
        wait_until(lambda: len(pending(tmp_path)) >= 3, 30, "3 records made during the outage")
        made_during = pending(tmp_path)
        mosquitto.start()
        wait_until(lambda: made_during <= {r["seq"] for r in stored(db)}, 45,
                   "the records made during the outage, stored")  # fmt: skip
    finally:
        fw.stop()
    seqs = [r["seq"] for r in stored(db)]
    assert len(seqs) == len(set(seqs))


def outbox_records(tmp_path: Path) -> list[dict[str, object]]:
    folder = tmp_path / "flash" / "outbox" / "records"
    if not folder.exists():  # the firmware has not started yet
        return []
    return [record.decode(cose.parse_sign1((folder / n).read_bytes()).payload)
            for n in os.listdir(folder) if not n.endswith(".tmp")]  # fmt: skip


@pytest.mark.emulator_only
@pytest.mark.timeout(90)
def test_a_hung_modem_is_brought_back_by_the_power_key(
    tmp_path: Path, mosquitto: Mosquitto
) -> None:
    """The modem stops answering mid-poll; resync cannot help; the power key (SIGUSR1 to the
    emulator, a GPIO pulse on a board) does, and the firmware says so in a status record."""
    modem = emulated_modem(tmp_path, "hang")
    port, pid = next(modem)
    settings, _ = device_files(tmp_path, mosquitto, port, pid)
    fw = firmware(settings, tmp_path / "firmware.log")
    try:
        recovered = {"event": "modem-recovered", "detail": "power-key"}

        def done() -> bool:
            records = outbox_records(tmp_path)
            return any(r["kind"] == "radio" for r in records) and any(
                r["values"] == recovered for r in records
            )

        wait_until(done, 60, "a modem-recovered status and a radio record")
    finally:
        fw.stop()
        modem.close()


def test_host_firmware_refuses_a_bad_settings_file(tmp_path: Path) -> None:
    path = tmp_path / "qiyas.json"
    path.write_text(json.dumps({"probe_id": "a/b", "board": "x"}))
    done = subprocess.run(
        [sys.executable, "-m", "firmware.host", "--settings", str(path)],
        capture_output=True, text=True, timeout=30, cwd=REPO,
    )  # fmt: skip
    assert done.returncode == 2
    assert "probe_id must be" in done.stderr
    assert "Traceback" not in done.stderr


def test_signed_record_from_the_outbox_parses(tmp_path: Path) -> None:
    """The outbox holds exactly the COSE bytes that go on the wire."""
    from firmware.outbox import Outbox

    key = SigningKey(bytes(32))
    payload = record.encode(PROBE, 1, 1, 0, False, "health", {"uptime_s": 1, "outbox_depth": 0},
                            {"agent": "a", "board": "b", "firmware": "f"})  # fmt: skip
    raw = cose.sign1(payload, kid_for(key.public_key), key.sign)
    box = Outbox(str(tmp_path / "ob"), 10)
    box.put(1, 1, raw)
    assert cose.parse_sign1(Outbox(str(tmp_path / "ob"), 10).read(1, 1)).payload == payload


def _radio_from_a_later_boot(rows: list[dict[str, object]]) -> bool:
    """A radio record of the boot after the first one stored (a new outbox's epoch is random)."""
    if not rows:
        return False
    first = min(int(str(r["epoch"])) for r in rows)
    return any(r["epoch"] == first + 1 and r["kind"] == "radio" for r in rows)
