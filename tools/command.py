"""`qiyas command keygen | send`: the controller's side of signed commands.

    qiyas command keygen --signing-key controller.key        # prints the public key for probes
    qiyas command send --signing-key controller.key --probe ID --action log-level --level debug \\
        --broker mqtts://broker:8883 --ca ca.pem --cert controller.pem --key controller.key

The command is signed with the controller's Ed25519 key and published (QoS 1, not retained) on
the probe's commands topic, which the broker ACL lets only the controller's identity write. The
counter defaults to the time in milliseconds, so successive commands increase without the
controller keeping state. `--out FILE` writes the signed bytes instead of publishing them.
"""

from __future__ import annotations

import argparse
import json
import os
import threading
import time
from pathlib import Path
from typing import Any

from agent.cli_contract import UsageError

WAIT_S = 10.0


def configure(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action_", required=True, metavar="ACTION")
    keygen = sub.add_parser("keygen", help="make the controller's key (or show its public key)")
    keygen.add_argument("--signing-key", type=Path, required=True, help="key file (0600)")
    keygen.add_argument("--json", action="store_true")
    send = sub.add_parser("send", help="sign a command and publish it to a probe")
    send.add_argument("--signing-key", type=Path, required=True, help="the controller's key file")
    send.add_argument("--probe", required=True)
    send.add_argument(
        "--action",
        required=True,
        choices=["schedule", "servers", "log-level", "rebirth", "measure-now"],
    )
    send.add_argument("--interval", action="append", default=[], help="schedule: NAME=SECONDS")
    send.add_argument("--server", action="append", default=[], help="servers: HOST[:PORT]")
    send.add_argument("--level", help="log-level: debug | info | warning | error")
    send.add_argument("--source", action="append", default=[], help="measure-now: NAME")
    send.add_argument("--counter", type=int, help="default: now in milliseconds")
    send.add_argument("--ttl", type=float, default=3600.0, help="seconds until it expires")
    send.add_argument("--broker", help="mqtt://HOST:PORT or mqtts://HOST:PORT")
    send.add_argument("--ca", type=Path, help="CA certificate of the broker (PEM)")
    send.add_argument("--cert", type=Path, help="client certificate (the controller's identity)")
    send.add_argument("--key", type=Path, help="client private key (PEM)")
    send.add_argument("--out", type=Path, help="write the signed command here instead")
    send.add_argument("--json", action="store_true")


def run(args: argparse.Namespace) -> int:
    from agent.keys import KeyFileError, load_or_create

    if args.action_ == "send" and not args.signing_key.is_file():
        raise UsageError(f"{args.signing_key}: no such key; make one with `qiyas command keygen`")
    try:
        key = load_or_create(args.signing_key)
    except (KeyFileError, OSError) as exc:
        raise UsageError(str(exc)) from None
    if args.action_ == "keygen":
        doc: dict[str, Any] = {"public_key": key.public_key.hex(), "kid": key.kid.hex()}
        _report(args, doc, f'[commands]\ncontroller_key = "{doc["public_key"]}"')
        return 0
    return _send(args, key.kid, key.sign)


def _args_of(args: argparse.Namespace) -> dict[str, Any]:
    if args.action == "schedule":
        intervals = {}
        for item in args.interval:
            name, _, seconds = item.partition("=")
            if not seconds.isdigit():
                raise UsageError(f"--interval {item!r} is not NAME=SECONDS")
            intervals[name] = int(seconds)
        return {"intervals": intervals}
    if args.action == "servers":
        return {"servers": args.server}
    if args.action == "log-level":
        return {"level": args.level}
    if args.action == "measure-now":
        return {"sources": args.source}
    return {}


def _send(args: argparse.Namespace, kid: bytes, sign: Any) -> int:
    from agent.core import command, topics

    now_ms = int(time.time() * 1000)
    counter = args.counter if args.counter is not None else now_ms
    expires_ms = now_ms + int(args.ttl * 1000)
    try:
        signed = command.sign(
            args.probe, counter, expires_ms, args.action, _args_of(args), kid, sign
        )
    except command.CommandError as exc:
        raise UsageError(f"bad command: {exc}") from None
    doc: dict[str, Any] = {
        "probe": args.probe,
        "action": args.action,
        "counter": counter,
        "expires_ms": expires_ms,
    }
    if args.out is not None:
        args.out.write_bytes(signed)
        _report(args, {**doc, "written": str(args.out)}, f"signed command written to {args.out}")
        return 0
    if args.broker is None:
        raise UsageError("give --broker to publish, or --out FILE to write the signed command")
    reason = _publish(args, topics.commands(args.probe), signed)
    doc.update(topic=topics.commands(args.probe), published=reason is None, refused=reason)
    _report(args, doc, f"published command {counter} to {args.probe}" if reason is None else reason)
    return 0 if reason is None else 1


def _publish(args: argparse.Namespace, topic: str, payload: bytes) -> str | None:
    """Publish at QoS 1; None when the broker took it, else why not (the PUBACK reason)."""
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    from collector.broker import BrokerURLError, parse_broker

    try:
        broker = parse_broker(args.broker, args.ca, args.cert, args.key)
    except BrokerURLError as exc:
        raise UsageError(str(exc)) from None
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2, f"qiyas-controller-{os.getpid()}", protocol=mqtt.MQTTv5
    )
    if broker.tls:
        client.tls_set(
            str(broker.ca) if broker.ca else None,
            str(broker.cert) if broker.cert else None,
            str(broker.key) if broker.key else None,
        )
    done = threading.Event()
    outcome: list[str | None] = []

    def on_connect(c: Any, u: Any, flags: Any, code: Any, props: Any) -> None:
        if code.is_failure:
            outcome.append(f"broker refused the connection: {code}")
            done.set()
        else:
            c.publish(topic, payload, qos=1)

    def on_publish(c: Any, u: Any, mid: int, code: Any, props: Any) -> None:
        outcome.append(f"broker refused the command: {code}" if code.is_failure else None)
        done.set()

    def on_disconnect(c: Any, u: Any, flags: Any, code: Any, props: Any) -> None:
        outcome.append(f"disconnected by the broker: {code}")
        done.set()

    client.on_connect, client.on_publish = on_connect, on_publish
    client.on_disconnect = on_disconnect
    try:
        client.connect(broker.host, broker.port)
    except OSError as exc:
        return f"cannot reach {args.broker}: {exc}"
    client.loop_start()
    try:
        if not done.wait(WAIT_S):
            return f"no answer from {args.broker} in {WAIT_S:g}s"
        return outcome[0]
    finally:
        client.disconnect()
        client.loop_stop()


def _report(args: argparse.Namespace, doc: dict[str, Any], human: str) -> None:
    if args.json:
        print(json.dumps(doc))
    else:
        from rich.console import Console

        Console(stderr=True).print(human)
