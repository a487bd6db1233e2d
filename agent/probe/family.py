"""Which IP family a measurement runs over (docs/qoe.md §6): a server name pinned to one
family's address, and an honest "unavailable" when the line or the server lacks that family.

`pin(server, "ipv6")` → (Endpoint with the IPv6 literal, None), or (None, why): the name has no
address of that family, or the host has no route for it (a line without IPv6 has no default
route and no global address: connect() on a UDP socket says ENETUNREACH without sending).
`pin(server, None)`: the first routable address of either family, as applications would pick.
Every test of one run then goes to that one address, so its results share one family.
"""

from __future__ import annotations

import asyncio
import socket

from agent.probe.endpoint import RESOLVE_TIMEOUT_S, Endpoint, reason

FAMILIES = {"ipv4": socket.AF_INET, "ipv6": socket.AF_INET6}


def family_of(host: str) -> str | None:
    """The family of an address literal, None for a name."""
    for name, number in FAMILIES.items():
        try:
            socket.inet_pton(number, host)
        except OSError:
            continue
        return name
    return None


async def pin(server: Endpoint, family: str | None) -> tuple[Endpoint | None, str | None]:
    """`server` at its first address of `family` (None: either) that this host can route to,
    or why not."""
    number = socket.AF_UNSPEC if family is None else FAMILIES[family]
    family = family or "IP"
    loop = asyncio.get_running_loop()
    try:
        infos = await asyncio.wait_for(
            loop.getaddrinfo(server.host, server.port, family=number, type=socket.SOCK_DGRAM),
            RESOLVE_TIMEOUT_S,
        )
    except (OSError, TimeoutError, UnicodeError) as exc:
        return None, f"no {family} address for {server.host}: {reason(exc)}"
    why = f"no {family} address for {server.host}"
    for found, *_, addr in infos:
        with socket.socket(found, socket.SOCK_DGRAM) as probe:
            try:
                probe.connect(addr)  # a route lookup only: UDP connect sends nothing
            except OSError as exc:
                why = f"no {family} route to {addr[0]}: {reason(exc)}"
                continue
        return Endpoint(str(addr[0]), server.port), None
    return None, why
