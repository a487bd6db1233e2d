"""What the collector's command modules share: the --db option, opening the store, times, tables.

A leaf below `cli.py`, `registry_cli.py`, `run_cli.py`, `verify_cli.py` and the archive commands,
so none of them imports another to reach these.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from agent.cli_contract import UsageError

if TYPE_CHECKING:
    from collector.store import Store


def db_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--db", required=True, help="SQLite file path or postgresql://… URL of the store"
    )


def open_store_or_fail(url: str) -> Store:
    """The store for --db, or a UsageError naming why it cannot be opened."""
    from collector.store import StoreError, open_store

    try:
        return open_store(url)
    except StoreError as exc:
        raise UsageError(str(exc)) from None


def table(title: str, columns: list[str], rows: list[list[str]]) -> None:
    """A table on stderr. Cells are plain text, never markup: they may quote what a probe sent."""
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    table = Table(title=Text(title))
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*(Text(cell) for cell in row))
    Console(stderr=True).print(table)


def parse_time_ms(text: str | None, option: str) -> int | None:
    """--since/--until/--at: integer milliseconds since 1970, or ISO 8601 (UTC unless it says)."""
    from collector import times

    if text is None:
        return None
    try:
        return times.parse_time_ms(text)
    except ValueError as exc:
        raise UsageError(f"{option} {exc}") from None
