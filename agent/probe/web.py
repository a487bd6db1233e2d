"""The web browsing test (docs/qoe.md §3): fetch a page and everything it links as a browser
would, without a browser engine: up to 6 keep-alive HTTP/1.1 connections per host (h11 over
asyncio streams), TLS where the URL says https, each host resolved once.

`fetch_page(url)` returns {url, dns_ms, connect_ms, tls_ms, ttfb_ms, load_ms, objects,
objects_failed, bytes, connections, hosts, complete, errors}; an object that fails or stalls is
listed under `errors` and the page goes on.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import time
from html.parser import HTMLParser
from typing import Any, NamedTuple
from urllib.parse import urljoin, urlsplit

import h11

from agent import __version__
from agent.core.errors import QiyasError
from agent.probe.endpoint import reason

PER_HOST = 6  # what every major browser opens per host name over HTTP/1.1
MAX_OBJECTS = 200
MAX_DOCUMENT_BYTES = 2 * 1024 * 1024
MAX_OBJECT_BYTES = 32 * 1024 * 1024
MAX_ERRORS_KEPT = 20
OBJECT_TIMEOUT_S = 5.0  # no byte for this long: the object stalled
PAGE_TIMEOUT_S = 60.0


class WebError(QiyasError):
    """The page could not be fetched at all; the text says why."""


class Origin(NamedTuple):
    scheme: str
    host: str
    port: int


def split_url(url: str) -> tuple[Origin, str]:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise WebError(f"{url!r} is not an http(s) URL")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return Origin(parts.scheme, parts.hostname, port), target


class _Links(HTMLParser):
    """What a browser would fetch for the page: stylesheets, preloads and icons (link href),
    scripts, images, media (src). No script runs, so nothing a script would add."""

    def __init__(self, base: str) -> None:
        super().__init__(convert_charrefs=True)
        self.base = base
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        url = found.get("href") if tag == "link" else found.get("src")
        if url and len(self.urls) < MAX_OBJECTS:
            absolute = urljoin(self.base, url)
            if absolute not in self.urls and urlsplit(absolute).scheme in ("http", "https"):
                self.urls.append(absolute)


class Timings:
    """The page's first resolution, handshake and TLS (what a browser's waterfall shows first)."""

    def __init__(self) -> None:
        self.dns_ms: float | None = None
        self.connect_ms: float | None = None
        self.tls_ms: float | None = None
        self.connections = 0

    def first(self, name: str, ms: float) -> None:
        if getattr(self, name) is None:
            setattr(self, name, round(ms, 3))


class Connection:
    """One keep-alive HTTP/1.1 connection to an origin."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.h11 = h11.Connection(h11.CLIENT)
        self.received = 0  # body octets of the response being read, for a caller's progress

    async def get(self, origin: Origin, target: str, limit: int) -> tuple[int, bytes, float]:
        """(status, body, ms to the first response byte); raises on a failed or stalled fetch."""
        host = origin.host if ":" not in origin.host else f"[{origin.host}]"
        default = 443 if origin.scheme == "https" else 80
        headers = [
            ("host", host if origin.port == default else f"{host}:{origin.port}"),
            ("user-agent", f"qiyas/{__version__}"),
            ("accept", "*/*"),
        ]
        request = h11.Request(method="GET", target=target, headers=headers)
        self.writer.write(self.h11.send(request) or b"")
        self.writer.write(self.h11.send(h11.EndOfMessage()) or b"")
        t0 = time.perf_counter()
        await self.writer.drain()
        status, body, ttfb = 0, bytearray(), 0.0
        self.received = 0
        while True:
            event = self.h11.next_event()
            if event is h11.NEED_DATA:
                data = await asyncio.wait_for(self.reader.read(65536), OBJECT_TIMEOUT_S)
                if not ttfb and data:
                    ttfb = (time.perf_counter() - t0) * 1000
                self.h11.receive_data(data)
            elif isinstance(event, h11.Response):
                status = event.status_code
            elif isinstance(event, h11.Data):
                body += event.data
                self.received = len(body)
                if len(body) > limit:
                    raise WebError(f"larger than {limit} octets")
            elif isinstance(event, h11.EndOfMessage):
                break
            elif isinstance(event, h11.ConnectionClosed):
                raise WebError("connection closed before the response")
        if self.h11.our_state is h11.DONE and self.h11.their_state is h11.DONE:
            self.h11.start_next_cycle()
        else:
            raise _NotReusable(status, bytes(body), ttfb)
        return status, bytes(body), ttfb

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(OSError, ssl.SSLError):
            await self.writer.wait_closed()


