"""The cellular modem: its port answers, then the SIM, the registration and the signal, each read
from the one poll the port check made (a later check skips once an earlier one failed)."""

from __future__ import annotations

import dataclasses

from tools.doctor.results import FAIL, SKIP, WARN, Context, Result, graded, passed

# Signal levels (3GPP TS 36.133/38.133 reporting ranges; operators' usual install targets).
RSRP_GOOD_DBM, RSRP_POOR_DBM = -100.0, -110.0
SINR_GOOD_DB, SINR_POOR_DB = 3.0, 0.0
RSSI_GOOD_DBM, RSSI_POOR_DBM = -85.0, -95.0
# Moroccan networks (MCC 604) by MNC, to catch a SIM of another operator than the site's.
MOROCCO_MNC = {"00": "orange", "01": "maroc-telecom", "02": "inwi"}


def _configured(ctx: Context) -> bool:
    return "radio" in ctx.config.schedule


async def check_modem_port(ctx: Context) -> Result:
    if not _configured(ctx):
        return Result("modem port", SKIP, "no radio polling in [schedule] (no modem)")
    if ctx.modem_trouble:  # ModemManager holds the port: polling it would fight over answers
        return Result("modem port", SKIP, ctx.modem_trouble)
    if ctx.board.section("modem").get("source") == "modemmanager":
        from tools.doctor.modemmanager import check_modem_through_modemmanager

        return await check_modem_through_modemmanager(ctx)
    from agent.modem.driver import ModemDown, ModemDriver, port_exists
    from agent.modem.source import settings

    modem = settings(ctx.config, ctx.board)
    if not port_exists(modem.port):
        return _failed(
            ctx,
            "modem port",
            f"{modem.port} does not exist",
            f"{modem.port} does not exist",
            "check the modem's USB cable and power; ls /dev/serial/by-id/ and set "
            "[modem] port in the config",
        )
    # The doctor looks; it does not power-cycle the modem or wait for a reboot.
    modem.power_cycle_command, modem.boot_wait_s = None, 0.0
    driver = ModemDriver(modem)
    try:
        snapshot = await driver.poll()
    except ModemDown as exc:
        return _failed(
            ctx,
            "modem port",
            "the modem did not answer",
            f"no answer to AT on {modem.port}: {exc}",
            "power-cycle the modem; check that the port is its AT interface and that the "
            "agent is stopped (systemctl stop qiyas-agent)",
        )
    finally:
        await driver.aclose()
    s = snapshot
    reason = f"{s['manufacturer']} {s['model']} ({s['revision']}) on {modem.port}"
    return passed("modem port", reason)._replace(learned=dataclasses.replace(ctx, modem=s))


def _failed(ctx: Context, check: str, trouble: str, reason: str, fix: str) -> Result:
    """A fail whose trouble the modem checks after this one give as their reason to skip."""
    learned = dataclasses.replace(ctx, modem_trouble=trouble)
    return Result(check, FAIL, reason, fix, learned)


def _skipped(ctx: Context, check: str) -> Result | None:
    if not _configured(ctx):
        return Result(check, SKIP, "no modem configured")
    if ctx.modem is None or ctx.modem_trouble:
        return Result(check, SKIP, ctx.modem_trouble or "the modem did not answer")
    return None


async def check_sim(ctx: Context) -> Result:
    if skipped := _skipped(ctx, "SIM"):
        return skipped
    assert ctx.modem is not None
    sim = ctx.modem["sim"]
    if sim["ready"]:
        return passed("SIM", "ready")
    return _failed(
        ctx,
        "SIM",
        "the SIM is not ready",
        f"SIM not ready ({sim['status'] or 'no answer to +CPIN'})",
        "insert the operator's data SIM (contacts down, fully home); if it asks for a PIN, "
        "remove the PIN with a phone",
    )


async def check_registration(ctx: Context) -> Result:
    if skipped := _skipped(ctx, "registration"):
        return skipped
    assert ctx.modem is not None
    reg, op = ctx.modem["registration"], ctx.modem["operator"]
    plmn = f"{op['mcc']}-{op['mnc']}" if op["mcc"] else "no network"
    where = f"{op['name'] or plmn} ({plmn}) on {reg['tech'] or 'unknown technology'}"
    if reg["state"] not in ("home", "roaming"):
        return _failed(
            ctx,
            "registration",
            "the modem is not registered",
            f"not registered (state {reg['state'] or 'unknown'})",
            "check the SIM is active for data and that the operator covers this place; "
            "try the antenna by a window",
        )
    expected = ctx.config.section("site").get("operator")
    actual = MOROCCO_MNC.get(op["mnc"]) if op["mcc"] == "604" else None
    if expected and actual and actual != expected:
        return Result(
            "registration",
            WARN,
            f"registered on {where}, but the site's operator is {expected}",
            "use the site operator's SIM, or correct [site] operator",
        )
    if reg["state"] == "roaming":
        return Result("registration", WARN, f"roaming on {where}", "use a local SIM")
    return passed("registration", where)


async def check_signal(ctx: Context) -> Result:
    if skipped := _skipped(ctx, "signal"):
        return skipped
    assert ctx.modem is not None
    cell = ctx.modem["serving_cell"]
    nr = ctx.modem["nr"] or {}
    rsrp = cell["rsrp_dbm"] if cell["rsrp_dbm"] is not None else nr.get("rsrp_dbm")
    sinr = cell["sinr_db"] if cell["sinr_db"] is not None else nr.get("sinr_db")
    fix = (
        "move the CPE or its antenna higher and towards the serving cell (a window, away "
        "from metal); check the antenna cables; an outdoor antenna if it stays low"
    )
    if rsrp is None and cell["rssi_dbm"] is None:
        return Result("signal", FAIL, "the modem reports no signal level", fix)
    if rsrp is None:
        rssi = cell["rssi_dbm"]
        text = f"RSSI {rssi} dBm (good ≥ {RSSI_GOOD_DBM:g})"
        return graded("signal", text, fix, rssi < RSSI_POOR_DBM, rssi < RSSI_GOOD_DBM)
    text = f"RSRP {rsrp} dBm (good ≥ {RSRP_GOOD_DBM:g})"
    bad, weak = rsrp < RSRP_POOR_DBM, rsrp < RSRP_GOOD_DBM
    if sinr is not None:
        text += f", SINR {sinr} dB (good ≥ {SINR_GOOD_DB:g})"
        bad, weak = bad or sinr < SINR_POOR_DB, weak or sinr < SINR_GOOD_DB
    return graded("signal", text, fix, bad, weak)
