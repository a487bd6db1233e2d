"""`qiyas doctor -c CONFIG [--json]`: is this installation good? Checks in order, each with a fix.

Each check says pass, warn, fail or skip (its part is not configured, or what it needs failed
before it), with the reason in words a technician can act on and, when it is not a pass, the fix.
The checks use the agent's own modules (modem driver, OMCI client, STAMP sender), so the doctor
sees the hardware the way the agent does. Exit status: 0 nothing failed (warnings allowed),
1 something failed, 2 the command was used wrongly.

Run it with the agent stopped (`systemctl stop qiyas-agent`): two programs reading one modem
port steal each other's answers.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ipaddress
import json
import os
import socket
import sqlite3
import ssl
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    from agent.boards import Board
    from agent.config import AgentConfig

PASS, WARN, FAIL, SKIP = "pass", "warn", "fail", "skip"
CHECK_TIMEOUT_S = 60.0

# Signal levels (3GPP TS 36.133/38.133 reporting ranges; operators' usual install targets).
RSRP_GOOD_DBM, RSRP_POOR_DBM = -100.0, -110.0
SINR_GOOD_DB, SINR_POOR_DB = 3.0, 0.0
RSSI_GOOD_DBM, RSSI_POOR_DBM = -85.0, -95.0
# GPON class B+ (ITU-T G.984.2) levels, used when the ONT does not give its own thresholds.
GPON_RX_DBM = (-28.0, -8.0)
GPON_TX_DBM = (0.5, 5.0)
RX_MARGIN_DB = 2.0  # closer than this to the low limit: works today, fails with the next bend
# Moroccan networks (MCC 604) by MNC, to catch a SIM of another operator than the site's.
MOROCCO_MNC = {"00": "orange", "01": "maroc-telecom", "02": "inwi"}
OUTBOX_LATE_S = 3600.0
OUTBOX_STUCK_S = 86400.0
CERT_RENEW_DAYS = 30
STAMP_COUNT = 5
MQTT_CONNACK = 0x20


class Result(NamedTuple):
    check: str
    status: str
    reason: str
    fix: str = ""


def passed(check: str, reason: str) -> Result:
    return Result(check, PASS, reason)


class Doctor:
    """Runs the checks in order; later checks read what earlier ones found (the modem's answer)."""

    def __init__(self, config_path: str) -> None:
        self.config_path = config_path
        self.config: AgentConfig | None = None
        self.board: Board | None = None
        self.snapshot: dict[str, Any] | None = None
        self.modem_error: str | None = None
        self.ont: dict[str, Any] | None = None
        self.checks: list[tuple[str, Callable[[], Awaitable[Result]]]] = [
            ("config", self.check_config),
            ("probe key", self.check_key),
            ("modem port", self.check_modem_port),
            ("SIM", self.check_sim),
            ("registration", self.check_registration),
            ("signal", self.check_signal),
            ("ONT", self.check_ont),
            ("optical levels", self.check_optical),
            ("clock", self.check_clock),
            ("DNS", self.check_dns),
            ("measurement server", self.check_server),
            ("broker", self.check_broker),
            ("outbox", self.check_outbox),
        ]

    async def run_one(self, name: str, check: Callable[[], Awaitable[Result]]) -> Result:
        if self.config is None and name != "config":
            return Result(name, SKIP, "the config is not valid")
        try:
            return await asyncio.wait_for(check(), CHECK_TIMEOUT_S)
        except TimeoutError:
            return Result(
                name,
                FAIL,
                f"no answer within {CHECK_TIMEOUT_S:g} s",
                "check that part's cable and power, then run qiyas doctor again",
            )
        except Exception as exc:  # a technician gets one line, not a traceback
            return Result(name, FAIL, f"{type(exc).__name__}: {exc}", "report this to Qiyas")

    # -- the probe itself ------------------------------------------------------------------

    async def check_config(self) -> Result:
        from agent import boards, config
        from agent.sources import load_factory

        try:
            cfg = config.load(self.config_path)
            board = boards.load(cfg.board)
            for name in cfg.schedule:  # each part checks its own section
                await load_factory(name)(cfg, board).aclose()
        except (config.ConfigError, boards.BoardError, ValueError) as exc:
            return Result("config", FAIL, str(exc), "correct the file, or run qiyas provision")
        self.config, self.board = cfg, board
        runs = ", ".join(f"{n} every {s:g} s" for n, s in cfg.schedule.items())
        return passed("config", f"probe {cfg.probe_id} on board {board.name}; {runs}")

    async def check_key(self) -> Result:
        from agent import keys

        assert self.config is not None
        path = self.config.key_path
        try:
            if not path.exists():
                return Result("probe key", FAIL, f"no key at {path}", "run qiyas provision")
            key = keys.load_or_create(path)
        except PermissionError:
            return _unreadable("probe key", path)
        except keys.KeyFileError as exc:
            return Result("probe key", FAIL, str(exc), f"chmod 600 {path}; owner: the agent user")
        return passed("probe key", f"kid {key.kid.hex()}")

    # -- the modem -------------------------------------------------------------------------

    def _modem_configured(self) -> bool:
        assert self.config is not None
        return "radio" in self.config.schedule

    async def check_modem_port(self) -> Result:
        if not self._modem_configured():
            return Result("modem port", SKIP, "no radio polling in [schedule] (no modem)")
        from agent.modem.driver import ModemDown, ModemDriver, port_exists
        from agent.modem.source import settings

        assert self.config is not None and self.board is not None
        modem = settings(self.config, self.board)
        if not port_exists(modem.port):
            self.modem_error = f"{modem.port} does not exist"
            return Result(
                "modem port",
                FAIL,
                f"{modem.port} does not exist",
                "check the modem's USB cable and power; ls /dev/serial/by-id/ and set "
                "[modem] port in the config",
            )
        # The doctor looks; it does not power-cycle the modem or wait for a reboot.
        modem.power_cycle_command, modem.boot_wait_s = None, 0.0
        driver = ModemDriver(modem)
        try:
            self.snapshot = await driver.poll()
        except ModemDown as exc:
            self.modem_error = "the modem did not answer"
            return Result(
                "modem port",
                FAIL,
                f"no answer to AT on {modem.port}: {exc}",
                "power-cycle the modem; check that the port is its AT interface and that the "
                "agent is stopped (systemctl stop qiyas-agent)",
            )
        finally:
            await driver.aclose()
        s = self.snapshot
        return passed(
            "modem port", f"{s['manufacturer']} {s['model']} ({s['revision']}) on {modem.port}"
        )

    def _modem_skip(self, name: str) -> Result | None:
        if not self._modem_configured():
            return Result(name, SKIP, "no modem configured")
        if self.snapshot is None or self.modem_error:
            return Result(name, SKIP, self.modem_error or "the modem did not answer")
        return None

    async def check_sim(self) -> Result:
        if skipped := self._modem_skip("SIM"):
            return skipped
        assert self.snapshot is not None
        sim = self.snapshot["sim"]
        if sim["ready"]:
            return passed("SIM", "ready")
        self.modem_error = "the SIM is not ready"
        return Result(
            "SIM",
            FAIL,
            f"SIM not ready ({sim['status'] or 'no answer to +CPIN'})",
            "insert the operator's data SIM (contacts down, fully home); if it asks for a PIN, "
            "remove the PIN with a phone",
        )

    async def check_registration(self) -> Result:
        if skipped := self._modem_skip("registration"):
            return skipped
        assert self.snapshot is not None and self.config is not None
        reg, op = self.snapshot["registration"], self.snapshot["operator"]
        plmn = f"{op['mcc']}-{op['mnc']}" if op["mcc"] else "no network"
        where = f"{op['name'] or plmn} ({plmn}) on {reg['tech'] or 'unknown technology'}"
        if reg["state"] not in ("home", "roaming"):
            self.modem_error = "the modem is not registered"
            return Result(
                "registration",
                FAIL,
                f"not registered (state {reg['state'] or 'unknown'})",
                "check the SIM is active for data and that the operator covers this place; "
                "try the antenna by a window",
            )
        expected = self.config.section("site").get("operator")
        actual = MOROCCO_MNC.get(op["mnc"]) if op["mcc"] == "604" else None
        if expected and actual and actual != expected:
            return Result(
                "registration",
                WARN,
                f"registered on {where}, but the site's operator is {expected}",
                "use the site operator's SIM, or correct [site] operator",
            )
        if reg["state"] == "roaming":
            return Result("registration", WARN, f"roaming on {where}", "use a local SIM")
        return passed("registration", where)

    async def check_signal(self) -> Result:
        if skipped := self._modem_skip("signal"):
            return skipped
        assert self.snapshot is not None
        cell = self.snapshot["serving_cell"]
        nr = self.snapshot["nr"] or {}
        rsrp = cell["rsrp_dbm"] if cell["rsrp_dbm"] is not None else nr.get("rsrp_dbm")
        sinr = cell["sinr_db"] if cell["sinr_db"] is not None else nr.get("sinr_db")
        fix = (
            "move the CPE or its antenna higher and towards the serving cell (a window, away "
            "from metal); check the antenna cables; an outdoor antenna if it stays low"
        )
        if rsrp is None and cell["rssi_dbm"] is None:
            return Result("signal", FAIL, "the modem reports no signal level", fix)
        if rsrp is None:
            rssi = cell["rssi_dbm"]
            text = f"RSSI {rssi} dBm (good ≥ {RSSI_GOOD_DBM:g})"
            return _graded("signal", text, fix, rssi < RSSI_POOR_DBM, rssi < RSSI_GOOD_DBM)
        text = f"RSRP {rsrp} dBm (good ≥ {RSRP_GOOD_DBM:g})"
        bad, weak = rsrp < RSRP_POOR_DBM, rsrp < RSRP_GOOD_DBM
        if sinr is not None:
            text += f", SINR {sinr} dB (good ≥ {SINR_GOOD_DB:g})"
            bad, weak = bad or sinr < SINR_POOR_DB, weak or sinr < SINR_GOOD_DB
        return _graded("signal", text, fix, bad, weak)

    # -- the ONT ---------------------------------------------------------------------------

    async def check_ont(self) -> Result:
        assert self.config is not None and self.board is not None
        if "optical" not in self.config.schedule:
            return Result("ONT", SKIP, "no optical polling in [schedule] (no ONT)")
        from agent.ont.driver import poll_ont
        from agent.ont.session import OmciError
        from agent.ont.sfp_source import SfpSource
        from agent.ont.source import make

        source = make(self.config, self.board)
        if isinstance(source, SfpSource):
            return await self._check_sfp(source.iface)
        try:
            self.ont, _ = await poll_ont(
                source.transport, timeout_s=source.timeout_s, retries=source.retries
            )
        except (OmciError, OSError, ValueError) as exc:
            return Result(
                "ONT",
                FAIL,
                f"no OMCI answer on {source.transport}: {exc}",
                "check the ONT is powered and its LAN/management port is cabled to this board; "
                "[ont] transport must name that interface",
            )
        r = self.ont
        return passed("ONT", f"{r['vendor_id']} {r['equipment_id']} on {source.transport}")

    async def _check_sfp(self, iface: str) -> Result:
        """The board's optics are an SFP ONT stick's own diagnostics (docs/ont.md)."""
        from agent.ont import sfp

        try:
            module = sfp.decode(await sfp.read_module_eeprom(iface))
        except sfp.EepromError as exc:
            return Result(
                "ONT", FAIL, f"no SFP module diagnostics on {iface}: {exc}",
                "check the SFP ONT stick is seated in the cage and [ont] iface names its port",
            )  # fmt: skip
        self.ont = {"optical": module}
        name = " ".join(filter(None, (module["vendor_name"], module["part_number"])))
        return passed("ONT", f"SFP {name or 'module'} on {iface} ({module['diagnostics']})")

    async def check_optical(self) -> Result:
        if self.ont is None:
            return Result("optical levels", SKIP, "no ONT reading")
        optical = self.ont["optical"]
        rx, tx = optical.get("rx_dbm"), optical.get("tx_dbm")
        rx_lo = _limit(optical, "rx_low_threshold_dbm", GPON_RX_DBM[0])
        rx_hi = _limit(optical, "rx_high_threshold_dbm", GPON_RX_DBM[1])
        tx_lo = _limit(optical, "tx_low_threshold_dbm", GPON_TX_DBM[0])
        tx_hi = _limit(optical, "tx_high_threshold_dbm", GPON_TX_DBM[1])
        if rx is None or tx is None:
            return Result("optical levels", FAIL, "the ONT gives no optical level", "")
        text = f"RX {rx:.1f} dBm (limits {rx_lo:g}..{rx_hi:g}), TX {tx:.1f} dBm"
        if rx < rx_lo:
            return Result(
                "optical levels",
                FAIL,
                f"{text}: received light too low",
                "clean the fibre connector and the ONT's optical port (one-click cleaner), "
                "check the drop cable for tight bends; if still low, the operator must repair "
                "the line",
            )
        if rx > rx_hi:
            return Result(
                "optical levels", FAIL, f"{text}: received light too strong", "fit an attenuator"
            )
        if not tx_lo <= tx <= tx_hi:
            return Result(
                "optical levels",
                FAIL,
                f"{text}: transmit level outside {tx_lo:g}..{tx_hi:g}",
                "the ONT's laser is failing: the operator must replace the ONT",
            )
        if rx < rx_lo + RX_MARGIN_DB:
            return Result(
                "optical levels",
                WARN,
                f"{text}: within {RX_MARGIN_DB:g} dB of the low limit",
                "clean the connectors now, before it drops out",
            )
        return passed("optical levels", text)

    # -- the network -----------------------------------------------------------------------

    async def check_clock(self) -> Result:
        from agent import clock

        now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
        if clock.synchronised():
            return passed("clock", f"synchronised ({now})")
        return Result(
            "clock",
            WARN,
            f"not synchronised ({now}): records are kept but flagged",
            "enable NTP: timedatectl set-ntp true (Debian) or uci set system.ntp.enabled=1 "
            "(OpenWrt), and let it reach the network",
        )

    def _names(self) -> list[str]:
        from agent.probe.source import ProbeSettings

        assert self.config is not None
        hosts = [self.config.broker.host]
        hosts += [s.host for s in ProbeSettings(self.config).servers]
        return [h for h in dict.fromkeys(hosts) if not _is_address(h)]

    async def check_dns(self) -> Result:
        names = self._names()
        if not names:
            return Result("DNS", SKIP, "the broker and servers are given as addresses")
        loop = asyncio.get_running_loop()
        for name in names:
            try:
                await asyncio.wait_for(loop.getaddrinfo(name, None), 10)
            except (OSError, TimeoutError) as exc:
                return Result(
                    "DNS",
                    FAIL,
                    f"cannot resolve {name}: {exc}",
                    "check the router's DNS servers (/etc/resolv.conf) and the internet link",
                )
        return passed("DNS", f"resolved {', '.join(names)}")

    async def check_server(self) -> Result:
        from agent.probe.latency import LatencyError, measure_latency
        from agent.probe.source import ProbeSettings

        assert self.config is not None
        servers = ProbeSettings(self.config).servers
        if not servers:
            return Result("measurement server", SKIP, "no [probe] servers configured")
        results = []
        for server in servers:
            try:
                out = await measure_latency(server, count=STAMP_COUNT, interval_s=0.05)
            except LatencyError as exc:
                out = {"received": 0, "error": str(exc)}
            if not out["received"]:
                why = out.get("error") or (
                    "port unreachable" if out.get("unreachable") else "no reply"
                )
                return Result(
                    "measurement server",
                    FAIL,
                    f"no STAMP reply from {server} ({why})",
                    f"check [probe] servers; the router must let UDP and TCP port {server.port} "
                    "out",
                )
            results.append(f"{server} {out['rtt_ms_median']:.1f} ms")
        return passed("measurement server", ", ".join(results))

    async def check_broker(self) -> Result:
        assert self.config is not None
        broker = self.config.broker
        if broker.tls and broker.cert:
            problem = _client_cert_problem(broker.cert, self.config.probe_id)
            if problem is not None and problem.status == FAIL:
                return problem
        else:
            problem = None
        client_id = f"qiyas-doctor-{self.config.probe_id}"
        try:
            code = await _mqtt_connect(broker, client_id)
        except OSError as exc:
            if not (broker.tls and _lost_after_handshake(exc)):
                return _broker_failure(broker.url, exc, bool(broker.cert))
            # TLS 1.3 checks the client's certificate after the handshake, and the broker's alert
            # may be lost in the reset; under TLS 1.2 the refusal comes inside the handshake.
            try:
                code = await _mqtt_connect(broker, client_id, ssl.TLSVersion.TLSv1_2)
            except OSError as again:
                # A broker that speaks only TLS 1.3 refuses the retry itself: keep what it did say.
                reason = getattr(again, "reason", None) or ""
                version = isinstance(again, ssl.SSLError) and "VERSION" in reason
                return _broker_failure(broker.url, exc if version else again, bool(broker.cert))
        if code != 0:
            return Result(
                "broker",
                FAIL,
                f"{broker.url} refused the connection: {_CONNACK.get(code, hex(code))}",
                "the broker does not accept this probe: ask the regulator to check its ACL",
            )
        if problem is not None:
            return problem
        if not broker.tls:
            return Result(
                "broker",
                WARN,
                f"{broker.url} accepts plain MQTT: records travel unencrypted",
                "use mqtts:// with broker.ca, broker.cert and broker.key in production",
            )
        return passed("broker", f"{broker.url}: TLS and this probe's certificate accepted")

    # -- delivery --------------------------------------------------------------------------

    async def check_outbox(self) -> Result:
        assert self.config is not None
        path = self.config.outbox_path
        try:
            if not path.exists():
                return passed("outbox", "empty (the agent has not run yet)")
            db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
            try:
                depth, oldest = db.execute("SELECT count(*), min(created) FROM records").fetchone()
            finally:
                db.close()
        except (PermissionError, sqlite3.OperationalError):
            return _unreadable("outbox", path)
        if not depth:
            return passed("outbox", "empty: everything was delivered")
        age = time.time() - float(oldest)
        text = f"{depth} records waiting, the oldest for {_duration(age)}"
        fix = "the agent cannot deliver: see the broker check; journalctl -u qiyas-agent"
        if age > OUTBOX_STUCK_S:
            return Result("outbox", FAIL, text, fix)
        if age > OUTBOX_LATE_S:
            return Result("outbox", WARN, text, fix)
        return passed("outbox", text)


# -- helpers ---------------------------------------------------------------------------------


def _unreadable(check: str, path: Path) -> Result:
    """The doctor's user cannot read the agent's state: nothing to judge, and it says so."""
    return Result(check, SKIP, f"cannot read {path} as this user", "run qiyas doctor with sudo")


def _graded(check: str, text: str, fix: str, bad: bool, weak: bool) -> Result:
    if bad:
        return Result(check, FAIL, f"{text}: too weak for reliable measurements", fix)
    if weak:
        return Result(check, WARN, f"{text}: usable but weak", fix)
    return passed(check, text)


def _limit(optical: dict[str, Any], key: str, default: float) -> float:
    value = optical.get(key)
    return float(value) if value is not None else default


def _is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return host == "localhost"
    return True


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def _client_cert_problem(path: str, probe: str) -> Result | None:
    """The probe's certificate read locally: unreadable, expired, soon expired, another probe's."""
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    fix = "install this probe's certificate from the national device CA (qiyas certs device)"
    try:
        cert = x509.load_pem_x509_certificate(open(path, "rb").read())  # noqa: SIM115
    except (OSError, ValueError) as exc:
        return Result("broker", FAIL, f"cannot read the client certificate {path}: {exc}", fix)
    names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    common_name = str(names[0].value) if names else ""
    if common_name != probe:
        return Result("broker", FAIL, f"the certificate names {common_name!r}, not {probe}", fix)
    left = cert.not_valid_after_utc - datetime.now(UTC)
    if left.total_seconds() <= 0:
        expired = cert.not_valid_after_utc.strftime("%Y-%m-%d")
        return Result("broker", FAIL, f"the client certificate expired on {expired}", fix)
    if left.days < CERT_RENEW_DAYS:
        return Result("broker", WARN, f"the client certificate expires in {left.days} days", fix)
    return None


_CONNACK = {
    0x80: "unspecified error",
    0x84: "unsupported protocol version",
    0x85: "client identifier not valid",
    0x86: "bad user name or password",
    0x87: "not authorized",
    0x88: "server unavailable",
    0x89: "server busy",
    0x8A: "banned",
}


def _connect_packet(client_id: str) -> bytes:
    """An MQTT 5 CONNECT: clean start, 30 s keep-alive, no properties, no will."""
    cid = client_id.encode()
    body = b"\x00\x04MQTT\x05\x02\x00\x1e\x00" + len(cid).to_bytes(2, "big") + cid
    length = bytearray()
    n = len(body)
    while True:
        n, digit = n >> 7, n & 0x7F
        length.append(digit | (0x80 if n else 0))
        if not n:
            break
    return b"\x10" + bytes(length) + body


def _lost_after_handshake(exc: OSError) -> bool:
    return isinstance(exc, ConnectionError) and not isinstance(exc, ConnectionRefusedError)


async def _mqtt_connect(
    broker: Any, client_id: str, tls_max: ssl.TLSVersion = ssl.TLSVersion.MAXIMUM_SUPPORTED
) -> int:
    """CONNECT and read the CONNACK's reason code (0 = accepted); OSError/SSLError if refused
    before that. Done by hand so a TLS alert reaches the technician as what it is."""
    context = None
    if broker.tls:
        context = ssl.create_default_context(cafile=broker.ca)
        context.maximum_version = tls_max
        if broker.cert:
            context.load_cert_chain(broker.cert, broker.key)
    reader, writer = await asyncio.wait_for(
        asyncio.open_connection(broker.host, broker.port, ssl=context), 15
    )
    try:
        writer.write(_connect_packet(client_id))
        await writer.drain()
        head = await asyncio.wait_for(reader.readexactly(2), 15)
        if head[0] != MQTT_CONNACK or head[1] < 2:
            raise ConnectionError(f"not an MQTT broker (answered {head.hex()})")
        rest = await reader.readexactly(head[1])
        writer.write(b"\xe0\x00")  # DISCONNECT
        await writer.drain()
        return rest[1]
    except asyncio.IncompleteReadError:
        raise ConnectionError("the broker closed the connection without answering") from None
    finally:
        writer.close()
        with contextlib.suppress(OSError):  # ssl.SSLError is an OSError
            await writer.wait_closed()


def _broker_failure(url: str, exc: OSError, presented_cert: bool) -> Result:
    if isinstance(exc, ssl.SSLCertVerificationError):
        return Result(
            "broker",
            FAIL,
            f"{url}: the broker's certificate is not trusted ({exc.verify_message})",
            "broker.ca must be the national CA file from the provisioning kit; check the clock "
            "(a wrong date makes good certificates look expired)",
        )
    refused_tls = isinstance(exc, ssl.SSLError) or _lost_after_handshake(exc)
    if refused_tls and not presented_cert:
        return Result(
            "broker",
            FAIL,
            f"{url} requires a client certificate and none was given",
            "set broker.cert and broker.key in the config (from qiyas certs device)",
        )
    if isinstance(exc, ssl.SSLError):
        alert = (getattr(exc, "reason", None) or str(exc)).lower().replace("_", " ")
        return Result(
            "broker",
            FAIL,
            f"{url} refused this probe's certificate ({alert})",
            "the client certificate must be issued to this probe by the national device CA "
            "and not be expired or revoked: get a new one (qiyas certs device)",
        )
    if isinstance(exc, ConnectionRefusedError):
        reason = "connection refused (nothing listens on that port)"
    elif isinstance(exc, TimeoutError):
        reason = "no answer (a firewall may drop the traffic)"
    elif isinstance(exc, socket.gaierror):
        reason = f"the name does not resolve ({exc.strerror})"
    elif isinstance(exc, ConnectionError):
        reason = str(exc)  # ours, already in words
    else:
        reason = exc.strerror or str(exc) or type(exc).__name__
    return Result(
        "broker",
        FAIL,
        f"cannot reach {url}: {reason}",
        "check the internet link and the broker URL; the router must let this port out",
    )


# -- command line ----------------------------------------------------------------------------


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-c", "--config", required=True, help="agent config (TOML)")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")


