"""Managed entities (G.988 clause 9) we read, their attributes, and the attribute codecs.

An attribute mask has bit 16 (0x8000) for attribute 1, down to bit 1 for attribute 16. Attribute
values follow each other in mask order with the sizes defined here, which is why an attribute of a
class we do not model cannot be skipped: its bytes are kept raw instead.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from agent.core.errors import InvalidInput


class EncodeError(InvalidInput):
    """An attribute value that cannot be encoded."""


class Attribute(NamedTuple):
    name: str
    size: int
    codec: str  # key of CODECS


class Entity(NamedTuple):
    class_id: int
    name: str
    attributes: tuple[Attribute, ...]  # attribute 1 first

    def attribute(self, name: str) -> tuple[int, Attribute]:
        for index, attr in enumerate(self.attributes, 1):
            if attr.name == name:
                return index, attr
        raise KeyError(f"{self.name} has no attribute {name!r}")

    def mask_of(self, *names: str) -> int:
        mask = 0
        for name in names:
            mask |= bit(self.attribute(name)[0])
        return mask


def bit(index: int) -> int:
    """Mask bit of attribute `index` (1..16)."""
    return 1 << (16 - index)


def indices(mask: int) -> list[int]:
    return [i for i in range(1, 17) if mask & bit(i)]


# --- codecs: bytes ↔ the value we report ---------------------------------------------------------


def _text(raw: bytes) -> str | None:
    text = raw.rstrip(b"\x00 ")
    if not text:
        return None
    if all(32 <= b < 127 for b in text):
        return text.decode("ascii")
    return text.hex()  # not printable: keep every byte rather than guess a charset


def _serial(raw: bytes) -> str:
    # G.988 9.1.1: 4 bytes vendor id (ASCII) then a 4-byte vendor-specific serial number,
    # written the way ONT labels and OLT CLIs show it: "ABCD1234ABCD".
    vendor = raw[:4].decode("ascii") if all(65 <= b <= 90 for b in raw[:4]) else raw[:4].hex()
    return vendor + raw[4:].hex().upper()


def _signed(raw: bytes) -> int:
    return int.from_bytes(raw, "big", signed=True)


def _unsigned(raw: bytes) -> int:
    return int.from_bytes(raw, "big")


def _dbm_0002(raw: bytes) -> float:
    # ANI-G optical signal level / transmit optical level: 2s complement, 0.002 dB units.
    return round(_signed(raw) * 0.002, 3)


def _rx_threshold(raw: bytes) -> float | None:
    # ANI-G lower/upper optical threshold: unsigned, -0.5 dB units; 0xFF = the ONT's own policy.
    return None if raw[0] == 0xFF else -0.5 * raw[0]


def _tx_threshold(raw: bytes) -> float | None:
    # ANI-G transmit power thresholds: 2s complement, 0.5 dB units; 0x81 = the ONT's own policy.
    return None if raw[0] == 0x81 else 0.5 * _signed(raw)


DECODERS: dict[str, Any] = {
    "text": _text,
    "serial": _serial,
    "uint": _unsigned,
    "int": _signed,
    "bool": lambda raw: bool(raw[0]),
    "hex": lambda raw: raw.hex(),
    "dbm_0002": _dbm_0002,
    "rx_threshold": _rx_threshold,
    "tx_threshold": _tx_threshold,
}


def encode_value(attr: Attribute, value: Any) -> bytes:
    """The attribute's bytes for `value` (the emulator's MIB holds decoded values)."""
    size = attr.size
    try:
        if attr.codec == "text":
            raw = (value or "").encode("ascii")
            if len(raw) > size:
                raise EncodeError(f"{attr.name}: {value!r} is longer than {size} bytes")
            return raw.ljust(size, b"\x00")
        if attr.codec == "serial":
            return bytes(value[:4], "ascii") + bytes.fromhex(value[4:])
        if attr.codec in ("uint", "bool"):
            return int(value).to_bytes(size, "big")
        if attr.codec == "int":
            return int(value).to_bytes(size, "big", signed=True)
        if attr.codec == "hex":
            return bytes.fromhex(value).ljust(size, b"\x00")[:size]
        if attr.codec == "dbm_0002":
            return round(float(value) / 0.002).to_bytes(2, "big", signed=True)
        if attr.codec == "rx_threshold":
            return bytes([0xFF if value is None else round(-value * 2)])
        if attr.codec == "tx_threshold":
            return (
                bytes([0x81]) if value is None else round(value * 2).to_bytes(1, "big", signed=True)
            )
    except (OverflowError, ValueError, TypeError) as exc:
        raise EncodeError(f"{attr.name}: cannot encode {value!r} ({exc})") from None
    raise EncodeError(f"{attr.name}: unknown codec {attr.codec}")


# --- the entities -------------------------------------------------------------------------------


def _attrs(*spec: tuple[str, int, str]) -> tuple[Attribute, ...]:
    return tuple(Attribute(*s) for s in spec)


_PM_HEAD = (("interval_end_time", 1, "uint"), ("threshold_data_id", 2, "uint"))


def _ethernet_extended_pm(class_id: int, name: str, counter: int) -> Entity:
    # 334 and 425 differ only in counter width (32 / 64 bits), G.988 9.3.32 and 9.3.32.1.
    counters = (
        "drop_events", "octets", "frames", "broadcast_frames", "multicast_frames",
        "crc_errored_frames", "undersize_frames", "oversize_frames", "frames_64_octets",
        "frames_65_to_127_octets", "frames_128_to_255_octets", "frames_256_to_511_octets",
        "frames_512_to_1023_octets", "frames_1024_to_1518_octets",
    )  # fmt: skip
    return Entity(
        class_id,
        name,
        _attrs(
            ("interval_end_time", 1, "uint"),
            ("control_block", 16, "hex"),
            *((c, counter, "uint") for c in counters),
        ),
    )


ONU_DATA = Entity(2, "ONU data", _attrs(("mib_data_sync", 1, "uint")))
SOFTWARE_IMAGE = Entity(
    7,
    "Software image",
    _attrs(
        ("version", 14, "text"),
        ("is_committed", 1, "bool"),
        ("is_active", 1, "bool"),
        ("is_valid", 1, "bool"),
        ("product_code", 25, "text"),
        ("image_hash", 16, "hex"),
    ),
)
ONU_G = Entity(
    256,
    "ONU-G",
    _attrs(
        ("vendor_id", 4, "text"),
        ("version", 14, "text"),
        ("serial_number", 8, "serial"),
        ("traffic_management_option", 1, "uint"),
        ("deprecated", 1, "uint"),
        ("battery_backup", 1, "bool"),
        ("administrative_state", 1, "uint"),
        ("operational_state", 1, "uint"),
        ("onu_survival_time", 1, "uint"),
        ("logical_onu_id", 24, "text"),
        ("logical_password", 12, "hex"),  # a secret: reported as bytes, never printed as text
        ("credentials_status", 1, "uint"),
        ("extended_tc_layer_options", 2, "uint"),
    ),
)
ONU2_G = Entity(
    257,
    "ONU2-G",
    _attrs(
        ("equipment_id", 20, "text"),
        ("omcc_version", 1, "uint"),
        ("vendor_product_code", 2, "uint"),
        ("security_capability", 1, "uint"),
        ("security_mode", 1, "uint"),
        ("total_priority_queue_number", 2, "uint"),
        ("total_traffic_scheduler_number", 1, "uint"),
        ("deprecated", 1, "uint"),
        ("total_gem_port_id_number", 2, "uint"),
        ("sys_up_time", 4, "uint"),
        ("connectivity_capability", 2, "uint"),
        ("current_connectivity_mode", 1, "uint"),
        ("qos_configuration_flexibility", 2, "uint"),
        ("priority_queue_scale_factor", 2, "uint"),
    ),
)
ANI_G = Entity(
    263,
    "ANI-G",
    _attrs(
        ("sr_indication", 1, "bool"),
        ("total_tcont_number", 2, "uint"),
        ("gem_block_length", 2, "uint"),
        ("piggyback_dba_reporting", 1, "uint"),
        ("deprecated", 1, "uint"),
        ("sf_threshold", 1, "uint"),  # BER 10^-x
        ("sd_threshold", 1, "uint"),  # BER 10^-x
        ("arc", 1, "uint"),
        ("arc_interval", 1, "uint"),
        ("optical_signal_level", 2, "dbm_0002"),
        ("lower_optical_threshold", 1, "rx_threshold"),
        ("upper_optical_threshold", 1, "rx_threshold"),
        ("onu_response_time", 2, "uint"),
        ("transmit_optical_level", 2, "dbm_0002"),
        ("lower_transmit_power_threshold", 1, "tx_threshold"),
        ("upper_transmit_power_threshold", 1, "tx_threshold"),
    ),
)
# ANI-G alarm numbers, G.988 9.2.1.
ANI_G_ALARMS = {
    0: "low_rx_power",
    1: "high_rx_power",
    2: "signal_fail",
    3: "signal_degrade",
    4: "low_tx_power",
    5: "high_tx_power",
    6: "laser_bias_current",
}
FEC_PM = Entity(
    312,
    "FEC PM history data",
    _attrs(
        *_PM_HEAD,
        ("corrected_bytes", 4, "uint"),
        ("corrected_code_words", 4, "uint"),
        ("uncorrectable_code_words", 4, "uint"),
        ("total_code_words", 4, "uint"),
        ("fec_seconds", 2, "uint"),
    ),
)
GEM_CTP_PM = Entity(
    341,
    "GEM port network CTP PM history data",
    _attrs(
        *_PM_HEAD,
        ("transmitted_gem_frames", 4, "uint"),
        ("received_gem_frames", 4, "uint"),
        ("received_payload_bytes", 8, "uint"),
        ("transmitted_payload_bytes", 8, "uint"),
        ("encryption_key_errors", 4, "uint"),
    ),
)
ETHERNET_EXT_PM = _ethernet_extended_pm(334, "Ethernet frame extended PM", 4)
ETHERNET_EXT_PM64 = _ethernet_extended_pm(425, "Ethernet frame extended PM 64-bit", 8)

ENTITIES: dict[int, Entity] = {
    e.class_id: e
    for e in (
        ONU_DATA, SOFTWARE_IMAGE, ONU_G, ONU2_G, ANI_G, FEC_PM, GEM_CTP_PM, ETHERNET_EXT_PM,
        ETHERNET_EXT_PM64,
    )
}  # fmt: skip


def decode_attributes(class_id: int, mask: int, data: bytes) -> dict[str, Any]:
    """Values of the attributes in `mask`, read in order from `data`.

    Never fails on what it does not model: an unknown class keeps all its bytes under "raw", an
    attribute we do not know (or that runs past the data) keeps the rest under "raw_from_N".
    """
    entity = ENTITIES.get(class_id)
    if entity is None:
        return {"raw": data.hex()} if mask else {}
    values: dict[str, Any] = {}
    offset = 0
    for index in indices(mask):
        if index > len(entity.attributes) or offset + entity.attributes[index - 1].size > len(data):
            values[f"raw_from_{index}"] = data[offset:].hex()
            break
        attr = entity.attributes[index - 1]
        values[attr.name] = DECODERS[attr.codec](data[offset : offset + attr.size])
        offset += attr.size
    return values


def encode_attributes(entity: Entity, values: dict[str, Any]) -> tuple[int, bytes]:
    """Mask and bytes of the attributes named in `values`, in mask order."""
    mask, data = 0, b""
    for index, attr in enumerate(entity.attributes, 1):
        if attr.name in values:
            mask |= bit(index)
            data += encode_value(attr, values[attr.name])
    unknown = set(values) - {a.name for a in entity.attributes}
    if unknown:
        raise EncodeError(f"{entity.name} has no attribute(s) {', '.join(sorted(unknown))}")
    return mask, data


def split_mask(class_id: int, mask: int, budget: int) -> list[int]:
    """Split `mask` into masks whose values each fit `budget` bytes (25 in a baseline Get
    response, 26 in a MIB upload next response), keeping attribute order."""
    entity = ENTITIES.get(class_id)
    if entity is None:
        return [mask] if mask else []
    parts: list[int] = []
    current, used = 0, 0
    for index in indices(mask):
        size = entity.attributes[index - 1].size if index <= len(entity.attributes) else budget
        if current and used + size > budget:
            parts.append(current)
            current, used = 0, 0
        current |= bit(index)
        used += size
    if current:
        parts.append(current)
    return parts
