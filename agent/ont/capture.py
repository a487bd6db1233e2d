"""`--pcap FILE`: every OMCI message exchanged, as Ethernet/0x88B5 frames in a pcap file.

That is the encapsulation Wireshark's OMCI dissector and OMCI analysis tools read. Messages that
travelled over UDP get a synthetic Ethernet header: the OLT side (us) and the ONT each have a fixed
locally administered MAC, so the direction stays visible.
"""

from __future__ import annotations

import time
from pathlib import Path

from scapy.layers.l2 import Ether
from scapy.utils import PcapWriter, mac2str

import agent.ont.layers  # noqa: F401  (binds the OMCI layers to ethertype 0x88B5)
from agent.ont.transport import Transport, ethernet_frame

OLT_MAC = "02:51:49:00:00:01"  # 02: locally administered; 51:49 = "QI"
ONT_MAC = "02:51:49:00:00:02"


class PcapCapture:
    def __init__(self, path: str | Path) -> None:
        try:
            self._writer = PcapWriter(str(path), linktype=1, sync=True)  # 1 = Ethernet
        except OSError as exc:
            raise ValueError(f"cannot write pcap {path}: {exc.strerror or exc}") from None

    def write(self, omci: bytes, *, upstream: bool) -> None:
        src, dst = (ONT_MAC, OLT_MAC) if upstream else (OLT_MAC, ONT_MAC)
        # Dissected through the OMCI layers bound to 0x88B5; what does not dissect stays Raw,
        # and either way the bytes are written as they travelled.
        frame = Ether(ethernet_frame(mac2str(dst), mac2str(src), omci))
        frame.time = time.time()
        self._writer.write(frame)

    def close(self) -> None:
        self._writer.close()


class CapturedTransport:
    """A transport that also writes what it carries to a pcap (we are the OLT side)."""

    def __init__(self, inner: Transport, capture: PcapCapture) -> None:
        self.inner = inner
        self.capture = capture
        self.padded = inner.padded

    async def send(self, data: bytes) -> None:
        self.capture.write(data, upstream=False)
        await self.inner.send(data)

    async def recv(self, timeout: float) -> bytes | None:
        data = await self.inner.recv(timeout)
        if data is not None:
            self.capture.write(data, upstream=True)
        return data

    def close(self) -> None:
        self.inner.close()
        self.capture.close()
