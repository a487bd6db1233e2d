"""The emulated ONT on a real transport: a UDP socket or raw Ethernet (0x88B5) on an interface."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
from collections.abc import Callable

from agent.ont.capture import PcapCapture
from agent.ont.transport import (
    ETH_HEADER,
    MAX_FRAME,
    OMCI_ETHERTYPE,
    PACKET_OUTGOING,
    ethernet_frame,
    open_packet_socket,
    parse_url,
)
from hil.ont.emulator import Emulator


class _Sender:
    """Sends the emulator's answers after their scenario delays, capturing them if asked."""

    def __init__(self, emulator: Emulator, capture: PcapCapture | None) -> None:
        self.emulator = emulator
        self.capture = capture
        self.loop = asyncio.get_running_loop()
        self.timers: set[asyncio.TimerHandle] = set()

    def answer(self, data: bytes, send: Callable[[bytes], object], *, padded: bool) -> None:
        if self.capture is not None:
            self.capture.write(data, upstream=False)
        for delay, frame in self.emulator.receive(data, padded=padded):
            if delay <= 0:
                self._send(send, frame)
            else:
                self.timers.add(self.loop.call_later(delay, self._send, send, frame))

    def _send(self, send: Callable[[bytes], object], frame: bytes) -> None:
        self.timers = {t for t in self.timers if not t.cancelled() and t.when() > self.loop.time()}
        if self.capture is not None:
            self.capture.write(frame, upstream=True)
        with contextlib.suppress(OSError):
            send(frame)

    def close(self) -> None:
        for handle in self.timers:
            handle.cancel()
        if self.capture is not None:
            self.capture.close()


class _UdpProtocol(asyncio.DatagramProtocol):
    def __init__(self, sender: _Sender) -> None:
        self.sender = sender
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # a datagram endpoint's

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        if len(data) > MAX_FRAME or self.transport is None:
            return
        sendto = self.transport.sendto
        self.sender.answer(data, lambda frame: sendto(frame, addr), padded=False)


class OntServer:
    """Serve one emulator on `listen` (udp://HOST:PORT, port 0 picks one, or eth:IFACE)."""

    def __init__(self, emulator: Emulator, pcap: str | None = None) -> None:
        self.emulator = emulator
        self.pcap = pcap
        self.url = ""
        self._sender: _Sender | None = None
        self._udp: asyncio.DatagramTransport | None = None
        self._sock: socket.socket | None = None

    async def start(self, listen: str) -> str:
        address = parse_url(listen, listen=True)
        self._sender = _Sender(self.emulator, PcapCapture(self.pcap) if self.pcap else None)
        loop = asyncio.get_running_loop()
        if address.kind == "udp":
            try:
                transport, _ = await loop.create_datagram_endpoint(
                    lambda: _UdpProtocol(self._sender),  # type: ignore[arg-type]
                    local_addr=(address.host, address.port),
                )
            except OSError as exc:
                raise ValueError(f"cannot listen on {listen}: {exc.strerror or exc}") from None
            self._udp = transport
            host, port = transport.get_extra_info("sockname")[:2]
            self.url = f"udp://{host}:{port}"
            return self.url
        return self.start_eth(open_packet_socket(address.iface))

    def start_eth(self, sock: socket.socket) -> str:
        """Serve on an AF_PACKET socket opened by the caller (perhaps in another namespace)."""
        if self._sender is None:
            self._sender = _Sender(self.emulator, PcapCapture(self.pcap) if self.pcap else None)
        self._sock = sock
        asyncio.get_running_loop().add_reader(sock.fileno(), self._eth_readable)
        self.url = f"eth:{sock.getsockname()[0]}"
        return self.url

    def _eth_readable(self) -> None:
        sock, sender = self._sock, self._sender
        assert sock is not None and sender is not None
        mac = sock.getsockname()[4][:6]
        while True:
            try:
                frame, addr = sock.recvfrom(MAX_FRAME + ETH_HEADER)
            except (BlockingIOError, InterruptedError, OSError):
                return
            if addr[2] == PACKET_OUTGOING or len(frame) < ETH_HEADER:
                continue
            if struct.unpack("!H", frame[12:14])[0] != OMCI_ETHERTYPE:
                continue

            def send(data: bytes, peer: bytes = frame[6:12]) -> None:
                sock.send(ethernet_frame(peer, mac, data))  # answer the sender

            sender.answer(frame[ETH_HEADER:], send, padded=True)

    def close(self) -> None:
        if self._udp is not None:
            self._udp.close()
        if self._sock is not None:
            with contextlib.suppress(ValueError, OSError):
                asyncio.get_running_loop().remove_reader(self._sock.fileno())
            self._sock.close()
        if self._sender is not None:
            self._sender.close()
