"""Quectel (EC2x/EG, RM5xx/RM520N): +QENG="servingcell", +QCAINFO, +QTEMP.

+QENG="servingcell" answers one line for LTE and NR5G-SA, and several for EN-DC:
  +QENG: "servingcell",<state>,"LTE",<is_tdd>,<MCC>,<MNC>,<cellID>,<PCID>,<EARFCN>,
         <band>,<UL_bw>,<DL_bw>,<TAC>,<RSRP>,<RSRQ>,<RSSI>,<SINR>,<CQI>,<tx_power>,<srxlev>
  +QENG: "servingcell",<state>,"NR5G-SA",<duplex>,<MCC>,<MNC>,<cellID>,<PCID>,<TAC>,<ARFCN>,
         <band>,<NR_DL_bw>,<RSRP>,<RSRQ>,<SINR>,<scs>,<srxlev>
  +QENG: "servingcell",<state>            (EN-DC, followed by)
  +QENG: "LTE",<is_tdd>,<MCC>,<MNC>,<cellID>,...            (as above, from <is_tdd>)
  +QENG: "NR5G-NSA",<MCC>,<MNC>,<PCID>,<RSRP>,<SINR>,<RSRQ>,<ARFCN>,<band>,<NR_DL_bw>,<scs>
Cell ids and TACs are hex; "-" marks a value the module does not have.

The LTE <SINR> (and +QCAINFO's <RSSNR>) coding depends on the module family, read from +CGMM,
and is only trusted where an outside source settles it: EC200x prints dB (a user's note on an
EC200T). For the others the published tools disagree (3ginfo-lite reads v/5 - 20 for EC25, EM06
and EM12 but 2v - 20 for RM5xx, EP06 and EM160R; a PinePhone EG25-G printed 11 beside an RSRQ of
-9 dB, which fits neither v/5 - 20 nor 2v - 20 well), so the field stays null and the poll says
why. NR <SINR> is in dB (RM5xx; 38.133 range -23..40); a value outside that range (early RM500Q
firmware printed 180 where QMI read 18.5 dB) is not guessed.
"""

from agent.core.dialects.fields import (
    LTE_BANDWIDTH_MHZ,
    LTE_RB_TO_MHZ,
    NR_BANDWIDTH_MHZ,
    at,
    band,
    code,
    hexadecimal,
    integer,
    known,
    lines_after,
    mcc_mnc,
    number,
)
from agent.core.radio import add_carrier, hint_tech, nr_leg, set_operator, update

# +CGMM prefixes whose LTE SINR is printed in dB, as an outside source settles
_SINR_IN_DB = ("EC200",)
_SINR_UNKNOWN = "LTE SINR not read: its coding for model %r is not known"
_NR_SINR_RANGE = "NR SINR %r outside -23..40 dB, not read"


def _lte_sinr(snapshot, text, reasons):
    """The LTE SINR in dB where the module family's coding is known; else None and a reason."""
    if not known(text):
        return None
    model = snapshot.get("model") or ""
    if model.upper().startswith(_SINR_IN_DB):
        return number(text, -30, 60)
    reasons.append(_SINR_UNKNOWN % model[:24])
    return None


def _nr_sinr(text, reasons):
    value = number(text, -23, 40)
    if value is None and known(text):
        reasons.append(_NR_SINR_RANGE % (text or "")[:8])
    return value


def _lte(snapshot, f, reasons):
    """f from <is_tdd> on."""
    mcc, mnc = mcc_mnc(at(f, 1), at(f, 2))
    set_operator(snapshot, mcc, mnc)
    update(
        snapshot["serving_cell"],
        {
            "tech": "LTE",
            "cell_id": hexadecimal(at(f, 3), 8),
            "pci": integer(at(f, 4), 0, 503),
            "arfcn": integer(at(f, 5), 0, 262143),
            "band": band("LTE", at(f, 6)),
            "bandwidth_mhz": code(LTE_BANDWIDTH_MHZ, integer(at(f, 8))),
            "tac": hexadecimal(at(f, 9), 6),
            "rsrp_dbm": integer(at(f, 10), -160, -30),
            "rsrq_db": number(at(f, 11), -40, 10),
            "rssi_dbm": integer(at(f, 12), -140, 0),
            "sinr_db": _lte_sinr(snapshot, at(f, 13), reasons),
        },
    )


def _sa(snapshot, f, reasons):
    """f from <duplex> on."""
    mcc, mnc = mcc_mnc(at(f, 1), at(f, 2))
    set_operator(snapshot, mcc, mnc)
    update(
        snapshot["serving_cell"],
        {
            "tech": "NR5G-SA",
            "cell_id": hexadecimal(at(f, 3), 10),
            "pci": integer(at(f, 4), 0, 1007),
            "tac": hexadecimal(at(f, 5), 6),
            "arfcn": integer(at(f, 6), 0, 3279165),
            "band": band("NR", at(f, 7)),
            "bandwidth_mhz": code(NR_BANDWIDTH_MHZ, integer(at(f, 8))),
            "rsrp_dbm": integer(at(f, 9), -160, -30),
            "rsrq_db": number(at(f, 10), -45, 20),
            "sinr_db": _nr_sinr(at(f, 11), reasons),
        },
    )


