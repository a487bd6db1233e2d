"""An SFP ONT stick's own reading of its optics, from what its local shell prints (sans-IO).

Many SFP ONT sticks run Linux and their own ONU stack, and offer a shell over SSH. Two stacks are
common, and each prints its own way (the captures in tests/ont/stick_captures/ show both):

- `lantiq`: Lantiq (now MaxLinear) Falcon, the PEB98035 of the Huawei MA5671A, FS.com
  GPON-ONU-34-20BI, Nokia G-010S-P/A and Zyxel PMG3000-D20B. `otop -b -g s` prints the optic
  driver's status table ("%-50s value" lines, drv_optic's optic_top.c), `onu ploamsg` the PLOAM
  state (`errorcode=0 curr_state=5`), `omci_pipe.sh meg 131 0` the stick's own OLT-G managed
  entity (the OLT's vendor), attribute by attribute with its bytes in hex.
- `realtek`: Realtek RTL960x (ODI DFP-34X-2C2 and its relatives). `omcicli mib get 263` prints
  the stick's own ANI-G managed entity, attribute by attribute (`OpticalSignalLevel: 0xd663`);
  its values are the G.988 encodings, decoded here with the OMCI path's codecs (entities.py).

The Lantiq stack's `omci_pipe.sh meg 263 …` would give the ANI-G too, but no published output
of it was found to test against, so the levels come from otop (docs/ont.md).

What a dialect cannot say, or what its output does not say with certainty, is null with the
reason in `unknown`: a wrong level is worse than none.
"""

from __future__ import annotations

import math
import re
from typing import Any

from agent.core.errors import InvalidInput
from agent.ont import procedures
from agent.ont.entities import ANI_G, DECODERS, Entity

MAX_OUTPUT = 64 * 1024  # the largest real output here is 1.8 KiB; a stick's MIB dump is ~40 KiB
MAX_LINES = 1024
MAX_LINE = 1024  # characters; the longest real line here is 70
MAX_INSTANCES = 16  # ANI-G instances: one per PON port

OTOP_STATUS = "otop -b -g s"
PLOAM_STATE = "onu ploamsg"
OMCICLI_ANI_G = "omcicli mib get 263"
OMCI_PIPE_OLT_G = "omci_pipe.sh meg 131 0"

# dialect → the commands one reading runs, in order
COMMANDS: dict[str, tuple[str, ...]] = {
    "lantiq": (OTOP_STATUS, PLOAM_STATE, OMCI_PIPE_OLT_G),
    "realtek": (OMCICLI_ANI_G,),
}
DIALECTS = tuple(COMMANDS)


class ShellOutputError(InvalidInput):
    """Output that is not what the command prints; the text says what is wrong."""


def _lines(text: str, what: str) -> list[str]:
    if len(text) > MAX_OUTPUT:
        raise ShellOutputError(f"{what}: {len(text)} characters, more than {MAX_OUTPUT}")
    lines = text.splitlines()
    if len(lines) > MAX_LINES:
        raise ShellOutputError(f"{what}: {len(lines)} lines, more than {MAX_LINES}")
    if any(len(line) > MAX_LINE for line in lines):
        raise ShellOutputError(f"{what}: a line longer than {MAX_LINE} characters")
    return lines


# --- otop -b -g s ------------------------------------------------------------------------------

# optic_top.c writes "%-50s value": the label (with or without a colon, as versions differ),
# padding to column 50, then the value.
_OTOP_LINE = re.compile(r"(?P<label>\S.*?):?\s{2,}(?P<value>\S.*?)\s*")
_POWER = re.compile(
    r"(?P<linear>\d{1,6}\.\d{1,3})(?P<unit>uW|mW)(?:\s+(?P<dbm>[-+]?\d{1,3}\.\d{1,3})dBm)?"
)
_MILLIAMPS = re.compile(r"(?P<bias>\d{1,4}\.\d{1,3})mA\s*/\s*\d{1,4}\.\d{1,3}mA")
_KELVIN = re.compile(r"(?P<kelvin>\d{1,4})K")
_MILLIVOLTS = re.compile(r"(?P<mv>\d{1,5}\.\d{1,3})mV")
# otop's µW and dBm of the same reading disagree by up to ~0.1 dB in the published capture (the
# driver computes them apart); beyond this they are not the same reading and neither is trusted.
POWER_TOLERANCE_DB = 0.5
# laser temperature the driver can report: below or above this it is a wrong or unset sensor
KELVIN_RANGE = (200, 420)


