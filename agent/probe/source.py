"""The agent's latency, capacity and dns sources, configured by the `[probe]` section:

[probe]
servers = ["probe.example.net:8620"]   # the only places measurement traffic goes
duration_s = 10           # per capacity direction, 2..30
streams = 4               # TCP streams, 1..16
stamp_count = 50          # STAMP packets per latency test, 1..1000
stamp_interval_ms = 20    # 5..1000
dns_targets = ["example.net"]  # each: getaddrinfo (what applications see) and a direct query
dns_resolver = "192.0.2.53"     # where direct queries go (default: resolv.conf's first nameserver)
dns_cache_bust_zone = "bust.example.net"  # a zone we answer for: fresh names, a miss then a hit
tcp_targets = ["example.net:443"]
cross_traffic_kbps = 0    # >0: skip a capacity test while the household uses more than this
interface = "wan0"        # the WAN interface, when the probe is the router: its counters tell
                          # the household's traffic during each direction (methodology §6)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from agent.config import ConfigError
from agent.probe import control
from agent.probe.endpoint import DEFAULT_PORT, Endpoint, parse_endpoint
from agent.probe.latency import LatencyError
from agent.probe.suite import idle_latency, loaded_direction
from agent.sources import LinkState, Measurement

if TYPE_CHECKING:
    from agent.boards import Board
    from agent.config import AgentConfig

MAX_TARGETS = 16
IDLE_COUNT_BEFORE_LOAD = 20
# A STAMP test packet on the line: 44 octets + UDP 8 + IPv4 20 + Ethernet 14 (RFC 8762 §4.2.1).
STAMP_LINE_BYTES = 44 + 8 + 20 + 14


class ProbeSettings:
    """`[probe]`, checked: every error names the key."""

    def __init__(self, config: AgentConfig) -> None:
        self.origin = config.origin
        table = config.section("probe")
        self.servers = [self._endpoint("servers", s) for s in self._list(table, "servers")]
        self.duration_s = float(self._number(table, "duration_s", 10, 2, 30))
        self.streams = int(self._number(table, "streams", 4, 1, control.MAX_STREAMS, True))
        self.stamp_count = int(self._number(table, "stamp_count", 50, 1, 1000, True))
        self.stamp_interval_s = self._number(table, "stamp_interval_ms", 20, 5, 1000) / 1000
        self.dns_targets = [self._name("dns_targets", t) for t in self._list(table, "dns_targets")]
        resolver = table.get("dns_resolver")
        if resolver is not None and not isinstance(resolver, str):
            raise self.error("dns_resolver", "must be a text HOST[:PORT]")
        self.dns_resolver = (
            None if resolver is None else self._endpoint("dns_resolver", resolver, port=53)
        )
        zone = table.get("dns_cache_bust_zone")
        if zone is not None and not isinstance(zone, str):
            raise self.error("dns_cache_bust_zone", "must be a domain name")
        self.dns_cache_bust_zone = None if zone is None else self._name("dns_cache_bust_zone", zone)
        self.tcp_targets = [
            self._endpoint("tcp_targets", t, need_port=True)
            for t in self._list(table, "tcp_targets")
        ]
        self.cross_traffic_kbps = self._number(table, "cross_traffic_kbps", 0, 0, 10_000_000)
        interface = table.get("interface")
        if interface is not None and (
            not isinstance(interface, str) or not 1 <= len(interface) <= 15 or "/" in interface
        ):
            raise self.error("interface", "must be a network interface name")
        if self.cross_traffic_kbps and interface is None:
            raise self.error("interface", "is needed when cross_traffic_kbps is set")
        self.interface: str | None = interface

    def error(self, key: str, what: str) -> ConfigError:
        return ConfigError(f"{self.origin}: probe.{key} {what}")

    def _list(self, table: dict[str, Any], key: str) -> list[str]:
        value = table.get(key, [])
        if not isinstance(value, list) or len(value) > MAX_TARGETS:
            raise self.error(key, f"must be a list of at most {MAX_TARGETS} texts")
        for item in value:
            if not isinstance(item, str):
                raise self.error(key, f"has {item!r}, which is not a text")
        return value

    def _endpoint(
        self, key: str, text: str, need_port: bool = False, port: int = DEFAULT_PORT
    ) -> Endpoint:
        try:
            ep = parse_endpoint(text, default_port=0 if need_port else port)
        except ValueError as exc:
            raise self.error(key, f"has {exc}") from None
        if ep.port == 0:
            raise self.error(key, f"has {text!r} without a :PORT")
        return ep

    def _name(self, key: str, text: str) -> str:
        if not 1 <= len(text) <= 253 or any(c.isspace() or c in "/:@" for c in text):
            raise self.error(key, f"has {text!r}, which is not a host name")
        return text

    def _number(
        self,
        table: dict[str, Any],
        key: str,
        default: float,
        lo: float,
        hi: float,
        whole: bool = False,
    ) -> float:
        value = table.get(key, default)
        if (
            isinstance(value, bool)
            or not isinstance(value, (int, float))
            or (whole and not isinstance(value, int))
            or not lo <= value <= hi
        ):
            kind = "an integer" if whole else "a number"
            raise self.error(key, f"must be {kind} in {lo:g}..{hi:g}")
        return float(value)

    def need_servers(self) -> list[Endpoint]:
        if not self.servers:
            raise self.error("servers", "must name at least one measurement server")
        return self.servers


def _rtt_values(raw: dict[str, Any]) -> dict[str, Any]:
    keys = ("rtt_ms_min", "rtt_ms_median", "rtt_ms_p95", "rtt_ipdv_ms", "rtt_pdv_ms", "loss")
    out = {k: raw[k] for k in (*keys, "sent", "received")}
    if raw["invalid_by_loss"]:
        out["invalid_by_loss"] = raw["invalid_by_loss"]
    return out


class LatencySource:
    """Idle STAMP round trips to each configured server: one record per server."""

    def __init__(self, settings: ProbeSettings) -> None:
        self.settings = settings
        self.servers = settings.need_servers()

    async def measure(self, link: LinkState) -> list[Measurement]:
        out = []
        for server in self.servers:
            values: dict[str, Any] = {"server": str(server)}
            try:
                raw = await idle_latency(
                    server, self.settings.stamp_count, self.settings.stamp_interval_s
                )
                values.update(_rtt_values(raw))
            except LatencyError as exc:
                values["error"] = str(exc)
            out.append(Measurement("latency", values))
        return out

    async def aclose(self) -> None:
        return None


class CapacitySource:
    """Download then upload, with the latency under each, against the first configured server
    that accepts; stands aside while the household's own traffic is above the threshold."""

    def __init__(self, settings: ProbeSettings) -> None:
        self.settings = settings
        self.servers = settings.need_servers()
        self.duration_s = settings.duration_s  # per direction; the data budget may shorten it

    async def measure(self, link: LinkState) -> list[Measurement]:
        # Capacity's modules are loaded by the probes that run it, not by every latency probe.
        from agent.probe import crosstraffic
        from agent.probe.capacity import CapacityError

        s = self.settings
        if s.cross_traffic_kbps and s.interface:
            try:
                busy = await crosstraffic.traffic_kbps(s.interface)
            except (OSError, ValueError) as exc:
                return [Measurement("capacity", {"error": f"cross-traffic check: {exc}"})]
            if busy > s.cross_traffic_kbps:
                values = {"skipped": "cross-traffic", "cross_traffic_mbps": round(busy / 1000, 3)}
                return [Measurement("capacity", values)]
        errors = []
        for server in self.servers:
            try:
                return [Measurement("capacity", await self._measure(server))]
            except (CapacityError, LatencyError) as exc:
                errors.append(f"{server}: {exc}")
        return [Measurement("capacity", {"error": "; ".join(errors)[:256]})]

    async def _measure(self, server: Endpoint) -> dict[str, Any]:
        s = self.settings
        idle = await idle_latency(server, IDLE_COUNT_BEFORE_LOAD, s.stamp_interval_s)
        values: dict[str, Any] = {
            "server": str(server),
            "streams": s.streams,
            "rtt_ms_median_idle": idle["rtt_ms_median"],
        }
        for direction in (control.DOWN, control.UP):
            name = control.DIRECTIONS[direction]
            line_before = self._line_counters()
            result, loaded = await loaded_direction(server, direction, s.streams, self.duration_s)
            line_after = self._line_counters()
            values[f"{name}_mbps"] = result.mbps
            values[f"{name}_steady"] = result.steady
            if result.cv is not None:
                values[f"{name}_cv"] = round(result.cv, 4)
            if result.client_cpu is not None:
                values[f"{name}_client_cpu"] = round(result.client_cpu, 3)
            if result.server is not None:  # what the server said of its own load (§3.4)
                for key, value in (
                    ("server_cpu", result.server.cpu),
                    ("server_nic", result.server.nic),
                    ("server_sessions_max", result.server.sessions_max),
                ):
                    if value is not None:
                        values[f"{name}_{key}"] = value
            if result.line_bytes is not None:
                own = result.line_bytes + (loaded["sent"] + loaded["received"]) * STAMP_LINE_BYTES
                values[f"{name}_test_line_bytes"] = own
                if line_before is not None and line_after is not None:
                    # The household's bytes are what the line carried that the test did not.
                    line = line_after - line_before
                    values[f"cross_traffic_bytes_{name}"] = max(0, line - own)
                    values["cross_traffic_vantage"] = "wan-interface"
            values[f"{name}_bytes"] = result.bytes
            values[f"{name}_duration_s"] = round(result.duration_s, 3)
            values[f"{name}_warmup_s"] = round(result.warmup_s, 3)
            values[f"{name}_series_mbps"] = result.series_mbps
            values["series_interval_s"] = result.interval_s
            values[f"loaded_rtt_ms_median_{name}"] = loaded["rtt_ms_median"]
            values[f"loaded_rtt_ms_p95_{name}"] = loaded["rtt_ms_p95"]
            values[f"loaded_loss_{name}"] = loaded["loss"]
            invalid = [f"loaded_{key}_{name}" for key in loaded["invalid_by_loss"]]
            if invalid:
                values.setdefault("invalid_by_loss", []).extend(invalid)
        return values

    def _line_counters(self) -> int | None:
        """Bytes the WAN interface has carried both ways; None: no such vantage here."""
        from agent.probe import crosstraffic

        if self.settings.interface is None:
            return None
        try:
            rx, tx = crosstraffic.read_counters(self.settings.interface)
        except (OSError, ValueError):
            return None  # unknown, never 0: the verdict will say cross-traffic-unknown
        return rx + tx

    async def aclose(self) -> None:
        return None


