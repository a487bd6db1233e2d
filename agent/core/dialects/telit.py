"""Telit (LE910Cx, LN9xx): #RFSTS for the serving LTE cell.

#RFSTS: <PLMN>,<EARFCN>,<RSRP>,<RSSI>,<RSRQ>,<TAC>,<RAC>,[<TXPWR>],<DRX>,<MM>,<RRC>,<CID>,
        <IMSI>,[<NetNameAsc>],<SD>,<ABND>[,<T3402>,<T3412>,<SINR>]
e.g. #RFSTS: "262 01",1300,-95,-65,-10,2B5C,FF,,128,19,0,01A2D03,"262011234567890","Telekom.de",3,3
TAC and CID are hex; <ABND> is the LTE band number; <SINR> is coded 0..250 = -20 + v/5 dB.
The answer carries the IMSI: it is never read from the fields, so it never enters a snapshot.
"""

from agent.core.dialects.fields import at, hexadecimal, integer, lines_after, number, plmn, scaled
from agent.core.radio import hint_tech, set_operator, update

_LTE_FIELDS = 16  # the UMTS/GSM forms of #RFSTS are shorter and laid out differently


def parse_rfsts(snapshot, lines):
    for f in lines_after(lines, "#RFSTS:"):
        mcc, mnc = plmn(at(f, 0))
        name = at(f, 13)
        set_operator(snapshot, mcc, mnc, name[:64] if name else None)
        if len(f) < _LTE_FIELDS or snapshot["registration"]["tech"] in ("GSM", "UMTS"):
            continue
        arfcn = integer(at(f, 1), 0, 262143)
        rsrp = integer(at(f, 2), -160, -30)
        if arfcn is None and rsrp is None:
            continue  # searching: an empty status, no cell
        abnd = integer(at(f, 15), 1, 255)
        update(
            snapshot["serving_cell"],
            {
                "tech": "LTE",
                "arfcn": arfcn,
                "rsrp_dbm": rsrp,
                "rssi_dbm": integer(at(f, 3), -140, 0),
                "rsrq_db": number(at(f, 4), -40, 10),
                "tac": hexadecimal(at(f, 5), 6),
                "cell_id": hexadecimal(at(f, 11), 8),
                "band": None if abnd is None else "B%d" % abnd,
                "sinr_db": scaled(integer(at(f, 18), 0, 250), 0.2, -20),
            },
        )
    hint_tech(snapshot, snapshot["serving_cell"]["tech"])


STEPS = (("AT#RFSTS", parse_rfsts, 5.0),)
