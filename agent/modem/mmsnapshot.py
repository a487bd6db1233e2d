"""ModemManager's view of a modem -> the normalised radio snapshot (agent/core/radio.py).

Sans-IO: the input is what ModemManager's D-Bus interfaces hold for one modem, already unwrapped
from their variants (interface name -> property name -> value, as GetManagedObjects gives them)
and the answer of Modem.GetCellInfo(); the output is the snapshot `qiyas modem info --json`
prints for the AT path, with `dialect` = "modemmanager". Every field ModemManager does not give,
or gives in a form that cannot be read with certainty, is None and named in `null_reasons`
(field path -> why), so a reader can tell "ModemManager cannot say" from "the modem said nothing".

Numbers and meanings are ModemManager's own: the enums of ModemManager-enums.h (MMModemLock,
MMModemState, MMModemAccessTechnology, MMModem3gppRegistrationState, MMCellType) and the keys
documented in its introspection XML (org.freedesktop.ModemManager1.Modem.xml GetCellInfo,
org.freedesktop.ModemManager1.Modem.Signal.xml Lte/Nr5g/Umts/Gsm).
"""

from __future__ import annotations

import math
from typing import Any, TypeGuard

from agent.core.dialects.fields import hexadecimal, plmn
from agent.core.dialects.generic import registration_state
from agent.core.radio import CELL_KEYS, new_cell, new_snapshot

MM = "org.freedesktop.ModemManager1"
MODEM = MM + ".Modem"
MODEM_3GPP = MODEM + ".Modem3gpp"
SIGNAL = MODEM + ".Signal"

DIALECT = "modemmanager"
MAX_TEXT = 64
MAX_CELLS = 32  # GetCellInfo lists neighbours too; only serving cells are read

# MMModemState
STATE_FAILED, STATE_ENABLED = -1, 6
STATE_NAMES = {
    -1: "failed",
    0: "unknown",
    1: "initializing",
    2: "locked",
    3: "disabled",
    4: "disabling",
    5: "enabling",
    6: "enabled",
    7: "searching",
    8: "registered",
    9: "disconnecting",
    10: "connecting",
    11: "connected",
}
# MMModemStateFailedReason -> the SIM status the AT path gives for the same +CPIN / +CME error
FAILED_SIM = {2: "not inserted", 3: "failure"}
# MMModemLock -> the +CPIN code (ModemManager parses +CPIN with this very table:
# src/mm-modem-helpers.c, unlock_results[])
LOCK_NONE = 1
LOCKS = {
    1: "READY",
    2: "SIM PIN",
    3: "SIM PIN2",
    4: "SIM PUK",
    5: "SIM PUK2",
    6: "PH-SP PIN",
    7: "PH-SP PUK",
    8: "PH-NET PIN",
    9: "PH-NET PUK",
    10: "PH-SIM PIN",
    11: "PH-CORP PIN",
    12: "PH-CORP PUK",
    13: "PH-FSIM PIN",
    14: "PH-FSIM PUK",
    15: "PH-NETSUB PIN",
    16: "PH-NETSUB PUK",
}
# MMModemAccessTechnology bits
GSM_BITS = (1 << 1) | (1 << 2) | (1 << 3) | (1 << 4)  # GSM, GSM compact, GPRS, EDGE
UMTS_BITS = (1 << 5) | (1 << 6) | (1 << 7) | (1 << 8) | (1 << 9)  # UMTS, HSDPA/UPA, HSPA(+)
LTE_BITS = (1 << 14) | (1 << 16) | (1 << 17)  # LTE, LTE Cat-M, NB-IoT (27.007 AcT 7, 8, 9)
NR_BIT = 1 << 15
# MMCellType
CELL_GSM, CELL_UMTS, CELL_LTE, CELL_NR = 2, 3, 5, 6
# MMServingCellType (since 1.22): the primary cell, and the NR primary of EN-DC's second group
PCELL, PSCELL = 1, 3
UNMARKED = (0, 0xFFFFFFFF)  # MM_SERVING_CELL_TYPE_UNKNOWN, _INVALID (src/mm-modem-helpers-mbim.c)
# cell type -> its channel number's key in GetCellInfo and the highest valid number (GSM ARFCN
# 10 bits, UARFCN 14, EARFCN 18 (36.101), NR-ARFCN 3279165 (38.104))
CHANNELS = {
    CELL_GSM: ("arfcn", 1023),
    CELL_UMTS: ("uarfcn", 16383),
    CELL_LTE: ("earfcn", 262143),
    CELL_NR: ("nrarfcn", 3279165),
}