# The first rows of optic_top.c's status table in every version seen: they tell it from otop's
# other tables (alarms, configuration, ranges), whether or not a title line comes first.
STATUS_ROWS = ("chip version (fuse format)", "driver version (otop version)")


def _otop_table(text: str) -> dict[str, str]:
    lines = [line for line in _lines(text, OTOP_STATUS) if line.strip()]
    if lines and lines[0].strip() == "status overview":
        lines = lines[1:]  # the title, as the interactive otop shows it
    table: dict[str, str] = {}
    seen_twice = set()
    for line in lines:
        match = _OTOP_LINE.fullmatch(line)
        if not match:
            continue  # a line otop wraps or a version adds: not one we read
        label = match["label"].lower()
        if label in table:
            seen_twice.add(label)
        table[label] = match["value"]
    if not all(row in table for row in STATUS_ROWS):
        raise ShellOutputError(f"{OTOP_STATUS}: not otop's status table (no {STATUS_ROWS[0]!r})")
    for label in seen_twice:
        table[label] = ""  # two values for one label: neither is certain
    return table


def _power_dbm(value: str | None) -> tuple[float | None, str | None]:
    """otop's power ("17.01uW -17.57dBm" in 7.5, "17.01uW" before) in dBm, or why not."""
    if value is None:
        return None, "not in the otop status table"
    match = _POWER.fullmatch(value)
    if not match:
        return None, f"unreadable power {value[:40]!r}"
    milliwatts = float(match["linear"]) / (1000 if match["unit"] == "uW" else 1)
    from_linear = 10 * math.log10(milliwatts) if milliwatts > 0 else None
    if match["dbm"] is None:
        if from_linear is None:
            return None, "0 µW has no dBm value"
        return round(from_linear, 2), None
    dbm = float(match["dbm"])
    if from_linear is None or abs(from_linear - dbm) > POWER_TOLERANCE_DB:
        return None, f"otop's linear power and dBm disagree ({value})"
    return dbm, None


def parse_otop_status(text: str) -> dict[str, Any]:
    """The levels in otop's status table: rx/tx dBm, bias mA, laser °C, supply V, and `unknown`
    (key → why it is null)."""
    table = _otop_table(text)
    unknown: dict[str, str] = {}
    out: dict[str, Any] = {}

    def value(label: str, key: str) -> str | None:
        found = table.get(label)
        if found is None:
            unknown[key] = f"no '{label}' in the otop status table"
        elif not found:
            unknown[key] = f"'{label}' appears twice in the otop status table"
            return None
        return found

    detect = table.get("signal detect") or table.get("signal detect, lock on signal")
    out["signal_detect"] = {"true": True, "false": False}.get((detect or "").split(" ")[0])
    rx_text = value("rssi 1490 power", "rx_dbm")
    if rx_text is not None and out["signal_detect"] is False:
        out["rx_dbm"], unknown["rx_dbm"] = None, "loss of signal (otop: Signal detect false)"
    elif rx_text is not None:
        out["rx_dbm"], why = _power_dbm(rx_text)
        if why:
            unknown["rx_dbm"] = why
    tx_label = next((label for label in table if label.startswith("tx power")), "tx power")
    tx_text = value(tx_label, "tx_dbm")
    if tx_text is not None:
        # the driver's estimate from bias, modulation and slope efficiency, not a photodiode
        out["tx_dbm"], why = _power_dbm(tx_text)
        if why:
            unknown["tx_dbm"] = why
    bias = value("actual bias / modulation current", "bias_ma")
    if bias is not None:
        match = _MILLIAMPS.fullmatch(bias)
        out["bias_ma"] = float(match["bias"]) if match else None
        if not match:
            unknown["bias_ma"] = f"unreadable bias {bias[:40]!r}"
    kelvin = value("laser temperature (ext corr)", "temperature_c")
    if kelvin is not None:
        match = _KELVIN.fullmatch(kelvin.strip())
        if match and KELVIN_RANGE[0] <= int(match["kelvin"]) <= KELVIN_RANGE[1]:
            out["temperature_c"] = round(int(match["kelvin"]) - 273.15, 2)  # whole kelvins
        else:
            out["temperature_c"] = None
            unknown["temperature_c"] = f"laser temperature {kelvin[:40]!r}"
    millivolts = value("ddmi voltage", "voltage_v")
    if millivolts is not None:
        match = _MILLIVOLTS.fullmatch(millivolts)
        out["voltage_v"] = round(float(match["mv"]) / 1000, 4) if match else None
        if not match:
            unknown["voltage_v"] = f"unreadable DDMI voltage {millivolts[:40]!r}"
    for key in ("rx_dbm", "tx_dbm", "bias_ma", "temperature_c", "voltage_v"):
        out.setdefault(key, None)
    out["unknown"] = unknown
    return out


