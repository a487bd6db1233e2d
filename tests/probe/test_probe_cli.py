"""`qiyas probe` and `qiyas server` as a technician meets them: exit status, one JSON document,
one clear line for what is wrong."""

from __future__ import annotations

import json
import socket
import subprocess

import pytest

from hil.link.serve import QIYAS, ROOT


def qiyas(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*QIYAS, *args], capture_output=True, text=True, cwd=ROOT, timeout=60)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["probe", "latency", "--server", "a b"], "qiyas probe: 'a b' must be HOST[:PORT]"),
        (["probe", "all", "--server", "h", "--duration", "0"], "--duration must be in 1..60"),
        (["probe", "capacity", "--server", "h", "--streams", "17"], "--streams must be in 1..16"),
        (["probe", "latency", "--server", "h", "--count", "5000"], "--count must be in 1..1000"),
        (["server", "--listen", "h:99999"], "qiyas server: 'h:99999': port must be 0..65535"),
        (["server", "--listen", "h", "--max-duration", "0"], "--max-duration must be in 1..120"),
    ],
)
def test_bad_usage_exits_2_with_one_line(args: list[str], message: str) -> None:
    proc = qiyas(*args)
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert proc.stderr.strip() == message or message in proc.stderr.strip().splitlines()[-1]
    assert "Traceback" not in proc.stderr


def test_no_server_there_is_a_failed_measurement() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound, never answering: no ICMP, every packet is lost
        proc = qiyas("probe", "latency", "--server", f"127.0.0.1:{port}", "--count", "3",
                     "--interval", "5", "--json")  # fmt: skip
    assert proc.returncode == 1
    out = json.loads(proc.stdout)
    assert out["latency"]["loss"] == 1.0 and out["latency"]["rtt_ms"]["median"] is None
    assert out["errors"] == [f"latency: no STAMP reply from 127.0.0.1:{port}"]


def test_closed_port_is_reported_as_such() -> None:
    proc = qiyas("probe", "all", "--server", "127.0.0.1:1", "--count", "2", "--interval", "5",
                 "--duration", "1", "--json")  # fmt: skip
    assert proc.returncode == 1
    errors = json.loads(proc.stdout)["errors"]
    assert errors == [
        "latency: no STAMP reply from 127.0.0.1:1 (port unreachable)",
        "capacity down: cannot connect over TCP: Connection refused",
        "capacity up: cannot connect over TCP: Connection refused",
    ]


def test_server_says_when_it_cannot_listen() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = qiyas("server", "--listen", f"127.0.0.1:{port}")
    assert proc.returncode == 1
    assert proc.stderr.strip() == (
        f"qiyas server: cannot listen on 127.0.0.1:{port}: Address already in use"
    )