# Plausible level ranges (the AT dialects' bounds, 36.133 / 38.133 reporting ranges)
RSRP = (-160.0, -30.0)
RSRQ = (-45.0, 20.0)
SINR = (-30.0, 60.0)
RSSI = (-140.0, 0.0)
NOT_GIVEN = "ModemManager does not report it"


class Reasons:
    """Collects why each null field is null, keyed by its path in the snapshot."""

    def __init__(self) -> None:
        self.why: dict[str, str] = {}
        self.cell_notes: dict[str, str] = {}  # leg -> why GetCellInfo gave nothing for it
        self.signal_note: str | None = None  # why the Signal interface may have nothing

    def null(self, path: str, why: str) -> None:
        # a D-Bus error's text may carry anything; a record takes no control characters
        self.why.setdefault(path, "".join("?" if _control(c) else c for c in why[:160]))


def tech_of(access: Any) -> str | None:
    """The schema's technology for MMModemAccessTechnology bits; LTE + 5GNR together is EN-DC
    (ModemManager maps 27.007 AcT 13 to exactly that pair: src/mm-modem-helpers.c)."""
    if not _uint(access) or access == 0xFFFFFFFF:
        return None
    if access & NR_BIT:
        return "NR5G-NSA" if access & LTE_BITS else "NR5G-SA"
    if access & LTE_BITS:
        return "LTE"
    if access & UMTS_BITS:
        return "UMTS"
    if access & GSM_BITS:
        return "GSM"
    return None  # POTS, CDMA: not technologies the schema measures


def build(
    interfaces: dict[str, dict[str, Any]],
    cells: list[Any] | None,
    cells_error: str | None = None,
    signal_note: str | None = None,
) -> dict[str, Any]:
    """The snapshot of one modem.

    `interfaces`: interface name -> property -> value for the modem's object. `cells`: the
    dictionaries GetCellInfo returned, or None with `cells_error` saying why there are none.
    `signal_note`: why the Signal interface's levels are not to be read (polling was off and no
    refresh came, or it could not be turned on); the cell info's levels are read all the same.
    """
    why = Reasons()
    snap = new_snapshot()
    snap["dialect"] = DIALECT
    modem = _table(interfaces.get(MODEM))
    three_gpp = _table(interfaces.get(MODEM_3GPP))
    for key, prop in (
        ("manufacturer", "Manufacturer"),
        ("model", "Model"),
        ("revision", "Revision"),
    ):
        snap[key] = _text(modem.get(prop))
        if snap[key] is None:
            why.null(key, f"ModemManager's {prop} is empty or unreadable")
    state = modem.get("State")
    state_name = STATE_NAMES.get(state, "unknown") if _int(state) else "unknown"
    _sim(snap, modem, state, why)
    enabled = _int(state) and state >= STATE_ENABLED
    if MODEM_3GPP not in interfaces:
        for path in ("registration.state", "operator.mcc", "operator.mnc", "operator.name"):
            why.null(path, "the modem has no ModemManager Modem3gpp interface")
    elif not enabled:
        # below "enabled" ModemManager does not follow the network: its RegistrationState is
        # whatever it last read, not the modem's state now
        for path in ("registration.state", "operator.mcc", "operator.mnc", "operator.name"):
            why.null(path, f"ModemManager has the modem {state_name}, not enabled")
    else:
        stat = three_gpp.get("RegistrationState")
        snap["registration"]["state"] = registration_state(stat) if _uint(stat) else None
        if snap["registration"]["state"] is None:
            why.null("registration.state", "ModemManager's RegistrationState is unreadable")
        mcc, mnc = plmn(_text(three_gpp.get("OperatorCode")))
        snap["operator"].update({"mcc": mcc, "mnc": mnc})
        snap["operator"]["name"] = _text(three_gpp.get("OperatorName"))
        for key in ("mcc", "mnc", "name"):
            if snap["operator"][key] is None:
                why.null(f"operator.{key}", "ModemManager has no operator (not registered)")
    registered = snap["registration"]["state"] in ("home", "roaming")
    tech = tech_of(modem.get("AccessTechnologies")) if registered else None
    snap["registration"]["tech"] = tech
    unknown_tech = "not registered" if not registered else "ModemManager names no technology"
    if tech is None:
        why.null("registration.tech", unknown_tech)
    _cells(snap, tech, cells, cells_error, why)
    _levels(snap, tech, interfaces, signal_note, why)
    _explain_cells(snap, tech, unknown_tech, why)
    why.null("ca", NOT_GIVEN + " (no carrier aggregation in its D-Bus API)")
    why.null("temperature_c", NOT_GIVEN)
    snap["null_reasons"] = why.why
    return snap


