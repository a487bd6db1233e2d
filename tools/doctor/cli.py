"""The `qiyas doctor` command: a live list while the checks run, then a table and a verdict.

Exit status: 0 nothing failed (warnings allowed), 1 something failed, 2 the command was used
wrongly (agent/cli_contract.py)."""

from __future__ import annotations

import argparse
import asyncio
import os
from typing import Any

from tools.doctor.results import FAIL, PASS, SKIP, WARN, Result

STYLE = {PASS: "green", WARN: "yellow", FAIL: "red", SKIP: "dim"}
MARK = {PASS: "✔", WARN: "!", FAIL: "✘", SKIP: "–"}


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-c", "--config", required=True, help="agent config (TOML)")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")


def run(args: argparse.Namespace) -> int:
    from rich.console import Console, Group
    from rich.live import Live
    from rich.spinner import Spinner
    from rich.text import Text

    from agent.cli_contract import EXIT_FAILED, EXIT_OK, UsageError, print_json
    from tools.doctor.checks import diagnose

    if not os.path.exists(args.config):
        raise UsageError(f"{args.config}: no such file (qiyas provision writes it)")
    console = Console(stderr=True)
    done: list[Text] = []
    # The live view lists finished checks and spins on the current one; the table replaces it.
    live = Live(console=console, transient=True, refresh_per_second=8)

    def show(name: str, result: Result | None) -> None:
        if result is None:
            live.update(Group(*done, Spinner("dots", f"checking {name} …")))
            return
        line = Text(f"{MARK[result.status]} {name}: ", style=STYLE[result.status])
        done.append(line.append(result.reason, style="default"))
        live.update(Group(*done))

    if args.json:
        results = asyncio.run(diagnose(args.config, lambda name, result: None))
    else:
        with live:
            results = asyncio.run(diagnose(args.config, show))
    ok = not any(r.status == FAIL for r in results)
    if args.json:
        print_json({"ok": ok, "checks": [r.as_json() for r in results]})
    else:
        _report(console, results, ok)
    return EXIT_OK if ok else EXIT_FAILED


def _report(console: Any, results: list[Result], ok: bool) -> None:
    from rich.markup import escape
    from rich.table import Table

    table = Table(title="qiyas doctor")
    for column in ("check", "result", "reason", "fix"):
        table.add_column(column, overflow="fold")
    for r in results:
        result = f"[{STYLE[r.status]}]{MARK[r.status]} {r.status}[/]"
        # Reasons quote config sections ("[schedule]"): text, not rich markup.
        table.add_row(r.check, result, escape(r.reason), escape(r.fix))
    console.print(table, highlight=False)
    console.print("[green]installation good[/]" if ok else "[red]installation needs fixing[/]")
