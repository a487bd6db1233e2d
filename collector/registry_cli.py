"""`qiyas collector keys add|list|rotate|revoke`, `probes set|list` and `apikey add`."""

from __future__ import annotations

import argparse
import dataclasses
from typing import Any

from agent.cli_contract import UsageError, print_json
from collector import apikeys, registry
from collector.cli_common import db_arg, open_store_or_fail, parse_time_ms, table
from collector.regions import REGIONS, TECHNOLOGIES
from collector.store import ProbeRow
from collector.times import iso_ms


def configure(sub: Any) -> None:
    """Add the keys, probes and apikey sub-commands to the collector's sub-parsers."""
    keys = sub.add_parser("keys", help="the probe key registry")
    keys_sub = keys.add_subparsers(dest="keys_action", required=True, metavar="ACTION")
    add = keys_sub.add_parser("add", help="register a probe's public key")
    db_arg(add)
    add.add_argument("--probe", help="probe id")
    add.add_argument("--public-key", help="raw Ed25519 public key, 64 hex digits")
    add.add_argument("--bundle", help="provisioning bundle (JSON) from qiyas provision")
    add.add_argument("--json", action="store_true", help="print the registered key as JSON")
    listing = keys_sub.add_parser("list", help="list registered keys")
    db_arg(listing)
    listing.add_argument("--json", action="store_true", help="print JSON")
    rotate = keys_sub.add_parser("rotate", help="give a probe a new key; its old keys expire")
    db_arg(rotate)
    rotate.add_argument("--probe", required=True)
    rotate.add_argument("--public-key", required=True, help="the new key, 64 hex digits")
    rotate.add_argument("--at", help="when the new key takes over (ISO 8601 or ms; now)")
    rotate.add_argument("--json", action="store_true", help="print the new key as JSON")
    revoke = keys_sub.add_parser("revoke", help="revoke a key: what it signs is quarantined")
    db_arg(revoke)
    revoke.add_argument("--kid", required=True, help="key id, hex")
    revoke.add_argument("--at", help="from when (ISO 8601 or ms; default now)")
    revoke.add_argument("--json", action="store_true", help="print the revoked key as JSON")

    probes = sub.add_parser("probes", help="probe metadata: operator, technology, region")
    probes_sub = probes.add_subparsers(dest="probes_action", required=True, metavar="ACTION")
    set_ = probes_sub.add_parser("set", help="record or update what is known of a probe")
    db_arg(set_)
    set_.add_argument("--probe", required=True)
    set_.add_argument("--operator")
    set_.add_argument("--technology", choices=sorted(TECHNOLOGIES))
    set_.add_argument("--region", choices=sorted(REGIONS), help="ISO 3166-2:MA region code")
    set_.add_argument("--commune")
    set_.add_argument("--consent-date", help="YYYY-MM-DD the household agreed to host it")
    set_.add_argument("--json", action="store_true", help="print the probe as JSON")
    plist = probes_sub.add_parser("list", help="list probes and their metadata")
    db_arg(plist)
    plist.add_argument("--json", action="store_true", help="print JSON")

    apikey = sub.add_parser("apikey", help="create an API key (shown once)")
    apikey_sub = apikey.add_subparsers(dest="apikey_action", required=True, metavar="ACTION")
    akey = apikey_sub.add_parser("add", help="create a key for a regulator's tool or an admin")
    db_arg(akey)
    akey.add_argument("--name", required=True, help="who or what uses it")
    akey.add_argument("--scope", choices=apikeys.SCOPES, default="read")
    akey.add_argument("--json", action="store_true", help="print JSON")


def run(args: argparse.Namespace) -> int:
    handlers = {
        ("keys", "add"): _keys_add,
        ("keys", "list"): _keys_list,
        ("keys", "rotate"): _keys_rotate,
        ("keys", "revoke"): _keys_revoke,
        ("probes", "set"): _probes_set,
        ("probes", "list"): _probes_list,
        ("apikey", "add"): _apikey_add,
    }
    action = getattr(args, f"{args.action}_action")
    return handlers[(args.action, action)](args)


def probe_doc(p: ProbeRow) -> dict[str, Any]:
    doc = dataclasses.asdict(p)
    doc["updated_at"] = iso_ms(doc.pop("updated_at_ms"))
    return doc


