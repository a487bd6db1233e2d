"""Sierra Wireless (MC/EM74xx LTE, EM7565, EM919x 5G): !GSTATUS?.

!GSTATUS? answers a free-text table, two "Key: value" columns per line separated by tabs or
runs of spaces. The labels differ by generation; both are read, by label, never by position:
  EM7455 (SWI9X30C):            EM7565 (SWI9X50C), EM919x:
  PCC RxM RSSI:  -74   RSRP (dBm):  -112      PCC RxM RSSI:  -65   PCC RxM RSRP:  -99
  PCC RxD RSSI:  -74   RSRP (dBm):  -118      PCC RxD RSSI:  -82   PCC RxD RSRP:  -122
The serving level is the main antenna's (RxM), the first of the rows. Other keys are shared:
  System mode:   LTE             PS state:    Attached
  LTE band:      B3              LTE bw:      20 MHz
  LTE Rx chan:   1300            LTE Tx chan: 19300
  Tx Power:      --              TAC:         2B5C (11100)
  RSRQ (dB):     -10.0           Cell ID:     01A2D003 (27447299)
  SINR (dB):     12.4
5G modules add the same keys prefixed "NR5G " for the NR carrier (EN-DC or SA), "---" when absent.
"""

from agent.core.dialects.fields import band, hexadecimal, integer, number
from agent.core.radio import hint_tech, nr_leg, update

MAX_PAIRS = 64


def pairs(lines):
    # type: (list) -> dict
    """Key -> value of a two-column "Key: value" table; the first occurrence of a key wins."""
    out = {}  # type: dict
    for line in lines:
        tokens = []
        for part in line.replace("\t", "  ").split("  "):
            part = part.strip()
            if part:
                tokens.append(part)
        key = None
        for token in tokens:
            if key is not None and not token.endswith(":"):
                if key not in out and len(out) < MAX_PAIRS:
                    out[key] = token
                key = None
                continue
            colon = token.find(":")
            if colon < 0:
                continue
            head, rest = token[:colon].strip(), token[colon + 1 :].strip()
            if rest:
                if head not in out and len(out) < MAX_PAIRS:
                    out[head] = rest
                key = None
            else:
                key = head
    return out


def _first_word(text):
    if text is None:
        return None
    return text.split(" ")[0]


def _first(table, keys):
    """The value of the first of `keys` the table has (label variants of one reading)."""
    for key in keys:
        if key in table:
            return table[key]
    return None


def _cell(table, prefix, tech):
    rsrp = _first(table, (prefix + "RSRP (dBm)", prefix + "PCC RxM RSRP"))
    return {
        "tech": tech,
        "band": band(tech, table.get(prefix + "band")) if table.get(prefix + "band") else None,
        "bandwidth_mhz": number(_first_word(table.get(prefix + "bw")), 1, 400),
        "arfcn": integer(table.get(prefix + "Rx chan"), 0, 3279165),
        "rsrp_dbm": integer(_first_word(rsrp), -160, -30),
        "rsrq_db": number(_first_word(table.get(prefix + "RSRQ (dB)")), -45, 20),
        "sinr_db": number(_first_word(table.get(prefix + "SINR (dB)")), -30, 60),
        "cell_id": hexadecimal(_first_word(table.get(prefix + "Cell ID")), 10),
        "pci": integer(table.get(prefix + "PCI"), 0, 1007),
    }


def parse_gstatus(snapshot, lines):
    table = pairs(lines)
    mode = (table.get("System mode") or "").upper()
    temperature = integer(table.get("Temperature"), -40, 125)
    if temperature is not None:
        snapshot["temperature_c"] = temperature
    lte = _cell(table, "LTE ", "LTE")
    # the LTE keys without prefix are how the 4G modules print them
    for key, value in _cell(table, "", "LTE").items():
        if lte.get(key) is None:
            lte[key] = value
    lte["tac"] = hexadecimal(_first_word(table.get("TAC")), 6)
    lte["rssi_dbm"] = integer(table.get("PCC RxM RSSI"), -140, 0)
    nr = _cell(table, "NR5G ", "NR5G-SA" if mode in ("NR5G", "NR5G SA", "SA") else "NR5G-NSA")
    if mode in ("LTE", "ENDC", "EN-DC"):
        update(snapshot["serving_cell"], lte)
    if mode in ("ENDC", "EN-DC") and nr["rsrp_dbm"] is not None:
        update(nr_leg(snapshot), nr)
        hint_tech(snapshot, "NR5G-NSA")
    elif mode in ("NR5G", "NR5G SA", "SA"):
        update(snapshot["serving_cell"], nr)
    elif mode == "WCDMA":
        update(snapshot["serving_cell"], {"tech": "UMTS"})
    hint_tech(snapshot, snapshot["serving_cell"]["tech"])


STEPS = (("AT!GSTATUS?", parse_gstatus, 5.0),)
