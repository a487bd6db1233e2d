"""DNS resolution time and TCP connect time to configured targets, through the system resolver
(what the household's applications see, caches included)."""

from __future__ import annotations

import asyncio
import socket
import time
from typing import Any

from agent.probe.endpoint import Endpoint, reason

TIMEOUT_S = 5.0


async def _resolve(host: str, port: int | None) -> tuple[float, list[Any]]:
    loop = asyncio.get_running_loop()
    t0 = time.perf_counter()
    infos = await asyncio.wait_for(loop.getaddrinfo(host, port, type=socket.SOCK_STREAM), TIMEOUT_S)
    return (time.perf_counter() - t0) * 1000, infos


async def resolve_time(name: str) -> dict[str, Any]:
    """{target, resolve_ms, addresses} or {target, error}."""
    try:
        ms, infos = await _resolve(name, None)
    except (OSError, TimeoutError, UnicodeError) as exc:
        return {"target": name, "error": reason(exc)}
    return {
        "target": name,
        "resolve_ms": round(ms, 3),
        "addresses": len({info[4][0] for info in infos}),
    }


async def connect_time(target: Endpoint) -> dict[str, Any]:
    """{target, resolve_ms, connect_ms} (the TCP handshake alone) or {target, error}."""
    loop = asyncio.get_running_loop()
    out: dict[str, Any] = {"target": str(target)}
    try:
        ms, infos = await _resolve(target.host, target.port)
        out["resolve_ms"] = round(ms, 3)
        family, kind, proto, _, addr = infos[0]
        with socket.socket(family, kind, proto) as sock:
            sock.setblocking(False)
            t0 = time.perf_counter()
            await asyncio.wait_for(loop.sock_connect(sock, addr), TIMEOUT_S)
            out["connect_ms"] = round((time.perf_counter() - t0) * 1000, 3)
    except (OSError, TimeoutError, UnicodeError) as exc:
        out["error"] = reason(exc)
    return out
