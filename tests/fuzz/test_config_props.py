"""Hostile and random agent configuration files: a ConfigError naming the file, or a config that
holds what the file said — never another exception (a technician reads this error, not a trace)."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from agent import commands
from agent.config import ConfigError, parse

ORIGIN = "/etc/qiyas/agent.toml"


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string is a TOML basic string for these characters
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return repr(value)


def toml_document(top: dict[str, Any], tables: dict[str, dict[str, Any]]) -> str:
    lines = [f"{json.dumps(k)} = {toml_value(v)}" for k, v in top.items()]
    for name, table in tables.items():
        lines.append(f"[{json.dumps(name)}]")
        lines += [f"{json.dumps(k)} = {toml_value(v)}" for k, v in table.items()]
    return "\n".join(lines) + "\n"


TEXT = st.text(st.characters(codec="utf-8", exclude_categories=["Cs", "Cc"]), max_size=30)
SCALAR = (
    st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | TEXT
)
ANY_VALUE = SCALAR | st.lists(SCALAR, max_size=4)


def maybe(values: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Mostly plausible values, sometimes anything."""
    return st.one_of(values, values, ANY_VALUE)


URLS = st.sampled_from(
    ["mqtt://127.0.0.1:1883", "mqtts://broker.example.ma", "mqtt://h:0", "mqtt://h:99999",
     "mqtt://[::1]:1883", "http://x", "mqtt://", "mqtt://h:port"]
)  # fmt: skip
SCHEDULE = st.dictionaries(
    st.sampled_from(["health", "radio", "latency", "nosuch"]),
    maybe(st.sampled_from([0, 0.5, 1, 60, 300.0, 10**9])),
    max_size=3,
)
COMMANDS = st.fixed_dictionaries(
    {},
    optional={
        "controller_key": maybe(st.sampled_from(["ab" * 32, "ab" * 31, "zz" * 32, ""])),
        "allowed_servers": maybe(
            st.lists(st.sampled_from(["m1.example.ma", "m1:862", "m1:0", "a b", "[::1]:862"]))
        ),
    },
)
TLS_FILES = ("ca", "cert", "key")
DOCUMENTS = st.tuples(
    st.fixed_dictionaries(
        {},
        optional={
            "probe_id": maybe(st.sampled_from(["probe-1", "p.2_x", "", "a/b", "x" * 65])),
            "board": maybe(st.just("generic-linux")),
            "state_dir": maybe(st.just("/var/lib/qiyas")),
            "firmware": maybe(st.just("linux")),
        },
    ),
    st.fixed_dictionaries(
        {},
        optional={
            "broker": st.fixed_dictionaries(
                {},
                optional={
                    "url": maybe(URLS),
                    **{name: maybe(st.just(f"/etc/qiyas/{name}.pem")) for name in TLS_FILES},
                },
            ),
            "outbox": st.fixed_dictionaries({}, optional={"max_records": maybe(st.integers())}),
            "uplink": st.fixed_dictionaries({}, optional={"ack_timeout_s": maybe(st.integers())}),
            "schedule": SCHEDULE,
            "commands": COMMANDS,
        },
    ),
)


@settings(max_examples=300)
@given(DOCUMENTS)
def test_a_config_is_refused_with_the_file_named_or_holds_what_it_says(
    document: tuple[dict[str, Any], dict[str, dict[str, Any]]],
) -> None:
    top, tables = document
    try:
        config = parse(toml_document(top, tables), ORIGIN)
        settings_ = commands.parse_config(config)
    except ConfigError as exc:
        assert str(exc).startswith(ORIGIN + ": "), exc
        return
    assert config.probe_id == top["probe_id"]
    assert config.broker.url == tables.get("broker", {}).get("url", "mqtt://127.0.0.1:1883")
    assert 1 <= config.broker.port <= 65535
    for name in TLS_FILES:
        assert getattr(config.broker, name) == tables.get("broker", {}).get(name)
    for name, seconds in tables.get("schedule", {}).items():
        assert config.schedule.get(name, 0) == seconds
    if settings_ is not None:
        assert settings_.controller_key.hex() == tables["commands"]["controller_key"]


@given(st.text(max_size=500))
def test_any_text_is_a_config_or_a_config_error(text: str) -> None:
    try:
        parse(text, ORIGIN)
    except ConfigError as exc:
        assert str(exc).startswith(ORIGIN + ": ")


@given(st.binary(max_size=200))
def test_tables_where_values_belong_are_config_errors(junk: bytes) -> None:
    text = f'probe_id = "p"\nbroker = {json.dumps(junk.hex())}\n'
    try:
        parse(text, ORIGIN)
    except ConfigError as exc:
        assert "broker must be a table" in str(exc)
    else:
        raise AssertionError("a text where the broker table belongs was accepted")