def _sim(snap: dict[str, Any], modem: dict[str, Any], state: Any, why: Reasons) -> None:
    reason = modem.get("StateFailedReason")
    if state == STATE_FAILED and reason in FAILED_SIM:
        snap["sim"] = {"ready": False, "status": FAILED_SIM[reason]}
        return
    lock = modem.get("UnlockRequired")
    if _uint(lock) and lock in LOCKS:
        snap["sim"] = {"ready": lock == LOCK_NONE, "status": LOCKS[lock]}
        return
    why.null("sim.ready", "ModemManager does not know the SIM's lock state yet")
    why.null("sim.status", "ModemManager does not know the SIM's lock state yet")


def _cells(
    snap: dict[str, Any],
    tech: str | None,
    cells: list[Any] | None,
    cells_error: str | None,
    why: Reasons,
) -> None:
    """Serving-cell identity from GetCellInfo: the serving LTE/UMTS/GSM cell, and the serving
    NR cell as the serving cell on SA or the NR leg under EN-DC."""
    if tech is None:
        return
    if cells is None:
        note = f"no cell info from ModemManager: {cells_error or 'none given'}"
        why.cell_notes.update({"serving_cell": note, "nr": note})
        return
    serving = [c for c in cells[:MAX_CELLS] if isinstance(c, dict) and c.get("serving") is True]

    def of(kind: int) -> list[dict[str, Any]]:
        return [c for c in serving if c.get("cell-type") == kind]

    if tech == "NR5G-SA":
        main, leg = _primary(of(CELL_NR), PCELL, "serving_cell", why), None
    elif tech == "NR5G-NSA":
        main = _primary(of(CELL_LTE), PCELL, "serving_cell", why)
        leg = _primary(of(CELL_NR), PSCELL, "nr", why)
    else:
        wanted = {"LTE": CELL_LTE, "UMTS": CELL_UMTS, "GSM": CELL_GSM}[tech]
        main, leg = _primary(of(wanted), PCELL, "serving_cell", why), None
    if main is not None:
        _cell_identity(snap["serving_cell"], main)
    if leg is not None:
        if snap["nr"] is None:
            snap["nr"] = new_cell()
        _cell_identity(snap["nr"], leg)


def _primary(
    cells: list[dict[str, Any]], role: int, leg: str, why: Reasons
) -> dict[str, Any] | None:
    """The one serving cell of its kind in `role`. Since 1.22 ModemManager lists every serving
    carrier (PCell, SCells, PSCell) and marks each with "serving-cell-type"; a list of several
    that names none as `role` cannot be read with certainty."""
    marked = [c for c in cells if c.get("serving-cell-type") == role]
    if marked:
        return marked[0]
    # one serving cell not marked as another role (no mark, or MBIM's "unknown"/"invalid")
    if len(cells) == 1 and cells[0].get("serving-cell-type", UNMARKED[0]) in UNMARKED:
        return cells[0]
    if cells:
        why.cell_notes[leg] = "ModemManager marks none of its serving cells as this one"
    return None


def _cell_identity(cell: dict[str, Any], info: dict[str, Any]) -> None:
    kind = info.get("cell-type")
    if kind not in CHANNELS:
        return
    nr = kind == CELL_NR
    area = "tac" if kind in (CELL_LTE, CELL_NR) else "lac"
    key, top = CHANNELS[kind]
    # ids are upper-case hex strings (the XML); a physical cell id only on LTE and NR (UMTS's
    # scrambling code is another thing, and the AT path does not report one either)
    pci = hexadecimal(_text(info.get("physical-ci")), 3) if kind in (CELL_LTE, CELL_NR) else None
    values = {
        "cell_id": hexadecimal(_text(info.get("ci")), 9 if nr else 8),
        "tac": hexadecimal(_text(info.get(area)), 6),
        "pci": _bounded(pci, 0, 1007 if nr else 503),
        "arfcn": _bounded(info.get(key), 0, top),
        "rsrp_dbm": _level(info.get("rsrp"), RSRP),
        "rsrq_db": _level(info.get("rsrq"), RSRQ),
        "sinr_db": _level(info.get("sinr"), SINR),
    }
    for key, value in values.items():
        if value is not None and cell[key] is None:
            cell[key] = value


