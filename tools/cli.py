"""`qiyas`: one entry point whose sub-commands live in the modules that own them.

Each command module exposes `configure(parser)` and `run(args) -> int`. Modules are imported only
when their command runs, so `qiyas agent run` never loads the collector's web stack.
Exit status and `--json` output: agent/cli_contract.py, the leaf every command module shares.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from agent.cli_contract import EXIT_FAILED, EXIT_USAGE, UsageError
from agent.core.errors import QiyasError

# name → (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "demo": ("tools.demo", "run the whole system locally on emulated hardware"),
    "agent": ("agent.cli", "run the agent (run | once)"),
    "modem": ("agent.modem.cli", "poll a cellular modem once over its AT port"),
    "ont": ("agent.ont.cli", "poll an FTTH ONT once over OMCI"),
    "probe": ("agent.probe.cli", "one-off latency / capacity measurements"),
    "server": ("agent.probe.server_cli", "the measurement server (STAMP reflector, capacity)"),
    "collector": ("collector.cli", "ingest, API, export and key registry of the collector"),
    "verify": ("collector.verify_cli", "verify and decode signed records offline"),
    "archive": ("collector.archive_cli", "signed Parquet archive of closed days, and its keys"),
    "provision": ("tools.provision", "create this probe's key and config; print its bundle"),
    "doctor": ("tools.doctor.cli", "check an installation step by step"),
    "boards": ("tools.boards", "list and show board profiles"),
    "firmware": ("tools.firmware", "build the MicroPython firmware bundle"),
    "flash": ("tools.flash", "flash MicroPython and the bundle onto an ESP32 board"),
    "hil": ("hil.cli", "start a hardware emulator (modem | ont | link | stick)"),
    "certs": ("tools.certs", "device CA: broker, collector and probe certificates for mutual TLS"),
    "command": ("tools.command", "sign and publish a command to a probe, as the controller"),
}


def _top_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="qiyas",
        description="Qiyas — broadband QoS measurement. Commands:\n"
        + "\n".join(f"  {name:<10} {text}" for name, (_, text) in COMMANDS.items()),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("command", choices=sorted(COMMANDS), metavar="COMMAND")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] not in COMMANDS:
        top = _top_parser()
        if not args or args[0] in ("-h", "--help"):
            top.print_help()
            return 0 if args else 2
        top.parse_args(args[:1])  # prints the usage error and exits 2
    name, rest = args[0], args[1:]
    try:
        module = importlib.import_module(COMMANDS[name][0])
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.startswith(COMMANDS[name][0].split(".")[0]):
            print(f"qiyas: the {name} command is not available in this build", file=sys.stderr)
            return EXIT_USAGE
        raise
    parser = argparse.ArgumentParser(prog=f"qiyas {name}", description=COMMANDS[name][1])
    module.configure(parser)
    ns = parser.parse_args(rest)
    try:
        code: int = module.run(ns)
    except UsageError as exc:
        print(f"qiyas {name}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except QiyasError as exc:
        # Ours, and the text says what went wrong: one line for the technician, not a traceback.
        print(f"qiyas {name}: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except ModuleNotFoundError as exc:
        # A board installs the agent's set only (pyproject.toml): say what is missing, in one line.
        print(
            f"qiyas {name}: needs the Python package {exc.name}, which is not installed here"
            " (the collector's are in the extra: pip install 'qiyas[collector]')",
            file=sys.stderr,
        )
        return EXIT_FAILED
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # Output piped into `head` or `grep -m1`: the reader has what it wanted. Point stdout
        # at /dev/null so the interpreter's final flush does not raise again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    return code


if __name__ == "__main__":
    sys.exit(main())
