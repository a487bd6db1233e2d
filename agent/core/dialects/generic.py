"""3GPP TS 27.007 commands every modem answers: identity, SIM, operator, registration, levels.

Level mappings are the standard ones (27.007 +CSQ/+CESQ, referring to 36.133 and 38.133); each
coded value maps to the lower edge of its range, and 99/255 ("not known") to None.
"""

from agent.core.at import looks_unsolicited
from agent.core.dialects.fields import (
    after,
    at,
    hexadecimal,
    integer,
    lines_after,
    location_area,
    params,
    plmn,
)
from agent.core.radio import fill, nr_leg, update

# +CxREG <stat>: 1/6/9 registered home (6, 9: SMS-only / CSFB-not-preferred), 5/7/10 roaming
_STAT = {
    0: "not-registered",
    1: "home",
    2: "searching",
    3: "denied",
    4: "unknown",
    5: "roaming",
    6: "home",
    7: "roaming",
    8: "emergency",
    9: "home",
    10: "roaming",
}
_RANK = {"home": 5, "roaming": 5, "searching": 3, "denied": 2, "emergency": 2, "not-registered": 1}
# <AcT>: 27.007 section 7.3
_ACT = {
    0: "GSM",
    1: "GSM",
    3: "GSM",
    8: "GSM",
    2: "UMTS",
    4: "UMTS",
    5: "UMTS",
    6: "UMTS",
    7: "LTE",
    9: "LTE",
    10: "LTE",
    11: "NR5G-SA",
    12: "NR5G-SA",
    13: "NR5G-NSA",
}
_CPIN_ERRORS = {10: "not inserted", 13: "failure", 14: "busy", 15: "wrong"}


def registration_state(stat):
    # type: (int) -> str
    """+CxREG <stat> in the schema's words. ModemManager's RegistrationState keeps the same
    numbers (MMModem3gppRegistrationState, "as defined in 3GPP TS 27.007 section 10.1.19")."""
    return _STAT.get(stat, "unknown")


def tech_of_act(act):
    # type: (int | None) -> str | None
    return _ACT.get(act) if act is not None else None


def _first_text(lines, prefix):
    """The first information line, without an optional "+CGMI:"-style prefix. Another command's
    "+XXX: ..." line is skipped: after a timeout a late answer can land here, and a manufacturer
    read from it would pick the wrong dialect for every poll that follows."""
    for line in lines:
        rest = after(line, prefix)
        if rest is None and looks_unsolicited(line):
            continue
        text = rest if rest is not None else line
        if len(text) > 1 and text[0] == '"' and text[-1] == '"':
            text = text[1:-1]  # +CGMM: "FM350-GL" (Fibocom quotes its identity answers)
        if text:
            return text[:64]
    return None


def parse_cgmi(snapshot, lines):
    snapshot["manufacturer"] = _first_text(lines, "+CGMI:")


def parse_cgmm(snapshot, lines):
    snapshot["model"] = _first_text(lines, "+CGMM:")


def parse_cgmr(snapshot, lines):
    text = _first_text(lines, "+CGMR:")
    if text is not None:
        rest = after(text, "Revision:")
        text = rest if rest is not None else text
    snapshot["revision"] = text


def parse_cpin(snapshot, lines):
    for fields in lines_after(lines, "+CPIN:"):
        status = fields[0]
        snapshot["sim"] = {"ready": status.upper() == "READY", "status": status[:32]}
        return


def parse_cpin_error(snapshot, response):
    """Only a +CME ERROR that names a SIM state says something about the SIM; a plain ERROR (or
    another code) says the query failed, and the SIM's state stays unknown."""
    status = _CPIN_ERRORS.get(response.error_code)
    if status is None:
        return ["SIM state unknown (%s)" % response.final[:32]]
    snapshot["sim"] = {"ready": False, "status": status}
    return None


def parse_cops(snapshot, lines):
    """+COPS: <mode>[,<format>,<oper>[,<AcT>]]; format 0/1 is a name, 2 the numeric PLMN."""
    operator = snapshot["operator"]
    for fields in lines_after(lines, "+COPS:"):
        form = integer(at(fields, 1))
        oper = at(fields, 2)
        if form == 2:
            mcc, mnc = plmn(oper)
            update(operator, {"mcc": mcc, "mnc": mnc})
        elif form in (0, 1) and oper:
            operator["name"] = oper[:64]
        tech = tech_of_act(integer(at(fields, 3)))
        if tech is not None and snapshot["registration"]["tech"] is None:
            snapshot["registration"]["tech"] = tech
            fill(snapshot["serving_cell"], {"tech": "LTE" if tech == "NR5G-NSA" else tech})


def _tracking_area(text):
    return hexadecimal(text, 6)


def _unsolicited_registration(rest):
    raw = rest.split(",")
    return len(raw) > 1 and raw[1].strip()[:1] == '"'