class DnsSource:
    """Per dns target: the system resolver's time and a direct query's; a cache miss and hit
    under the cache-busting zone; TCP connect time of each tcp target."""

    def __init__(self, settings: ProbeSettings) -> None:
        if not settings.dns_targets and not settings.tcp_targets:
            raise settings.error("dns_targets", "or probe.tcp_targets must name a target")
        self.settings = settings

    async def measure(self, link: LinkState) -> list[Measurement]:
        from agent.probe import dns

        s = self.settings
        out = []
        resolver = s.dns_resolver
        if resolver is None:
            system = dns.system_resolver()
            resolver = None if system is None else Endpoint(system, dns.DNS_PORT)
        for target in s.dns_targets:
            out.append(Measurement("dns", await dns.resolve_time(target)))
            if resolver is None:
                values = {"target": target, "error": "no resolver configured or in resolv.conf"}
                out.append(Measurement("dns", values))
            else:
                out.append(Measurement("dns", await dns.query_time(resolver, target)))
        if resolver is not None and s.dns_cache_bust_zone:
            for values in await dns.cache_miss_and_hit(resolver, s.dns_cache_bust_zone):
                out.append(Measurement("dns", values))
        out += [Measurement("dns", await dns.connect_time(t)) for t in self.settings.tcp_targets]
        return out

    async def aclose(self) -> None:
        return None


def make_latency(config: AgentConfig, board: Board) -> LatencySource:
    return LatencySource(ProbeSettings(config))


def make_capacity(config: AgentConfig, board: Board) -> CapacitySource:
    return CapacitySource(ProbeSettings(config))


def make_dns(config: AgentConfig, board: Board) -> DnsSource:
    return DnsSource(ProbeSettings(config))
