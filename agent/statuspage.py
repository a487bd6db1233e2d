"""The household's status page: is the probe well, what did it measure, what does it send; pause.

A tiny HTTP/1.1 server on asyncio streams, served only when the config asks for it
(`[statuspage] listen = "192.168.1.2:8080"`) and only on a private (LAN) or loopback address:
it never listens on a public interface, answers only LAN peers, and refuses requests whose Host
is a domain name (DNS rebinding) or whose Origin is another site (a web page posting a pause).
Every request is read with bounds and a deadline; one request per connection.

The charts come from a small local history (`history.db` in the state directory) of the last
days' latency and capacity, filled as the agent commits records; the outbox cannot serve here,
since records leave it once the collector has stored them.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import ipaddress
import json
import logging
import sqlite3
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from agent.config import AgentConfig, ConfigError
from agent.control import Control

log = logging.getLogger("qiyas.statuspage")

HISTORY_DAYS = 7
MAX_HEAD_BYTES = 8192
MAX_BODY_BYTES = 1024
READ_TIMEOUT_S = 5.0
PAUSE_CHOICES_MIN = (60, 240, 1440)
MAX_PAUSE_MIN = 7 * 24 * 60
# The outbox holding records this long means they are not reaching the collector.
STUCK_AFTER_S = 3600.0
# series name → (record kind, value key)
SERIES = {
    "latency_ms": ("latency", "rtt_ms_median"),
    "down_mbps": ("capacity", "down_mbps"),
    "up_mbps": ("capacity", "up_mbps"),
}
LAN_NAME_SUFFIXES = (".local", ".lan", ".home.arpa")
# Record kinds in the household's words.
KIND_NAMES = {
    "health": "self-check",
    "radio": "signal reading",
    "optical": "fibre reading",
    "latency": "latency test",
    "capacity": "speed test",
    "dns": "DNS test",
}


def parse_listen(text: str) -> tuple[str, int]:
    """ "192.168.1.2:8080" or "[fd00::2]:8080" → (host, port); ValueError unless LAN or loopback."""
    host, sep, port_text = text.rpartition(":")
    host = host.strip("[]")
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        raise ValueError(f"statuspage.listen {text!r} must be IP:PORT of a LAN address") from None
    if not sep or not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
        raise ValueError(f"statuspage.listen {text!r} needs a port 1..65535")
    if address.is_unspecified or not (address.is_private or address.is_loopback):
        raise ValueError(
            f"statuspage.listen {host} is not a LAN address: the page is served only on the "
            "household's network (e.g. 192.168.1.2:8080)"
        )
    return host, int(port_text)


class History:
    """The last HISTORY_DAYS of latency and capacity figures, for the charts."""

    def __init__(self, path: Path) -> None:
        self.db = sqlite3.connect(path, isolation_level=None)
        # Charts only: losing the last samples in a power cut is fine, wearing the flash is not.
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.execute(
            "CREATE TABLE IF NOT EXISTS samples (time_ms INTEGER NOT NULL, series TEXT NOT NULL, "
            "value REAL NOT NULL)"
        )
        self.db.execute("CREATE INDEX IF NOT EXISTS samples_time ON samples(time_ms)")
        self.db.execute("CREATE TABLE IF NOT EXISTS last (kind TEXT PRIMARY KEY, time_ms INTEGER)")

    def observe(self, kind: str, values: dict[str, Any], time_ms: int) -> None:
        """Called by the agent for each committed record."""
        if kind == "status":
            return
        rows = [
            (time_ms, series, float(values[key]))
            for series, (k, key) in SERIES.items()
            if k == kind and isinstance(values.get(key), (int, float))
        ]
        cutoff = time_ms - HISTORY_DAYS * 86_400_000
        with self.db:
            self.db.execute("BEGIN")
            self.db.executemany("INSERT INTO samples VALUES (?, ?, ?)", rows)
            self.db.execute("DELETE FROM samples WHERE time_ms < ?", (cutoff,))
            self.db.execute("INSERT OR REPLACE INTO last VALUES (?, ?)", (kind, time_ms))

    def series(self, name: str, since_ms: int) -> list[tuple[int, float]]:
        rows = self.db.execute(
            "SELECT time_ms, value FROM samples WHERE series = ? AND time_ms >= ? ORDER BY time_ms",
            (name, since_ms),
        ).fetchall()
        return [(int(t), float(v)) for t, v in rows]

    def last(self) -> tuple[str, int] | None:
        row = self.db.execute("SELECT kind, time_ms FROM last ORDER BY time_ms DESC").fetchone()
        return None if row is None else (str(row[0]), int(row[1]))

    def close(self) -> None:
        self.db.close()


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
            server = await asyncio.start_server(
                self._handle, self.host, self.port, limit=MAX_HEAD_BYTES
            )
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
        except (TimeoutError, asyncio.IncompleteReadError):
            status, headers, body = _plain(408, "request incomplete")
        except asyncio.LimitOverrunError:
            status, headers, body = _plain(431, "request head too large")
        except ValueError as exc:
            status, headers, body = _plain(400, str(exc))
        head = [f"HTTP/1.1 {status}", "Connection: close", f"Content-Length: {len(body)}"]
        head += [f"{k}: {v}" for k, v in headers.items()]
        with contextlib.suppress(OSError):
            writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + body)
            await writer.drain()
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()

    async def _answer(
        self, reader: asyncio.StreamReader, peer: Any
    ) -> tuple[str, dict[str, str], bytes]:
        if not _lan_peer(peer):
            return _plain(403, "the status page answers only the household's network")
        raw = await reader.readuntil(b"\r\n\r\n")  # at most MAX_HEAD_BYTES (the stream's limit)
        lines = raw.decode("latin-1").split("\r\n")
        method, target = [*lines[0].split(" "), "", ""][:2]
        headers = {}
        for line in lines[1:]:
            name, sep, value = line.partition(":")
            if sep:
                headers[name.strip().lower()] = value.strip()
        host = headers.get("host", "")
        if not _lan_host(host):
            return _plain(421, "use the probe's address, not a domain name")
        path = target.split("?", 1)[0]
        if method == "GET" and path == "/":
            return "200 OK", _HTML_HEADERS, self.render().encode()
        if method == "GET" and path == "/status.json":
            doc = json.dumps(self.status()).encode()
            return "200 OK", {"Content-Type": "application/json"}, doc
        if method == "POST" and path in ("/pause", "/resume"):
            origin = headers.get("origin")
            if origin is not None and origin != f"http://{host}":
                return _plain(403, "cross-site request refused")
            length = headers.get("content-length", "0")
            if not length.isdigit() or int(length) > MAX_BODY_BYTES:
                return _plain(413, "form too large")
            form = parse_qs((await reader.readexactly(int(length))).decode("latin-1"))
            if path == "/resume":
                self.agent.resume()
            else:
                minutes = form.get("minutes", [""])[0]
                if not minutes.isdigit() or not 1 <= int(minutes) <= MAX_PAUSE_MIN:
                    return _plain(400, f"minutes must be 1..{MAX_PAUSE_MIN}")
                self.agent.pause(int(minutes) * 60.0)
            return "303 See Other", {"Location": "/"}, b""
        if path in ("/", "/status.json", "/pause", "/resume"):
            return _plain(405, "method not allowed")
        return _plain(404, "not found")

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
        s = self.status()
        since = int((time.time() - HISTORY_DAYS * 86400) * 1000)
        if s["paused_until"] is not None:
            state = f"Paused until {_when(s['paused_until'] * 1000)}"
            state_class = "paused"
        elif s["healthy"]:
            state, state_class = "Working normally", "ok"
        else:
            state, state_class = "Needs attention: " + "; ".join(s["problems"]), "bad"
        last = s["last_measurement"]
        last_text = (
            "none yet"
            if last is None
            else f"{KIND_NAMES.get(last['kind'], last['kind'])} at {_when(last['time_ms'])}"
        )
        latency = chart([("latency", self.history.series("latency_ms", since))], "ms")
        capacity = chart(
            [
                ("download", self.history.series("down_mbps", since)),
                ("upload", self.history.series("up_mbps", since)),
            ],
            "Mbit/s",
        )
        if s["paused_until"] is not None:
            control = (
                '<form method="post" action="/resume"><button id="resume">'
                "Resume measurements now</button></form>"
            )
        else:
            options = "".join(
                f'<option value="{m}">{m // 60} hour{"s" if m > 60 else ""}</option>'
                for m in PAUSE_CHOICES_MIN
            )
            control = (
                '<form method="post" action="/pause"><label>Pause measurements for '
                f'<select name="minutes" id="minutes">{options}</select></label> '
                '<button id="pause">Pause</button></form>'
            )
        return _PAGE.format(
            probe=html.escape(s["probe"]),
            state=html.escape(state),
            state_class=state_class,
            last=html.escape(last_text),
            waiting=s["waiting"],
            latency=latency,
            capacity=capacity,
            control=control,
            days=HISTORY_DAYS,
        )


def chart(lines: list[tuple[str, list[tuple[int, float]]]], unit: str) -> str:
    """An inline SVG line chart of one or more series sharing the time and value axes."""
    points = [p for _, series in lines for p in series]
    if not points:
        return '<p class="empty">No measurements in this period yet.</p>'
    width, height, pad = 600, 160, 30
    t0, t1 = min(t for t, _ in points), max(t for t, _ in points)
    top = max(v for _, v in points) * 1.1 or 1.0
    span = max(t1 - t0, 1)

    def xy(t: int, v: float) -> str:
        x = pad + (t - t0) / span * (width - 2 * pad)
        y = height - pad - v / top * (height - 2 * pad)
        return f"{x:.1f},{y:.1f}"

    parts = [
        f'<svg viewBox="0 0 {width} {height}" role="img" aria-label="{html.escape(unit)}">',
        f'<line x1="{pad}" y1="{height - pad}" x2="{width - pad}" y2="{height - pad}" '
        'class="axis"/>',
        f'<text x="2" y="{pad}" class="label">{top:.0f} {html.escape(unit)}</text>',
        f'<text x="{pad}" y="{height - 8}" class="label">{_when(t0)}</text>',
        f'<text x="{width - pad}" y="{height - 8}" class="label" text-anchor="end">'
        f"{_when(t1)}</text>",
    ]
    for index, (name, series) in enumerate(lines):
        if series:
            coords = " ".join(xy(t, v) for t, v in series)
            parts.append(
                f'<polyline class="line{index}" points="{coords}"><title>{html.escape(name)}'
                "</title></polyline>"
            )
    legend = " ".join(
        f'<span class="key{i}">■ {html.escape(name)}</span>' for i, (name, _) in enumerate(lines)
    )
    return "".join(parts) + f"</svg><p>{legend}</p>"


def _when(time_ms: float) -> str:
    return time.strftime("%a %d %b %H:%M", time.localtime(time_ms / 1000))


def _plain(code: int, text: str) -> tuple[str, dict[str, str], bytes]:
    reasons = {400: "Bad Request", 403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed"}
    reasons |= {408: "Request Timeout", 413: "Content Too Large", 421: "Misdirected Request"}
    reasons |= {431: "Request Header Fields Too Large"}
    return f"{code} {reasons[code]}", {"Content-Type": "text/plain; charset=utf-8"}, text.encode()


def _lan_peer(peer: Any) -> bool:
    try:
        address = ipaddress.ip_address(peer[0])
    except (TypeError, ValueError, IndexError):
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_private or address.is_loopback or address.is_link_local


def _lan_host(host: str) -> bool:
    name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
    name = name.strip("[]").lower()
    if name == "localhost" or name.endswith(LAN_NAME_SUFFIXES):
        return True
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


_HTML_HEADERS = {
    "Content-Type": "text/html; charset=utf-8",
    "Cache-Control": "no-store",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'",
    "X-Frame-Options": "DENY",
}

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Qiyas probe {probe}</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 44rem; margin: 1rem auto; padding: 0 1rem;
  color: #222; }}
.state {{ padding: .8rem 1rem; border-radius: .5rem; font-size: 1.2rem; }}
.ok {{ background: #e3f4e1; }} .paused {{ background: #fff4d6; }} .bad {{ background: #fde2e1; }}
svg {{ width: 100%; height: auto; background: #fafafa; }}
.axis {{ stroke: #999; }} .label {{ font-size: 11px; fill: #555; }}
polyline {{ fill: none; stroke-width: 2; }}
.line0 {{ stroke: #1f6feb; }} .line1 {{ stroke: #d9480f; }}
.key0 {{ color: #1f6feb; }} .key1 {{ color: #d9480f; }}
button {{ font-size: 1rem; padding: .4rem 1rem; }}
</style></head>
<body>
<h1>Qiyas measurement probe</h1>
<p id="state" class="state {state_class}">{state}</p>
<p>Probe <b>{probe}</b>. Last measurement: <span id="last">{last}</span>.
Waiting to be delivered: {waiting}.</p>
<h2>Latency (last {days} days)</h2>
<div id="latency">{latency}</div>
<h2>Speed (last {days} days)</h2>
<div id="capacity">{capacity}</div>
<h2>Pause</h2>
<p>Need the whole line for a while? Measurements stop until the time you choose (a test already
running finishes first, at most a minute).</p>
{control}
<h2>What this probe sends, and why</h2>
<p>This probe measures the quality of your internet access for the national regulator, so that
coverage and speed claims can be checked against what households really get.</p>
<ul>
<li>It sends: latency, speed and DNS timing towards the regulator's measurement servers; the
state of the access link (signal levels and serving cell of the 5G/4G modem, or the optical levels
of the fibre box); the probe's own health (memory, uptime).</li>
<li>It never sends: what you browse or watch, your traffic's contents or destinations, your
SIM's identity (IMSI, ICCID, phone number), the modem's IMEI or the fibre box's serial number.</li>
<li>Speed tests use your line for about twenty seconds, a few times a day. Every record is signed
by this probe, so nobody can forge one in its name.</li>
</ul>
</body></html>
"""
