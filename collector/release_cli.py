"""`qiyas collector release --db DB --quarter 2026-Q4 --out DIR`: the quarter's open data
(collector.release), from the roll-ups; run `qiyas collector maintain` first so they are current.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from agent.cli_contract import UsageError, print_json


def configure(sub: Any) -> None:
    from collector import release
    from collector.cli_common import db_arg

    parser = sub.add_parser("release", help="open data of a quarter: per commune and region")
    db_arg(parser)
    parser.add_argument("--quarter", required=True, help="YYYY-Qn, e.g. 2026-Q4")
    parser.add_argument("--out", type=Path, required=True, help="release directory")
    parser.add_argument(
        "--min-probes", type=int, default=release.MIN_PROBES, help="probes a cell needs (5)"
    )
    parser.add_argument(
        "--min-tests", type=int, default=release.MIN_TESTS, help="results a cell needs (30)"
    )
    parser.add_argument("--json", action="store_true", help="print what was written as JSON")


def run(args: argparse.Namespace) -> int:
    from agent.core.errors import InvalidInput
    from collector import release
    from collector.cli_common import open_store_or_fail, table

    if args.min_probes < 2 or args.min_tests < 1:
        raise UsageError(
            "--min-probes must be ≥ 2 (one probe is one household) and --min-tests ≥ 1"
        )
    try:
        release.quarter_days(args.quarter)
    except InvalidInput as exc:
        raise UsageError(str(exc)) from None
    with open_store_or_fail(args.db) as store:
        try:
            done = release.write(store, args.quarter, args.out, args.min_probes, args.min_tests)
        except OSError as exc:
            raise UsageError(f"cannot write {args.out}: {exc.strerror}") from None
    if args.json:
        print_json({"quarter": done.quarter, "rows": done.published, "withheld": done.withheld})
    else:
        rows = [[f, str(n), str(done.withheld[f])] for f, n in done.published.items()]
        table(f"release {done.quarter}", ["file", "rows", "cells withheld"], rows)
    return 0
