"""Signed commands at the agent: what the controller signs is carried out and reported; forged,
unsigned, expired, replayed, misaddressed and out-of-bounds commands are refused with a logged
reason, change nothing, and the agent carries on. A real Agent with its real outbox."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from agent import config as config_mod
from agent.commands import COUNTER_KEY, CommandHandler
from agent.core import cbor, command, cose, record
from agent.core.keyid import kid_for
from agent.supervisor import Agent
from hil.fleet import write_agent_config

CONTROLLER = Ed25519PrivateKey.generate()
CONTROLLER_PUBLIC = CONTROLLER.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
KID = kid_for(CONTROLLER_PUBLIC)
PROBE = "probe-cmd"
# The attack cases are built at import, possibly minutes before they run in a long suite.
TTL_MS = 24 * 3600 * 1000


def make_agent(directory: Path) -> Agent:
    path = write_agent_config(
        directory,
        PROBE,
        "mqtt://127.0.0.1:1",
        {"health": 300},
        extra=f'[commands]\ncontroller_key = "{CONTROLLER_PUBLIC.hex()}"\n'
        'allowed_servers = ["m1.example.ma", "m2.example.ma:862"]\n',
    )
    return Agent(config_mod.load(path))


@pytest.fixture
def agent(tmp_path: Path) -> Iterator[Agent]:
    made = make_agent(tmp_path)
    yield made
    made.outbox.close()


async def test_servers_are_switched_only_among_the_allowed(tmp_path: Path) -> None:
    path = write_agent_config(
        tmp_path,
        PROBE,
        "mqtt://127.0.0.1:1",
        {"latency": 300},
        extra=f'[commands]\ncontroller_key = "{CONTROLLER_PUBLIC.hex()}"\n'
        '[probe]\nservers = ["m1.example.ma:862", "m2.example.ma:862"]\n',
    )
    probe = Agent(config_mod.load(path))
    try:
        handler = handler_of(probe)
        await handler(signed(command.SERVERS, {"servers": ["m2.example.ma:862"]}, counter=1))
        assert [str(s) for s in probe.sources["latency"].servers] == ["m2.example.ma:862"]  # type: ignore[attr-defined]
        # Without allowed_servers, only the servers the owner configured are allowed.
        await handler(signed(command.SERVERS, {"servers": ["victim.example.com:862"]}, counter=2))
        assert [str(s) for s in probe.sources["latency"].servers] == ["m2.example.ma:862"]  # type: ignore[attr-defined]
        assert [r["outcome"] for r in command_reports(probe)] == ["done", "refused"]
    finally:
        probe.outbox.close()


def handler_of(agent: Agent) -> CommandHandler:
    handler = agent.uplink.on_command
    assert isinstance(handler, CommandHandler)
    return handler


def signed(
    action: str,
    args: dict[str, Any],
    counter: int = 1,
    ttl_ms: int = TTL_MS,
    probe: str = PROBE,
    key: Ed25519PrivateKey = CONTROLLER,
    kid: bytes = KID,
) -> bytes:
    expires = int(time.time() * 1000) + ttl_ms
    return command.sign(probe, counter, expires, action, args, kid, key.sign)


def status_records(agent: Agent) -> list[dict[str, Any]]:
    rows = agent.outbox.db.execute("SELECT body FROM records WHERE kind='status' ORDER BY seq")
    return [record.decode(cose.parse_sign1(body).payload)["values"] for (body,) in rows]


def command_reports(agent: Agent) -> list[dict[str, Any]]:
    return [v for v in status_records(agent) if v.get("event") == "command"]


async def test_a_signed_command_is_carried_out_and_reported(agent: Agent) -> None:
    await handler_of(agent)(signed(command.LOG_LEVEL, {"level": "debug"}, counter=7))
    assert logging.getLogger("qiyas").getEffectiveLevel() == logging.DEBUG
    assert agent.outbox.meta(COUNTER_KEY) == 7
    [report] = command_reports(agent)
    assert report["outcome"] == "done" and report["action"] == "log-level"
    assert report["counter"] == 7
    logging.getLogger("qiyas").setLevel(logging.NOTSET)


async def test_schedule_and_measure_now_act_on_the_running_agent(agent: Agent) -> None:
    handler = handler_of(agent)
    await handler(signed(command.SCHEDULE, {"intervals": {"health": 42}}, counter=1))
    assert agent.config.schedule["health"] == 42.0
    before = agent.outbox.issued
    await handler(signed(command.MEASURE_NOW, {"sources": ["health"]}, counter=2))
    for task in list(handler._tasks):
        await task
    kinds = [
        k for (k,) in agent.outbox.db.execute("SELECT kind FROM records WHERE seq > ?", (before,))
    ]
    assert "health" in kinds
    assert [r["outcome"] for r in command_reports(agent)] == ["done", "done"]


async def test_rebirth_announces_the_state_in_force(agent: Agent) -> None:
    await handler_of(agent)(signed(command.REBIRTH, {}))
    births = [v for v in status_records(agent) if v.get("event") == "birth"]
    assert births[-1]["detail"] == "rebirth on command"
    assert births[-1]["schedule_s"] == {"health": 300.0}


async def test_a_source_the_probe_lacks_fails_and_says_so(agent: Agent) -> None:
    await handler_of(agent)(signed(command.MEASURE_NOW, {"sources": ["capacity"]}))
    [report] = command_reports(agent)
    assert report["outcome"] == "failed"
    assert "not scheduled on this probe: capacity" in report["detail"]


def unsigned(action: str, args: dict[str, Any]) -> bytes:
    """The payload alone, as a plain CBOR map: no envelope, no signature."""
    return command.encode(PROBE, 1, int(time.time() * 1000) + TTL_MS, action, args)


def with_alg(alg: object, unprotected: dict[int, object] | None = None) -> bytes:
    """A command whose envelope names alg (in the protected header, or unprotected)."""
    payload = command.encode(PROBE, 1, int(time.time() * 1000) + TTL_MS, command.REBIRTH, {})
    protected = {cose.HDR_KID: KID} if unprotected else {cose.HDR_ALG: alg, cose.HDR_KID: KID}
    raw_protected = cbor.dumps(protected)
    to_sign = cbor.dumps(["Signature1", raw_protected, b"", payload])
    return cbor.dumps(
        cbor.Tag(
            cose.TAG_SIGN1, [raw_protected, unprotected or {}, payload, CONTROLLER.sign(to_sign)]
        )
    )


OTHER_KEY = Ed25519PrivateKey.generate()
OTHER_KID = kid_for(OTHER_KEY.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw))

ATTACKS = {
    "unsigned": (unsigned(command.REBIRTH, {}), "not a signed command"),
    "forged signature": (signed(command.REBIRTH, {}, key=OTHER_KEY), "bad signature"),
    "another key": (
        signed(command.REBIRTH, {}, key=OTHER_KEY, kid=OTHER_KID),
        "not the controller",
    ),
    "alg none": (with_alg("none"), "not EdDSA"),
    "alg ES256 for the pinned key": (with_alg(-7), "not EdDSA"),
    "alg unprotected": (with_alg(None, {cose.HDR_ALG: cose.ALG_EDDSA}), "protected header"),
    "expired": (signed(command.REBIRTH, {}, ttl_ms=-1), "expired"),
    "for another probe": (signed(command.REBIRTH, {}, probe="probe-other"), "not probe-cmd"),
    "server not allowed": (
        signed(command.SERVERS, {"servers": ["victim.example.com:80"]}),
        "not in the allowed servers",
    ),
    "allowed host, other port": (
        signed(command.SERVERS, {"servers": ["m2.example.ma:80"]}),
        "not in the allowed servers",
    ),
    "trailing bytes": (signed(command.REBIRTH, {}) + b"\x00", "trailing"),
    "oversized": (b"\x00" * 20_000, "exceeds"),
}


@pytest.mark.parametrize("name", list(ATTACKS))
async def test_an_attack_is_refused_with_a_logged_reason_and_changes_nothing(
    agent: Agent, name: str, caplog: pytest.LogCaptureFixture
) -> None:
    data, reason = ATTACKS[name]
    schedule = dict(agent.config.schedule)
    with caplog.at_level(logging.WARNING, logger="qiyas.commands"):
        await handler_of(agent)(data)
    assert any(reason in r.getMessage() for r in caplog.records), caplog.text
    assert agent.outbox.meta(COUNTER_KEY) == 0
    assert agent.config.schedule == schedule
    [report] = command_reports(agent)
    assert report["outcome"] == "refused" and reason in report["detail"]


async def test_a_replayed_command_is_refused_even_after_a_restart(tmp_path: Path) -> None:
    first = make_agent(tmp_path)
    cmd = signed(command.SCHEDULE, {"intervals": {"health": 60}}, counter=5)
    await handler_of(first)(cmd)
    assert first.config.schedule["health"] == 60.0
    first.outbox.close()
    # The probe reboots: its config says 300 s again, and the captured command is replayed.
    second = make_agent(tmp_path)
    try:
        await handler_of(second)(cmd)
        assert second.config.schedule["health"] == 300.0
        assert "replay" in command_reports(second)[-1]["detail"]
        # An older counter is refused too; a newer one is accepted.
        await handler_of(second)(signed(command.REBIRTH, {}, counter=4))
        assert second.outbox.meta(COUNTER_KEY) == 5
        await handler_of(second)(signed(command.REBIRTH, {}, counter=6))
        assert second.outbox.meta(COUNTER_KEY) == 6
    finally:
        second.outbox.close()


async def test_a_flood_of_refused_commands_does_not_flood_the_outbox(agent: Agent) -> None:
    handler = handler_of(agent)
    for _ in range(50):
        await handler(b"garbage")
    assert len(command_reports(agent)) == 1
    assert handler._refused == 49  # counted, reported with the next refusal report


async def test_a_probe_without_a_commands_table_does_not_listen(tmp_path: Path) -> None:
    path = write_agent_config(tmp_path, PROBE, "mqtt://127.0.0.1:1", {"health": 300})
    plain = Agent(config_mod.load(path))
    try:
        assert plain.uplink.on_command is None
    finally:
        plain.outbox.close()


@pytest.mark.parametrize(
    ("table", "complaint"),
    [
        ('controller_key = "abcd"', "controller_key must be 64 hex digits"),
        ('controller_key = "' + "zz" * 32 + '"', "controller_key must be 64 hex digits"),
        ('controller_key = "' + "ab" * 32 + '"\nallowed_servers = ["a b"]', "allowed_servers"),
    ],
)
def test_a_bad_commands_table_is_a_config_error(tmp_path: Path, table: str, complaint: str) -> None:
    path = write_agent_config(
        tmp_path, PROBE, "mqtt://127.0.0.1:1", {}, extra="[commands]\n" + table
    )
    with pytest.raises(config_mod.ConfigError, match=complaint):
        Agent(config_mod.load(path))
