"""The agent's TOML configuration, parsed with bounds and checked with errors that name the key."""

from __future__ import annotations

import copy
import tomllib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from agent.core.errors import InvalidInput
from agent.core.record import valid_probe_id
from agent.schedule_registry import FACTORIES

MAX_CONFIG_BYTES = 64 * 1024
MIN_INTERVAL_S = 1.0
MAX_INTERVAL_S = 7 * 24 * 3600.0

DEFAULT_SCHEDULE = {"health": 300.0}


class ConfigError(InvalidInput):
    """The config file is wrong; the message names the file and the key."""


class BrokerConfig:
    def __init__(self, url: str, ca: str | None, cert: str | None, key: str | None) -> None:
        parts = urlsplit(url)
        try:
            port = parts.port  # raises on a port that is not a number in 0..65535
        except ValueError:
            port = -1
        if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname or port == -1:
            raise ConfigError(
                f"broker.url {url!r} must be mqtt://HOST[:PORT] or mqtts://HOST[:PORT]"
            )
        self.url = url
        self.host: str = parts.hostname
        self.tls = parts.scheme == "mqtts"
        self.port: int = port or (8883 if self.tls else 1883)
        self.ca = ca
        self.cert = cert
        self.key = key


class AgentConfig:
    """What `qiyas agent` needs: identity, state directory, broker, schedule, per-part sections."""

    def __init__(self, data: dict[str, Any], origin: str = "<config>") -> None:
        self.origin = origin
        self.data = data
        probe = data.get("probe_id")
        if not isinstance(probe, str) or not valid_probe_id(probe):
            raise self._error("probe_id", "must be 1..64 of letters, digits, '.', '_', '-'")
        self.probe_id: str = probe
        self.board: str = self._text(data, "board", "generic-linux")
        self.state_dir = Path(self._text(data, "state_dir", "/var/lib/qiyas"))
        self.firmware: str = self._text(data, "firmware", "linux")
        broker = self.section("broker")
        url = self._text(broker, "url", "mqtt://127.0.0.1:1883", "broker.")
        tls_files = [self._path(broker, name, "broker.") for name in ("ca", "cert", "key")]
        try:
            self.broker = BrokerConfig(url, *tls_files)
        except ConfigError as exc:
            raise ConfigError(f"{origin}: {exc}") from None
        outbox = self.section("outbox")
        self.outbox_max_records = self._int(outbox, "max_records", 20000, 10, 10_000_000)
        uplink = self.section("uplink")
        self.ack_timeout_s = float(self._int(uplink, "ack_timeout_s", 30, 1, 3600))
        self.schedule: dict[str, float] = {}
        raw_schedule = data.get("schedule", DEFAULT_SCHEDULE)
        if not isinstance(raw_schedule, dict):
            raise self._error("schedule", "must be a table of NAME = SECONDS")
        for name, seconds in raw_schedule.items():
            if name not in FACTORIES:
                raise self._error(f"schedule.{name}", f"unknown; known: {', '.join(FACTORIES)}")
            if isinstance(seconds, bool) or not isinstance(seconds, (int, float)):
                raise self._error(f"schedule.{name}", "must be a number of seconds")
            if seconds == 0:
                continue  # off
            if not MIN_INTERVAL_S <= seconds <= MAX_INTERVAL_S:
                raise self._error(
                    f"schedule.{name}", f"must be 0 (off) or {MIN_INTERVAL_S:g}..{MAX_INTERVAL_S:g}"
                )
            self.schedule[name] = float(seconds)

    def _error(self, key: str, what: str) -> ConfigError:
        return ConfigError(f"{self.origin}: {key} {what}")

    def section(self, name: str) -> dict[str, Any]:
        value = self.data.get(name, {})
        if not isinstance(value, dict):
            raise self._error(name, "must be a table")
        return value

    def _text(self, table: dict[str, Any], key: str, default: str, prefix: str = "") -> str:
        value = table.get(key, default)
        if not isinstance(value, str) or not value or len(value) > 4096:
            raise self._error(prefix + key, "must be a non-empty text")
        return value

    def _path(self, table: dict[str, Any], key: str, prefix: str = "") -> str | None:
        value = table.get(key)
        if value is not None and (not isinstance(value, str) or not value or len(value) > 4096):
            raise self._error(prefix + key, "must be a file path")
        return value

    def _int(self, table: dict[str, Any], key: str, default: int, lo: int, hi: int) -> int:
        value = table.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
            raise self._error(key, f"must be an integer in {lo}..{hi}")
        return value

    def with_schedule(self, intervals: Mapping[str, float]) -> AgentConfig:
        """A new config, these `[schedule]` intervals changed; checked as the file's were."""
        data = copy.deepcopy(self.data)
        data["schedule"] = {**self.data.get("schedule", DEFAULT_SCHEDULE), **intervals}
        return AgentConfig(data, self.origin)

    def with_servers(self, servers: Sequence[str]) -> AgentConfig:
        """A new config measuring towards these `[probe] servers` (the sources check them)."""
        data = copy.deepcopy(self.data)
        data["probe"] = {**self.section("probe"), "servers": list(servers)}
        return AgentConfig(data, self.origin)

    @property
    def key_path(self) -> Path:
        return self.state_dir / "probe.key"

    @property
    def outbox_path(self) -> Path:
        return self.state_dir / "outbox.db"


def parse(text: str, origin: str = "<config>") -> AgentConfig:
    if len(text.encode()) > MAX_CONFIG_BYTES:
        raise ConfigError(f"{origin}: larger than {MAX_CONFIG_BYTES} bytes")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{origin}: not valid TOML: {exc}") from None
    return AgentConfig(data, origin)


def load(path: str | Path) -> AgentConfig:
    p = Path(path)
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{p}: cannot read: {exc.strerror}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"{p}: not UTF-8 text") from None
    return parse(text, str(p))