def _registration(snapshot, lines, prefix, id_digits, area=_tracking_area):
    """+CxREG: <n>,<stat>[,[<lac/tac>],[<ci>],[<AcT>]...]. Keeps the best state across domains;
    at equal rank the later (newer-generation) domain wins, so 5GS beats EPS beats CS.

    The unsolicited form, +CxREG: <stat>[,"<lac/tac>","<ci>",<AcT>], carries the same prefix and
    may arrive inside the answer: it is told by its quoted second field (the answer's is the bare
    <stat>) and skipped, so its TAC is never read as a state nor its AcT as a cell id."""
    for line in lines:
        rest = after(line, prefix)
        if rest is None or _unsolicited_registration(rest):
            continue
        fields = params(rest)
        if integer(at(fields, 0), 0, 5) is None:
            continue
        stat = integer(at(fields, 1))
        if stat is None:
            continue
        state = registration_state(stat)
        registration = snapshot["registration"]
        current = registration["state"]
        if current is not None and _RANK.get(state, 0) < _RANK.get(current, 0):
            continue
        registration["state"] = state
        if state not in ("home", "roaming"):
            continue
        tech = tech_of_act(integer(at(fields, 4)))
        if tech is not None:
            registration["tech"] = tech
            # under EN-DC the serving (anchor) cell is LTE; the NR leg is reported apart
            fill(snapshot["serving_cell"], {"tech": "LTE" if tech == "NR5G-NSA" else tech})
        cell_id = hexadecimal(at(fields, 3), id_digits)
        update(snapshot["serving_cell"], {"tac": area(at(fields, 2)), "cell_id": cell_id})


def parse_creg(snapshot, lines):
    _registration(snapshot, lines, "+CREG:", 8, location_area)


def parse_cereg(snapshot, lines):
    _registration(snapshot, lines, "+CEREG:", 8)


def parse_c5greg(snapshot, lines):
    _registration(snapshot, lines, "+C5GREG:", 10)


def csq_rssi_dbm(value):
    # type: (int | None) -> int | None
    """+CSQ <rssi> 0..31 -> -113..-51 dBm; 99 not known."""
    if value is None or not 0 <= value <= 31:
        return None
    return -113 + 2 * value


def parse_csq(snapshot, lines):
    for fields in lines_after(lines, "+CSQ:"):
        rssi = csq_rssi_dbm(integer(at(fields, 0)))
        cell = snapshot["serving_cell"]
        if rssi is not None and cell["rssi_dbm"] is None:
            cell["rssi_dbm"] = rssi


def _coded(value, top, step, base):
    if value is None or not 0 <= value <= top:
        return None
    result = base + value * step
    return int(result) if result == int(result) else result


def parse_cesq(snapshot, lines):
    """+CESQ: <rxlev>,<ber>,<rscp>,<ecno>,<rsrq>,<rsrp>[,<ss_rsrq>,<ss_rsrp>,<ss_sinr>].

    The E-UTRA levels belong to the serving cell unless it is NR standalone; the NR (ss_*)
    levels belong to the serving cell on SA and to the NR leg otherwise (EN-DC).
    """
    for fields in lines_after(lines, "+CESQ:"):
        lte = {
            "rsrq_db": _coded(integer(at(fields, 4)), 34, 0.5, -20.0),
            "rsrp_dbm": _coded(integer(at(fields, 5)), 97, 1, -141),
        }
        nr = {
            "rsrq_db": _coded(integer(at(fields, 6)), 127, 0.5, -43.5),
            "rsrp_dbm": _coded(integer(at(fields, 7)), 127, 1, -157),
            "sinr_db": _coded(integer(at(fields, 8)), 127, 0.5, -23.5),
        }
        standalone = snapshot["registration"]["tech"] == "NR5G-SA"
        cell = snapshot["serving_cell"]
        if not standalone:
            fill(cell, lte)
        has_nr = nr["rsrp_dbm"] is not None or nr["rsrq_db"] is not None
        if standalone:
            fill(cell, nr)
        elif has_nr:
            fill(nr_leg(snapshot), nr)
        return


IDENTIFY = (
    ("AT+CGMI", parse_cgmi, 3.0),
    ("AT+CGMM", parse_cgmm, 3.0),
    ("AT+CGMR", parse_cgmr, 3.0),
)

# Numeric PLMN then the operator's name, in one round trip; leaves the usual long-name format.
COPS_BOTH = "AT+COPS=3,2;+COPS?;+COPS=3,0;+COPS?"

STEPS = (
    ("AT+CPIN?", parse_cpin, 5.0, parse_cpin_error),
    (COPS_BOTH, parse_cops, 10.0),
    ("AT+CREG?", parse_creg, 3.0),
    ("AT+CEREG?", parse_cereg, 3.0),
    ("AT+C5GREG?", parse_c5greg, 3.0),
    ("AT+CSQ", parse_csq, 3.0),
    ("AT+CESQ", parse_cesq, 3.0),
)
