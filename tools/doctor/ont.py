"""The FTTH ONT: it answers (over OMCI, an SFP stick's diagnostics, or the stick's own shell),
then its light levels."""

from __future__ import annotations

import dataclasses
from typing import Any

from tools.doctor.results import FAIL, SKIP, WARN, Context, Result, passed

# GPON class B+ (ITU-T G.984.2) levels, used when the ONT does not give its own thresholds.
GPON_RX_DBM = (-28.0, -8.0)
GPON_TX_DBM = (0.5, 5.0)
RX_MARGIN_DB = 2.0  # closer than this to the low limit: works today, fails with the next bend


async def check_ont(ctx: Context) -> Result:
    if "optical" not in ctx.config.schedule:
        return Result("ONT", SKIP, "no optical polling in [schedule] (no ONT)")
    from agent.ont.driver import poll_ont
    from agent.ont.session import OmciError
    from agent.ont.sfp_source import SfpSource
    from agent.ont.source import make
    from agent.ont.stick_source import StickShellSource

    source = make(ctx.config, ctx.board)
    if isinstance(source, SfpSource):
        return await _check_sfp(ctx, source.iface)
    if isinstance(source, StickShellSource):
        return await _check_stick(ctx, source)
    try:
        reading, _ = await poll_ont(
            source.transport, timeout_s=source.timeout_s, retries=source.retries
        )
    except (OmciError, OSError, ValueError) as exc:
        return Result(
            "ONT",
            FAIL,
            f"no OMCI answer on {source.transport}: {exc}",
            "check the ONT is powered and its LAN/management port is cabled to this board; "
            "[ont] transport must name that interface",
        )
    reason = f"{reading['vendor_id']} {reading['equipment_id']} on {source.transport}"
    return passed("ONT", reason)._replace(learned=dataclasses.replace(ctx, ont=reading))


async def _check_sfp(ctx: Context, iface: str) -> Result:
    """The board's optics are an SFP ONT stick's own diagnostics (docs/ont.md)."""
    from agent.ont import sfp

    try:
        module = sfp.decode(await sfp.read_module_eeprom(iface))
    except sfp.EepromError as exc:
        return Result(
            "ONT", FAIL, f"no SFP module diagnostics on {iface}: {exc}",
            "check the SFP ONT stick is seated in the cage and [ont] iface names its port",
        )  # fmt: skip
    name = " ".join(filter(None, (module["vendor_name"], module["part_number"])))
    reason = f"SFP {name or 'module'} on {iface} ({module['diagnostics']})"
    return passed("ONT", reason)._replace(learned=dataclasses.replace(ctx, ont={"optical": module}))


async def _check_stick(ctx: Context, source: Any) -> Result:
    """The board's optics are the stick's own readings through its shell (docs/ont.md)."""
    from agent.ont import stick_shell, stick_source
    from agent.ont.stick_ssh import StickShellError

    target = source.target
    where = f"{source.dialect} stick at {target.user}@{target.host}:{target.port}"
    try:
        reading = await stick_source.read(target, source.dialect)
    except (StickShellError, stick_shell.ShellOutputError) as exc:
        return Result(
            "ONT", FAIL, f"no reading from the {where}: {exc}",
            "check the stick answers SSH at [ont] host with the agent's key ([ont] identity), "
            "that its host key is in [ont] known_hosts, and that [ont] dialect is its stack",
        )  # fmt: skip
    learned = dataclasses.replace(ctx, ont={"optical": reading["optical"]})
    state = reading.get("ploam_state")
    if "ploam_state" in reading and state != "O5":
        why = reading["unknown"].get("ploam_state", "")
        return Result(
            "ONT", WARN, f"the {where} answers but is in PLOAM state {state or why}, not O5",
            "the OLT has not taken the stick into service: check its serial number / PLOAM "
            "password with the operator, and the fibre",
            learned,
        )  # fmt: skip
    olt = reading.get("olt_vendor_id")
    reason = where + (f", PLOAM {state}" if state else "") + (f", OLT {olt}" if olt else "")
    return passed("ONT", reason)._replace(learned=learned)


async def check_optical(ctx: Context) -> Result:
    if ctx.ont is None:
        return Result("optical levels", SKIP, "no ONT reading")
    optical = ctx.ont["optical"]
    rx, tx = optical.get("rx_dbm"), optical.get("tx_dbm")
    rx_lo = _limit(optical, "rx_low_threshold_dbm", GPON_RX_DBM[0])
    rx_hi = _limit(optical, "rx_high_threshold_dbm", GPON_RX_DBM[1])
    tx_lo = _limit(optical, "tx_low_threshold_dbm", GPON_TX_DBM[0])
    tx_hi = _limit(optical, "tx_high_threshold_dbm", GPON_TX_DBM[1])
    if rx is None or tx is None:
        return Result("optical levels", FAIL, "the ONT gives no optical level", "")
    text = f"RX {rx:.1f} dBm (limits {rx_lo:g}..{rx_hi:g}), TX {tx:.1f} dBm"
    if rx < rx_lo:
        return Result(
            "optical levels",
            FAIL,
            f"{text}: received light too low",
            "clean the fibre connector and the ONT's optical port (one-click cleaner), "
            "check the drop cable for tight bends; if still low, the operator must repair "
            "the line",
        )
    if rx > rx_hi:
        return Result(
            "optical levels", FAIL, f"{text}: received light too strong", "fit an attenuator"
        )
    if not tx_lo <= tx <= tx_hi:
        return Result(
            "optical levels",
            FAIL,
            f"{text}: transmit level outside {tx_lo:g}..{tx_hi:g}",
            "the ONT's laser is failing: the operator must replace the ONT",
        )
    if rx < rx_lo + RX_MARGIN_DB:
        return Result(
            "optical levels",
            WARN,
            f"{text}: within {RX_MARGIN_DB:g} dB of the low limit",
            "clean the connectors now, before it drops out",
        )
    return passed("optical levels", text)


def _limit(optical: dict[str, Any], key: str, default: float) -> float:
    value = optical.get(key)
    return float(value) if value is not None else default