def _levels(
    snap: dict[str, Any],
    tech: str | None,
    interfaces: dict[str, dict[str, Any]],
    note: str | None,
    why: Reasons,
) -> None:
    """Levels from the Signal interface (refreshed at its Rate); they come before the cell info's
    levels, which _cell_identity only fills where Signal had none."""
    if SIGNAL not in interfaces:
        why.signal_note = "the modem has no ModemManager Signal interface"
        return
    if note:
        # polling was off and no refresh was seen: what Signal holds may be left from an earlier
        # polling (ModemManager keeps the old values when a refresh fails), of unknown age
        why.signal_note = note
        return
    signal = _table(interfaces.get(SIGNAL))
    lte, nr = _table(signal.get("Lte")), _table(signal.get("Nr5g"))
    if tech == "LTE":
        _signal(snap["serving_cell"], lte)
    elif tech == "NR5G-NSA":
        _signal(snap["serving_cell"], lte)
        if nr:
            if snap["nr"] is None:
                snap["nr"] = new_cell()
            _signal(snap["nr"], nr)
    elif tech == "NR5G-SA":
        _signal(snap["serving_cell"], nr)
    elif tech == "UMTS":
        _signal(snap["serving_cell"], _table(signal.get("Umts")))
    elif tech == "GSM":
        _signal(snap["serving_cell"], _table(signal.get("Gsm")))


def _signal(cell: dict[str, Any], values: dict[str, Any]) -> None:
    # Signal's dictionaries leave out what is unknown (libmm-glib mm_signal_get_dictionary skips
    # MM_SIGNAL_UNKNOWN); a NaN or an infinity is read as unknown too.
    for key, source, bounds in (
        ("rsrp_dbm", "rsrp", RSRP),
        ("rsrq_db", "rsrq", RSRQ),
        ("sinr_db", "snr", SINR),
        ("rssi_dbm", "rssi", RSSI),
    ):
        value = _level(values.get(source), bounds)
        if value is not None:
            cell[key] = value


def _explain_cells(snap: dict[str, Any], tech: str | None, unknown_tech: str, why: Reasons) -> None:
    """Set the cells' technologies and name why every remaining null is null."""
    cell = snap["serving_cell"]
    if tech is not None:
        cell["tech"] = "LTE" if tech == "NR5G-NSA" else tech
    legs = [("serving_cell", cell)]
    if snap["nr"] is not None:
        snap["nr"]["tech"] = "NR5G-NSA"
        legs.append(("nr", snap["nr"]))
    elif tech == "NR5G-NSA":
        why.null("nr", "ModemManager gives neither cell info nor levels for the NR leg")
    else:
        why.null("nr", "no NR leg (not on EN-DC)")
    for name, leg in legs:
        for key in CELL_KEYS:
            if leg[key] is not None:
                continue
            path = f"{name}.{key}"
            if tech is None:
                why.null(path, unknown_tech)
            elif key in ("band", "bandwidth_mhz"):
                why.null(path, NOT_GIVEN + " (its cell info has channel numbers, no band)")
            elif key.endswith(("_dbm", "_db")):
                why.null(
                    path, why.signal_note or "ModemManager's Signal interface has no such value"
                )
            else:
                note = why.cell_notes.get(name, "ModemManager's cell info has no such value")
                why.null(path, note)


def _table(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _int(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _uint(value: Any) -> TypeGuard[int]:
    return _int(value) and 0 <= value <= 0xFFFFFFFF


def _text(value: Any) -> str | None:
    """A D-Bus string; ModemManager gives "" for "not known". One with control characters is
    not a name or an id (and no record may carry a NUL): unreadable, so None."""
    if not isinstance(value, str):
        return None
    text = value.strip()
    if not text or any(_control(c) for c in text):
        return None
    return text[:MAX_TEXT]


def _control(char: str) -> bool:
    return char < " " or char == "\x7f"


def _bounded(value: Any, lo: int, hi: int) -> int | None:
    return value if _int(value) and lo <= value <= hi else None


def _level(value: Any, bounds: tuple[float, float]) -> float | int | None:
    """A level in dBm/dB: finite and in its plausible range, else None; whole numbers as int so
    that -95.0 reads as the AT path's -95."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if not math.isfinite(value) or not bounds[0] <= value <= bounds[1]:
        return None
    rounded = round(float(value), 1)
    return int(rounded) if rounded == int(rounded) else rounded
