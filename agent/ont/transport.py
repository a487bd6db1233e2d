"""Carriers of OMCI messages between the agent and the ONT, chosen by URL.

  udp://HOST:PORT  one OMCI message per datagram (ONT management daemons, the emulator)
  eth:IFACE        raw Ethernet frames, ethertype 0x88B5, on the interface facing the ONT

Both are thin: they move bytes, the sans-IO Runner decides what the bytes mean. Incoming frames
wait in a bounded queue, so a flooding ONT costs at most that queue.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
from typing import NamedTuple, Protocol

from agent.core.errors import InvalidInput

OMCI_ETHERTYPE = 0x88B5
ETH_HEADER = 14
BROADCAST = b"\xff" * 6
QUEUE_FRAMES = 256
MAX_FRAME = 2048  # an extended message is at most 1980 bytes; more is not OMCI
PACKET_OUTGOING = 4  # sll_pkttype of frames this host sent


ETH_MIN_FRAME = 60  # without the FCS; shorter frames are padded with zeros, as a NIC does


def ethernet_frame(dst: bytes, src: bytes, payload: bytes) -> bytes:
    frame = dst + src + struct.pack("!H", OMCI_ETHERTYPE) + payload
    return frame.ljust(ETH_MIN_FRAME, b"\x00")


class TransportError(InvalidInput):
    """A transport URL that cannot be used; the text says why."""


class Address(NamedTuple):
    kind: str  # "udp" | "eth"
    host: str
    port: int
    iface: str


def parse_url(url: str, *, listen: bool = False) -> Address:
    """`listen` allows port 0 (pick a free one)."""
    if url.startswith("udp://"):
        host, sep, port = url[6:].rpartition(":")
        host = host.strip("[]")
        lowest = 0 if listen else 1
        if not sep or not host or not port.isdigit() or not lowest <= int(port) < 65536:
            raise TransportError(f"transport {url!r}: expected udp://HOST:PORT")
        return Address("udp", host, int(port), "")
    if url.startswith("eth:"):
        iface = url[4:]
        if not iface or len(iface) > 15 or "/" in iface or " " in iface:
            raise TransportError(f"transport {url!r}: expected eth:IFACE (an interface name)")
        return Address("eth", "", 0, iface)
    raise TransportError(f"transport {url!r}: expected udp://HOST:PORT or eth:IFACE")


class Transport(Protocol):
    padded: bool  # Ethernet pads short frames: the decoder must accept trailing zeros

    async def send(self, data: bytes) -> None: ...

    async def recv(self, timeout: float) -> bytes | None: ...

    def close(self) -> None: ...


class _Queue:
    """Bounded inbox fed by socket callbacks; the oldest frames go first when it overflows."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[bytes] = asyncio.Queue(QUEUE_FRAMES)
        self.overflowed = 0

    def put(self, data: bytes) -> None:
        if self.queue.full():
            self.queue.get_nowait()
            self.overflowed += 1
        self.queue.put_nowait(data)

    async def get(self, timeout: float) -> bytes | None:
        try:
            return await asyncio.wait_for(self.queue.get(), max(timeout, 0.0))
        except TimeoutError:
            return None


class UdpTransport(asyncio.DatagramProtocol):
    padded = False

    def __init__(self) -> None:
        self.inbox = _Queue()
        self._transport: asyncio.DatagramTransport | None = None

    @classmethod
    async def connect(cls, host: str, port: int) -> UdpTransport:
        loop = asyncio.get_running_loop()
        try:
            _, proto = await loop.create_datagram_endpoint(cls, remote_addr=(host, port))
        except OSError as exc:
            raise TransportError(f"udp://{host}:{port}: {exc.strerror or exc}") from None
        return proto

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]  # a datagram endpoint's

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        if len(data) <= MAX_FRAME:
            self.inbox.put(data)

    def error_received(self, exc: Exception) -> None:
        # ICMP port unreachable and the like: the ONT is not there yet; timeouts handle it.
        pass

    async def send(self, data: bytes) -> None:
        assert self._transport is not None
        self._transport.sendto(data)

    async def recv(self, timeout: float) -> bytes | None:
        return await self.inbox.get(timeout)

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()


def open_packet_socket(iface: str) -> socket.socket:
    """An AF_PACKET socket bound to `iface` receiving only OMCI frames."""
    try:
        sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(OMCI_ETHERTYPE))
    except PermissionError:
        raise TransportError(f"eth:{iface}: raw sockets need root or CAP_NET_RAW") from None
    try:
        sock.bind((iface, OMCI_ETHERTYPE))
    except OSError as exc:
        sock.close()
        raise TransportError(f"eth:{iface}: {exc.strerror or exc}") from None
    sock.setblocking(False)
    return sock


class EthTransport:
    """OMCI over Ethernet: to the broadcast address (the ONT is the only peer on this link), from
    our interface's MAC; frames this host sent itself are ignored."""

    padded = True

    def __init__(self, sock: socket.socket, peer: bytes = BROADCAST) -> None:
        self.sock = sock
        self.mac: bytes = sock.getsockname()[4][:6]
        self.peer = peer
        self.inbox = _Queue()
        asyncio.get_running_loop().add_reader(sock.fileno(), self._readable)

    @classmethod
    async def open(cls, iface: str) -> EthTransport:
        return cls(open_packet_socket(iface))

    def _readable(self) -> None:
        for _ in range(QUEUE_FRAMES):
            try:
                frame, addr = self.sock.recvfrom(MAX_FRAME + ETH_HEADER)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return  # interface went down: timeouts will report it
            if addr[2] == PACKET_OUTGOING or len(frame) < ETH_HEADER:
                continue
            if struct.unpack("!H", frame[12:14])[0] == OMCI_ETHERTYPE:
                self.inbox.put(frame[ETH_HEADER:])

    async def send(self, data: bytes) -> None:
        frame = ethernet_frame(self.peer, self.mac, data)
        # A full socket buffer loses the frame, which is what retries are for.
        with contextlib.suppress(BlockingIOError):
            self.sock.send(frame)

    async def recv(self, timeout: float) -> bytes | None:
        return await self.inbox.get(timeout)

    def close(self) -> None:
        with contextlib.suppress(ValueError, OSError):
            asyncio.get_running_loop().remove_reader(self.sock.fileno())
        self.sock.close()


async def open_transport(url: str) -> Transport:
    address = parse_url(url)
    if address.kind == "udp":
        return await UdpTransport.connect(address.host, address.port)
    return await EthTransport.open(address.iface)
