"""`qiyas boards list|show NAME [--json]`: the supported board profiles, validated."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any


def configure(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", required=True)
    listing = sub.add_parser("list", help="every board profile, checked against the schema")
    listing.add_argument("--json", action="store_true", help="one JSON document on stdout")
    show = sub.add_parser("show", help="one board profile")
    show.add_argument("name", help="board name, e.g. lilygo-t-sim7600")
    show.add_argument("--json", action="store_true", help="one JSON document on stdout")


def _summary(board: Any) -> dict[str, Any]:
    modem = board.section("modem")
    ont = board.section("ont")
    return {
        "name": board.name,
        "platform": board.platform,
        "description": board.description,
        "modem": modem.get("port") or (f"UART{modem['uart']}" if "uart" in modem else None),
        "dialect": modem.get("dialect"),
        "ont": ont.get("transport"),
    }


def run(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    from agent import boards
    from agent.cli_contract import UsageError

    console = Console(stderr=True)
    if args.action == "show":
        try:
            board = boards.load(args.name)
        except boards.BoardError as exc:
            raise UsageError(str(exc)) from None
        if args.json:
            print(json.dumps({"name": board.name, **board.data}))
            return 0
        console.print(f"[bold]{board.name}[/bold] — {board.description} ({board.platform})")
        for section in ("modem", "ont", "esp32"):
            values = board.section(section)
            if values:
                console.print(f"\n[bold]\\[{section}][/bold]")
                for key, value in values.items():
                    console.print(f"  {key} = {json.dumps(value)}")
        return 0

    loaded: list[dict[str, Any]] = []
    invalid: list[dict[str, str]] = []
    for name in boards.available():
        try:
            loaded.append(_summary(boards.load(name)))
        except boards.BoardError as exc:
            invalid.append({"name": name, "error": str(exc)})
    if args.json:
        print(json.dumps({"boards": loaded, "invalid": invalid}))
    else:
        table = Table()
        table.add_column("board", no_wrap=True)
        for heading in ("platform", "modem", "dialect", "ONT", "description"):
            table.add_column(heading)
        for b in loaded:
            table.add_row(
                b["name"], b["platform"], b["modem"] or "-", b["dialect"] or "-", b["ont"] or "-",
                b["description"],
            )  # fmt: skip
        console.print(table)
        for bad in invalid:
            console.print(f"[red]invalid[/red] {bad['error']}")
    sys.stdout.flush()
    return 1 if invalid else 0
