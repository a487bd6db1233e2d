"""agent.control as the supervisor implements it: changes build a new config, never edit the one
in force, and a change the sources refuse leaves everything as it was."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from agent import config as config_mod
from agent.control import ControlError
from agent.supervisor import Agent
from hil.fleet import write_agent_config


@pytest.fixture
def agent(tmp_path: Path) -> Iterator[Agent]:
    path = write_agent_config(
        tmp_path,
        "probe-control",
        "mqtt://127.0.0.1:1",
        {"health": 300, "latency": 600},
        extra='[probe]\nservers = ["m1.example.ma:862"]\n',
    )
    made = Agent(config_mod.load(path))
    yield made
    made.outbox.close()


def test_new_intervals_are_a_new_config(agent: Agent) -> None:
    before = agent.config
    agent.set_intervals({"health": 42.0})
    assert agent.config is not before
    assert agent.config.schedule == {"health": 42.0, "latency": 600.0}
    assert before.schedule == {"health": 300.0, "latency": 600.0}
    assert before.data["schedule"]["health"] == 300  # the parsed file is not edited either
    assert agent.status().schedule_s == {"health": 42.0, "latency": 600.0}


def test_an_interval_for_a_source_not_scheduled_changes_nothing(agent: Agent) -> None:
    before = agent.config
    with pytest.raises(ControlError, match="not scheduled on this probe: dns"):
        agent.set_intervals({"health": 42.0, "dns": 60.0})
    assert agent.config is before


async def test_retargeting_rebuilds_the_server_sources_from_a_new_config(agent: Agent) -> None:
    before, old_source = agent.config, agent.sources["latency"]
    assert await agent.retarget(["m2.example.ma:862"]) == ["latency"]
    assert agent.config.section("probe")["servers"] == ["m2.example.ma:862"]
    assert before.section("probe")["servers"] == ["m1.example.ma:862"]
    assert agent.sources["latency"] is not old_source
    assert [str(s) for s in agent.sources["latency"].servers] == ["m2.example.ma:862"]  # type: ignore[attr-defined]


async def test_servers_the_sources_refuse_change_nothing(agent: Agent) -> None:
    before, old_source = agent.config, agent.sources["latency"]
    with pytest.raises(ControlError, match="must name at least one measurement server"):
        await agent.retarget([])
    assert agent.config is before and agent.sources["latency"] is old_source


def test_status_reads_the_pause_and_the_outbox(agent: Agent) -> None:
    status = agent.status()
    assert (status.probe, status.connected, status.paused_until) == ("probe-control", False, None)
    assert (status.waiting, status.oldest_waiting_s) == (0, None)
    agent.pause(600)
    status = agent.status()
    assert status.paused_until == pytest.approx(agent.paused_until)
    assert status.waiting == 1  # the `paused` status record
    assert status.oldest_waiting_s is not None and status.oldest_waiting_s >= 0
    agent.resume()
    assert agent.status().paused_until is None
