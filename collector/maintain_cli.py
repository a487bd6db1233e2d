"""`qiyas collector maintain`: the hot store's housekeeping, run every few minutes by a timer.

    qiyas collector maintain --db DB [--ahead-days 7] [--retention-days 90] [--archive ARCHIVE]

Creates the coming days' partitions, rolls up what arrived since the last run (collector.rollups)
and drops the days older than the retention; with --archive, only days that archive holds
entirely (a day is never dropped before it is archived, nor before a late record of an archived
day is in its correction). Every step is idempotent: a run killed half-way is
finished by the next one.
"""

from __future__ import annotations

import argparse
from typing import Any

from agent.cli_contract import UsageError, print_json


def configure(sub: Any) -> None:
    from collector.cli_common import db_arg

    maintain = sub.add_parser(
        "maintain", help="partitions ahead, roll-ups, hot retention (run by a timer)"
    )
    db_arg(maintain)
    maintain.add_argument("--ahead-days", type=int, default=7, help="partitions made ahead (7)")
    maintain.add_argument(
        "--retention-days", type=int, default=90, help="days of raw records kept hot (90)"
    )
    maintain.add_argument("--archive", help="drop only days this archive root holds")
    maintain.add_argument("--json", action="store_true", help="print what was done as JSON")


def run(args: argparse.Namespace) -> int:
    from collector import partitions, rollups
    from collector.cli_common import open_store_or_fail, table
    from collector.store import now_ms

    if args.ahead_days < 0 or args.retention_days < 1:
        raise UsageError("--ahead-days must be ≥ 0 and --retention-days ≥ 1")
    root = _archive_root(args.archive) if args.archive else None
    now = now_ms()
    with open_store_or_fail(args.db) as store:
        slices = rollups.refresh(store, now)
        done = partitions.maintain(
            store,
            now,
            args.ahead_days,
            args.retention_days,
            archived=None if root is None else lambda day: _holds_all(store, root, day),
        )
        received_before = rollups.watermark(store)
    doc = {
        "partitions_created": [d.isoformat() for d in done.created],
        "days_dropped": [d.isoformat() for d in done.dropped],
        "days_kept_unarchived": [d.isoformat() for d in done.kept_unarchived],
        "rollup_slices": len(slices),
        "rollup_rows_written": sum(s.sketches for s in slices),
        "rolled_up_before_ms": received_before,
    }
    if args.json:
        print_json(doc)
    else:
        table("maintenance", ["step", "result"], [[k, str(v)] for k, v in doc.items()])
    return 0


def _archive_root(location: str) -> Any:
    from collector import archive

    try:
        return archive.Root(location)
    except archive.ArchiveError as exc:
        raise UsageError(str(exc)) from None


def _holds_all(store: Any, root: Any, day: Any) -> bool:
    from collector import archive

    try:
        return archive.holds_all(store, root, day)
    except archive.ArchiveError as exc:
        raise UsageError(str(exc)) from None
