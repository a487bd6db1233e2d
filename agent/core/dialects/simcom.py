"""SIMCom (SIM7500/SIM7600 LTE, SIM8200/SIM8262 5G): +CPSI?, +CPMUTEMP.

+CPSI: LTE,<op mode>,<MCC>-<MNC>,<TAC>,<SCellID>,<PCI>,<band>,<EARFCN>,<dlbw>,<ulbw>,
       <RSRQ>,<RSRP>,<RSSI>,<RSSNR>
+CPSI: NR5G_SA,<op mode>,<MCC>-<MNC>,<TAC>,<SCellID>,<PCI>,<band>,<ARFCN>,<RSRP>,<RSRQ>,<SINR>
+CPSI: NR5G_NSA,<PCI>,<band>,<ARFCN>,<RSRP>,<RSRQ>,<SINR>      (second line under EN-DC)
+CPSI: GSM|WCDMA,<op mode>,<MCC>-<MNC>,<LAC>,<CellID>,...
+CPSI: NO SERVICE,<op mode>
TAC/LAC are "0x"-hex, cell ids decimal; RSRP/RSRQ/RSSI (and the NR SINR) are in tenths of dB;
the LTE <RSSNR> is coded, SINR = 2 * RSSNR - 20 dB (SIM7500/SIM7600 manual).
"""

from agent.core.dialects.fields import (
    LTE_BANDWIDTH_MHZ,
    at,
    band,
    code,
    hexadecimal,
    integer,
    lines_after,
    plmn,
    scaled,
)
from agent.core.radio import hint_tech, nr_leg, set_operator, update

_TECH = {"GSM": "GSM", "WCDMA": "UMTS", "LTE": "LTE", "NR5G_SA": "NR5G-SA"}


def _tenths(text, lo, hi):
    return scaled(integer(text, lo * 10, hi * 10), 0.1)


def parse_cpsi(snapshot, lines):
    endc = False
    reasons = []
    for f in lines_after(lines, "+CPSI:"):
        mode = (at(f, 0) or "").upper()
        if mode == "NR5G_NSA":
            endc = True
            update(
                nr_leg(snapshot),
                {
                    "tech": "NR5G-NSA",
                    "pci": integer(at(f, 1), 0, 1007),
                    "band": band("NR", at(f, 2)),
                    "arfcn": integer(at(f, 3), 0, 3279165),
                    "rsrp_dbm": _tenths(at(f, 4), -160, -30),
                    "rsrq_db": _tenths(at(f, 5), -45, 20),
                    "sinr_db": _tenths(at(f, 6), -30, 60),
                },
            )
            continue
        tech = _TECH.get(mode)
        if tech is None:
            if mode != "NO SERVICE":
                # CDMA/EVDO, and the NB-IoT / CAT-M forms, which print their levels in other
                # units (SIM7000: "-77" is dBm, not tenths): a layout we cannot read with certainty
                reasons.append("serving cell of mode %r not read" % mode[:24])
            continue
        mcc, mnc = plmn(at(f, 2))
        set_operator(snapshot, mcc, mnc)
        cell = {
            "tech": tech,
            "tac": hexadecimal(at(f, 3), 6),
            "cell_id": integer(at(f, 4), 0, 68719476735),
        }  # type: dict
        if tech == "LTE":
            rssnr = integer(at(f, 13), 0, 25)
            cell.update(
                {
                    "pci": integer(at(f, 5), 0, 503),
                    "band": band("LTE", at(f, 6)),
                    "arfcn": integer(at(f, 7), 0, 262143),
                    "bandwidth_mhz": code(LTE_BANDWIDTH_MHZ, integer(at(f, 8))),
                    "rsrq_db": _tenths(at(f, 10), -40, 10),
                    "rsrp_dbm": _tenths(at(f, 11), -160, -30),
                    "rssi_dbm": _tenths(at(f, 12), -140, 0),
                    "sinr_db": None if rssnr is None else 2 * rssnr - 20,
                }
            )
        elif tech == "NR5G-SA":
            cell.update(
                {
                    "pci": integer(at(f, 5), 0, 1007),
                    "band": band("NR", at(f, 6)),
                    "arfcn": integer(at(f, 7), 0, 3279165),
                    "rsrp_dbm": _tenths(at(f, 8), -160, -30),
                    "rsrq_db": _tenths(at(f, 9), -45, 20),
                    "sinr_db": _tenths(at(f, 10), -30, 60),
                }
            )
        update(snapshot["serving_cell"], cell)
    hint_tech(snapshot, "NR5G-NSA" if endc else snapshot["serving_cell"]["tech"])
    return reasons


def parse_temp(snapshot, lines):
    for f in lines_after(lines, "+CPMUTEMP:"):
        value = integer(at(f, 0), -40, 125)
        if value is not None:
            snapshot["temperature_c"] = value


STEPS = (
    ("AT+CPSI?", parse_cpsi, 5.0),
    ("AT+CPMUTEMP", parse_temp, 3.0),
)
