"""`qiyas verify FILE... --db DB`: verify a CBOR sequence of signed records offline.
`qiyas verify --archive DIR --keys REGISTRY`: verify a whole archive (collector.archive_verify).

Anyone holding an export (`--format cose`) and the probe keys can check every record without
trusting the collector: exit 0 when all are valid, 1 when any is not.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from agent.cli_contract import UsageError


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("files", nargs="*", type=Path, metavar="FILE", help="CBOR sequence")
    parser.add_argument("--db", help="store holding the probe key registry (with FILE…)")
    parser.add_argument("--archive", help="an archive root (directory or URI) to verify whole")
    parser.add_argument("--keys", type=Path, help="signed key registry (with --archive)")
    parser.add_argument(
        "--regulator-key", help="hex public key the registry and manifests must be signed by"
    )
    parser.add_argument("--json", action="store_true", help="print JSON")


def verify_file(data: bytes, lookup: Any, now_ms: int) -> list[dict[str, Any]]:
    """One result per item of the sequence; a malformed tail becomes one invalid result."""
    from agent.core import cbor
    from collector.verify import Verified, check_message

    items, error = cbor.split_sequence(data)
    results: list[dict[str, Any]] = []
    for index, raw in enumerate(items):
        verdict = check_message(raw, lookup, now_ms)
        if isinstance(verdict, Verified):
            results.append(
                {"index": index, "valid": True, "kid": verdict.kid.hex(), "record": verdict.record}
            )
        else:
            results.append({"index": index, "valid": False, "reason": verdict.reason})
    if error is not None:
        results.append(
            {"index": len(items), "valid": False, "reason": f"not a CBOR data item: {error}"}
        )
    return results


def run(args: argparse.Namespace) -> int:
    from agent.cli_contract import print_json
    from collector.cli_common import open_store_or_fail
    from collector.store import now_ms

    if args.archive is not None:
        from collector.archive_verify_cli import run_archive

        return run_archive(args)
    if not args.files or args.db is None:
        raise UsageError("give FILE… with --db, or --archive DIR with --keys REGISTRY")
    documents: list[dict[str, Any]] = []
    with open_store_or_fail(args.db) as store:
        for path in args.files:
            try:
                data = path.read_bytes()
            except OSError as exc:
                raise UsageError(f"cannot read {path}: {exc.strerror}") from None
            results = verify_file(data, store.key, now_ms()) or [
                {"index": 0, "valid": False, "reason": "the file holds no record"}
            ]  # checked nothing is not valid
            documents += [{"file": str(path), **result} for result in results]
    if args.json:
        print_json(documents)
    else:
        _print_table(documents)
    return 0 if all(d["valid"] for d in documents) else 1


def _print_table(documents: list[dict[str, Any]]) -> None:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    table = Table(title=f"{sum(d['valid'] for d in documents)}/{len(documents)} valid")
    for column in ("file", "#", "valid", "probe", "kind", "seq / reason"):
        table.add_column(column)
    for d in documents:
        rec = d.get("record", {})
        # Plain text, never markup: a reason may quote what the record holds.
        table.add_row(
            Text(d["file"]),
            str(d["index"]),
            Text("yes") if d["valid"] else Text("no", style="red"),
            Text(rec.get("probe", "")),
            Text(rec.get("kind", "")),
            Text(str(rec["seq"]) if d["valid"] else d["reason"]),
        )
    Console(stderr=True).print(table)
