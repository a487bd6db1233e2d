"""`qiyas hil stick --captures DIR [--scenario NAME]`: an emulated SFP ONT stick behind a real
OpenSSH server (hil/ont/stick_sshd.py), until stopped (SIGINT / SIGTERM).

The first line of stdout is a JSON object with what `qiyas ont info --source stick-shell` needs
to reach it: host, port, user, identity, known_hosts, ssh_config, dialect.
"""

from __future__ import annotations

import argparse
import json
import signal
import tempfile
import threading
from pathlib import Path


def configure(parser: argparse.ArgumentParser) -> None:
    from hil.ont.stick_shell import SCENARIOS

    parser.add_argument(
        "--captures", required=True, help="directory of stick outputs (tests/ont/stick_captures)"
    )
    parser.add_argument("--scenario", default="lantiq", choices=sorted(SCENARIOS))


def run(args: argparse.Namespace) -> int:
    from agent.cli_contract import UsageError
    from hil.ont.stick_sshd import StickSshd

    captures = Path(args.captures).resolve()
    if not captures.is_dir():
        raise UsageError(f"--captures {args.captures}: not a directory")
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    with tempfile.TemporaryDirectory(prefix="qiyas-stick-") as work:
        server = StickSshd(Path(work), captures, args.scenario)
        try:
            target = server.start()
        except (OSError, RuntimeError) as exc:
            raise UsageError(f"cannot start sshd: {exc}") from None
        try:
            dialect = "realtek" if args.scenario == "realtek" else "lantiq"
            print(json.dumps({**target._asdict(), "dialect": dialect}), flush=True)
            stop.wait()
        finally:
            server.close()
    return 0