class _NotReusable(Exception):
    """The response arrived complete but the connection cannot carry another request."""

    def __init__(self, status: int, body: bytes, ttfb: float) -> None:
        super().__init__("connection not reusable")
        self.result = (status, body, ttfb)


class Host:
    """One origin of the page: resolved once, then up to PER_HOST connections."""

    def __init__(self, origin: Origin, timings: Timings, tls: ssl.SSLContext | None) -> None:
        self.origin = origin
        self.timings = timings
        self.tls = tls
        self._address: tuple[Any, ...] | None = None
        self._lock = asyncio.Lock()

    async def _resolve(self) -> tuple[Any, ...]:
        async with self._lock:
            if self._address is None:
                loop = asyncio.get_running_loop()
                t0 = time.perf_counter()
                infos = await loop.getaddrinfo(
                    self.origin.host, self.origin.port, type=socket.SOCK_STREAM
                )
                self.timings.first("dns_ms", (time.perf_counter() - t0) * 1000)
                self._address = infos[0]
            return self._address

    async def connect(self) -> Connection:
        family, kind, proto, _, addr = await self._resolve()
        loop = asyncio.get_running_loop()
        sock = socket.socket(family, kind, proto)
        sock.setblocking(False)
        t0 = time.perf_counter()
        try:
            await asyncio.wait_for(loop.sock_connect(sock, addr), OBJECT_TIMEOUT_S)
        except BaseException:
            sock.close()
            raise
        self.timings.first("connect_ms", (time.perf_counter() - t0) * 1000)
        self.timings.connections += 1
        reader, writer = await asyncio.open_connection(sock=sock)
        if self.tls is not None:
            t0 = time.perf_counter()
            await asyncio.wait_for(
                writer.start_tls(self.tls, server_hostname=self.origin.host), OBJECT_TIMEOUT_S
            )
            self.timings.first("tls_ms", (time.perf_counter() - t0) * 1000)
        return Connection(reader, writer)


class _Page:
    def __init__(self, tls: ssl.SSLContext | None) -> None:
        self.tls = tls
        self.timings = Timings()
        self.hosts: dict[Origin, Host] = {}
        self.objects = 0
        self.failed = 0
        self.bytes = 0
        self.errors: list[dict[str, str]] = []
        # The document's connection, kept alive for the first worker of its origin to reuse.
        self.spare: dict[Origin, Connection] = {}

    def host(self, origin: Origin) -> Host:
        if origin not in self.hosts:
            tls = (self.tls or ssl.create_default_context()) if origin.scheme == "https" else None
            self.hosts[origin] = Host(origin, self.timings, tls)
        return self.hosts[origin]

    def fail(self, url: str, why: str) -> None:
        self.failed += 1
        if len(self.errors) < MAX_ERRORS_KEPT:
            self.errors.append({"url": url[:200], "error": why[:200]})

    async def fetch_all(self, urls: list[str]) -> None:
        """Every object, at most PER_HOST connections per origin, each reused while it can be."""
        queues: dict[Origin, list[tuple[str, str]]] = {}
        for url in urls:
            try:
                origin, target = split_url(url)
            except (WebError, ValueError) as exc:
                self.fail(url, str(exc))
                continue
            queues.setdefault(origin, []).append((url, target))
        workers = [
            self._worker(origin, queue)
            for origin, queue in queues.items()
            for _ in range(min(PER_HOST, len(queue)))
        ]
        await asyncio.gather(*workers)

    async def _worker(self, origin: Origin, queue: list[tuple[str, str]]) -> None:
        host = self.host(origin)
        conn = self.spare.pop(origin, None)
        try:
            while queue:
                url, target = queue.pop(0)
                try:
                    if conn is None:
                        conn = await host.connect()
                    status, body, _ = await conn.get(origin, target, MAX_OBJECT_BYTES)
                except _NotReusable as done:
                    status, body, _ = done.result
                    if conn is not None:
                        await conn.close()
                    conn = None
                except (OSError, TimeoutError, h11.ProtocolError, WebError, ssl.SSLError) as exc:
                    why = "stalled" if isinstance(exc, TimeoutError) else reason(exc)
                    self.fail(url, why)
                    if conn is not None:
                        await conn.close()
                    conn = None
                    continue
                self.bytes += len(body)
                if status >= 400:
                    self.fail(url, f"HTTP {status}")
                else:
                    self.objects += 1
        finally:
            if conn is not None:
                await conn.close()