def _show(
    args: argparse.Namespace, title: str, docs: list[dict[str, Any]], single: bool = False
) -> None:
    """--json: the list, or its one item when single; else a table on stderr."""
    if args.json:
        print_json(docs[0] if single else docs)
        return
    columns = list(docs[0]) if docs else []
    table(title, columns, [["" if v is None else str(v) for v in d.values()] for d in docs])


def _public_key(text: str) -> bytes:
    try:
        return bytes.fromhex(text)
    except ValueError:
        raise UsageError("--public-key is not valid hex") from None


def _keys_add(args: argparse.Namespace) -> int:
    from pathlib import Path

    metadata: ProbeRow | None = None
    if args.bundle is not None:
        if args.probe or args.public_key:
            raise UsageError("give either --bundle or --probe with --public-key, not both")
        try:
            bundle = registry.load_bundle(Path(args.bundle))
        except registry.RegistryError as exc:
            raise UsageError(str(exc)) from None
        probe, public_key = bundle.probe, bundle.public_key
        known = {f.name for f in dataclasses.fields(ProbeRow)} - {"probe", "updated_at_ms"}
        given: dict[str, Any] = {
            k: v for k, v in bundle.extra.items() if k in known and isinstance(v, str)
        }
        metadata = ProbeRow(probe=probe, **given) if given else None
    else:
        if not args.probe or not args.public_key:
            raise UsageError("keys add needs --bundle FILE, or --probe ID and --public-key HEX")
        probe, public_key = args.probe, _public_key(args.public_key)
    with open_store_or_fail(args.db) as store:
        try:
            row = registry.add_key(store, probe, public_key)
            if metadata is not None:
                registry.set_probe(store, metadata)
        except registry.RegistryError as exc:
            raise UsageError(str(exc)) from None
    _show(args, "registered", [registry.describe_key(row)], single=True)
    return 0


def _keys_list(args: argparse.Namespace) -> int:
    with open_store_or_fail(args.db) as store:
        docs = [registry.describe_key(k) for k in store.probe_keys()]
    _show(args, f"{len(docs)} probe keys", docs)
    return 0


def _keys_rotate(args: argparse.Namespace) -> int:
    at = parse_time_ms(args.at, "--at")
    with open_store_or_fail(args.db) as store:
        try:
            row = registry.rotate_key(store, args.probe, _public_key(args.public_key), at)
        except registry.RegistryError as exc:
            raise UsageError(str(exc)) from None
    _show(args, "new key", [registry.describe_key(row)], single=True)
    return 0


def _keys_revoke(args: argparse.Namespace) -> int:
    at = parse_time_ms(args.at, "--at")
    try:
        kid = bytes.fromhex(args.kid)
    except ValueError:
        raise UsageError("--kid is not valid hex") from None
    with open_store_or_fail(args.db) as store:
        try:
            row = registry.revoke_key(store, kid, at)
        except registry.RegistryError as exc:
            raise UsageError(str(exc)) from None
    _show(args, "revoked", [registry.describe_key(row)], single=True)
    return 0


def _probes_set(args: argparse.Namespace) -> int:
    row = ProbeRow(
        probe=args.probe,
        operator=args.operator,
        technology=args.technology,
        region=args.region,
        commune=args.commune,
        consent_date=args.consent_date,
    )
    with open_store_or_fail(args.db) as store:
        try:
            row = registry.set_probe(store, row)
        except registry.RegistryError as exc:
            raise UsageError(str(exc)) from None
    _show(args, "probe", [probe_doc(row)], single=True)
    return 0


def _probes_list(args: argparse.Namespace) -> int:
    with open_store_or_fail(args.db) as store:
        docs = [probe_doc(p) for p in store.probes()]
    _show(args, f"{len(docs)} probes", docs)
    return 0


def _apikey_add(args: argparse.Namespace) -> int:
    with open_store_or_fail(args.db) as store:
        try:
            key = apikeys.create(store, args.name, args.scope)
        except ValueError as exc:
            raise UsageError(str(exc)) from None
    doc = {"name": args.name, "scope": args.scope, "key": key}
    if args.json:
        print_json(doc)
    else:
        table("API key (shown once: keep it now)", list(doc), [list(doc.values())])
    return 0
