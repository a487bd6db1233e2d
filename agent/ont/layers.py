"""OMCI messages as scapy packets: the G.988 layout for capture, dissection and OMCI tooling.

`Ether(...) / OmciBaseline(raw)` dissects a baseline or an extended message (the device
identifier picks which), with or without its trailer; building a baseline packet fills in its
CRC. The agent's poll uses the lighter codec in frames.py, which must read every frame the way
these layers do.
"""

from __future__ import annotations

import struct
from typing import Any, ClassVar

from scapy.fields import (
    BitEnumField,
    BitField,
    FieldLenField,
    MayEnd,
    ShortField,
    StrFixedLenField,
    StrLenField,
    XByteField,
    XIntField,
    XShortField,
)
from scapy.layers.l2 import Ether
from scapy.packet import Packet, bind_layers

from agent.ont.frames import BASELINE, BASELINE_CONTENTS, EXTENDED, MT, crc32_aal5
from agent.ont.transport import OMCI_ETHERTYPE

_MT_NAMES = {m.value: m.name.lower().replace("_", " ") for m in MT}


def _header_fields(device_id: int) -> list[Any]:
    return [
        XShortField("tci", 0),
        BitField("db", 0, 1),
        BitField("ar", 0, 1),
        BitField("ak", 0, 1),
        BitEnumField("mt", 0, 5, _MT_NAMES),
        XByteField("device_id", device_id),
        ShortField("me_class", 0),
        ShortField("me_instance", 0),
    ]


class OmciBaseline(Packet):
    name = "OMCI baseline"
    fields_desc: ClassVar[list[Any]] = [
        *_header_fields(BASELINE),
        # 40 bytes (no trailer) and 44 (no CRC/MIC) end early, as frames.decode accepts them
        MayEnd(StrFixedLenField("contents", b"", BASELINE_CONTENTS)),
        XByteField("cpcs_uu", 0),
        XByteField("cpi", 0),
        MayEnd(ShortField("sdu_length", 40)),
        XIntField("crc", None),  # the CRC (G-PON) or the MIC (XG-PON)
    ]

    def post_build(self, pkt: bytes, pay: bytes) -> bytes:
        if self.crc is None:
            pkt = pkt[:-4] + struct.pack("!I", crc32_aal5(pkt[:-4]))
        return pkt + pay

    @classmethod
    def dispatch_hook(cls, _pkt: bytes | None = None, *args: Any, **kargs: Any) -> type[Packet]:
        # Both formats share ethertype 0x88B5; the device identifier tells them apart.
        if _pkt is not None and len(_pkt) > 3 and _pkt[3] == EXTENDED:
            return OmciExtended
        return OmciBaseline


class OmciExtended(Packet):
    name = "OMCI extended"
    fields_desc: ClassVar[list[Any]] = [
        *_header_fields(EXTENDED),
        FieldLenField("length", None, length_of="contents", fmt="!H"),
        MayEnd(StrLenField("contents", b"", length_from=lambda p: p.length)),
        XIntField("mic", 0),  # AES-CMAC needs the key: frames.encode computes it
    ]


bind_layers(Ether, OmciBaseline, type=OMCI_ETHERTYPE)
