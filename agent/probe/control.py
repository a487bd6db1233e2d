"""The capacity endpoint's control protocol: fixed-size, versioned, sans-IO.

Each TCP stream of a capacity session opens with one request; the server answers with one reply
and, if it accepted, the data flows: server → client for a download, client → server for an
upload, during which the server sends a progress report every REPORT_INTERVAL_S so the client
counts what arrived rather than what it queued. The streams of one session share its token.

request (32 octets): "QYC1" direction(1: 0 down, 1 up, 2 load) streams(1) index(1) MBZ(1)
                     duration_ms(4) token(16) MBZ(4)
reply   (12 octets): "QYA1" status(1) MBZ(3) granted_ms(4)
report  (12 octets): elapsed_ms(4) received_bytes(8)        (upload only, server → client)
load    (16 octets): "QYL1" cpu_permille(2) nic_permille(2) sessions_max(2) MBZ(2) MBZ(4)

A `load` request (direction 2, streams 1, index 0) names a session by its token, once its streams
are done; the server answers with one load message and closes: its own CPU over the session (per
mille of one core), its NIC's utilisation (per mille; UNKNOWN when it cannot say) and the most
sessions it served at once meanwhile (docs/methodology.md §3.4). UNKNOWN in all: no such session.
"""

from __future__ import annotations

import struct
from typing import NamedTuple

from agent.core.errors import InvalidInput

REQUEST_MAGIC = b"QYC1"
REPLY_MAGIC = b"QYA1"
_REQUEST = struct.Struct(">4sBBBxI16s4s")
_REPLY = struct.Struct(">4sB3xI")
_REPORT = struct.Struct(">IQ")
LOAD_MAGIC = b"QYL1"
_LOAD = struct.Struct(">4sHHH2s4s")
LOAD_SIZE = _LOAD.size
UNKNOWN = 0xFFFF
REQUEST_SIZE = _REQUEST.size
REPLY_SIZE = _REPLY.size
REPORT_SIZE = _REPORT.size
REPORT_INTERVAL_S = 0.05

DOWN = 0
UP = 1
LOAD = 2
DIRECTIONS = {DOWN: "down", UP: "up"}
MAX_STREAMS = 16
MAX_DURATION_MS = 120_000

OK = 0
BUSY = 1
CLIENT_LIMIT = 2
BAD_REQUEST = 3
STREAM_LIMIT = 4
SESSION_OVER = 5
STATUS_TEXT = {
    OK: "accepted",
    BUSY: "server busy: too many sessions",
    CLIENT_LIMIT: "too many sessions from this client",
    BAD_REQUEST: "request not understood",
    STREAM_LIMIT: "more streams than the server allows",
    SESSION_OVER: "session already over or its stream already open",
}


class ControlError(InvalidInput):
    """Bytes that are not a valid control message; the text says which field."""


class Request(NamedTuple):
    direction: int
    streams: int
    stream: int
    duration_ms: int
    token: bytes


class Reply(NamedTuple):
    status: int
    granted_ms: int


def encode_request(req: Request) -> bytes:
    check_request(req)
    return _REQUEST.pack(
        REQUEST_MAGIC, req.direction, req.streams, req.stream, req.duration_ms, req.token, bytes(4)
    )


class Load(NamedTuple):
    cpu: float | None  # share of one core
    nic: float | None  # share of the interface's speed
    sessions_max: int | None


def check_request(req: Request) -> None:
    if req.direction not in (DOWN, UP, LOAD):
        raise ControlError(f"direction {req.direction} is not 0 (down), 1 (up) or 2 (load)")
    if not 1 <= req.streams <= MAX_STREAMS:
        raise ControlError(f"streams {req.streams} is outside 1..{MAX_STREAMS}")
    if not 0 <= req.stream < req.streams:
        raise ControlError(f"stream index {req.stream} is outside 0..{req.streams - 1}")
    if not 1 <= req.duration_ms <= MAX_DURATION_MS:
        raise ControlError(f"duration {req.duration_ms} ms is outside 1..{MAX_DURATION_MS}")
    if len(req.token) != 16:
        raise ControlError("token must be 16 octets")


def decode_request(data: bytes) -> Request:
    if len(data) != REQUEST_SIZE:
        raise ControlError(f"request of {len(data)} octets, expected {REQUEST_SIZE}")
    magic, direction, streams, index, duration_ms, token, mbz = _REQUEST.unpack(data)
    if magic != REQUEST_MAGIC:
        raise ControlError(f"not a capacity request (magic {magic!r})")
    if mbz != bytes(4) or data[7] != 0:
        raise ControlError("reserved octets are not zero")
    req = Request(direction, streams, index, duration_ms, token)
    check_request(req)
    return req


def encode_reply(reply: Reply) -> bytes:
    if reply.status not in STATUS_TEXT:
        raise ControlError(f"unknown status {reply.status}")
    return _REPLY.pack(REPLY_MAGIC, reply.status, reply.granted_ms)


def decode_reply(data: bytes) -> Reply:
    if len(data) != REPLY_SIZE:
        raise ControlError(f"reply of {len(data)} octets, expected {REPLY_SIZE}")
    magic, status, granted_ms = _REPLY.unpack(data)
    if magic != REPLY_MAGIC:
        raise ControlError(f"not a capacity reply (magic {magic!r})")
    if status not in STATUS_TEXT:
        raise ControlError(f"unknown status {status}")
    if status == OK and not 1 <= granted_ms <= MAX_DURATION_MS:
        raise ControlError(f"granted duration {granted_ms} ms is outside 1..{MAX_DURATION_MS}")
    return Reply(status, granted_ms)


def encode_report(elapsed_ms: int, received: int) -> bytes:
    return _REPORT.pack(elapsed_ms & 0xFFFFFFFF, received)


def decode_report(data: bytes) -> tuple[int, int]:
    if len(data) != REPORT_SIZE:
        raise ControlError(f"report of {len(data)} octets, expected {REPORT_SIZE}")
    elapsed_ms, received = _REPORT.unpack(data)
    return elapsed_ms, received


def _permille(share: float | None) -> int:
    return UNKNOWN if share is None else max(0, min(UNKNOWN - 1, round(share * 1000)))


def encode_load(load: Load) -> bytes:
    sessions = UNKNOWN if load.sessions_max is None else min(UNKNOWN - 1, load.sessions_max)
    return _LOAD.pack(
        LOAD_MAGIC, _permille(load.cpu), _permille(load.nic), sessions, bytes(2), bytes(4)
    )


def decode_load(data: bytes) -> Load:
    if len(data) != LOAD_SIZE:
        raise ControlError(f"load of {len(data)} octets, expected {LOAD_SIZE}")
    magic, cpu, nic, sessions, mbz2, mbz4 = _LOAD.unpack(data)
    if magic != LOAD_MAGIC:
        raise ControlError(f"not a load message (magic {magic!r})")
    if mbz2 != bytes(2) or mbz4 != bytes(4):
        raise ControlError("reserved octets are not zero")
    return Load(
        None if cpu == UNKNOWN else cpu / 1000,
        None if nic == UNKNOWN else nic / 1000,
        None if sessions == UNKNOWN else sessions,
    )
