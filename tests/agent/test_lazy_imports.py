"""The agent imports what its configuration uses (DESIGN principle 7): a source's module, the
command handler and the status page are loaded only where they are configured, so a capability
costs memory only on the probes that switch it on. Each case is a fresh interpreter building
the agent from its config; tests/bench/bench_footprint.py --only measures what that saves."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
BUILD = """
import json, sys
from agent import config
from agent.supervisor import Agent
agent = Agent(config.load(sys.argv[1]))
agent.outbox.close()
print(json.dumps(sorted(m for m in sys.modules if m.startswith("agent."))))
"""
# What only some configurations use: each source's own modules, commands, the status page.
OPTIONAL = {
    "radio": "agent.modem.source",
    "optical": "agent.ont.source",
    "latency": "agent.probe.source",
    "capacity": "agent.probe.capacity",
    "dns": "agent.probe.dns",
    "health": "agent.health",
    "commands": "agent.commands",
    "statuspage": "agent.statuspage",
}
CONTROLLER_KEY = "11" * 32


def loaded(tmp_path: Path, toml: str) -> set[str]:
    path = tmp_path / "agent.toml"
    path.write_text(
        f'probe_id = "lazy-1"\nstate_dir = "{tmp_path / "state"}"\n'
        '[broker]\nurl = "mqtt://127.0.0.1:1"\n[modem]\nport = "loop://"\n' + toml
    )
    done = subprocess.run(
        [sys.executable, "-c", BUILD, str(path)],
        cwd=REPO, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    modules: list[str] = json.loads(done.stdout)
    return {name for name, module in OPTIONAL.items() if module in modules}


def test_a_modem_only_probe_loads_no_other_source_nor_page(tmp_path: Path) -> None:
    assert loaded(tmp_path, "[schedule]\nradio = 60\n") == {"radio"}


def test_each_capability_is_loaded_where_it_is_configured(tmp_path: Path) -> None:
    toml = (
        "[schedule]\nradio = 60\nlatency = 600\nhealth = 300\n"
        '[probe]\nservers = ["m1.example.ma:862"]\n'
        f'[commands]\ncontroller_key = "{CONTROLLER_KEY}"\n'
        '[statuspage]\nlisten = "127.0.0.1:8080"\n'
    )
    # latency shares agent/probe/source.py with capacity and dns, not their modules
    assert loaded(tmp_path, toml) == set(OPTIONAL) - {"optical", "capacity", "dns"}
