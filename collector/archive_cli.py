"""`qiyas archive keygen | keys | write | query`: the regulator's archive of closed days.

    qiyas archive keygen --regulator-key regulator.key          # prints its public key
    qiyas archive keys   --db DB --regulator-key regulator.key --out keys.json   # + keys.json.sig
    qiyas archive write  --db DB --regulator-key regulator.key --out ARCHIVE [--day 2026-12-02]

`write` without `--day` archives every day that closed at least `--grace` hours ago and adds a
correction revision to any archived day whose records grew since. Anyone then checks it with
`qiyas verify --archive ARCHIVE --keys keys.json`, and queries it:

    qiyas archive query --archive ARCHIVE "SELECT operator, median(down_mbps) FROM capacity
        GROUP BY 1" [--json | --csv]
"""

from __future__ import annotations

import argparse
from datetime import date
from pathlib import Path
from typing import Any

from agent.cli_contract import UsageError


def configure(parser: argparse.ArgumentParser) -> None:
    from collector.cli_common import db_arg

    sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    keygen = sub.add_parser("keygen", help="make the regulator's signing key (or show it)")
    _key_arg(keygen)
    keys = sub.add_parser("keys", help="export the probe key registry, signed")
    db_arg(keys)
    _key_arg(keys)
    keys.add_argument("--out", type=Path, required=True, help="registry file (and FILE.sig)")
    write = sub.add_parser("write", help="archive closed days as signed Parquet")
    db_arg(write)
    _key_arg(write)
    write.add_argument("--out", required=True, help="archive root: a directory or s3://… URI")
    write.add_argument("--day", help="only this UTC day (YYYY-MM-DD)")
    write.add_argument(
        "--grace", type=float, default=1.0, help="hours after midnight UTC before a day is closed"
    )
    query = sub.add_parser("query", help="SQL over the archive (DuckDB; a view per kind)")
    query.add_argument("sql", help="one SQL statement; views: records and one per kind")
    query.add_argument("--archive", required=True, help="archive root: a directory or URI")
    form = query.add_mutually_exclusive_group()
    form.add_argument("--json", action="store_true", help="print JSON (a list of objects)")
    form.add_argument("--csv", action="store_true", help="print CSV with a header line")


def _key_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--regulator-key", type=Path, required=True, help="the regulator's Ed25519 key file (0600)"
    )


def _regulator_key(args: argparse.Namespace, create: bool = False) -> Any:
    from agent.keys import KeyFileError, load_or_create

    if not create and not args.regulator_key.is_file():
        raise UsageError(f"{args.regulator_key}: no such key; make one with `qiyas archive keygen`")
    try:
        return load_or_create(args.regulator_key)
    except KeyFileError as exc:
        raise UsageError(str(exc)) from None


def run(args: argparse.Namespace) -> int:
    from agent.cli_contract import print_json
    from collector.cli_common import open_store_or_fail
    from collector.store import now_ms

    if args.action == "query":
        return _query(args)
    key = _regulator_key(args, create=args.action == "keygen")
    if args.action == "keygen":
        print_json({"regulator_key": key.public_key.hex()})
        return 0
    if args.action == "keys":
        from collector import key_registry

        with open_store_or_fail(args.db) as store:
            data, signature = key_registry.export(store, key.public_key, key.sign, now_ms())
        try:
            args.out.write_bytes(data)
            Path(f"{args.out}.sig").write_bytes(signature)
        except OSError as exc:
            raise UsageError(f"cannot write {args.out}: {exc.strerror}") from None
        return 0
    return _write(args, key, open_store_or_fail, print_json, now_ms())


def _write(args: argparse.Namespace, key: Any, open_store: Any, print_json: Any, now: int) -> int:
    from collector import archive

    root = _root(args.out)
    with open_store(args.db) as store:
        if args.day is not None:
            try:
                day = date.fromisoformat(args.day)
            except ValueError:
                raise UsageError(f"--day {args.day!r} is not YYYY-MM-DD") from None
            if archive.day_start_ms(day) + archive.DAY_MS > now:
                raise UsageError(f"--day {day} has not ended yet")
            one = archive.write_day(store, root, day, key.public_key, key.sign, now)
            written = [one] if one else []
        else:
            grace_ms = int(args.grace * 3_600_000)
            written = archive.write_closed(store, root, key.public_key, key.sign, now, grace_ms)
    print_json(
        [
            {"day": w.day.isoformat(), "revision": w.revision, "rows": w.rows, "root": w.root}
            for w in written
        ]
    )
    return 0


def _root(location: str) -> Any:
    from collector import archive

    try:
        return archive.Root(location)
    except archive.ArchiveError as exc:
        raise UsageError(str(exc)) from None


def _query(args: argparse.Namespace) -> int:
    import csv
    import json
    import sys

    from collector import archive_query

    try:
        columns, rows = archive_query.run(_root(args.archive), args.sql)
    except archive_query.QueryError as exc:
        raise UsageError(str(exc)) from None
    if args.json:
        json.dump([dict(zip(columns, r, strict=True)) for r in rows], sys.stdout, default=str)
        sys.stdout.write("\n")
    elif args.csv:
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(columns)
        writer.writerows(rows)
    else:
        from rich.console import Console
        from rich.table import Table

        table = Table(title=f"{len(rows)} rows")
        for column in columns:
            table.add_column(column)
        for r in rows:
            table.add_row(*("" if v is None else str(v) for v in r))
        Console().print(table)
    return 0
