"""An emulated SFP ONT stick's shell: what sshd runs (ForceCommand) for each command it is sent.

It answers the commands agent/ont/stick_shell.py sends by printing published captures of real
sticks (tests/ont/stick_captures/README.md cites each), byte for byte, so the parser is tested
against what sticks print and not against this emulator's idea of it. A command the scenario's
stick does not have fails as BusyBox's ash says it: `-ash: NAME: not found`, exit 127.

    python -m hil.ont.stick_shell --captures DIR --scenario NAME
    (the command is in SSH_ORIGINAL_COMMAND, as sshd sets it for a ForceCommand)
"""

from __future__ import annotations

import argparse
import os
import select
import sys
from pathlib import Path

from agent.ont.stick_shell import OMCI_PIPE_OLT_G, OMCICLI_ANI_G, OTOP_STATUS, PLOAM_STATE

HANG = ""  # a command that never answers (a wedged stick), for the runner's time bound
HANG_LIMIT_S = 120  # even if nobody hangs up, an emulated wedge does not outlive a test run

# scenario → command → capture file (in --captures), or HANG
SCENARIOS: dict[str, dict[str, str]] = {
    "lantiq": {  # an FS.com GPON-ONU-34-20BI / MA5671A-class stick in O5
        OTOP_STATUS: "lantiq-fs-gpon-onu-34-20bi.otop-status.txt",
        PLOAM_STATE: "lantiq-pmg3000-d20b.ploamsg-o5.txt",
        OMCI_PIPE_OLT_G: "lantiq-fs-gpon-onu-34-20bi.omci_pipe-meg-131-0.txt",
    },
    "lantiq-o1": {  # the same stick after the OLT let it go: back in O1
        OTOP_STATUS: "lantiq-fs-gpon-onu-34-20bi.otop-status.txt",
        PLOAM_STATE: "lantiq-pmg3000-d20b.ploamsg-o1.txt",
        OMCI_PIPE_OLT_G: "lantiq-fs-gpon-onu-34-20bi.omci_pipe-meg-131-0.txt",
    },
    "realtek": {OMCICLI_ANI_G: "realtek-dfp-34x-2c2.omcicli-263.txt"},  # an ODI DFP-34X-2C2
    "hang": {OTOP_STATUS: HANG, PLOAM_STATE: HANG, OMCI_PIPE_OLT_G: HANG, OMCICLI_ANI_G: HANG},
}


def answer(captures: Path, scenario: str, command: str) -> tuple[bytes, bytes, int]:
    """(stdout, stderr, exit status) of `command` on the scenario's stick."""
    known = SCENARIOS[scenario]
    if command not in known:
        name = command.split(" ", 1)[0] or "sh"
        return b"", f"-ash: {name}: not found\n".encode(), 127
    return (captures / known[command]).read_bytes(), b"", 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="hil.ont.stick_shell")
    parser.add_argument("--captures", required=True, type=Path)
    parser.add_argument("--scenario", required=True, choices=sorted(SCENARIOS))
    args = parser.parse_args(argv)
    command = os.environ.get("SSH_ORIGINAL_COMMAND", "")
    if SCENARIOS[args.scenario].get(command) == HANG:
        # until sshd ends the session (the client gave up): our stdout's reader goes away
        poller = select.poll()
        poller.register(sys.stdout.fileno(), 0)  # only POLLERR / POLLHUP
        poller.poll(HANG_LIMIT_S * 1000)
        return 1
    out, err, status = answer(args.captures, args.scenario, command)
    sys.stdout.buffer.write(out)
    sys.stderr.buffer.write(err)
    return status


if __name__ == "__main__":
    sys.exit(main())
