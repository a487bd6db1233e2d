"""Fibocom (FM150/FM160/FM190 on Qualcomm, FM350 on MediaTek): +GTCCINFO?, +GTCAINFO?, temperature.

+GTCCINFO:
[LTE service cell:]                          (FM150: headers between the groups)
1,4,262,02,BFD3,2D4201,189C,30,120,50,16,42,42,26
<is_service>,<rat>,<MCC>,<MNC>,<TAC>,<cell id>,<ARFCN>,<PCI>,<band>,<bandwidth>,<sinr>,<rxlev>,
<rsrp>,<rsrq>
<is_service> 1 is a serving cell, 2 a neighbour; <rat> 4 is LTE, 9 NR. Under EN-DC both serving
carriers are listed, the NR one without MCC/MNC. TAC and cell id are hex in every family, and
all-ones (FFFFFFF, 00FFFFFFF) means "none". The EARFCN and PCI are hex on the Qualcomm family
(FM150: 189C = 6300 and 30 = 48, as its own +GTCAINFO prints them in decimal) and decimal on the
FM350 (1802 lies in B3's EARFCN range, 0x1802 does not). The base is taken from the answer when
it shows it (the FM150's "service cell:" headers, a hex digit in a channel or PCI field), else
from the model; when neither tells, channel and PCI stay null.
Band codes: 100 + n for LTE band n; NR: "50" followed by the band number ("5079" n79, "505" n5 on
one FM350 firmware, "5005" for the same carrier in its +GTCAINFO).
Levels are coded as in 27.007 +CESQ, checked against the dBm the same modules print in
+GTCAINFO: LTE RSRP -141 + v, RSRQ -20 + v/2; NR SS-RSRP -157 + v, SS-RSRQ -43.5 + v/2. The SINR
scale is not documented for either family (the FM350 prints signed values for LTE, and its NR
value read as SS-SINR coding contradicts its RSRQ), so SINR stays null; LTE bandwidth is in
resource blocks, the NR bandwidth's unit is unknown (500 on n79, 75 on n5): null.

+GTCAINFO (FM350: "+GTCAINFO:" then the lines; FM150: the lines only):
  PCC:<band>,<PCI>,<ARFCN>,<bandwidth>,...              one per primary cell (two under EN-DC)
  SCC <n>:<state>,<?>,<band>,<PCI>,<ARFCN>,<bandwidth>,...
Here the PCI and ARFCN are decimal in both families.
"""

from agent.core.dialects.fields import (
    LTE_RB_TO_MHZ,
    after,
    at,
    hexadecimal,
    integer,
    mcc_mnc,
    params,
    scaled,
)
from agent.core.radio import add_carrier, hint_tech, nr_leg, set_operator, update

# +CGMM prefixes of the families whose +GTCCINFO channel and PCI are hex / decimal
_HEX_MODELS = ("FM150", "FM160", "FM190")
_DECIMAL_MODELS = ("FM350", "FM101")
_BASE_UNKNOWN = "EARFCN/PCI not read: hex or decimal cannot be told for model %r"
_NO_SINR = "SINR not read: its scale is not documented for this module"
_NO_NR_WIDTH = "NR bandwidth not read: unit unknown"


def _coded(text, top, step, base):
    return scaled(integer(text, 0, top), step, base)


def _is_hex_digit_text(text):
    return text is not None and any(ch in "abcdefABCDEF" for ch in text)


def _channel_base(snapshot, lines):
    """16 or 10 for the ARFCN and PCI fields of this answer, or None when it cannot be told."""
    for line in lines:
        if line.rstrip().endswith("cell:"):
            return 16  # "LTE service cell:": only the Qualcomm family prints these headers
        if "0" <= line[:1] <= "9":
            f = params(line)
            if _is_hex_digit_text(at(f, 6)) or _is_hex_digit_text(at(f, 7)):
                return 16
    model = (snapshot.get("model") or "").upper()
    if model.startswith(_HEX_MODELS):
        return 16
    if model.startswith(_DECIMAL_MODELS):
        return 10
    return None


def _number_in(text, base, hi):
    if base == 16:
        value = hexadecimal(text, 8)
        return value if value is not None and value <= hi else None
    return integer(text, 0, hi) if base == 10 else None


def band_of_code(text):
    # type: (str | None) -> str | None
    """ "103" -> "B3", "120" -> "B20", "5079" -> "n79", "505" / "5005" -> "n5"; else None."""
    code = integer(text, 0, 99999)
    if code is None:
        return None
    assert text is not None
    digits = text.strip()
    if digits.startswith("50") and len(digits) >= 3:
        number = int(digits[2:])
        return "n%d" % number if 0 < number < 1000 else None
    if 100 < code < 356:
        return "B%d" % (code - 100)
    return None


