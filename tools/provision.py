"""`qiyas provision`: make this probe's key on the device, write its config, print its bundle.

The private key is created here (agent.keys.load_or_create) and never leaves the device; what
leaves is the registration bundle — probe id, key id, public key and where the probe stands —
as JSON and as a QR code a technician's phone can carry to the regulator's registry, which
`qiyas collector keys add --bundle FILE` reads. Running it again on a provisioned device keeps
the key (same kid), so a lost bundle can be printed again.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from agent.cli_contract import UsageError
from collector.regions import REGIONS
from collector.regions import TECHNOLOGIES as TECHNOLOGY_NAMES

OPERATORS = ("maroc-telecom", "orange", "inwi")
TECHNOLOGIES = tuple(TECHNOLOGY_NAMES)

# Default schedule (seconds). The access link is polled often and cheaply; the measurements that
# load the household's line run rarely.
LINK_POLL_S = {"radio": 60, "optical": 300}
PROBE_SCHEDULE_S = {"latency": 900, "capacity": 14400}
DNS_S = 3600
HEALTH_S = 300

QUESTIONS = ("probe_id", "operator", "technology", "region", "broker")


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--board", default="generic-linux", help="board profile (boards/NAME.toml)")
    parser.add_argument("--probe-id", help="this probe's id, e.g. ma-06-cas-0042")
    parser.add_argument("--operator", choices=OPERATORS, help="the household's access operator")
    parser.add_argument(
        "--technology", type=str.upper, choices=TECHNOLOGIES, help="access technology"
    )
    parser.add_argument("--region", help="region code MA-01..MA-12 (or its name)")
    parser.add_argument("--broker", help="mqtts://HOST[:PORT] of the national broker")
    parser.add_argument("--ca", type=Path, help="CA certificate of the broker (PEM)")
    parser.add_argument("--cert", type=Path, help="this probe's client certificate (PEM)")
    parser.add_argument("--key", type=Path, help="the client certificate's private key (PEM)")
    parser.add_argument(
        "--server", action="append", default=[], help="measurement server HOST[:PORT] (repeat)"
    )
    parser.add_argument(
        "--dns-target", action="append", default=[], help="host name whose lookup is timed"
    )
    parser.add_argument(
        "--statuspage", help="LAN address:port for the household's status page (off if not given)"
    )
    parser.add_argument("--state-dir", type=Path, default=Path("/var/lib/qiyas"))
    parser.add_argument("--config", type=Path, default=Path("/etc/qiyas/agent.toml"))
    parser.add_argument("--bundle", type=Path, help="also write the bundle JSON to this file")
    parser.add_argument("--owner", help="user the agent runs as: gets the state directory")
    parser.add_argument("--force", action="store_true", help="overwrite an existing config")
    parser.add_argument("--no-input", action="store_true", help="never prompt; missing = error")
    parser.add_argument("--json", action="store_true", help="print the bundle as JSON only")


def region_code(text: str) -> str:
    """MA-06, 06, 6 or the region's name (any case) → MA-06."""
    cleaned = text.strip()
    digits = cleaned.upper().removeprefix("MA-")
    if digits.isdigit() and f"MA-{int(digits):02d}" in REGIONS:
        return f"MA-{int(digits):02d}"
    for code, names in REGIONS.items():
        if cleaned.casefold() in (name.casefold() for name in names):
            return code
    raise UsageError(f"unknown region {text!r}; one of {', '.join(REGIONS)}")


def _ask(args: argparse.Namespace) -> None:
    """Fill in the answers not given as options, by prompting on the terminal."""
    missing = [name for name in QUESTIONS if getattr(args, name) is None]
    if not missing:
        return
    if args.no_input or not sys.stdin.isatty():
        flags = ", ".join("--" + name.replace("_", "-") for name in missing)
        raise UsageError(f"missing {flags} (no terminal to ask on)")
    from rich.console import Console
    from rich.prompt import Prompt

    console = Console(stderr=True)
    if args.probe_id is None:
        args.probe_id = Prompt.ask("Probe id (on the probe's label)", console=console)
    if args.operator is None:
        args.operator = Prompt.ask("Operator", choices=list(OPERATORS), console=console)
    if args.technology is None:
        args.technology = Prompt.ask(
            "Technology", choices=list(TECHNOLOGIES), console=console
        ).upper()
    if args.region is None:
        for code, (french, arabic) in REGIONS.items():
            console.print(f"  {code}  {french} — {arabic}")
        args.region = Prompt.ask("Region code", console=console)
    if args.broker is None:
        args.broker = Prompt.ask("Broker URL", default="mqtts://mqtt.qiyas.ma", console=console)


def toml_string(text: str) -> str:
    # A JSON string with ASCII escapes is a valid TOML basic string.
    return json.dumps(text, ensure_ascii=True)


