"""Fibocom (FM150, FM350, L850/L860): +GTCCINFO?, +MTSM.

+GTCCINFO:
LTE service cell:            (or "NR service cell:"; under EN-DC both carriers are listed)
1,4,262,01,2B5C,1A2D003,1300,123,103,100,24,45,46,20
<is_service>,<rat>,<MCC>,<MNC>,<TAC>,<cell id>,<ARFCN>,<PCI>,<band>,<bandwidth>,<sinr>,<rxlev>,
<rsrp>,<rsrq>
TAC and cell id are hex. The band is coded: 100 + n for LTE band n, 5000 + n for NR band n.
LTE: bandwidth in resource blocks, SINR in half dB, RSRP coded as in 27.007 (-141 + v), RSRQ
-20 + v/2. NR: bandwidth in MHz, and the 27.007 ss_* coding (SS-RSRP -157 + v, SS-RSRQ
-43.5 + v/2, SS-SINR -23.5 + v/2). Neighbour cells (first field 2) are skipped.
"""

from agent.core.dialects.fields import (
    LTE_RB_TO_MHZ,
    at,
    hexadecimal,
    integer,
    mcc_mnc,
    params,
    scaled,
)
from agent.core.radio import hint_tech, nr_leg, set_operator, update


def _coded(text, top, step, base):
    return scaled(integer(text, 0, top), step, base)


def _carrier(f):
    """(is_nr, cell) for a serving-cell line, or None when the band code is not one we know."""
    code = integer(at(f, 8))
    if code is None:
        return None
    nr = code >= 5000
    band_number = code - 5000 if nr else code - 100
    if not 0 < band_number < 1000:
        return None
    cell = {
        "tac": hexadecimal(at(f, 4), 6),
        "cell_id": hexadecimal(at(f, 5), 10),
        "arfcn": integer(at(f, 6), 0, 3279165),
        "pci": integer(at(f, 7), 0, 1007),
    }  # type: dict
    if nr:
        cell["band"] = "n%d" % band_number
        cell["bandwidth_mhz"] = integer(at(f, 9), 5, 400)
        cell["sinr_db"] = _coded(at(f, 10), 127, 0.5, -23.5)
        cell["rsrp_dbm"] = _coded(at(f, 12), 127, 1, -157)
        cell["rsrq_db"] = _coded(at(f, 13), 127, 0.5, -43.5)
    else:
        cell["band"] = "B%d" % band_number
        cell["bandwidth_mhz"] = LTE_RB_TO_MHZ.get(integer(at(f, 9)))  # type: ignore[arg-type]
        cell["sinr_db"] = scaled(integer(at(f, 10), -40, 100), 0.5)
        cell["rsrp_dbm"] = _coded(at(f, 12), 97, 1, -141)
        cell["rsrq_db"] = _coded(at(f, 13), 34, 0.5, -20)
    return nr, cell


def parse_ccinfo(snapshot, lines):
    lte = None
    nr = None
    for line in lines:
        if not "0" <= line[:1] <= "9":
            continue  # "+GTCCINFO:" and "... service cell:" headers
        f = params(line)
        if at(f, 0) != "1":
            continue  # a neighbour cell
        found = _carrier(f)
        if found is None:
            continue
        mcc, mnc = mcc_mnc(at(f, 2), at(f, 3))
        set_operator(snapshot, mcc, mnc)
        if found[0]:
            nr = nr or found[1]
        else:
            lte = lte or found[1]
    if lte is not None:
        lte["tech"] = "LTE"
        update(snapshot["serving_cell"], lte)
    if nr is not None:
        nr["tech"] = "NR5G-NSA" if lte is not None else "NR5G-SA"
        update(nr_leg(snapshot) if lte is not None else snapshot["serving_cell"], nr)
    hint_tech(snapshot, "NR5G-NSA" if lte and nr else snapshot["serving_cell"]["tech"])


def parse_temp(snapshot, lines):
    for line in lines:
        if line.upper().startswith("+MTSM:"):
            value = integer(line[6:].strip(), -40, 125)
            if value is not None:
                snapshot["temperature_c"] = value


STEPS = (
    ("AT+GTCCINFO?", parse_ccinfo, 5.0),
    ("AT+MTSM=1", parse_temp, 3.0),
)