def _serving(f, base):
    """(is_nr, cell) for a serving-cell line; None for a neighbour or an unknown RAT."""
    if at(f, 0) != "1" or at(f, 1) not in ("4", "9"):
        return None
    nr = at(f, 1) == "9"
    cell = {
        "tech": "NR5G-SA" if nr else "LTE",
        "tac": hexadecimal(at(f, 4), 6),
        "cell_id": hexadecimal(at(f, 5), 10),
        "arfcn": _number_in(at(f, 6), base, 3279165),
        "pci": _number_in(at(f, 7), base, 1007),
        "band": band_of_code(at(f, 8)),
    }  # type: dict
    if nr:
        cell["rsrp_dbm"] = _coded(at(f, 12), 127, 1, -157)
        cell["rsrq_db"] = _coded(at(f, 13), 127, 0.5, -43.5)
    else:
        cell["bandwidth_mhz"] = LTE_RB_TO_MHZ.get(integer(at(f, 9)))  # type: ignore[arg-type]
        cell["rsrp_dbm"] = _coded(at(f, 12), 97, 1, -141)
        cell["rsrq_db"] = _coded(at(f, 13), 34, 0.5, -20)
    return nr, cell


def _say_what_is_not_read(snapshot, f, is_nr, base, reasons):
    """The reasons a serving line's field stays null (each said once per answer)."""
    said = []
    if base is None:
        said.append(_BASE_UNKNOWN % (snapshot.get("model") or "")[:24])
    if at(f, 10) not in (None, "", "255"):
        said.append(_NO_SINR)
    if is_nr and at(f, 9):
        said.append(_NO_NR_WIDTH)
    for reason in said:
        if reason not in reasons:
            reasons.append(reason)


def parse_ccinfo(snapshot, lines):
    base = _channel_base(snapshot, lines)
    reasons = []  # type: list
    lte = None
    nr = None
    for line in lines:
        if not "0" <= line[:1] <= "9":
            continue  # "+GTCCINFO:" and "... cell:" headers
        f = params(line)
        found = _serving(f, base)
        if found is None:
            continue
        mcc, mnc = mcc_mnc(at(f, 2), at(f, 3))
        set_operator(snapshot, mcc, mnc)
        if found[0]:
            nr = nr or found[1]
        else:
            lte = lte or found[1]
        _say_what_is_not_read(snapshot, f, found[0], base, reasons)
    if lte is not None:
        update(snapshot["serving_cell"], lte)
    if nr is not None:
        if lte is not None:
            nr["tech"] = "NR5G-NSA"
            update(nr_leg(snapshot), nr)
        else:
            update(snapshot["serving_cell"], nr)
    hint_tech(snapshot, "NR5G-NSA" if lte and nr else snapshot["serving_cell"]["tech"])
    return reasons


def parse_cainfo(snapshot, lines):
    for line in lines:
        pcc = after(line, "PCC:")
        if pcc is not None:
            f = params(pcc)
            band_text, pci, arfcn, width = at(f, 0), at(f, 1), at(f, 2), at(f, 3)
            role = "pcc"
        elif line[:4].upper() == "SCC " and ":" in line:
            f = params(line[line.index(":") + 1 :])
            band_text, pci, arfcn, width = at(f, 2), at(f, 3), at(f, 4), at(f, 5)
            role = "scc"
        else:
            continue
        name = band_of_code(band_text)
        if name is None:
            continue
        add_carrier(
            snapshot,
            {
                "role": role,
                "band": name,
                "arfcn": integer(arfcn, 0, 3279165),
                "pci": integer(pci, 0, 1007),
                "bandwidth_mhz": None
                if name.startswith("n")
                else LTE_RB_TO_MHZ.get(integer(width)),  # type: ignore[arg-type]
            },
        )


def parse_mtsm(snapshot, lines):
    """L8xx: +MTSM: <degrees C>."""
    for line in lines:
        rest = after(line, "+MTSM:")
        value = integer(rest, -40, 125)
        if value is not None:
            snapshot["temperature_c"] = value


def parse_sensor_temp(snapshot, lines):
    """FM350: +GTSENRDTEMP: <sensor>,<milli-degrees C> (37628 = 37.6 C)."""
    for line in lines:
        rest = after(line, "+GTSENRDTEMP:")
        if rest is None:
            continue
        value = scaled(integer(at(params(rest), 1), -40000, 125000), 0.001)
        if value is not None:
            snapshot["temperature_c"] = value


STEPS = (
    ("AT+GTCCINFO?", parse_ccinfo, 5.0),
    ("AT+GTCAINFO?", parse_cainfo, 5.0),
    ("AT+MTSM=1", parse_mtsm, 3.0),
    ("AT+GTSENRDTEMP=1", parse_sensor_temp, 3.0),
)