def config_text(args: argparse.Namespace, sections: set[str]) -> str:
    """The agent config for these answers; the board's [modem]/[ont] decide which polls run."""
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        f"# Written by qiyas provision on {stamp}. Check it with: qiyas doctor -c THIS_FILE",
        f"probe_id = {toml_string(args.probe_id)}",
        f"board = {toml_string(args.board)}",
        f"state_dir = {toml_string(str(args.state_dir.absolute()))}",
        "",
        "[site]  # where the probe stands; sent in the bundle, not in each record",
        f"operator = {toml_string(args.operator)}",
        f"technology = {toml_string(args.technology)}",
        f"region = {toml_string(args.region)}",
        "",
        "[broker]",
        f"url = {toml_string(args.broker)}",
    ]
    for name in ("ca", "cert", "key"):
        path = getattr(args, name)
        if path is not None:
            lines.append(f"{name} = {toml_string(str(path.absolute()))}")
    schedule = {"health": HEALTH_S}
    schedule.update({n: s for n, s in LINK_POLL_S.items() if _polls(n, sections)})
    if args.server:
        schedule.update(PROBE_SCHEDULE_S)
    if args.dns_target:
        schedule["dns"] = DNS_S
    lines += ["", "[schedule]  # seconds between runs; 0 = off"]
    lines += [f"{name} = {seconds}" for name, seconds in schedule.items()]
    if args.server or args.dns_target:
        lines += ["", "[probe]"]
    if args.server:
        lines.append(f"servers = [{', '.join(toml_string(s) for s in args.server)}]")
    if args.dns_target:
        lines.append(f"dns_targets = [{', '.join(toml_string(t) for t in args.dns_target)}]")
    if args.statuspage:
        lines += ["", "[statuspage]", f"listen = {toml_string(args.statuspage)}"]
    return "\n".join(lines) + "\n"


def _polls(source: str, board_sections: set[str]) -> bool:
    return {"radio": "modem", "optical": "ont"}[source] in board_sections


def _write_config(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".new")
    tmp.write_text(text, encoding="utf-8")
    os.chmod(tmp, 0o644)  # no secret in it: the key and TLS key live in their own files
    os.replace(tmp, path)


def _owner_ids(owner: str) -> tuple[int, int]:
    import pwd

    try:
        user = pwd.getpwnam(owner)
    except KeyError:
        raise UsageError(f"--owner {owner}: no such user (install.sh makes qiyas)") from None
    return user.pw_uid, user.pw_gid


def _chown_state(state_dir: Path, ids: tuple[int, int]) -> None:
    for path in (state_dir, *state_dir.iterdir()):
        os.chown(path, *ids)


def make_bundle(
    args: argparse.Namespace, public_key: bytes, kid: bytes, firmware: str
) -> dict[str, Any]:
    return {
        "probe": args.probe_id,
        "kid": kid.hex(),
        "public_key": public_key.hex(),
        "board": args.board,
        "firmware": firmware,
        "operator": args.operator,
        "technology": args.technology,
        "region": args.region,
    }


def _show(bundle: dict[str, Any], config: Path, bundle_path: Path | None) -> None:
    import io

    import qrcode
    from rich.console import Console
    from rich.table import Table

    console = Console(stderr=True)
    table = Table(title="probe provisioned", show_header=False)
    for key, value in bundle.items():
        table.add_row(key, str(value))
    table.add_row("config", str(config))
    if bundle_path is not None:
        table.add_row("bundle file", str(bundle_path))
    console.print(table)
    qr = qrcode.QRCode(border=1, error_correction=qrcode.constants.ERROR_CORRECT_L)
    qr.add_data(json.dumps(bundle, separators=(",", ":")))
    out = io.StringIO()
    qr.print_ascii(out=out, invert=True)
    console.print("Scan to register this probe (qiyas collector keys add --bundle FILE):")
    console.print(out.getvalue(), highlight=False, markup=False)


def run(args: argparse.Namespace) -> int:
    from agent import boards, config, keys
    from agent.sources import load_factory

    try:
        board = boards.load(args.board)
    except boards.BoardError as exc:
        raise UsageError(str(exc)) from None
    if board.platform != "linux":
        raise UsageError(f"board {args.board} is a {board.platform} board: use qiyas flash")
    owner = _owner_ids(args.owner) if args.owner else None
    _ask(args)
    args.region = region_code(args.region)
    text = config_text(args, set(board.data))
    if args.config.exists() and not args.force:
        raise UsageError(f"{args.config} exists; use --force to replace it")
    try:
        cfg = config.parse(text, str(args.config))
        # Each source checks its own section (servers, modem, ONT); nothing opens before measuring.
        for name in cfg.schedule:
            load_factory(name)(cfg, board)
        for name in ("ca", "cert", "key"):
            path = getattr(args, name)
            if path is not None and not path.is_file():
                raise UsageError(f"--{name} {path}: no such file")
        if args.statuspage:
            from agent.statuspage.lan import parse_listen

            parse_listen(args.statuspage)
    except (config.ConfigError, ValueError) as exc:
        raise UsageError(str(exc)) from None
    try:
        key = keys.load_or_create(cfg.key_path)
    except (keys.KeyFileError, PermissionError) as exc:
        raise UsageError(f"cannot make the probe key: {exc}") from None
    _write_config(args.config, text)
    if owner is not None:
        _chown_state(cfg.state_dir, owner)
    bundle = make_bundle(args, key.public_key, key.kid, cfg.firmware)
    if args.bundle is not None:
        args.bundle.write_text(json.dumps(bundle, indent=2) + "\n", encoding="utf-8")
    if args.json:
        print(json.dumps(bundle))
    else:
        _show(bundle, args.config, args.bundle)
    return 0
