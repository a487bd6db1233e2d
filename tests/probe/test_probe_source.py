"""The agent's probe sources: `[probe]` checked with errors naming the key, records that the
schema accepts, and the cross-traffic pause on a real shaped link."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pycddl
import pytest

from agent import config
from agent.boards import Board
from agent.core import record
from agent.probe import control
from agent.probe.capacity import measure_direction
from agent.probe.endpoint import Endpoint
from agent.probe.server import MeasurementServer
from agent.probe.source import ProbeSettings, make_capacity, make_dns, make_latency
from agent.sources import LinkState, Measurement
from hil.link import ShapedLink

SCHEMA = pycddl.Schema((Path(record.__file__).parent / "record.cddl").read_text())
BOARD = Board("test", {})
VERSIONS = {"agent": "test", "board": "test", "firmware": "test"}


def agent_config(probe: str) -> config.AgentConfig:
    return config.parse(f'probe_id = "p1"\n[probe]\n{probe}\n', "qiyas.toml")


def check_records(measurements: list[Measurement], kind: str) -> list[dict[str, Any]]:
    """Each measurement as the collector will see it: encoded, decoded, valid per the CDDL."""
    out = []
    for seq, m in enumerate(measurements):
        assert m.kind == kind
        raw = record.encode("p1", 1, seq, 0, False, m.kind, m.values, VERSIONS)
        SCHEMA.validate_cbor(raw)
        out.append(record.decode(raw)["values"])
    return out


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('servers = "a"', "probe.servers must be a list"),
        ('servers = ["a b"]', "probe.servers has 'a b'"),
        ('servers = ["a:99999"]', "probe.servers has 'a:99999': port must be"),
        ("duration_s = 100", r"probe.duration_s must be a number in 2..30"),
        ("streams = 2.5", "probe.streams must be an integer"),
        ("stamp_count = 0", "probe.stamp_count must be an integer in 1..1000"),
        ('tcp_targets = ["example.net"]', "probe.tcp_targets has 'example.net' without a :PORT"),
        ('dns_targets = ["a/b"]', "probe.dns_targets has 'a/b', which is not a host name"),
        ("cross_traffic_kbps = 500", "probe.interface is needed"),
        ("interface = 3", "probe.interface must be"),
    ],
)
def test_bad_probe_config_is_named(text: str, message: str) -> None:
    with pytest.raises(config.ConfigError, match=f"qiyas.toml: {message}"):
        ProbeSettings(agent_config(text))


def test_measurement_needs_a_configured_server() -> None:
    with pytest.raises(config.ConfigError, match=r"probe\.servers must name at least one"):
        make_latency(agent_config(""), BOARD)
    with pytest.raises(config.ConfigError, match="must name a target"):
        make_dns(agent_config(""), BOARD)


async def test_latency_and_dns_records(server: MeasurementServer) -> None:
    cfg = agent_config(
        f'servers = ["127.0.0.1:{server.port}"]\nstamp_count = 10\nstamp_interval_ms = 5\n'
        f'dns_targets = ["localhost"]\ndns_resolver = "127.0.0.1:1"\n'
        f'tcp_targets = ["127.0.0.1:{server.port}", "127.0.0.1:1"]'
    )
    source = make_latency(cfg, BOARD)
    (lat,) = check_records(await source.measure(LinkState()), "latency")
    assert lat["server"] == f"127.0.0.1:{server.port}"
    assert (lat["sent"], lat["received"], lat["loss"]) == (10, 10, 0.0)
    assert 0 < lat["rtt_ms_min"] <= lat["rtt_ms_median"] <= lat["rtt_ms_p95"] < 50
    resolved, direct, connected, refused = check_records(
        await make_dns(cfg, BOARD).measure(LinkState()), "dns"
    )
    assert resolved["target"] == "localhost" and resolved["addresses"] >= 1
    assert 0 <= resolved["app_resolve_ms"] < 5000
    # The direct query goes to the configured resolver, not through getaddrinfo: none there.
    assert direct["resolver"] == "127.0.0.1:1" and direct["error"] == "Connection refused"
    assert 0 < connected["connect_ms"] < 1000 and "error" not in connected
    assert refused["error"] == "Connection refused" and "connect_ms" not in refused


async def test_capacity_record(server: MeasurementServer) -> None:
    cfg = agent_config(f'servers = ["127.0.0.1:{server.port}"]\nduration_s = 2\nstreams = 2')
    (cap,) = check_records(await make_capacity(cfg, BOARD).measure(LinkState()), "capacity")
    for direction in ("down", "up"):
        assert cap[f"{direction}_mbps"] > 100
        assert cap[f"{direction}_bytes"] > 0
        assert cap[f"{direction}_warmup_s"] >= 0.5
        assert len(cap[f"{direction}_series_mbps"]) >= 10
        assert cap[f"loaded_rtt_ms_median_{direction}"] is not None
    assert cap["streams"] == 2 and cap["rtt_ms_median_idle"] > 0


async def test_capacity_tries_the_next_server_when_one_refuses(server: MeasurementServer) -> None:
    cfg = agent_config(
        f'servers = ["127.0.0.1:1", "127.0.0.1:{server.port}"]\nduration_s = 2\nstreams = 1\n'
        "stamp_interval_ms = 5"
    )
    (cap,) = check_records(await make_capacity(cfg, BOARD).measure(LinkState()), "capacity")
    assert cap["server"] == f"127.0.0.1:{server.port}" and cap["down_mbps"] > 0


@pytest.mark.netns
def test_household_traffic_pauses_a_capacity_test(link20: ShapedLink, server20: int) -> None:
    cfg = agent_config(
        f'servers = ["{link20.addr_b}:{server20}"]\n'
        f'cross_traffic_kbps = 2000\ninterface = "{link20.iface}"'
    )

    async def household_downloads_meanwhile() -> list[Measurement]:
        started = asyncio.Event()
        download = asyncio.create_task(
            measure_direction(
                Endpoint(link20.addr_b, server20), control.DOWN, 2, 3.0, lambda t, m: started.set()
            )
        )
        await asyncio.wait_for(started.wait(), 10)
        try:
            return await make_capacity(cfg, BOARD).measure(LinkState())
        finally:
            await download

    # Inside the household namespace, so the counters are those of its side of the link.
    (cap,) = check_records(
        link20.call("a", asyncio.run, household_downloads_meanwhile()), "capacity"
    )
    assert cap["skipped"] == "cross-traffic"
    assert 10 < cap["cross_traffic_mbps"] < 25  # the 20 Mbit/s download, plus its ACKs
    assert "down_mbps" not in cap
