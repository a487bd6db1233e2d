"""The household's status page: is the probe well, what did it measure, what does it send; pause.

A tiny HTTP/1.1 server on asyncio streams, served only when the config asks for it
(`[statuspage] listen = "192.168.1.2:8080"`) and only on a private (LAN) or loopback address.
This module is the server: it reads with a deadline, routes, answers, and acts on the agent only
through agent.control.Control. The jobs around it are one module each:

- `request`: the request reader, sans-IO and bounded (head, body, form);
- `lan`: who may use the page (LAN peers, the probe's address as Host, same-site forms);
- `history`: the local history of the last days' figures behind the charts;
- `page` and `chart`: the HTML and its inline SVG charts.

One request per connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from typing import Any

from agent.config import AgentConfig, ConfigError
from agent.control import Control
from agent.statuspage import page
from agent.statuspage.history import HISTORY_DAYS, SERIES, History
from agent.statuspage.lan import lan_host, lan_peer, parse_listen, same_site
from agent.statuspage.request import (
    MAX_HEAD_BYTES,
    Head,
    RequestError,
    RequestReader,
    body_length,
    parse_form,
)

log = logging.getLogger("qiyas.statuspage")

READ_TIMEOUT_S = 5.0
READ_CHUNK_BYTES = 4096
MAX_PAUSE_MIN = 7 * 24 * 60
# The outbox holding records this long means they are not reaching the collector.
STUCK_AFTER_S = 3600.0
ROUTES = ("/", "/status.json", "/pause", "/resume")

Response = tuple[str, dict[str, str], bytes]


class StatusPage:
    def __init__(self, agent: Control, config: AgentConfig) -> None:
        listen = str(config.section("statuspage").get("listen"))
        try:
            self.host, self.port = parse_listen(listen)
        except ValueError as exc:
            raise ConfigError(f"{config.origin}: {exc}") from None
        self.agent = agent
        self.history = History(config.state_dir / "history.db")
        self._closed = False

    def observe(self, kind: str, values: dict[str, Any], time_ms: int) -> None:
        """Told by the agent of each committed record, for the charts."""
        # The agent may still commit while it drains: nothing must reach a closed history.
        if not self._closed:
            self.history.observe(kind, values, time_ms)

    async def serve(self, stop: asyncio.Event) -> None:
        try:
            server = await asyncio.start_server(self._handle, self.host, self.port)
        except OSError as exc:
            log.error(
                "status page cannot listen on %s:%d (%s); is that this device's LAN address?",
                self.host,
                self.port,
                exc.strerror,
            )
            return
        log.info("status page on http://%s:%d/", self.host, self.port)
        async with server:
            await stop.wait()
        self._closed = True
        self.history.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            status, headers, body = await asyncio.wait_for(
                self._answer(reader, writer.get_extra_info("peername")), READ_TIMEOUT_S
            )
        except TimeoutError:
            status, headers, body = _plain(408, "request incomplete")
        except RequestError as exc:
            status, headers, body = _plain(exc.status, str(exc))
        head = [f"HTTP/1.1 {status}", "Connection: close", f"Content-Length: {len(body)}"]
        head += [f"{k}: {v}" for k, v in headers.items()]
        with contextlib.suppress(OSError):
            writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + body)
            await writer.drain()
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()

    async def _answer(self, reader: asyncio.StreamReader, peer: Any) -> Response:
        if not lan_peer(peer):
            return _plain(403, "the status page answers only the household's network")
        request = RequestReader(MAX_HEAD_BYTES)
        while (head := request.head()) is None:
            request.feed(await _read(reader))
        if not lan_host(head.headers.get("host", "")):
            return _plain(421, "use the probe's address, not a domain name")
        if head.method == "POST" and head.path in ("/pause", "/resume"):
            return await self._control(head, request, reader)
        if head.method == "GET" and head.path == "/":
            return "200 OK", page.HTML_HEADERS, self.render().encode()
        if head.method == "GET" and head.path == "/status.json":
            doc = json.dumps(self.status()).encode()
            return "200 OK", {"Content-Type": "application/json"}, doc
        if head.path in ROUTES:
            return _plain(405, "method not allowed")
        return _plain(404, "not found")

    async def _control(
        self, head: Head, request: RequestReader, reader: asyncio.StreamReader
    ) -> Response:
        """The pause and resume forms: the only requests that change anything."""
        if not same_site(head.headers.get("origin"), head.headers.get("host", "")):
            return _plain(403, "cross-site request refused")
        length = body_length(head)
        while (body := request.body(length)) is None:
            request.feed(await _read(reader))
        if head.path == "/resume":
            self.agent.resume()
        else:
            minutes = parse_form(body).get("minutes", [""])[0]
            if not (minutes.isascii() and minutes.isdigit()) or not (
                1 <= int(minutes) <= MAX_PAUSE_MIN
            ):
                return _plain(400, f"minutes must be 1..{MAX_PAUSE_MIN}")
            self.agent.pause(int(minutes) * 60.0)
        return "303 See Other", {"Location": "/"}, b""

    def status(self) -> dict[str, Any]:
        agent = self.agent.status()
        last = self.history.last()
        problems = []
        if not agent.connected:
            problems.append("not connected to the national collector")
        if agent.oldest_waiting_s is not None and agent.oldest_waiting_s > STUCK_AFTER_S:
            problems.append(f"{agent.waiting} measurements waiting to be delivered")
        return {
            "probe": agent.probe,
            "healthy": not problems,
            "problems": problems,
            "paused_until": agent.paused_until,
            "last_measurement": None if last is None else {"kind": last[0], "time_ms": last[1]},
            "waiting": agent.waiting,
        }

    def render(self) -> str:
        since = int((time.time() - HISTORY_DAYS * 86400) * 1000)
        series = {name: self.history.series(name, since) for name in SERIES}
        return page.render(self.status(), series)


async def _read(reader: asyncio.StreamReader) -> bytes:
    data = await reader.read(READ_CHUNK_BYTES)
    if not data:  # the peer is done sending, mid-request
        raise RequestError(408, "request incomplete")
    return data


def _plain(code: int, text: str) -> Response:
    reasons = {400: "Bad Request", 403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed"}
    reasons |= {408: "Request Timeout", 413: "Content Too Large", 421: "Misdirected Request"}
    reasons |= {431: "Request Header Fields Too Large"}
    return f"{code} {reasons[code]}", {"Content-Type": "text/plain; charset=utf-8"}, text.encode()
