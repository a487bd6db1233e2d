"""The measurement server's HTTP side (docs/qoe.md §3, §4): the reference web page and the
DASH-style video ladder, over HTTP/1.1 (h11, sans-IO) on a port of its own, started by
`qiyas server`.

Routes:
    GET /ref-1/              the reference page: HTML linking a fixed set of objects over the
                             server's host names (or the request's own host when none are given)
    GET /ref-1/<object>      one object of the page, of its fixed size
    GET /video/ladder.json   the ladder: {"segment_s": 2, "kbps": [...]}
    GET /video/<kbps>/<n>.m4s   segment n at that rung: exactly kbps·1000·segment_s/8 octets

Bodies are synthetic (a repeated pattern) and sent uncompressed, so the bytes on the wire are the
sizes above. A connection serves requests one after the other (keep-alive) and is closed when
idle or when the client misbehaves; its bounds are the HTTP side's own (sessions, tickets and
per-client limits are the capacity endpoint's, agent/probe/server.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import ssl
from typing import NamedTuple

import h11

log = logging.getLogger("qiyas.server.web")

DEFAULT_WEB_PORT = 8621
PAGE = "ref-1"
SEGMENT_S = 2
LADDER_KBPS = (235, 750, 1750, 4300, 8000)
MAX_SEGMENT = 10_000
MAX_CONNECTIONS = 256
IDLE_TIMEOUT_S = 15.0
MAX_HEADER_BYTES = 16 * 1024
_CHUNK = b"qiyas-reference-" * 4096  # 64 KiB


class WebObject(NamedTuple):
    name: str
    content_type: str
    size: int
    host: int  # which of the server's host names it is served from (modulo their number)


# The HTTP Archive's median desktop page (2024: ~2.6 MB, ~70 requests, over a dozen hosts) mixes
# HTML, CSS, scripts, images and fonts; this page keeps that mix at 1.6 MB (1 565 000 octets of
# objects and a 31 kB document) and 24 objects over three hosts, so a household's data budget
# barely notices it.
REFERENCE_OBJECTS: tuple[WebObject, ...] = (
    WebObject("site.css", "text/css", 60_000, 0),
    WebObject("theme.css", "text/css", 18_000, 1),
    WebObject("app.js", "text/javascript", 180_000, 0),
    WebObject("vendor.js", "text/javascript", 240_000, 2),
    WebObject("analytics.js", "text/javascript", 45_000, 2),
    WebObject("widgets.js", "text/javascript", 30_000, 1),
    WebObject("font.woff2", "font/woff2", 48_000, 2),
    WebObject("hero.jpg", "image/jpeg", 320_000, 1),
    *(WebObject(f"photo{i}.jpg", "image/jpeg", 60_000, 1) for i in range(6)),
    *(WebObject(f"thumb{i}.webp", "image/webp", 12_000, 2) for i in range(6)),
    WebObject("logo.svg", "image/svg+xml", 6_000, 0),
    WebObject("icons.svg", "image/svg+xml", 14_000, 0),
    WebObject("banner.png", "image/png", 150_000, 1),
    WebObject("data.json", "application/json", 22_000, 0),
)


def page_html(objects: tuple[WebObject, ...], base_urls: list[str]) -> bytes:
    """The page's HTML: each object linked the way a page links it (stylesheet, script, image,
    preloaded font), from base_urls[object.host % len(base_urls)]."""
    lines = ["<!doctype html>", '<html lang="fr"><head><meta charset="utf-8">',
             "<title>Qiyas reference page ref-1</title>"]  # fmt: skip
    body = []
    for obj in objects:
        url = f"{base_urls[obj.host % len(base_urls)]}/{PAGE}/{obj.name}"
        if obj.content_type == "text/css":
            lines.append(f'<link rel="stylesheet" href="{url}">')
        elif obj.content_type.startswith("font/"):
            lines.append(f'<link rel="preload" as="font" href="{url}" crossorigin>')
        elif obj.content_type == "text/javascript":
            lines.append(f'<script src="{url}" defer></script>')
        elif obj.content_type == "application/json":
            lines.append(f'<link rel="preload" as="fetch" href="{url}" crossorigin>')
        else:
            body.append(f'<img src="{url}" alt="">')
    # Text padding up to a realistic document size (~30 kB), as article text would be.
    filler = "<p>" + "Qiyas mesure la qualité du haut débit. " * 40 + "</p>"
    lines += ["</head><body>", *body, *(filler for _ in range(18)), "</body></html>"]
    return "\n".join(lines).encode()


def segment_size(kbps: int) -> int:
    return kbps * 1000 * SEGMENT_S // 8


class _Reply(NamedTuple):
    status: int
    content_type: str
    size: int  # body octets
    body: bytes | None  # None: `size` octets of the synthetic pattern


def _not_found() -> _Reply:
    return _Reply(404, "text/plain", 10, b"not found\n")


class WebServer:
    """`await WebServer(host, port, hosts).start()`; `.port` once started; `await .aclose()`.
    hosts: the host names the page's objects are spread over (a page draws from several);
    none: every object from the host the client asked for."""

    def __init__(
        self,
        host: str,
        port: int = DEFAULT_WEB_PORT,
        hosts: list[str] | None = None,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self.host = host
        self.requested_port = port
        self.hosts = hosts or []
        self.tls = tls
        self.port = 0
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._objects = {obj.name: obj for obj in REFERENCE_OBJECTS}

    async def start(self) -> None:
        self._server = await asyncio.start_server(
            self._accept, self.host, self.requested_port, ssl=self.tls
        )
        self.port = self._server.sockets[0].getsockname()[1]

    async def aclose(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if len(self._tasks) >= MAX_CONNECTIONS:
            writer.close()
            return
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            await self._serve(reader, writer)
        except (OSError, h11.ProtocolError, TimeoutError, asyncio.IncompleteReadError) as exc:
            log.info("web connection ended: %s", exc)
        finally:
            self._tasks.discard(task)
            writer.close()
            with contextlib.suppress(OSError, ssl.SSLError):
                await writer.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_HEADER_BYTES)
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                data = await asyncio.wait_for(reader.read(65536), IDLE_TIMEOUT_S)
                conn.receive_data(data)
                if not data:
                    return
                continue
            if isinstance(event, h11.Request):
                await self._respond(conn, writer, event)
            elif isinstance(event, h11.ConnectionClosed):
                return
            elif isinstance(event, h11.EndOfMessage):
                if conn.our_state is not h11.DONE or conn.their_state is not h11.DONE:
                    return
                conn.start_next_cycle()

    async def _respond(
        self, conn: h11.Connection, writer: asyncio.StreamWriter, request: h11.Request
    ) -> None:
        host = dict(request.headers).get(b"host", b"").decode("ascii", "replace")
        reply = self._route(request.method, request.target.decode("ascii", "replace"), host)
        headers = [
            ("content-type", reply.content_type),
            ("content-length", str(reply.size)),
            ("cache-control", "no-store"),  # every fetch crosses the network
        ]
        writer.write(conn.send(h11.Response(status_code=reply.status, headers=headers)) or b"")
        if request.method == b"GET":
            if reply.body is not None:
                writer.write(conn.send(h11.Data(data=reply.body)) or b"")
            else:
                left = reply.size
                while left > 0:
                    piece = _CHUNK[: min(left, len(_CHUNK))]
                    writer.write(conn.send(h11.Data(data=piece)) or b"")
                    left -= len(piece)
                    await writer.drain()
        writer.write(conn.send(h11.EndOfMessage()) or b"")
        await writer.drain()

    def _route(self, method: bytes, target: str, host: str) -> _Reply:
        if method not in (b"GET", b"HEAD"):
            return _Reply(405, "text/plain", 19, b"method not allowed\n")
        path = target.split("?", 1)[0]
        if path in (f"/{PAGE}/", f"/{PAGE}/index.html"):
            if self.hosts:
                bases = [f"{self._scheme()}://{name}:{self.port}" for name in self.hosts]
            else:
                bases = [f"{self._scheme()}://{host or self.host}"]
            html = page_html(REFERENCE_OBJECTS, bases)
            return _Reply(200, "text/html; charset=utf-8", len(html), html)
        if path.startswith(f"/{PAGE}/"):
            obj = self._objects.get(path[len(PAGE) + 2 :])
            return _Reply(200, obj.content_type, obj.size, None) if obj else _not_found()
        if path == "/video/ladder.json":
            text = json.dumps({"segment_s": SEGMENT_S, "kbps": list(LADDER_KBPS)}).encode()
            return _Reply(200, "application/json", len(text), text)
        parts = path.split("/")
        if len(parts) == 4 and parts[1] == "video" and parts[3].endswith(".m4s"):
            rung, number = parts[2], parts[3][:-4]
            known = rung.isdigit() and int(rung) in LADDER_KBPS
            if known and number.isdigit() and int(number) < MAX_SEGMENT:
                return _Reply(200, "video/iso.segment", segment_size(int(rung)), None)
        return _not_found()

    def _scheme(self) -> str:
        return "https" if self.tls else "http"
