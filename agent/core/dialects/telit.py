"""Telit (LE910Cx, LM940/LM960, LN9xx, FN980): #RFSTS for the serving cell.

#RFSTS has several layouts by family and technology; fields are found from the answer, never by
a fixed position past the first six. The LTE forms begin alike,
  <PLMN>,<EARFCN>,<RSRP>,<RSSI>,<RSRQ>,<TAC>,<RAC>,
and then differ: LE910Cx-class firmware prints <TXPWR> before <DRX> (the IMSI 13th), others leave
it out (the IMSI 12th), e.g.
  #RFSTS: "262 01",1300,-95,-65,-10,2B5C,FF,0,128,19,1,01A2D003,"262011234567890","Telekom.de",3,3
  #RFSTS: "286 01",1795,-101,-67,-15,2242,,128,3,1,0B5D121,"2860...",<name>,3,3,108
The UMTS form carries UARFCN, PSC, Ec/Io, RSCP, ... and its IMSI 16th; GSM has none. So the IMSI
(14-15 digits, possibly masked "000000000000000") is the anchor: the cell id is the field before
it, then <NetNameAsc>, <SD>, <ABND> (the LTE band number) and, where present, <T3402>,
<T3412>, <SINR> (coded 0..250 = -20 + v/5 dB). Of the GSM and UMTS forms only the PLMN and
<NetNameAsc> (after the IMSI there too) are read. An answer without an IMSI where an LTE form has
it is not read past the TAC, and the poll says why. The IMSI itself never enters a snapshot.
"""

from agent.core.at import ascii_digits
from agent.core.dialects.fields import at, hexadecimal, integer, lines_after, number, plmn, scaled
from agent.core.radio import hint_tech, set_operator, update

_LTE_IMSI_AT = (11, 12)  # without / with <TXPWR>
_NOT_LTE = "serving cell not read: #RFSTS layout with its IMSI at field %d is not an LTE one"
_NO_ANCHOR = "cell id, band and SINR not read: no IMSI field to place them by"


def _imsi_index(f):
    for index in range(9, len(f)):
        text = f[index]
        if 14 <= len(text) <= 15 and ascii_digits(text):
            return index
    return None


def _network_name(f, imsi, mcc):
    # <NetNameAsc> follows the IMSI in the GSM, UMTS and LTE layouts alike; without a PLMN it
    # names no serving network (a GSM module printed "000 00" beside its SIM's home network name)
    name = at(f, imsi + 1)
    return name[:64] if name and mcc is not None else None


def parse_rfsts(snapshot, lines):
    reasons = []  # type: list
    for f in lines_after(lines, "#RFSTS:"):
        mcc, mnc = plmn(at(f, 0))
        imsi = _imsi_index(f)
        if imsi is not None and imsi not in _LTE_IMSI_AT:
            reasons.append(_NOT_LTE % (imsi + 1))
            set_operator(snapshot, mcc, mnc, _network_name(f, imsi, mcc))
            continue
        arfcn = integer(at(f, 1), 0, 262143)
        rsrp = integer(at(f, 2), -160, -30)
        if arfcn is None and rsrp is None:
            continue  # searching: an empty status, no cell
        if snapshot["registration"]["tech"] in ("GSM", "UMTS"):
            continue
        cell = {
            "tech": "LTE",
            "arfcn": arfcn,
            "rsrp_dbm": rsrp,
            "rssi_dbm": integer(at(f, 3), -140, 0),
            "rsrq_db": number(at(f, 4), -40, 10),
            "tac": hexadecimal(at(f, 5), 6),
        }  # type: dict
        name = None
        if imsi is None:
            reasons.append(_NO_ANCHOR)
        else:
            name = _network_name(f, imsi, mcc)
            abnd = integer(at(f, imsi + 3), 1, 255)
            cell["cell_id"] = hexadecimal(at(f, imsi - 1), 8)
            cell["band"] = None if abnd is None else "B%d" % abnd
            cell["sinr_db"] = scaled(integer(at(f, imsi + 6), 0, 250), 0.2, -20)
        set_operator(snapshot, mcc, mnc, name)
        update(snapshot["serving_cell"], cell)
    hint_tech(snapshot, snapshot["serving_cell"]["tech"])
    return reasons


STEPS = (("AT#RFSTS", parse_rfsts, 5.0),)
