"""The `optical` source for an SFP ONT stick read through its own shell over SSH (docs/ont.md).

Board profile or agent config, `[ont]`: `source = "stick-shell"`, `host` (the stick's management
address), `dialect` ("lantiq" or "realtek", agent/ont/stick_shell.py); the agent config adds
`user` (default "root"), `identity` (private key file), `known_hosts`, `ssh_config`, `port` (22)
and `command_timeout_s` (10, per command: its own key, since `timeout_s` is the OMCI
per-frame timeout a board profile may set to 1 s, far too short for an SSH login on a stick).
Keys only: BatchMode never asks for a password.
"""

from __future__ import annotations

from typing import Any

from agent.config import ConfigError
from agent.ont import procedures, stick_shell, stick_ssh
from agent.ont.stick_ssh import SshTarget, StickShellError
from agent.sources import LinkState, Measurement

LEVEL_KEYS = ("rx_dbm", "tx_dbm", "temperature_c", "bias_ma", "voltage_v")


def record_values(reading: dict[str, Any]) -> dict[str, Any]:
    """What of a stick's reading goes into the `optical` record: the known levels, the
    thresholds crossed, the source, and the PLOAM state and OLT vendor where the dialect gives
    them."""
    optical = reading["optical"]
    values: dict[str, Any] = {k: v for k, v in optical.items() if v is not None}
    values["thresholds_crossed"] = procedures.thresholds_crossed(optical)
    values["optical_source"] = "stick-shell"
    for key in ("ploam_state", "olt_vendor_id"):
        if reading.get(key):
            values[key] = reading[key]
    return values


async def read(target: SshTarget, dialect: str) -> dict[str, Any]:
    """One reading of the stick: its commands over SSH, parsed (stick_shell.reading)."""
    outputs = await stick_ssh.read_outputs(target, stick_shell.COMMANDS[dialect])
    return stick_shell.reading(dialect, outputs)


class StickShellSource:
    def __init__(self, target: SshTarget, dialect: str) -> None:
        self.target = target.check()
        self.dialect = dialect

    async def measure(self, link: LinkState) -> list[Measurement]:
        try:
            reading = await read(self.target, self.dialect)
        except (StickShellError, stick_shell.ShellOutputError):
            link.optical = None  # an old level must not pass for the current one
            raise
        optical = reading["optical"]
        link.optical = {k: optical[k] for k in LEVEL_KEYS if optical.get(k) is not None} or None
        return [Measurement("optical", record_values(reading))]

    async def aclose(self) -> None:
        return None


def make(ont: dict[str, Any], where: str) -> StickShellSource:
    """The source from the merged `[ont]` section; ConfigError names the bad key."""
    dialect = ont.get("dialect")
    if dialect not in stick_shell.DIALECTS:
        raise ConfigError(f"{where}: dialect must be one of {', '.join(stick_shell.DIALECTS)}")
    texts = {}
    for key in ("host", "user", "identity", "known_hosts", "ssh_config"):
        value = ont.get(key)
        if value is not None and (not isinstance(value, str) or not value):
            raise ConfigError(f"{where}: {key} must be a non-empty string")
        texts[key] = value
    if texts["host"] is None:
        raise ConfigError(f'{where}: source "stick-shell" needs host, the stick\'s address')
    port, timeout_s = ont.get("port", 22), ont.get("command_timeout_s", 10.0)
    if isinstance(port, bool) or not isinstance(port, int):
        raise ConfigError(f"{where}: port must be an integer")
    if isinstance(timeout_s, bool) or not isinstance(timeout_s, (int, float)):
        raise ConfigError(f"{where}: command_timeout_s must be a number of seconds")
    target = SshTarget(
        texts["host"], texts["user"] or "root", port, texts["identity"], texts["known_hosts"],
        texts["ssh_config"], float(timeout_s),
    )  # fmt: skip
    try:
        return StickShellSource(target, dialect)
    except StickShellError as exc:
        raise ConfigError(f"{where}: {exc}") from None
