"""The host build: `python -m firmware.host --settings FILE` runs the firmware under CPython,
its modem on a PTY (`modem.port`), for tests and development without a board."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from firmware.start import StartError, main


def run(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m firmware.host", description=__doc__)
    parser.add_argument("--settings", required=True, help="the device settings (JSON)")
    args = parser.parse_args(argv)
    try:
        main(args.settings, str(Path(__file__).resolve().parent))
    except StartError as exc:
        print(f"firmware: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(run())
