"""Huawei (ME909s, ME906s, MH5000): ^HCSQ? for levels, ^MONSC for the serving cell.

^HCSQ: "LTE",<rssi>,<rsrp>,<sinr>,<rsrq>   coded; bucket 1 starts at rssi -120 dBm,
       rsrp -140 dBm, sinr -20 dB, rsrq -19.5 dB, in steps of 1, 1, 0.2 and 0.5; we keep the
       lower edge of the bucket (bucket 0 is "below"); 255 is unknown
^HCSQ: "WCDMA",<rssi>,<rscp>,<ecio>   ^HCSQ: "GSM",<rssi>   ^HCSQ: "NOSERVICE"
^HCSQ: "NR",<rsrp>,<sinr>,<rsrq>        (5G modules: same coding as LTE)
^MONSC: LTE,<MCC>,<MNC>,<ARFCN>,<Cell_ID>,<PCI>,<TAC>,<RSRP>,<RSRQ>,<RXLEV>
^MONSC: NR,<MCC>,<MNC>,<ARFCN>,<SCS>,<Cell_ID>,<PCI>,<TAC>,<SS-RSRP>,<SS-RSRQ>,<SS-SINR>
Cell id, PCI and TAC are printed in hex (the firmware's format strings are "%u,%X,%X,%X,%d,%d,%d"
for LTE and "%u,%d,%s,%X,%X,%d,%d,%d" for NR), the levels in dBm / dB. ^MONSC runs first, and
the coded ^HCSQ levels only fill what it left empty: they never overwrite a level in dBm.
"""

from agent.core.dialects.fields import at, hexadecimal, integer, lines_after, mcc_mnc, number
from agent.core.radio import fill, hint_tech, nr_leg, set_operator, update


def _coded(text, top, step, base):
    value = integer(text, 0, top)
    if value is None:
        return None
    result = round(base + value * step, 1)
    return int(result) if result == int(result) else result


def _levels(f):
    """rsrp, sinr, rsrq fields (NR) as dBm / dB."""
    return {
        "rsrp_dbm": _coded(at(f, 0), 97, 1, -141),
        "sinr_db": _coded(at(f, 1), 251, 0.2, -20.2),
        "rsrq_db": _coded(at(f, 2), 34, 0.5, -20),
    }


def parse_hcsq(snapshot, lines):
    for f in lines_after(lines, "^HCSQ:"):
        mode = (at(f, 0) or "").upper()
        if mode == "LTE":
            values = _levels(f[2:])
            values["tech"] = "LTE"
            values["rssi_dbm"] = _coded(at(f, 1), 96, 1, -121)
            if snapshot["serving_cell"]["tech"] in (None, "LTE"):
                fill(snapshot["serving_cell"], values)
        elif mode == "NR":
            values = _levels(f[1:])
            standalone = snapshot["registration"]["tech"] == "NR5G-SA"
            values["tech"] = "NR5G-SA" if standalone else "NR5G-NSA"
            fill(snapshot["serving_cell"] if standalone else nr_leg(snapshot), values)
        elif mode in ("WCDMA", "GSM"):
            fill(
                snapshot["serving_cell"],
                {
                    "tech": "UMTS" if mode == "WCDMA" else "GSM",
                    "rssi_dbm": _coded(at(f, 1), 96, 1, -121),
                },
            )
    hint_tech(snapshot, snapshot["serving_cell"]["tech"])


def _pci(text):
    value = hexadecimal(text, 3)
    return value if value is not None and value <= 1007 else None


def parse_monsc(snapshot, lines):
    for f in lines_after(lines, "^MONSC:"):
        rat = (at(f, 0) or "").upper()
        mcc, mnc = mcc_mnc(at(f, 1), at(f, 2))
        set_operator(snapshot, mcc, mnc)
        if rat == "LTE":
            update(
                snapshot["serving_cell"],
                {
                    "tech": "LTE",
                    "arfcn": integer(at(f, 3), 0, 262143),
                    "cell_id": hexadecimal(at(f, 4), 8),
                    "pci": _pci(at(f, 5)),
                    "tac": hexadecimal(at(f, 6), 6),
                    "rsrp_dbm": integer(at(f, 7), -160, -30),
                    "rsrq_db": number(at(f, 8), -40, 10),
                    "rssi_dbm": integer(at(f, 9), -140, 0),
                },
            )
        elif rat == "NR":
            update(
                snapshot["serving_cell"],
                {
                    "tech": "NR5G-SA",
                    "arfcn": integer(at(f, 3), 0, 3279165),
                    "cell_id": hexadecimal(at(f, 5), 10),
                    "pci": _pci(at(f, 6)),
                    "tac": hexadecimal(at(f, 7), 6),
                    "rsrp_dbm": integer(at(f, 8), -160, -30),
                    "rsrq_db": number(at(f, 9), -45, 20),
                    "sinr_db": number(at(f, 10), -30, 60),
                },
            )
    hint_tech(snapshot, snapshot["serving_cell"]["tech"])


STEPS = (
    ("AT^MONSC", parse_monsc, 5.0),
    ("AT^HCSQ?", parse_hcsq, 3.0),
)
