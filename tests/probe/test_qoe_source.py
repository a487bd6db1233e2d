"""The agent's web and streaming sources: records the schema accepts (CDDL and the codec), one
per server, and a server without an HTTP side recorded as an error, not a crash."""

from __future__ import annotations

import socket

import pycddl
import pytest

from agent.activerun import bytes_used
from agent.config import ConfigError
from agent.core import cbor, record
from agent.probe.qoe_source import make_streaming, make_web
from agent.probe.webserver import PAGE, REFERENCE_OBJECTS, WebServer
from agent.sources import LinkState, Measurement
from tests.probe.test_probe_source import BOARD, SCHEMA, VERSIONS, agent_config, check_records


def _closed_port_pair() -> int:
    """A port P with P + 1 closed too: a server with neither side listening."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1]) - 1


async def test_web_and_streaming_records(reference: WebServer) -> None:
    # The source reaches the HTTP side at the measurement port + 1, as `qiyas server` lays out.
    dead = _closed_port_pair()
    servers = f'"127.0.0.1:{reference.port - 1}", "127.0.0.1:{dead}"'
    cfg = agent_config(f"servers = [{servers}]\nstreaming_duration_s = 5")
    page, no_page = check_records(await make_web(cfg, BOARD).measure(LinkState()), "web")
    assert page["server"] == f"127.0.0.1:{reference.port - 1}" and page["page"] == PAGE
    assert page["complete"] and page["objects"] == len(REFERENCE_OBJECTS)
    assert page["url"] == f"http://127.0.0.1:{reference.port}/{PAGE}/"
    assert (page["address"], page["family"]) == ("127.0.0.1", "ipv4")
    assert no_page["error"].endswith("Connection refused") and "load_ms" not in no_page
    video, no_video = check_records(
        await make_streaming(cfg, BOARD).measure(LinkState()), "streaming"
    )
    assert video["duration_s"] == 5 and video["errors"] == [] and video["segments"] >= 2
    assert video["family"] == "ipv4"
    assert video["startup_ms"] / 1000 + video["played_s"] + video["stall_ms"] / 1000 == (
        pytest.approx(5, abs=0.05)
    )
    assert "Connection refused" in no_video["error"] and no_video["duration_s"] == 5
    # The month's budget counts what the tests fetched (the segments are MBs, not a DNS query).
    assert bytes_used(Measurement("streaming", video)) == video["bytes"] > 100_000
    assert bytes_used(Measurement("web", page)) == page["bytes"] > 1_500_000


async def test_a_server_name_that_does_not_resolve_is_an_error_record() -> None:
    cfg = agent_config('servers = ["nowhere.invalid:8620"]\nstreaming_duration_s = 5')
    (page,) = check_records(await make_web(cfg, BOARD).measure(LinkState()), "web")
    (video,) = check_records(await make_streaming(cfg, BOARD).measure(LinkState()), "streaming")
    for values in (page, video):
        assert values["error"].startswith("no IP address for nowhere.invalid")
        assert "family" not in values and values["url"].startswith("http://nowhere.invalid:8621")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("streaming_duration_s = 1", "probe.streaming_duration_s must be a number in 5..120"),
        ('streaming_duration_s = "30"', "probe.streaming_duration_s must be a number"),
        ("streaming_duration_s = true", "probe.streaming_duration_s must be a number"),
    ],
)
def test_streaming_settings_are_checked(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        make_streaming(agent_config(f'servers = ["127.0.0.1:1"]\n{text}'), BOARD)


def test_the_schema_takes_the_new_kinds_from_version_2_only() -> None:
    least = {"server": "s", "url": "u"}
    for kind, values in (("web", least), ("streaming", {**least, "duration_s": 5})):
        raw = record.encode("p1", 1, 1, 0, False, kind, values, VERSIONS)
        SCHEMA.validate_cbor(raw)
        fields = cbor.loads(raw)
        fields[record.K_VERSION] = 1
        with pytest.raises(pycddl.ValidationError):
            SCHEMA.validate_cbor(cbor.dumps(fields))


def test_a_web_test_needs_a_server() -> None:
    with pytest.raises(ConfigError, match=r"probe\.servers must name a server for the web test"):
        make_web(agent_config(""), BOARD)
