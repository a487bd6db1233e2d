"""Run `qiyas` commands on either side of a shaped link: the measurement server on the far side
(waiting until it listens) and the probe on the household side."""

from __future__ import annotations

import json
import selectors
import subprocess
import sys
from pathlib import Path
from typing import Any

from hil.link import ShapedLink

ROOT = Path(__file__).resolve().parents[2]
QIYAS = [sys.executable, "-m", "tools.cli"]


def readline(proc: subprocess.Popen[bytes], timeout: float) -> str:
    """The next stdout line of `proc`, waiting at most `timeout` seconds for it to begin."""
    assert proc.stdout is not None
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout, selectors.EVENT_READ)
        if not sel.select(timeout):
            raise TimeoutError(f"no output from {proc.args!r} within {timeout} s")
    return proc.stdout.readline().decode()


def start_server(link: ShapedLink, *extra: str) -> tuple[subprocess.Popen[bytes], int]:
    """`qiyas server` on side b, on a free port; returns it and the port once it listens."""
    proc, where = start_server_where(link, *extra)
    return proc, int(where["port"])


def start_server_where(link: ShapedLink, *extra: str) -> tuple[subprocess.Popen[bytes], Any]:
    """`qiyas server` on side b, on free ports; returns it and where it listens
    ({host, port, web_port}) once it does."""
    proc = link.popen(
        "b",
        [*QIYAS, "server", "--listen", f"{link.addr_b}:0", "--json", *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=ROOT,
    )
    line = readline(proc, 20)
    if not line:
        assert proc.stderr is not None
        raise RuntimeError(f"qiyas server did not start: {proc.stderr.read().decode()}")
    return proc, json.loads(line)


def probe(link: ShapedLink, port: int, *args: str, timeout: float = 120) -> Any:
    """`qiyas probe ARGS --server B:PORT --json` on side a; the CompletedProcess (text)."""
    return link.run(
        "a",
        [*QIYAS, "probe", *args, "--server", f"{link.addr_b}:{port}", "--json"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=timeout,
    )
