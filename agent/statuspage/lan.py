"""Who may use the status page: only the household's network, and only by the probe's address.

The page listens only on a private (LAN) or loopback address, answers only peers on such
networks, refuses a Host that is a domain name (DNS rebinding: a web site whose name a page in
the household's browser makes resolve to the probe) and an Origin that is another site (a web
page posting a pause from the household's browser).
"""

from __future__ import annotations

import ipaddress
from typing import Any

# Names a household's own network gives devices: not a rebinding attacker's domain.
LAN_NAME_SUFFIXES = (".local", ".lan", ".home.arpa")


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


def lan_peer(peer: Any) -> bool:
    """Is the peer (a socket's peername) on the household's network?"""
    try:
        address = ipaddress.ip_address(peer[0])
    except (TypeError, ValueError, IndexError):
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_private or address.is_loopback or address.is_link_local


def lan_host(host: str) -> bool:
    """Is a Host header the probe's address (or a LAN name), not a domain name?"""
    name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
    name = name.strip("[]").lower()
    if name == "localhost" or name.endswith(LAN_NAME_SUFFIXES):
        return True
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def same_site(origin: str | None, host: str) -> bool:
    """Did the page itself send this form (no Origin, as from curl, or the probe's own)?"""
    return origin is None or origin == f"http://{host}"
