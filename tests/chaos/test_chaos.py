"""Chaos, bounded: three agents produce records every second while, in one run, the broker is
stopped and restarted, the collector is killed -9 while storing a backlog, an agent is killed -9
while publishing one, an outbox's disk fills up, an agent's clock jumps backwards and forwards,
and the agents' link flaps. At the end every record the agents committed is stored exactly once,
and the status records tell of every agent start."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from chaos_run import ChaosRun


@pytest.mark.timeout(180)
def test_every_committed_record_is_stored_exactly_once_through_faults(tmp_path: Path) -> None:
    with ChaosRun(tmp_path, agents=3) as run:
        a, b, c = run.probes
        # First, while its journal still grows (later it may have room inside its own file).
        run.disk_full(b)
        run.broker_outage()
        run.kill_collector_while_storing()
        run.clock_jump(c, -3600)
        run.kill_agent_while_publishing(a)
        run.flap(3)
        run.clock_jump(c, +7200)
        run.broker_outage()
        report = run.settle()
    print(report.as_dict())
    assert report.lost == 0, report.per_probe
    assert report.duplicates == 0, report.per_probe
    assert report.waiting == 0, report.per_probe
    assert report.stored == report.produced > 0
    assert report.births == report.agent_starts  # each start told by its birth record
    expected = {
        "broker restarts": 4,
        "collector kill -9 mid-commit": 1,
        "agent kill -9 mid-publish": 1,
        "clock jump backwards": 1,
        "clock jump forwards": 1,
        "link flaps": 3,
    }
    if os.geteuid() == 0:
        expected["disk full"] = 1
        assert report.per_probe[b.name]["refused_by_disk"] >= 2
    # What the disk refused was never committed, and a status record tells how much.
    assert report.refusals_reported == report.refused_by_disk
    assert dict(report.faults) == expected
