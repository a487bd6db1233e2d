"""The web browsing test: the server's reference page fetched across shaped namespace links,
checked against what the physics allows; and a page whose objects fail or stall."""

from __future__ import annotations

import asyncio
import json

import pytest

from agent.probe import web
from agent.probe.webserver import PAGE, REFERENCE_OBJECTS, WebServer
from hil.link import ShapedLink
from hil.link.serve import QIYAS, ROOT, start_server_where

HOSTS = {
    "www.ref.test": "198.18.0.2",
    "static.ref.test": "198.18.0.2",
    "cdn.ref.test": "198.18.0.2",
}
OBJECT_BYTES = sum(obj.size for obj in REFERENCE_OBJECTS)


def _load(link: ShapedLink, url: str) -> dict:
    done = link.run(
        "a", [*QIYAS, "probe", "web", "--server", "198.18.0.2", "--url", url, "--json"],
        capture_output=True, text=True, cwd=ROOT, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)["web"]


@pytest.mark.netns
@pytest.mark.parametrize("rate_mbit", [10, 100])
def test_reference_page_loads_as_fast_as_the_link_allows_and_no_faster(rate_mbit: int) -> None:
    with ShapedLink(rate_mbit, queue_ms=50) as link:
        link.hosts("a", HOSTS)
        proc, where = start_server_where(link, "--web-hosts", ",".join(HOSTS))
        url = f"http://www.ref.test:{where['web_port']}/{PAGE}/"
        page = _load(link, url)
        proc.terminate()
        proc.wait(10)
    assert page["complete"] and page["objects"] == len(REFERENCE_OBJECTS)
    assert page["hosts"] == 3 and page["bytes"] > OBJECT_BYTES
    assert 3 <= page["connections"] <= 3 * web.PER_HOST + 1
    assert page["dns_ms"] is not None and page["tls_ms"] is None
    # Lower bound: every body octet through the shaped rate, after the handshake, the
    # document's round trip and one more for the objects (idle RTT: the first handshake).
    rtt_ms = page["connect_ms"]
    serialise_ms = page["bytes"] * 8 / (rate_mbit * 1e6) * 1000
    bound_ms = serialise_ms + 3 * rtt_ms
    assert page["load_ms"] >= bound_ms
    # And it comes near: 18 connections share the link; the wire's own overhead (TCP/IP and
    # Ethernet headers, ~5 %), slow start on each connection and a busy shared machine stay
    # well inside one and a half times the bound plus 200 ms.
    print(f"{rate_mbit} Mbit/s: load {page['load_ms']:.0f} ms, lower bound {bound_ms:.0f} ms")
    assert page["load_ms"] <= 1.5 * bound_ms + 200, (page, bound_ms)


class _FaultyOrigin:
    """A page whose objects go wrong in every way a real one does: a 404, a refused
    connection, an origin that accepts and then never answers, one that answers garbage."""

    def __init__(self, good: str) -> None:
        self.good = good
        self.port = 0

    def html(self) -> bytes:
        me = f"http://127.0.0.1:{self.port}"
        return (
            f'<html><head><link rel="stylesheet" href="{self.good}/{PAGE}/site.css">'
            f'<script src="{self.good}/{PAGE}/missing.js"></script>'
            f'<script src="http://127.0.0.1:1/refused.js"></script></head><body>'
            f'<img src="{me}/stall.jpg"><img src="{me}/garbage.png">'
            f'<img src="{self.good}/{PAGE}/hero.jpg"></body></html>'
        ).encode()

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        request = await reader.readuntil(b"\r\n\r\n")
        if b" /stall.jpg " in request:
            await asyncio.sleep(30)  # accepts, never answers: the client must give up
        elif b" /garbage.png " in request:
            writer.write(b"SPDY/9 what\r\n\r\n")
        else:
            body = self.html()
            writer.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nConnection: close\r\n"
                + f"Content-Length: {len(body)}\r\n\r\n".encode()
                + body
            )
        await writer.drain()
        writer.close()


async def test_failed_and_stalled_objects_are_recorded_not_fatal(
    reference: WebServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(web, "OBJECT_TIMEOUT_S", 0.5)
    origin = _FaultyOrigin(f"http://127.0.0.1:{reference.port}")
    server = await asyncio.start_server(origin.handle, "127.0.0.1", 0)
    origin.port = server.sockets[0].getsockname()[1]
    async with server:
        page = await web.fetch_page(f"http://127.0.0.1:{origin.port}/page")
    assert (page["objects"], page["objects_failed"], page["complete"]) == (2, 4, False)
    errors = {e["url"].rsplit("/", 1)[1]: e["error"] for e in page["errors"]}
    assert errors == {
        "missing.js": "HTTP 404",
        "refused.js": "Connection refused",
        "stall.jpg": "stalled",
        "garbage.png": errors["garbage.png"],
    }
    assert errors["garbage.png"]  # h11's own words for a response that is not HTTP/1.1
    hero = next(o for o in REFERENCE_OBJECTS if o.name == "hero.jpg")
    assert page["bytes"] >= hero.size


async def test_a_page_that_cannot_be_had_is_an_error() -> None:
    with pytest.raises(web.WebError, match="Connection refused"):
        await web.fetch_page("http://127.0.0.1:1/")
    with pytest.raises(web.WebError, match="not an http"):
        await web.fetch_page("ftp://example.net/")


async def test_server_routes(reference: WebServer) -> None:
    base = f"http://127.0.0.1:{reference.port}"
    page = await web.fetch_page(f"{base}/{PAGE}/")
    assert page["complete"] and page["hosts"] == 1 and page["connections"] <= web.PER_HOST
    reader, writer = await asyncio.open_connection("127.0.0.1", reference.port)
    writer.write(
        b"GET /video/750/3.m4s HTTP/1.1\r\nHost: x\r\n\r\n"
        b"GET /video/751/3.m4s HTTP/1.1\r\nHost: x\r\n\r\n"
    )
    head = await reader.readuntil(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200") and b"content-length: 187500" in head
    await reader.readexactly(187500)
    assert (await reader.readuntil(b"\r\n\r\n")).startswith(b"HTTP/1.1 404")
    writer.close()
