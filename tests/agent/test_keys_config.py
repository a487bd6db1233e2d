"""The probe key stays private (0600) and stable; the config names what is wrong."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent import config, keys
from agent.core.keyid import kid_for


def test_key_created_0600_and_reloaded(tmp_path: Path) -> None:
    path = tmp_path / "state" / "probe.key"
    made = keys.load_or_create(path)
    assert path.stat().st_mode & 0o777 == 0o600
    again = keys.load_or_create(path)
    assert again.public_key == made.public_key
    assert made.kid == kid_for(made.public_key)
    assert len(made.kid) == 8


def test_key_readable_by_others_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "probe.key"
    keys.load_or_create(path)
    path.chmod(0o644)
    with pytest.raises(keys.KeyFileError, match="chmod 600"):
        keys.load_or_create(path)


GOOD = """
probe_id = "ma-cas-0001"
state_dir = "/tmp/x"
[broker]
url = "mqtts://collector.example:8883"
ca = "/etc/qiyas/ca.pem"
[schedule]
health = 60
radio = 0
"""


def test_config_parses() -> None:
    cfg = config.parse(GOOD)
    assert cfg.probe_id == "ma-cas-0001"
    assert cfg.broker.tls and cfg.broker.port == 8883 and cfg.broker.host == "collector.example"
    assert cfg.schedule == {"health": 60.0}  # 0 means off


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ("probe_id = 'a/b'", "probe_id"),
        ("probe_id = 'a'\n[broker]\nurl = 'http://x'", "broker.url"),
        ("probe_id = 'a'\n[schedule]\nhealth = 0.1", "schedule.health"),
        ("probe_id = 'a'\n[schedule]\nteleport = 5", "schedule.teleport"),
        ("probe_id = 'a'\n[outbox]\nmax_records = -1", "max_records"),
        ("probe_id = = 'a'", "not valid TOML"),
    ],
)
def test_config_errors_name_the_key(text: str, names: str) -> None:
    with pytest.raises(config.ConfigError, match=names.replace(".", r"\.")):
        config.parse(text, "agent.toml")
