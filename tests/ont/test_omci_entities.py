"""Managed-entity attribute codecs against bytes worked out by hand from G.988 clause 9."""

from __future__ import annotations

import pytest

from agent.ont import entities
from agent.ont.entities import decode_attributes, split_mask


def h(text: str) -> bytes:
    return bytes.fromhex(text.replace(" ", ""))


def test_onu_g_identity() -> None:
    # attributes 1 vendor id (4), 2 version (14), 3 serial number (8): mask E000
    data = h("51495953") + b"QY-ONT-100" + bytes(4) + h("51495953 0001A2B3")
    assert decode_attributes(256, 0xE000, data) == {
        "vendor_id": "QIYS",
        "version": "QY-ONT-100",
        # serial number: 4 ASCII vendor bytes, then 4 vendor-specific bytes shown in hex
        "serial_number": "QIYS0001A2B3",
    }


def test_onu2_g_equipment_and_omcc_version() -> None:
    # attribute 1 equipment id (20 bytes), attribute 2 OMCC version (1): mask C000
    data = b"QY-ONT-100-EU" + bytes(7) + h("A3")
    assert decode_attributes(257, 0xC000, data) == {
        "equipment_id": "QY-ONT-100-EU",
        "omcc_version": 0xA3,
    }


def test_software_image_flags() -> None:
    # attributes 1 version (14), 2 is committed, 3 is active, 4 is valid: mask F000
    data = b"V1.2.3" + bytes(8) + h("01 00 01")
    assert decode_attributes(7, 0xF000, data) == {
        "version": "V1.2.3",
        "is_committed": True,
        "is_active": False,
        "is_valid": True,
    }


def test_ani_g_levels_and_thresholds() -> None:
    # mask 007F: attributes 10..16
    # 10 optical signal level: 0xDBD4 = -9260 → × 0.002 = -18.52 dBm
    # 11 lower optical threshold: 0x38 = 56 → × -0.5 = -28 dBm; 12 upper: 0xFF = ONT policy
    # 13 ONU response time 0x88B8 = 35000 ns; 14 transmit level 0x0492 = 1170 → 2.34 dBm
    # 15 lower transmit threshold: 0xFE = -2 → × 0.5 = -1 dBm; 16 upper: 0x81 = ONT policy
    data = h("DBD4 38 FF 88B8 0492 FE 81")
    assert decode_attributes(263, 0x007F, data) == {
        "optical_signal_level": -18.52,
        "lower_optical_threshold": -28.0,
        "upper_optical_threshold": None,
        "onu_response_time": 35000,
        "transmit_optical_level": 2.34,
        "lower_transmit_power_threshold": -1.0,
        "upper_transmit_power_threshold": None,
    }


def test_fec_pm_history_data() -> None:
    # 312 attributes 1 interval end time, 3 corrected bytes, 5 uncorrectable code words:
    # mask 8000 | 2000 | 0800 = A800
    data = h("03 000004B0 00000023")
    assert decode_attributes(312, 0xA800, data) == {
        "interval_end_time": 3,
        "corrected_bytes": 1200,
        "uncorrectable_code_words": 35,
    }


def test_gem_port_ctp_pm_64_bit_byte_counters() -> None:
    # 341 attribute 5 received payload bytes (8 bytes), 7 encryption key errors (4): mask 0A00
    data = h("0000000100000000 00000002")
    assert decode_attributes(341, 0x0A00, data) == {
        "received_payload_bytes": 1 << 32,
        "encryption_key_errors": 2,
    }


def test_ethernet_extended_pm_32_and_64_bit() -> None:
    # attribute 4 octets: 4 bytes in class 334, 8 bytes in class 425; mask 1000
    assert decode_attributes(334, 0x1000, h("0001E240")) == {"octets": 123456}
    assert decode_attributes(425, 0x1000, h("000000000001E240")) == {"octets": 123456}


def test_what_we_do_not_model_is_kept_raw() -> None:
    # a vendor-specific class: every byte kept
    assert decode_attributes(65300, 0xC000, h("0102030405")) == {"raw": "0102030405"}
    # ONU data has one attribute; a second one in the mask cannot be sized: kept raw from there
    assert decode_attributes(2, 0xC000, h("05 AABB")) == {"mib_data_sync": 5, "raw_from_2": "aabb"}
    # values shorter than the mask says: what is there is kept
    assert decode_attributes(256, 0xC000, h("51495953 5159")) == {
        "vendor_id": "QIYS",
        "raw_from_2": "5159",
    }


def test_non_printable_text_is_kept_as_hex() -> None:
    assert decode_attributes(256, 0x8000, h("00FF0102")) == {"vendor_id": "00ff0102"}


def test_split_mask_fits_baseline_get_response() -> None:
    # vendor id 4 + version 14 + serial 8 = 26 > 25: two Gets, in attribute order
    assert split_mask(256, 0xE000, 25) == [0xC000, 0x2000]
    # GEM CTP PM: 1+2+4+4+8+8+4 = 31 bytes → 1..5 (19 bytes), then 6..7 (12 bytes)
    assert split_mask(341, 0xFE00, 25) == [0xF800, 0x0600]
    assert split_mask(263, 0x007F, 25) == [0x007F]


@pytest.mark.parametrize("entity", list(entities.ENTITIES.values()), ids=lambda e: e.name)
def test_every_entity_fits_the_mask(entity: entities.Entity) -> None:
    assert 1 <= len(entity.attributes) <= 16
    assert len({a.name for a in entity.attributes}) == len(entity.attributes)
