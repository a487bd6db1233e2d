"""Hostile and random input to signed commands: refused with CommandError, never a crash; what the
controller signs is what the probe reads; no single-byte change of a signed command is accepted."""

from __future__ import annotations

from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from hypothesis import given, settings
from hypothesis import strategies as st

from agent.core import cbor, command, cose
from agent.core.keyid import kid_for

CONTROLLER = Ed25519PrivateKey.generate()
PUBLIC = CONTROLLER.public_key()
KID = kid_for(PUBLIC.public_bytes(Encoding.Raw, PublicFormat.Raw))
PROBE = "probe-1"
NOW_MS = 1_800_000_000_000
ALLOWED = ["m1.example.ma", "m2.example.ma:862", "[2001:db8::1]:862"]


def verify(signature: bytes, data: bytes) -> bool:
    try:
        PUBLIC.verify(signature, data)
    except InvalidSignature:
        return False
    return True


def accept(data: bytes, last: int = 0, now: int = NOW_MS) -> command.Command:
    return command.accept(data, KID, verify, PROBE, last, now, ALLOWED)


NAMES = st.text("abcdefghijklmnopqrstuvwxyz0123456789_-", min_size=1, max_size=command.MAX_NAME)
SERVERS = st.lists(
    st.sampled_from(
        ["m1.example.ma", "M1.example.ma:443", "m2.example.ma:862", "[2001:db8::1]:862"]
    ),
    min_size=1,
    max_size=command.MAX_ITEMS,
)
ACTIONS: st.SearchStrategy[tuple[str, dict[str, Any]]] = st.one_of(
    st.tuples(
        st.just(command.SCHEDULE),
        st.fixed_dictionaries(
            {
                "intervals": st.dictionaries(
                    NAMES,
                    st.integers(command.MIN_INTERVAL_S, command.MAX_INTERVAL_S),
                    min_size=1,
                    max_size=command.MAX_ITEMS,
                )
            }
        ),
    ),
    st.tuples(st.just(command.SERVERS), st.fixed_dictionaries({"servers": SERVERS})),
    st.tuples(
        st.just(command.LOG_LEVEL),
        st.fixed_dictionaries({"level": st.sampled_from(command.LOG_LEVELS)}),
    ),
    st.tuples(st.just(command.REBIRTH), st.just({})),
    st.tuples(
        st.just(command.MEASURE_NOW),
        st.fixed_dictionaries({"sources": st.lists(NAMES, min_size=1, max_size=command.MAX_ITEMS)}),
    ),
)
COUNTERS = st.integers(1, command.MAX_COUNTER)


def signed(
    counter: int, action: str, args: dict[str, Any], expires: int = NOW_MS + 60_000
) -> bytes:
    return command.sign(PROBE, counter, expires, action, args, KID, CONTROLLER.sign)


@given(st.binary(max_size=3000))
def test_any_bytes_are_refused_with_a_reason(data: bytes) -> None:
    try:
        accept(data)
    except command.CommandError as exc:
        assert str(exc)
    else:
        raise AssertionError("random bytes were accepted as a signed command")


@settings(max_examples=200)
@given(COUNTERS, ACTIONS)
def test_what_the_controller_signs_is_what_the_probe_reads(
    counter: int, action: tuple[str, dict[str, Any]]
) -> None:
    name, args = action
    cmd = accept(signed(counter, name, args), last=counter - 1)
    assert (cmd.probe, cmd.counter, cmd.action, cmd.args) == (PROBE, counter, name, args)


@settings(max_examples=100)
@given(COUNTERS, ACTIONS, st.data())
def test_no_single_byte_change_of_a_signed_command_is_accepted(
    counter: int, action: tuple[str, dict[str, Any]], data: st.DataObject
) -> None:
    raw = bytearray(signed(counter, *action))
    at = data.draw(st.integers(0, len(raw) - 1), label="at")
    raw[at] ^= data.draw(st.integers(1, 255), label="xor")
    try:
        accept(bytes(raw), last=counter - 1)
    except command.CommandError:
        return
    raise AssertionError(f"accepted a command changed at byte {at}")


@given(COUNTERS, st.integers(0, command.MAX_COUNTER), ACTIONS)
def test_a_counter_not_above_the_last_is_refused(
    counter: int, last: int, action: tuple[str, dict[str, Any]]
) -> None:
    raw = signed(counter, *action)
    if counter > last:
        assert accept(raw, last=last).counter == counter
    else:
        try:
            accept(raw, last=last)
        except command.CommandError as exc:
            assert "replay" in str(exc)
        else:
            raise AssertionError("a replayed counter was accepted")


@given(st.integers(0, 2**40), st.integers(0, 2**40))
def test_an_expired_command_is_refused(expires: int, now: int) -> None:
    raw = signed(1, command.REBIRTH, {}, expires=expires)
    if expires > now:
        assert accept(raw, now=now).action == command.REBIRTH
    else:
        try:
            accept(raw, now=now)
        except command.CommandError as exc:
            assert "expired" in str(exc)
        else:
            raise AssertionError("an expired command was accepted")


HOSTS = st.text("abcdefghijklmnopqrstuvwxyz0123456789.-", min_size=1, max_size=40)


@given(HOSTS, st.none() | st.integers(1, 65535))
def test_servers_outside_the_allowed_list_are_refused(host: str, port: int | None) -> None:
    server = host if port is None else f"{host}:{port}"
    allowed = command.server_allowed(server, ALLOWED)
    assert allowed == (host == "m1.example.ma" or (host == "m2.example.ma" and port == 862))
    raw = signed(1, command.SERVERS, {"servers": [server]})
    try:
        accept(raw)
    except command.CommandError as exc:
        assert not allowed
        assert "not in the allowed servers" in str(exc)
    else:
        assert allowed


# A valid payload with one field replaced by anything (or removed), signed by the real controller
# key: the schema check, not the signature, must refuse what is malformed.
VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**64), 2**64 - 1) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)


@settings(max_examples=300)
@given(ACTIONS, st.integers(0, 8), st.none() | VALUES)
def test_signed_payloads_with_any_field_changed_are_refused_or_well_formed(
    action: tuple[str, dict[str, Any]], key: int, value: Any
) -> None:
    name, args = action
    fields: dict[int, Any] = cbor.loads(command.encode(PROBE, 5, NOW_MS + 1, name, args))  # type: ignore[assignment]
    if value is None:
        fields.pop(key, None)
    else:
        fields[key] = value
    raw = cose.sign1(cbor.dumps(fields), KID, CONTROLLER.sign)
    try:
        cmd = accept(raw)
    except command.CommandError as exc:
        assert str(exc)
        return
    assert cmd.probe == PROBE and cmd.action in command.ACTIONS and cmd.counter >= 1
    assert cmd.expires_ms > NOW_MS