# --- onu ploamsg -------------------------------------------------------------------------------

_PLOAM_FIELD = re.compile(r"([a-z_]{1,20})=(-?\d{1,12})")


def parse_ploam_state(text: str) -> dict[str, Any]:
    """`onu ploamsg`: the PLOAM state as "O1".."O7" (G.984.3 10.1), or null and why."""
    lines = [line for line in _lines(text, PLOAM_STATE) if line.strip()]
    if len(lines) != 1:
        raise ShellOutputError(f"{PLOAM_STATE}: expected one line, got {len(lines)}")
    fields = dict(_PLOAM_FIELD.findall(lines[0]))
    if "errorcode" not in fields or "curr_state" not in fields:
        raise ShellOutputError(f"{PLOAM_STATE}: no errorcode / curr_state in {lines[0][:80]!r}")
    if fields["errorcode"] != "0":
        return {"ploam_state": None, "unknown": {"ploam_state": f"errorcode={fields['errorcode']}"}}
    state = int(fields["curr_state"])
    if not 1 <= state <= 7:
        return {"ploam_state": None, "unknown": {"ploam_state": f"curr_state={state}"}}
    return {"ploam_state": f"O{state}", "unknown": {}}


# --- omci_pipe.sh meg CLASS INSTANCE ----------------------------------------------------------

_MEG_CLASS = re.compile(r"Class ID\s+=\s+(\d{1,5})\s+\((.{1,80})\)")
_MEG_INSTANCE = re.compile(r"Instance ID\s+=\s+(\d{1,5})")
# " 0 OLT vendor id                 4b STR  RW-----P---": number (0-based on Falcon, 1-based on
# PRX: not used), name, size in bytes, type, flags
_MEG_ATTRIBUTE = re.compile(r"(\d{1,2}) (\S.{0,60}?)\s+(\d{1,4})b ([A-Z]{2,6})\s+([A-Z-]{6,16})")
_MEG_BYTES = re.compile(r"(?:0x[0-9a-f]{2,16}(?: \(-?\d{1,20}\))?\s*)+")
_MEG_ERRORCODE = re.compile(r"errorcode=(-?\d{1,6})")


