"""The `optical` source: poll the ONT over OMCI, keep the link's optical context, report levels.

The board profile's `[ont]` names the transport; the agent config's `[ont]` may override it and
set `timeout_s`, `retries`, `extended` ("auto", the default: as the ONU2-G OMCC version says; or
true / false) and `session_key` (32 hex digits: the OMCI session key the
extended messages' MIC is derived from; without it, the lab key of the emulator).
Each measurement is one full poll (procedures.poll).
FEC counts are reported as what was corrected / uncorrectable since the previous record, so the
first record after a start has none (unknown, not 0). `pm_intervals` lists the 15-minute PM
intervals that closed since the previous record (agent/ont/pm.py). `lab = true` lets the poll
create PM MEs and synchronise the ONT's time: never against an operator's ONT.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from agent.boards import Board
from agent.config import AgentConfig, ConfigError
from agent.ont import frames, messages, procedures, stick_source
from agent.ont.driver import poll_ont
from agent.ont.entities import ANI_G, ANI_G_ALARMS
from agent.ont.pm import PmTracker
from agent.ont.sfp_source import SfpSource
from agent.ont.stick_source import StickShellSource
from agent.ont.transport import TransportError, parse_url
from agent.sources import LinkState, Measurement

LEVEL_KEYS = ("rx_dbm", "tx_dbm", "temperature_c", "bias_ma", "voltage_v")
# Identity that says which kind of ONT measured; its serial number stays home, like an IMEI.
IDENTITY_KEYS = ("vendor_id", "equipment_id")
FEC_KEYS = {
    "corrected_code_words": "fec_corrected_codewords",
    "uncorrectable_code_words": "fec_uncorrectable_codewords",
    "corrected_bytes": "fec_corrected_bytes",
}


def fec_since(previous: dict[str, Any] | None, current: dict[str, Any]) -> dict[str, int]:
    """Counts since the previous reading. PM counters restart at each 15-min interval (and at a
    reboot): a counter that went down restarted, so what it holds now is all that is new."""
    if previous is None:
        return {}
    since = {}
    for key, name in FEC_KEYS.items():
        now, before = current.get(key), previous.get(key)
        if now is None or before is None:
            continue
        restarted = now < before or current.get("interval_end_time") != previous.get(
            "interval_end_time"
        )
        since[name] = now if restarted else now - before
    return since


class OpticalSource:
    def __init__(
        self,
        transport: str,
        timeout_s: float,
        retries: int,
        extended: bool | None,
        session_key: bytes = frames.LAB_SESSION_KEY,
        *,
        lab: bool = False,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.lab = lab  # Create and Synchronize Time allowed: an emulator or a lab OLT only
        self.clock = clock
        self._pm = PmTracker()
        self.transport = transport
        self.timeout_s = timeout_s
        self.retries = retries
        self.extended = extended
        self.session_key = session_key
        self._last_fec: dict[str, Any] | None = None

    async def measure(self, link: LinkState) -> list[Measurement]:
        try:
            reading, runner = await poll_ont(
                self.transport,
                timeout_s=self.timeout_s,
                retries=self.retries,
                extended=self.extended,
                session_key=self.session_key,
                lab=self.lab,
            )
        except Exception:
            link.optical = None  # an old level must not pass for the current one
            raise
        optical = reading["optical"]
        context = {k: optical[k] for k in LEVEL_KEYS if optical.get(k) is not None}
        context.update({k: reading[k] for k in IDENTITY_KEYS if reading.get(k) is not None})
        link.optical = context or None
        values: dict[str, Any] = {k: v for k, v in optical.items() if v is not None}
        values.update({k: reading[k] for k in IDENTITY_KEYS if reading.get(k) is not None})
        active = [s["version"] for s in reading["software"] if s.get("active") and s["version"]]
        if active:
            values["software_version"] = active[0]
        values["thresholds_crossed"] = procedures.thresholds_crossed(optical)
        # standing at the poll (Get all alarms), or raised while it ran (alarm notifications)
        raised = {
            ANI_G_ALARMS.get(n, f"alarm_{n}")
            for e in runner.notifications
            if isinstance(e.detail, messages.Alarm) and e.detail.me_class == ANI_G.class_id
            for n in e.detail.alarms
        }
        alarms = sorted(set(reading["alarms"]) | raised)
        if alarms:
            values["ani_alarms"] = alarms
        fec = reading.get("fec")
        if fec is not None:
            values.update(fec_since(self._last_fec, fec))
            self._last_fec = fec
        intervals = self._pm.update(reading["pm_history"], self.clock())
        if intervals:
            values["pm_intervals"] = intervals
        values["omci_retransmitted"] = runner.stats.retransmitted
        values["omci_dropped"] = runner.stats.dropped
        return [Measurement("optical", values)]

    async def aclose(self) -> None:
        return None


OPTICAL_SOURCES = ("omci", "sfp", "stick-shell")


def make(config: AgentConfig, board: Board) -> OpticalSource | SfpSource | StickShellSource:
    """`[ont] source` says where the optics are read: "omci" (the default: the ONT's management
    channel), "sfp" (an SFP ONT stick's own diagnostics) or "stick-shell" (the stick's own
    readings through its shell over SSH), docs/ont.md."""
    ont = {**board.section("ont"), **config.section("ont")}
    where = f"{config.origin} [ont] or board {board.name} [ont]"
    source = ont.get("source", "omci")
    if source not in OPTICAL_SOURCES:
        raise ConfigError(f"{where}: source must be one of {', '.join(OPTICAL_SOURCES)}")
    if source == "sfp":
        iface = ont.get("iface")
        if not isinstance(iface, str) or not iface or len(iface) > 15 or "/" in iface:
            raise ConfigError(f'{where}: source "sfp" needs iface, the interface name')
        return SfpSource(iface)
    if source == "stick-shell":
        return stick_source.make(ont, where)
    transport = ont.get("transport")
    if not isinstance(transport, str):
        raise ConfigError(f"{where}: transport must be udp://HOST:PORT or eth:IFACE")
    try:
        parse_url(transport)
    except TransportError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    timeout_s, retries = ont.get("timeout_s", 1.0), ont.get("retries", 2)
    if isinstance(timeout_s, bool) or not isinstance(timeout_s, (int, float)):
        raise ConfigError(f"{where}: timeout_s must be a number of seconds")
    if not 0.05 <= timeout_s <= 30:
        raise ConfigError(f"{where}: timeout_s must be 0.05..30")
    if isinstance(retries, bool) or not isinstance(retries, int) or not 0 <= retries <= 10:
        raise ConfigError(f"{where}: retries must be an integer 0..10")
    extended = ont.get("extended", "auto")
    if extended == "auto":
        extended = None
    elif not isinstance(extended, bool):
        raise ConfigError(f'{where}: extended must be "auto", true or false')
    key = ont.get("session_key", frames.LAB_SESSION_KEY.hex())
    try:
        session_key = bytes.fromhex(key) if isinstance(key, str) else b""
    except ValueError:
        session_key = b""
    if len(session_key) != 16:
        raise ConfigError(f"{where}: session_key must be 32 hex digits")
    lab = ont.get("lab", False)
    if not isinstance(lab, bool):
        raise ConfigError(f"{where}: lab must be true or false")
    return OpticalSource(transport, float(timeout_s), retries, extended, session_key, lab=lab)