def _nsa(snapshot, f, reasons):
    """f from <MCC> on: the NR leg of EN-DC."""
    update(
        nr_leg(snapshot),
        {
            "tech": "NR5G-NSA",
            "pci": integer(at(f, 2), 0, 1007),
            "rsrp_dbm": integer(at(f, 3), -160, -30),
            "sinr_db": _nr_sinr(at(f, 4), reasons),
            "rsrq_db": number(at(f, 5), -45, 20),
            "arfcn": integer(at(f, 6), 0, 3279165),
            "band": band("NR", at(f, 7)),
            "bandwidth_mhz": code(NR_BANDWIDTH_MHZ, integer(at(f, 8))),
        },
    )


def _umts(snapshot, f):
    """f from <MCC> on: <MCC>,<MNC>,<LAC>,<cellID>,<uarfcn>,..."""
    mcc, mnc = mcc_mnc(at(f, 0), at(f, 1))
    set_operator(snapshot, mcc, mnc)
    update(
        snapshot["serving_cell"],
        {
            "tech": "UMTS",
            "tac": hexadecimal(at(f, 2), 4),
            "cell_id": hexadecimal(at(f, 3), 8),
            "arfcn": integer(at(f, 4), 0, 16383),
        },
    )


def parse_servingcell(snapshot, lines):
    endc = False
    reasons = []  # type: list
    for f in lines_after(lines, "+QENG:"):
        kind = at(f, 0)
        if kind == "servingcell":
            rat = at(f, 2)
            if rat == "LTE":
                _lte(snapshot, f[3:], reasons)
            elif rat == "NR5G-SA":
                _sa(snapshot, f[3:], reasons)
            elif rat == "WCDMA":
                _umts(snapshot, f[3:])
            elif rat == "GSM":
                update(snapshot["serving_cell"], {"tech": "GSM"})
        elif kind == "LTE":
            _lte(snapshot, f[1:], reasons)
        elif kind == "NR5G-NSA":
            _nsa(snapshot, f[1:], reasons)
            endc = True
    hint_tech(snapshot, "NR5G-NSA" if endc else snapshot["serving_cell"]["tech"])
    return reasons


def parse_cainfo(snapshot, lines):
    """+QCAINFO: "PCC"|"SCC",<freq>,<bandwidth>,<band>,<state>,<PCI>,<RSRP>,<RSRQ>,<RSSI>,<RSSNR>

    LTE bandwidth is in resource blocks (6..100); NR bandwidth is the NR DL bandwidth index.
    Some firmware prints NR carriers short: "SCC",<freq>,<bandwidth>,<band>,<PCI>.
    """
    reasons = []  # type: list
    for f in lines_after(lines, "+QCAINFO:"):
        role = (at(f, 0) or "").lower()
        if role not in ("pcc", "scc"):
            continue
        band_text = at(f, 3)
        is_nr = band_text is not None and "NR" in band_text.upper()
        width = integer(at(f, 2))
        short = len(f) == 5
        add_carrier(
            snapshot,
            {
                "role": role,
                "band": band("NR" if is_nr else "LTE", band_text),
                "arfcn": integer(at(f, 1), 0, 3279165),
                "pci": integer(at(f, 4 if short else 5), 0, 1007),
                "bandwidth_mhz": code(NR_BANDWIDTH_MHZ, width)
                if is_nr
                else LTE_RB_TO_MHZ.get(width),  # type: ignore[arg-type]
                "rsrp_dbm": None if short else integer(at(f, 6), -160, -30),
                "rsrq_db": None if short else number(at(f, 7), -45, 20),
                "sinr_db": None if short or is_nr else _lte_sinr(snapshot, at(f, 9), reasons),
            },
        )
    return reasons


def parse_temp(snapshot, lines):
    """+QTEMP: <pmic>,<xo>,<pa> (EC2x) or one +QTEMP: "<sensor>","<c>" line per sensor (RM5xx);
    the hottest sensor is the modem's temperature. Absent sensors read -273 or 0xFF."""
    hottest = None
    for f in lines_after(lines, "+QTEMP:"):
        for field in f:
            value = integer(field, -40, 125)
            if value is not None and (hottest is None or value > hottest):
                hottest = value
    if hottest is not None:
        snapshot["temperature_c"] = hottest


STEPS = (
    ('AT+QENG="servingcell"', parse_servingcell, 5.0),
    ("AT+QCAINFO", parse_cainfo, 5.0),
    ("AT+QTEMP", parse_temp, 5.0),
)
