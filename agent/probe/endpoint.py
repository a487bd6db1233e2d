"""HOST[:PORT] as given on the command line or in the config, checked."""

from __future__ import annotations

import asyncio
import os
import socket
from typing import Any, NamedTuple

from agent.core.errors import QiyasError

DEFAULT_PORT = 8620  # STAMP on UDP and the capacity endpoint on TCP; 862 is TWAMP's, privileged


RESOLVE_TIMEOUT_S = 10.0


class ResolveError(QiyasError):
    """The server's name did not resolve; the text says why."""


class Endpoint(NamedTuple):
    host: str
    port: int

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


def parse_endpoint(text: str, default_port: int = DEFAULT_PORT, any_port: bool = False) -> Endpoint:
    """'host', 'host:port', '[v6]' or '[v6]:port'; raises ValueError naming what is wrong.
    any_port: port 0 (any free port) is allowed, for listening."""
    if not text or len(text) > 255 or any(c.isspace() for c in text):
        raise ValueError(f"{text!r} must be HOST[:PORT]")
    host, port_text = text, ""
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            raise ValueError(f"{text!r}: missing ']' after an IPv6 address")
        host, rest = text[1:end], text[end + 1 :]
        if rest and not rest.startswith(":"):
            raise ValueError(f"{text!r}: expected ':PORT' after ']'")
        port_text = rest[1:]
    elif text.count(":") == 1:
        host, port_text = text.split(":")
    if not host:
        raise ValueError(f"{text!r} has no host")
    if not port_text:
        return Endpoint(host, default_port)
    lowest = 0 if any_port else 1
    if not port_text.isdigit() or not lowest <= int(port_text) <= 65535:
        raise ValueError(f"{text!r}: port must be {lowest}..65535")
    return Endpoint(host, int(port_text))


def reason(exc: BaseException) -> str:
    """A technician's reason for a failed resolve/connect: 'Connection refused', not asyncio's
    "Connect call failed ('198.18.0.2', 1)"."""
    if isinstance(exc, TimeoutError):
        return "timed out"
    if isinstance(exc, OSError) and not isinstance(exc, socket.gaierror) and exc.errno:
        return os.strerror(exc.errno)
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__


async def resolve(server: Endpoint, kind: socket.SocketKind) -> tuple[Any, ...]:
    """The first address of `server` for a socket of `kind` (family, kind, proto, _, addr)."""
    loop = asyncio.get_running_loop()
    try:
        infos = await asyncio.wait_for(
            loop.getaddrinfo(server.host, server.port, type=kind), RESOLVE_TIMEOUT_S
        )
    except (OSError, TimeoutError, UnicodeError) as exc:
        raise ResolveError(f"cannot resolve {server.host}: {reason(exc)}") from None
    return infos[0]
