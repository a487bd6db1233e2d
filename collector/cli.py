"""`qiyas collector run | serve | export | quarantine | maintain | release | keys … | probes … |
apikey add` (and `broker-config`, owned by the transport-security module)."""

from __future__ import annotations

import argparse
import json
import socket
import sys
from pathlib import Path

from agent.cli_contract import UsageError, print_json
from collector.cli_common import db_arg, open_store_or_fail, parse_time_ms, table


def configure(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")

    run = sub.add_parser("run", help="ingest records from the broker until stopped")
    run.add_argument("--broker", required=True, help="mqtt://HOST:PORT or mqtts://HOST:PORT")
    db_arg(run)
    run.add_argument(
        "--client-id",
        default=f"qiyas-collector-{socket.gethostname()}",
        help="stable MQTT client id of this instance (its persistent session)",
    )
    run.add_argument("--ca", type=Path, help="CA certificate of the broker (PEM)")
    run.add_argument("--cert", type=Path, help="client certificate (PEM), with --key")
    run.add_argument("--key", type=Path, help="client private key (PEM), with --cert")
    run.add_argument("--batch-size", type=int, default=256, help="records per commit (max)")
    run.add_argument("--no-feed", action="store_true", help="do not publish the live feed")

    from collector import registry_cli

    registry_cli.configure(sub)

    quarantine = sub.add_parser("quarantine", help="list quarantined messages with their reason")
    db_arg(quarantine)
    quarantine.add_argument("--json", action="store_true", help="print JSON")

    serve = sub.add_parser("serve", help="HTTP API, OpenAPI document and dashboard")
    db_arg(serve)
    serve.add_argument("--listen", default="127.0.0.1:8080", help="HOST:PORT (127.0.0.1:8080)")
    serve.add_argument(
        "--public", action="store_true", help="reads need no API key (open data); writes still do"
    )

    export = sub.add_parser("export", help="export stored records (open data)")
    db_arg(export)
    export.add_argument("--format", required=True, choices=["cose", "jsonl", "csv", "parquet"])
    export.add_argument("--out", required=True, help="output file, or - for standard output")
    export.add_argument("--since", help="records measured at or after T (ISO 8601 or ms)")
    export.add_argument("--until", help="records measured before T (ISO 8601 or ms)")

    from collector import broker_config, maintain_cli, release_cli

    broker_config.add_parser(sub)
    maintain_cli.configure(sub)
    release_cli.configure(sub)


def run(args: argparse.Namespace) -> int:
    if args.action == "run":
        from collector.run_cli import run_collector

        return run_collector(args)
    if args.action in ("keys", "probes", "apikey"):
        from collector import registry_cli

        return registry_cli.run(args)
    if args.action == "quarantine":
        return _quarantine(args)
    if args.action == "serve":
        return _serve(args)
    if args.action == "maintain":
        from collector import maintain_cli

        return maintain_cli.run(args)
    if args.action == "release":
        from collector import release_cli

        return release_cli.run(args)
    if args.action == "broker-config":
        from collector import broker_config

        return broker_config.run(args)
    return _export(args)


def _quarantine(args: argparse.Namespace) -> int:
    from collector.times import iso_ms

    with open_store_or_fail(args.db) as store:
        rows = store.quarantine()
    docs = [
        {
            "topic": q.topic,
            "probe": q.probe,
            "reason": q.reason,
            "received_at": iso_ms(q.received_at_ms),
            "size": len(q.raw),
        }
        for q in rows
    ]
    if args.json:
        print_json(docs)
    else:
        table_rows = [[iso_ms(q.received_at_ms), q.topic, q.reason] for q in rows]
        table(f"{len(docs)} quarantined", ["received", "topic", "reason"], table_rows)
    return 0


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from collector.api import create_app
    from collector.store import StoreError

    host, _, port = args.listen.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise UsageError(f"--listen {args.listen!r} is not HOST:PORT")
    try:
        app = create_app(args.db, public=args.public)
    except StoreError as exc:
        raise UsageError(str(exc)) from None
    uvicorn.run(app, host=host.strip("[]"), port=int(port), log_level="warning")
    return 0


def _export(args: argparse.Namespace) -> int:
    from rich.console import Console

    from collector import export

    since = parse_time_ms(args.since, "--since")
    until = parse_time_ms(args.until, "--until")
    console = Console(stderr=True)
    # A spinner while millions of rows stream out (rich shows it only on a terminal).
    with open_store_or_fail(args.db) as store, console.status(f"exporting as {args.format}…"):
        rows = store.records(since_ms=since, until_ms=until)
        probes = {p.probe: p for p in store.probes()}
        if args.out == "-":
            count = export.write(rows, args.format, sys.stdout.buffer, probes)
            sys.stdout.buffer.flush()
        else:
            try:
                with open(args.out, "wb") as out:
                    count = export.write(rows, args.format, out, probes)
                if args.format in ("csv", "parquet"):
                    # The data dictionary travels beside the data it describes.
                    with open(f"{args.out}.dictionary.json", "w", encoding="utf-8") as text:
                        json.dump(export.dictionary(), text, ensure_ascii=False, indent=1)
            except OSError as exc:
                raise UsageError(f"cannot write {args.out}: {exc.strerror}") from None
    console.print(f"exported {count} records as {args.format}")
    return 0
