"""Records lost after an outbox reset, end to end with real processes.

The attack (issue 19, no attacker needed): `outbox.db` is lost (SD card replaced, re-flash,
re-provision with the same key); the boot epoch restarted at 1 and seq at 1, so the new records
had the identities of stored ones and were acknowledged as duplicates (later: quarantined as
conflicts) and deleted from the outbox — 7 of 7 lost, silently.

Now a new outbox draws its first epoch at random from 2^31 values (both outboxes: the Linux
agent's and the firmware's), so a reset never reuses the identities of an earlier outbox (the
chance that two draws land within the boots of one another is a few in a million), and the
collector's payload hash still turns any repeat into a conflict, not a duplicate.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from agent.keys import load_or_create
from agent.outbox import Outbox
from firmware.outbox import Outbox as FlashOutbox
from hil.fleet import QiyasProcess, qiyas, write_agent_config
from hil.mosquitto import Mosquitto

PROBE = "ma-reset-0001"


def cli(*argv: str) -> str:
    done = subprocess.run(qiyas(*argv), capture_output=True, text=True, timeout=90, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout


def stored(db: Path) -> list[dict[str, object]]:
    out = cli("collector", "export", "--db", str(db), "--format", "jsonl", "--out", "-")
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def test_after_the_outbox_is_lost_every_new_record_is_stored(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    db = tmp_path / "collector.db"
    collector = QiyasProcess(
        ["collector", "run", "--broker", mosquitto.url, "--db", str(db)],
        tmp_path / "collector.log",
    ).start()
    try:
        home = tmp_path / "probe"
        config = write_agent_config(home, PROBE, mosquitto.url, {"health": 60})
        key = load_or_create(home / "state" / "probe.key")
        cli("collector", "keys", "add", "--db", str(db), "--probe", PROBE, "--public-key",
            key.public_key.hex())  # fmt: skip
        runs = []
        for _ in range(2):
            summary = json.loads(cli("agent", "once", "-c", str(config), "--timeout", "30",
                                     "--json"))  # fmt: skip
            runs.append(summary)
            # The card is replaced: the outbox goes, the key (re-provisioned) stays.
            for name in ("outbox.db", "outbox.db-wal", "outbox.db-shm"):
                (home / "state" / name).unlink(missing_ok=True)
    finally:
        collector.stop()
    assert all(run["delivered"] and run["pending"] == 0 for run in runs), runs
    rows = stored(db)
    assert len(rows) == 4, [(r["epoch"], r["seq"], r["kind"]) for r in rows]
    assert len({(r["epoch"], r["seq"]) for r in rows}) == 4
    quarantine = json.loads(cli("collector", "quarantine", "--db", str(db), "--json"))
    assert quarantine == [], quarantine


def test_a_new_outbox_never_starts_where_another_did(tmp_path: Path) -> None:
    firsts = set()
    for n in range(50):
        box = Outbox(tmp_path / f"linux-{n}" / "outbox.db")
        firsts.add(box.epoch)
        box.close()
        flash = FlashOutbox(str(tmp_path / f"flash-{n}"), 10)
        firsts.add(flash.boot())
    assert len(firsts) == 100
    assert all(1 <= e < 2**31 for e in firsts)


def test_an_existing_outbox_goes_on_counting_its_epochs(tmp_path: Path) -> None:
    first = Outbox(tmp_path / "outbox.db")
    first.close()
    again = Outbox(tmp_path / "outbox.db")
    assert again.epoch == first.epoch + 1
    again.close()
    flash = FlashOutbox(str(tmp_path / "flash"), 10)
    one = flash.boot()
    assert FlashOutbox(str(tmp_path / "flash"), 10).boot() == one + 1
