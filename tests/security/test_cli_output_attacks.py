"""What an attacker's text does to the operator's tables, and `qiyas verify` of nothing.

The attacks (issue 19, low): a record whose `kind` holds rich markup (`[/]`) is quarantined with
a reason quoting it, and then `qiyas collector quarantine` and `qiyas verify` crashed printing
their tables (rich parsed the attacker's text as markup: MarkupError). And `qiyas verify` of an
empty file said nothing and exited 0, as if it had checked a valid record.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from probe_signing import SigningProbe  # tests/collector, on the path by this folder's conftest

from agent.core import cbor, record, topics
from collector import batch, registry
from collector.store import now_ms, open_store
from hil.fleet import qiyas

MARKUP = "[/]"  # a closing tag with nothing open: rich raises on it


def markup_kind_record(probe: SigningProbe) -> bytes:
    fields = cbor.loads(probe.payload(1))
    assert isinstance(fields, dict)
    fields[record.K_KIND] = MARKUP + "[bold]x"
    return probe.sign(cbor.dumps(fields))


def run(*argv: str) -> subprocess.CompletedProcess[str]:
    wide = {**os.environ, "COLUMNS": "300"}  # one table row per line, to read it back
    return subprocess.run(
        qiyas(*argv), capture_output=True, text=True, timeout=60, check=False, env=wide
    )


def test_markup_in_a_quarantined_reason_is_printed_as_text(tmp_path: Path) -> None:
    db = str(tmp_path / "c.db")
    probe = SigningProbe("ma-markup-0001")
    raw = markup_kind_record(probe)
    with open_store(db) as store:
        registry.add_key(store, probe.probe, probe.public_key)
        batch.process(store, store.key, [(topics.records(probe.probe), raw)], now_ms())
        [kept] = store.quarantine()
    assert MARKUP in kept.reason

    shown = run("collector", "quarantine", "--db", db)
    assert shown.returncode == 0, shown.stderr
    assert MARKUP in shown.stderr and "[bold]x" in shown.stderr  # the text, as it came

    signed = tmp_path / "record.cbor"
    signed.write_bytes(raw)
    checked = run("verify", str(signed), "--db", db)
    assert checked.returncode == 1, checked.stderr  # invalid, said so: not a crash
    assert "MarkupError" not in checked.stderr and MARKUP in checked.stderr


def test_verify_of_an_empty_file_fails_and_says_why(tmp_path: Path) -> None:
    db = str(tmp_path / "c.db")
    open_store(db).close()
    empty = tmp_path / "empty.cbor"
    empty.write_bytes(b"")
    checked = run("verify", str(empty), "--db", db)
    assert checked.returncode == 1
    assert "holds no record" in checked.stderr