STYLE = {PASS: "green", WARN: "yellow", FAIL: "red", SKIP: "dim"}
MARK = {PASS: "✔", WARN: "!", FAIL: "✘", SKIP: "–"}


async def diagnose(config_path: str, show: Callable[[str, Result | None], None]) -> list[Result]:
    """Run every check in order; show(name, None) before each and show(name, result) after."""
    doctor = Doctor(config_path)
    results = []
    for name, check in doctor.checks:
        show(name, None)
        result = await doctor.run_one(name, check)
        show(name, result)
        results.append(result)
    return results


def run(args: argparse.Namespace) -> int:
    from rich.console import Console, Group
    from rich.live import Live
    from rich.spinner import Spinner
    from rich.text import Text

    from agent.cli_contract import UsageError

    if not os.path.exists(args.config):
        raise UsageError(f"{args.config}: no such file (qiyas provision writes it)")
    console = Console(stderr=True)
    done: list[Text] = []
    # The live view lists finished checks and spins on the current one; the table replaces it.
    live = Live(console=console, transient=True, refresh_per_second=8)

    def show(name: str, result: Result | None) -> None:
        if result is None:
            live.update(Group(*done, Spinner("dots", f"checking {name} …")))
            return
        line = Text(f"{MARK[result.status]} {name}: ", style=STYLE[result.status])
        done.append(line.append(result.reason, style="default"))
        live.update(Group(*done))

    if args.json:
        results = asyncio.run(diagnose(args.config, lambda name, result: None))
    else:
        with live:
            results = asyncio.run(diagnose(args.config, show))
    ok = not any(r.status == FAIL for r in results)
    if args.json:
        print(json.dumps({"ok": ok, "checks": [r._asdict() for r in results]}))
    else:
        _report(console, results, ok)
    return 0 if ok else 1


def _report(console: Any, results: list[Result], ok: bool) -> None:
    from rich.markup import escape
    from rich.table import Table

    table = Table(title="qiyas doctor")
    for column in ("check", "result", "reason", "fix"):
        table.add_column(column, overflow="fold")
    for r in results:
        result = f"[{STYLE[r.status]}]{MARK[r.status]} {r.status}[/]"
        # Reasons quote config sections ("[schedule]"): text, not rich markup.
        table.add_row(r.check, result, escape(r.reason), escape(r.fix))
    console.print(table, highlight=False)
    console.print("[green]installation good[/]" if ok else "[red]installation needs fixing[/]")
