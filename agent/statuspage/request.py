"""The status page's HTTP/1.1 request reader, sans-IO (in the manner of h11): fed the bytes a
peer sent, it hands back the request head once complete, then a body of the length the page
agreed to take. No sockets, no clock: the server (agent/statuspage/__init__.py) reads, times out
and answers.

Bounded: a head (request line and header fields) of at most MAX_HEAD_BYTES, else 431; a body of
at most MAX_BODY_BYTES, else 413; the buffer never holds more than a head, a body and one read.
Anything else a peer sends gets an answer from the page; the reader itself only refuses sizes.
"""

from __future__ import annotations

from typing import NamedTuple
from urllib.parse import parse_qs

from agent.core.errors import InvalidInput

MAX_HEAD_BYTES = 8192
MAX_BODY_BYTES = 1024
END_OF_HEAD = b"\r\n\r\n"


class RequestError(InvalidInput):
    """A request the page refuses to read further; `status` is the HTTP status to answer."""

    def __init__(self, status: int, text: str) -> None:
        super().__init__(text)
        self.status = status


class Head(NamedTuple):
    method: str
    target: str
    headers: dict[str, str]  # names in lower case; a repeated name keeps its last value

    @property
    def path(self) -> str:
        return self.target.split("?", 1)[0]


def parse_head(raw: bytes) -> Head:
    """The request line and header fields (without the blank line that ends them).

    Lenient by design: whatever the bytes, a Head comes back, and the page decides what to
    answer; a request line without a method or target gives empty ones.
    """
    lines = raw.decode("latin-1").split("\r\n")
    method, target = [*lines[0].split(" "), "", ""][:2]
    headers = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    return Head(method, target, headers)


def body_length(head: Head, limit: int = MAX_BODY_BYTES) -> int:
    """The Content-Length the head announces (0 if none); RequestError 413 beyond limit or if
    it is not a decimal number."""
    length = head.headers.get("content-length", "0")
    if not (length.isascii() and length.isdigit()) or int(length) > limit:
        raise RequestError(413, "form too large")
    return int(length)


def parse_form(body: bytes) -> dict[str, list[str]]:
    """An application/x-www-form-urlencoded body (bounded by body_length before it is read)."""
    return parse_qs(body.decode("latin-1"))


class RequestReader:
    """One request: `feed` what arrives; `head()` once it is complete; then `body(n)`."""

    def __init__(self, max_head: int = MAX_HEAD_BYTES) -> None:
        self.max_head = max_head
        self._buffer = bytearray()
        self._head: Head | None = None

    def feed(self, data: bytes) -> None:
        """More bytes from the peer; RequestError 431 when the head outgrows its bound."""
        self._buffer += data
        if self._head is not None:
            return
        end = self._buffer.find(END_OF_HEAD)
        # The bound asyncio's readuntil(limit=max_head) kept before this reader: a head whose
        # end starts beyond max_head, or max_head bytes and more without an end.
        unended = end < 0 and len(self._buffer) - len(END_OF_HEAD) >= self.max_head
        if end > self.max_head or unended:
            raise RequestError(431, "request head too large")
        if end >= 0:
            self._head = parse_head(bytes(self._buffer[:end]))
            del self._buffer[: end + len(END_OF_HEAD)]

    def head(self) -> Head | None:
        """The request head, or None while more bytes are needed."""
        return self._head

    def body(self, length: int) -> bytes | None:
        """The first length bytes after the head, or None while more are needed."""
        if self._head is None or len(self._buffer) < length:
            return None
        return bytes(self._buffer[:length])

    @property
    def buffered(self) -> int:
        """Bytes held (for the bound: at most a head, a body and one read)."""
        return len(self._buffer)