class Session:
    """Requests one after the other to one origin over one keep-alive connection, a new one
    opened when the server closes it (what a video player does with its segments)."""

    def __init__(self, origin: Origin, tls: ssl.SSLContext | None = None) -> None:
        self.timings = Timings()
        self._host = Host(origin, self.timings, tls if origin.scheme == "https" else None)
        self._conn: Connection | None = None

    async def get(self, target: str, limit: int) -> tuple[int, bytes]:
        """(status, body); raises OSError, TimeoutError (stalled), WebError, h11.ProtocolError
        or ssl.SSLError, after which the next get starts on a new connection."""
        if self._conn is None:
            self._conn = await self._host.connect()
        try:
            status, body, _ = await self._conn.get(self._host.origin, target, limit)
        except _NotReusable as done:
            status, body, _ = done.result
            await self.close()
        except BaseException:
            await self.close()
            raise
        return status, body

    @property
    def received(self) -> int:
        """Body octets of the response being read so far (0 between requests)."""
        return self._conn.received if self._conn is not None else 0

    async def close(self) -> None:
        if self._conn is not None:
            conn, self._conn = self._conn, None
            await conn.close()


async def fetch_page(
    url: str, tls: ssl.SSLContext | None = None, page_timeout_s: float = PAGE_TIMEOUT_S
) -> dict[str, Any]:
    """Load the page at `url` and what it links; raises WebError only when the document itself
    cannot be had (then nothing else would load either)."""
    origin, target = split_url(url)
    page = _Page(tls)
    t0 = time.perf_counter()
    host = page.host(origin)
    try:
        async with asyncio.timeout(page_timeout_s):
            conn = await host.connect()
            try:
                status, document, ttfb = await conn.get(origin, target, MAX_DOCUMENT_BYTES)
                page.spare[origin] = conn
            except _NotReusable as done:
                status, document, ttfb = done.result
                await conn.close()
            except BaseException:
                await conn.close()
                raise
            if status >= 400:
                raise WebError(f"HTTP {status} for the page")
            links = _Links(url)
            links.feed(document.decode("utf-8", "replace"))
            await page.fetch_all(links.urls)
    except TimeoutError:
        raise WebError(f"the page did not load within {page_timeout_s:g} s") from None
    except (OSError, h11.ProtocolError, ssl.SSLError) as exc:
        raise WebError(f"{url}: {reason(exc)}") from None
    finally:
        for spare in page.spare.values():
            await spare.close()
    load_ms = (time.perf_counter() - t0) * 1000
    t = page.timings
    return {
        "url": url,
        "dns_ms": t.dns_ms,
        "connect_ms": t.connect_ms,
        "tls_ms": t.tls_ms,
        "ttfb_ms": round(ttfb, 3),
        "load_ms": round(load_ms, 3),
        "objects": page.objects,
        "objects_failed": page.failed,
        "bytes": page.bytes + len(document),
        "connections": t.connections,
        "hosts": len(page.hosts),
        "complete": page.failed == 0,
        "errors": page.errors,
    }