def _meg_attribute_bytes(lines: list[str], size: int) -> bytes | None:
    """An attribute's value from the hex lines under its header ("0x48 0x57 …", or "0x10 (16)"
    for a number), or None when they do not add up to its size."""
    raw = bytearray()
    for line in lines:
        if not _MEG_BYTES.fullmatch(line):
            continue  # the printable rendering under the hex ("HWTC", "\\x00…")
        for token in line.split():
            if token.startswith("0x"):
                width = len(token) - 2
                if width % 2:
                    return None
                raw += int(token, 16).to_bytes(width // 2, "big")
    return bytes(raw) if len(raw) == size else None


def parse_omci_pipe_meg(text: str) -> dict[str, Any]:
    """`omci_pipe.sh meg CLASS INSTANCE`: {"class_id", "class_name", "instance", "attributes":
    name → bytes (None when its hex does not match its size)}. The attributes are keyed by name:
    Falcon numbers them from 0, PRX from 1."""
    what = "omci_pipe.sh meg"
    lines = [line.strip() for line in _lines(text, what)]
    errors = [m[1] for line in lines if (m := _MEG_ERRORCODE.fullmatch(line))]
    if errors != ["0"]:
        raise ShellOutputError(f"{what}: errorcode={errors[0] if errors else 'missing'}")
    heads = [m for line in lines if (m := _MEG_CLASS.fullmatch(line))]
    instances = [m for line in lines if (m := _MEG_INSTANCE.fullmatch(line))]
    if len(heads) != 1 or len(instances) != 1:
        raise ShellOutputError(f"{what}: expected one managed entity, found {len(heads)}")
    attributes: dict[str, bytes | None] = {}
    header: re.Match[str] | None = None
    body: list[str] = []
    for line in [*lines, "-"]:  # a last separator closes the last attribute
        if line and set(line) == {"-"}:
            if header is not None:
                name = header[2]
                if name in attributes:
                    raise ShellOutputError(f"{what}: attribute {name!r} twice")
                attributes[name] = _meg_attribute_bytes(body, int(header[3]))
            header, body = None, []
        elif header is None and (match := _MEG_ATTRIBUTE.fullmatch(line)):
            header = match
        elif header is not None:
            body.append(line)
    return {
        "class_id": int(heads[0][1]),
        "class_name": heads[0][2],
        "instance": int(instances[0][1]),
        "attributes": attributes,
    }


def parse_olt_vendor(text: str) -> tuple[str | None, str | None]:
    """The OLT's vendor id from `omci_pipe.sh meg 131 0` (OLT-G, G.988 9.12.2: 4 ASCII bytes the
    OLT sets), or None and why."""
    me = parse_omci_pipe_meg(text)
    if (me["class_id"], me["instance"]) != (131, 0):
        raise ShellOutputError(f"{OMCI_PIPE_OLT_G}: got class {me['class_id']}/{me['instance']}")
    raw = me["attributes"].get("OLT vendor id")
    if raw is None:
        return None, "no readable 'OLT vendor id' (4 bytes) in OLT-G"
    vendor = DECODERS["text"](raw)
    if vendor is None:
        return None, "OLT-G not set: the OLT has not provisioned the stick"
    return vendor, None


# --- omcicli mib get CLASS ---------------------------------------------------------------------

# class → (our entity, Realtek's table name, Realtek's attribute names → G.988 attribute names
# in entities.py). ANI-G's Low/UppDfl* thresholds after them are Realtek's own defaults, not
# G.988 attributes: not read.
REALTEK_TABLES: dict[int, tuple[Entity, str, dict[str, str]]] = {
    ANI_G.class_id: (
        ANI_G,
        "Anig",
        {
            "SRInd": "sr_indication",
            "NumOfTcont": "total_tcont_number",
            "GemBlkLen": "gem_block_length",
            "PbDbaRpt": "piggyback_dba_reporting",
            "OnuDbaRpt": "deprecated",
            "SFThreshold": "sf_threshold",
            "SDThreshold": "sd_threshold",
            "ARC": "arc",
            "ARCInterval": "arc_interval",
            "OpticalSignalLevel": "optical_signal_level",
            "LowOpThreshold": "lower_optical_threshold",
            "UppOpThreshold": "upper_optical_threshold",
            "OntRspTime": "onu_response_time",
            "TranOpticLevel": "transmit_optical_level",
            "LowTranPowThreshold": "lower_transmit_power_threshold",
            "UppTranPowThreshold": "upper_transmit_power_threshold",
        },
    ),
}
_NUMBER = re.compile(r"0x[0-9a-fA-F]{1,16}|\d{1,20}")


def _attribute(entity: Entity, name: str, text: str) -> tuple[Any, str | None]:
    """One attribute's value through the G.988 codec of the OMCI path, or null and why."""
    _, attr = entity.attribute(name)
    if not _NUMBER.fullmatch(text):
        return None, f"not a number: {text[:40]!r}"
    number = int(text, 0)
    if number >= 1 << (8 * attr.size):
        return None, f"{text} does not fit {attr.size} byte(s)"
    return DECODERS[attr.codec](number.to_bytes(attr.size, "big")), None


def parse_omcicli(text: str, class_id: int) -> list[dict[str, Any]]:
    """`omcicli mib get CLASS`: each instance as {"instance", G.988 attribute → value,
    "unknown": {attribute: why}}. No instance (an empty table) is an empty list."""
    if class_id not in REALTEK_TABLES:
        raise ShellOutputError(f"omcicli: class {class_id} is not read")
    entity, table, names = REALTEK_TABLES[class_id]
    what = f"omcicli mib get {class_id}"
    lines = [line.strip() for line in _lines(text, what) if line.strip()]
    if len(lines) < 3 or lines[1] != table or set(lines[0]) != {"X"} or set(lines[2]) != {"X"}:
        raise ShellOutputError(f"{what}: not the {table} table")
    instances: list[dict[str, Any]] = []
    current: dict[str, str] | None = None
    for line in lines[3:]:
        if set(line) == {"="}:
            if current is None:
                current = {}
            else:
                if len(instances) == MAX_INSTANCES:
                    raise ShellOutputError(f"{what}: more than {MAX_INSTANCES} instances")
                instances.append(_instance(entity, names, current, what))
                current = None
            continue
        if current is None:
            raise ShellOutputError(f"{what}: {line[:60]!r} outside an instance")
        key, sep, val = line.partition(":")
        if not sep:
            raise ShellOutputError(f"{what}: {line[:60]!r} is not 'Name: value'")
        if key in current:
            raise ShellOutputError(f"{what}: {key} twice in one instance")
        current[key] = val.strip()
    if current is not None:
        raise ShellOutputError(f"{what}: the last instance is not closed")
    return instances


def _instance(
    entity: Entity, names: dict[str, str], fields: dict[str, str], what: str
) -> dict[str, Any]:
    entity_id = fields.get("EntityID") or fields.get("EntityId")
    if entity_id is None or not _NUMBER.fullmatch(entity_id) or int(entity_id, 0) > 0xFFFF:
        raise ShellOutputError(f"{what}: an instance without a valid EntityID")
    out: dict[str, Any] = {"instance": int(entity_id, 0)}
    unknown: dict[str, str] = {}
    for realtek, name in names.items():
        if realtek not in fields:
            out[name], unknown[name] = None, f"no {realtek} in the output"
            continue
        out[name], why = _attribute(entity, name, fields[realtek])
        if why:
            unknown[name] = f"{realtek}: {why}"
    out["unknown"] = unknown
    return out


# --- one reading -------------------------------------------------------------------------------

THRESHOLD_KEYS = ("rx_low_threshold_dbm", "rx_high_threshold_dbm",
                  "tx_low_threshold_dbm", "tx_high_threshold_dbm")  # fmt: skip
NOT_IN_DIALECT = {
    "lantiq": {key: "otop's status table has no alarm thresholds" for key in THRESHOLD_KEYS},
    "realtek": {
        key: "the stick's ANI-G (omcicli) has no temperature, bias or supply voltage"
        for key in ("temperature_c", "bias_ma", "voltage_v")
    },
}


def reading(dialect: str, outputs: dict[str, str]) -> dict[str, Any]:
    """The reading of one poll from each command's output: `optical` with the same keys as the
    OMCI path's (procedures.OPTICAL_KEYS), `unknown` (key → why null), and what else the dialect
    says (`ploam_state`, `ani_g`)."""
    if dialect not in COMMANDS:
        raise ShellOutputError(f"dialect must be one of {', '.join(DIALECTS)}")
    missing = [c for c in COMMANDS[dialect] if c not in outputs]
    if missing:
        raise ShellOutputError(f"no output of {', '.join(missing)}")
    optical: dict[str, Any] = dict.fromkeys(procedures.OPTICAL_KEYS)
    unknown = dict(NOT_IN_DIALECT[dialect])
    result: dict[str, Any] = {"source": "stick-shell", "dialect": dialect}
    if dialect == "lantiq":
        levels = parse_otop_status(outputs[OTOP_STATUS])
        unknown.update(levels.pop("unknown"))
        result["signal_detect"] = levels.pop("signal_detect")
        optical.update(levels)
        ploam = parse_ploam_state(outputs[PLOAM_STATE])
        result["ploam_state"] = ploam["ploam_state"]
        unknown.update(ploam["unknown"])
        result["olt_vendor_id"], why = parse_olt_vendor(outputs[OMCI_PIPE_OLT_G])
        if why:
            unknown["olt_vendor_id"] = why
    else:
        ani_g = parse_omcicli(outputs[OMCICLI_ANI_G], ANI_G.class_id)
        result["ani_g"] = ani_g
        if not ani_g:
            unknown.update({k: "the stick lists no ANI-G" for k in ("rx_dbm", "tx_dbm")})
        else:  # the record's levels: the first ANI-G, as on the OMCI path
            first = ani_g[0]
            for key, name in (
                ("rx_dbm", "optical_signal_level"),
                ("tx_dbm", "transmit_optical_level"),
                ("rx_low_threshold_dbm", "lower_optical_threshold"),
                ("rx_high_threshold_dbm", "upper_optical_threshold"),
                ("tx_low_threshold_dbm", "lower_transmit_power_threshold"),
                ("tx_high_threshold_dbm", "upper_transmit_power_threshold"),
            ):
                optical[key] = first[name]
                if name in first["unknown"]:
                    unknown[key] = first["unknown"][name]
                elif first[name] is None:  # the G.988 "ONT policy" value
                    unknown[key] = "the stick's own policy (G.988 9.2.1)"
    result["optical"] = optical
    result["unknown"] = {
        k: v for k, v in unknown.items() if optical.get(k) is None and result.get(k) is None
    }
    return result
