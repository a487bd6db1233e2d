"""The `--archive` side of `qiyas verify`: load the signed registry, verify, print the report.

Exit 0 when every signature, manifest, file and root checks; 1 otherwise. Sequence gaps are
reported, not failures: a probe whose outbox overflowed made records nobody holds, which is a
fact about the panel, not a fault of the archive.
"""

from __future__ import annotations

import argparse

from agent.cli_contract import UsageError


def run_archive(args: argparse.Namespace) -> int:
    from agent.cli_contract import print_json
    from collector import archive, archive_verify, key_registry

    if args.keys is None:
        raise UsageError("--archive needs --keys REGISTRY (`qiyas archive keys` writes one)")
    try:
        data = args.keys.read_bytes()
        signature = args.keys.with_name(args.keys.name + ".sig").read_bytes()
    except OSError as exc:
        raise UsageError(
            f"cannot read the registry {args.keys} or its .sig: {exc.strerror}"
        ) from None
    try:
        pinned = bytes.fromhex(args.regulator_key) if args.regulator_key else None
        registry = key_registry.load(data, signature, pinned)
        root = archive.Root(args.archive)
    except ValueError as exc:
        raise UsageError(f"--keys {args.keys}: {exc}") from None
    except archive.ArchiveError as exc:
        raise UsageError(str(exc)) from None
    report = archive_verify.verify(root, registry)
    if args.json:
        print_json(report.doc())
    else:
        _print(report, registry.regulator_key.hex())
    return 0 if report.ok else 1


def _print(report: object, regulator: str) -> None:
    from rich.console import Console

    from collector.archive_verify import Report

    assert isinstance(report, Report)
    console = Console(stderr=True)
    console.print(f"regulator key {regulator}: compare it with the one the regulator publishes")
    for day in report.days:
        mark = "ok" if day.get("ok") else "[red]FAILED[/red]"
        console.print(
            f"{day['day']}: {mark}, {day.get('records', 0)} records, {day['revisions']} "
            f"revision(s), root {day.get('root', '?')}"
        )
    for text in report.problems:
        console.print(f"[red]{text}[/red]")
    for gap in report.gaps:
        d = gap.doc()
        console.print(
            f"gap: probe {d['probe']} lacks {d['missing']} seq(s) {d['ranges']};"
            f" it reported dropping {d['reported_dropped']}; unexplained {d['unexplained']}"
        )
    verdict = "verified" if report.ok else "[red]NOT verified[/red]"
    console.print(f"{report.records} records {verdict}")
