"""DNS, two questions (docs/qoe.md §2).

`query_time`: our own query, straight to the resolver (UDP, TCP when the answer comes truncated):
what the network's resolver gives, with its response code; with a cache-busting name, a miss by
construction and then the hit. `resolve_time`/`connect_time`: the system resolver
(`getaddrinfo`), caches and /etc/hosts included — what the household's applications see.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import socket
import struct
import time
from pathlib import Path
from typing import Any

from agent.core import dnswire
from agent.probe.endpoint import Endpoint, reason

TIMEOUT_S = 5.0
DNS_PORT = 53
MAX_ANSWER = 65535
RESOLV_CONF = Path("/etc/resolv.conf")


def system_resolver(path: Path = RESOLV_CONF) -> str | None:
    """The first `nameserver` of resolv.conf, None when there is none to read."""
    try:
        lines = path.read_text(errors="replace").splitlines()[:200]
    except OSError:
        return None
    for line in lines:
        words = line.split()
        if len(words) >= 2 and words[0] == "nameserver":
            return words[1].split("%")[0]  # a link-local scope is the kernel's business
    return None


def cache_busting_name(zone: str) -> str:
    """A fresh label under `zone`: no resolver can have it cached."""
    return f"{secrets.token_hex(8)}.{zone.rstrip('.')}"


async def _udp_exchange(resolver: Endpoint, query: bytes, timeout_s: float) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(resolver.host, resolver.port, type=socket.SOCK_DGRAM)
    family, kind, proto, _, addr = infos[0]
    with socket.socket(family, kind, proto) as sock:
        sock.setblocking(False)
        sock.connect(addr)  # connected: answers from any other address never reach us
        deadline = loop.time() + timeout_s
        sock.send(query)
        while True:
            left = deadline - loop.time()
            if left <= 0:
                raise TimeoutError
            data = await asyncio.wait_for(loop.sock_recv(sock, MAX_ANSWER), left)
            with contextlib.suppress(dnswire.DnsError):  # not ours: keep waiting for ours
                return dnswire.decode_answer(data, query)


async def _tcp_exchange(resolver: Endpoint, query: bytes, timeout_s: float) -> dict[str, Any]:
    async with asyncio.timeout(timeout_s):
        reader, writer = await asyncio.open_connection(resolver.host, resolver.port)
        try:
            writer.write(struct.pack("!H", len(query)) + query)
            await writer.drain()
            (size,) = struct.unpack("!H", await reader.readexactly(2))
            return dnswire.decode_answer(await reader.readexactly(size), query)
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()


async def query_time(
    resolver: Endpoint, name: str, qtype: str = "A", timeout_s: float = TIMEOUT_S
) -> dict[str, Any]:
    """{target, resolver, qtype, rcode, query_ms, transport, answers}; `rcode` is TIMEOUT (and no
    time) when no answer came, `error` says why when the query could not be sent at all."""
    out: dict[str, Any] = {"target": name, "resolver": str(resolver), "qtype": qtype}
    query = dnswire.encode_query(secrets.randbelow(0x10000), name, qtype)
    t0 = time.perf_counter()
    try:
        answer = await _udp_exchange(resolver, query, timeout_s)
        out["transport"] = "udp"
        if answer["truncated"]:  # RFC 7766 §5: the same question again, over TCP
            left = max(0.001, timeout_s - (time.perf_counter() - t0))
            answer = await _tcp_exchange(resolver, query, left)
            out["transport"] = "tcp"
    except TimeoutError:
        out["rcode"] = "TIMEOUT"
        return out
    except (OSError, asyncio.IncompleteReadError, dnswire.DnsError) as exc:
        out["error"] = reason(exc)
        return out
    out["query_ms"] = round((time.perf_counter() - t0) * 1000, 3)
    out["rcode"] = answer["rcode"]
    out["answers"] = answer["answers"]
    return out


async def cache_miss_and_hit(
    resolver: Endpoint, zone: str, qtype: str = "A", timeout_s: float = TIMEOUT_S
) -> list[dict[str, Any]]:
    """A fresh name under `zone` (the resolver must recurse: a miss), then the same name again
    (now in its cache: a hit), each result marked with `cache`."""
    name = cache_busting_name(zone)
    miss = await query_time(resolver, name, qtype, timeout_s)
    hit = await query_time(resolver, name, qtype, timeout_s)
    miss["cache"], hit["cache"] = "miss", "hit"
    return [miss, hit]


async def _resolve(host: str, port: int | None) -> tuple[float, list[Any]]:
    loop = asyncio.get_running_loop()
    t0 = time.perf_counter()
    infos = await asyncio.wait_for(loop.getaddrinfo(host, port, type=socket.SOCK_STREAM), TIMEOUT_S)
    return (time.perf_counter() - t0) * 1000, infos


async def resolve_time(name: str) -> dict[str, Any]:
    """{target, app_resolve_ms, addresses} or {target, error}: the system resolver."""
    try:
        ms, infos = await _resolve(name, None)
    except (OSError, TimeoutError, UnicodeError) as exc:
        return {"target": name, "error": reason(exc)}
    return {
        "target": name,
        "app_resolve_ms": round(ms, 3),
        "addresses": len({info[4][0] for info in infos}),
    }


async def connect_time(target: Endpoint) -> dict[str, Any]:
    """{target, app_resolve_ms, connect_ms} (the TCP handshake alone) or {target, error}."""
    loop = asyncio.get_running_loop()
    out: dict[str, Any] = {"target": str(target)}
    try:
        ms, infos = await _resolve(target.host, target.port)
        out["app_resolve_ms"] = round(ms, 3)
        family, kind, proto, _, addr = infos[0]
        with socket.socket(family, kind, proto) as sock:
            sock.setblocking(False)
            t0 = time.perf_counter()
            await asyncio.wait_for(loop.sock_connect(sock, addr), TIMEOUT_S)
            out["connect_ms"] = round((time.perf_counter() - t0) * 1000, 3)
    except (OSError, TimeoutError, UnicodeError) as exc:
        out["error"] = reason(exc)
    return out
