"""The firmware's main loop: measure, sign, keep in the outbox, deliver, repeat.

One loop in two phases, because on an ESP32 board the modem's single UART carries both the AT
commands and (as PPP) the data link:
1. measure: every schedule that is due runs (radio poll over AT, health), each result is signed
   and written to the outbox before anything goes on the network;
2. deliver: bring the network up, connect MQTT, publish what the outbox holds and remove what
   the collector acknowledges, until the next measurement is due; then take the network down.
The host build runs the same loop (its network is always there), so the host tests exercise
exactly the code an ESP32 runs. The watchdog is fed only from this loop, so a hang anywhere
resets the board.
"""

import asyncio
import json

from agent.core import acks, topics
from agent.core.keyid import kid_for
from agent.core.radio import link_context, record_values
from agent.core.recorder import Recorder
from firmware import mqtt
from firmware.clock import Clock, parse_cclk
from firmware.commands import Commands
from firmware.modem import Modem, ModemDown
from firmware.outbox import Outbox

if False:  # names for type comments: mypy reads them, both compilers drop the block
    from typing import Any  # noqa: F401 - in type comments, unread by ruff

    from agent.core.ed25519 import SigningKey  # noqa: F401 - in type comments, unread by ruff
    from firmware.settings import Settings  # noqa: F401 - in type comments, unread by ruff
    from firmware.types import Platform  # noqa: F401 - in type comments, unread by ruff

VERSION = "0.1.0"
WINDOW = 8  # records published and not yet acknowledged by the collector, at most
RETRY_S = 5  # pause between failed connection attempts within one delivery phase


class App:
    def __init__(self, settings, platform, key, firmware_version):
        # type: (Settings, Platform, SigningKey, str) -> None
        self.settings = settings
        self.platform = platform
        self.probe = settings.probe_id
        self.versions = {"agent": VERSION, "board": settings.board, "firmware": firmware_version}
        self.outbox = Outbox(settings.state_dir + "/outbox", settings.outbox_max_records)
        self.epoch = self.outbox.boot()
        self.clock = Clock(platform.monotonic_ms, platform.rtc_ms)
        modem = settings.modem
        self.modem = Modem(
            platform.open_modem(modem),
            platform,
            modem.get("dialect", "auto"),
            modem.get("boot_wait_s", 20),
            platform.power_key(modem),
        )
        self.watchdog = platform.watchdog(settings.watchdog_s)
        self.started_ms = platform.monotonic_ms()
        self.context = {}  # type: dict[str, Any]  # the latest access-link state, carried by every record
        self.modem_down = None  # type: str | None
        self._due = {}  # type: dict[str, int]
        self._inflight = {}  # type: dict[tuple[int, int], int]  # (epoch, seq) -> sent at, ms
        self._acked = asyncio.Event()  # an ack or a command arrived: look again
        self._measure_soon = False  # a command asked for a measurement: end the delivery phase
        self.recorder = Recorder(
            self.probe,
            self.versions,
            kid_for(key.public_key),
            key.sign,
            self.outbox,
            self._now,
            lambda kind: self.context,
            self._committed,
            platform.log,
        )
        self.commands = None  # type: Commands | None
        if settings.controller_key:
            self.commands = Commands(self, settings.controller_key)

    # -- records -------------------------------------------------------------------------------

    def emit(self, kind, values):
        # type: (str, dict[str, Any]) -> bytes | None
        """Sign a record and commit it to the outbox; the COSE_Sign1 bytes kept, or None.

        agent.core.recorder decides what a refusal leaves (the same as on the Linux agent):
        values the schema refuses become a `record-refused` status record rather than an
        exception that would reset the board in a loop; a full flash, a `disk-full` one.
        """
        return self.recorder.record(kind, values)

    def status(self, event, detail=None):
        # type: (str, str | None) -> bytes | None
        return self.recorder.status(event, detail)

    def _now(self):
        # type: () -> tuple[int, bool]
        return self.clock.now_ms(), self.clock.synced

    def _committed(self, kind, values, time_ms, signed):
        # type: (str, dict[str, Any], int, bytes) -> None
        if self.settings.echo_records:
            self.platform.log("QIYAS-RECORD " + signed.hex())

    # -- measurements --------------------------------------------------------------------------

    async def measure_radio(self):
        # type: () -> bytes | None
        try:
            snapshot = await self.modem.poll()
        except ModemDown as exc:
            self.context = {}  # nothing invented: the link state is unknown
            if self.modem_down is None:
                self.status("modem-down", str(exc))
            self.modem_down = str(exc)
            return None
        if not self.clock.synced:
            line = await self.modem.network_time()
            utc_ms = parse_cclk(line) if line else None
            if utc_ms is not None:
                self.clock.sync(utc_ms)
        for how in self.modem.take_recoveries():
            self.status("modem-recovered", how)
        if self.modem_down is not None:
            self.modem_down = None
            self.status("modem-recovered", "answering again")
        self.context = {"radio": link_context(snapshot)}
        return self.emit("radio", record_values(snapshot))

    def measure_health(self):
        # type: () -> bytes | None
        values = {
            "uptime_s": (self.platform.monotonic_ms() - self.started_ms) // 1000,
            "outbox_depth": self.outbox.depth,
        }
        free = self.platform.mem_free()
        if free is not None:
            values["mem_free_kb"] = free // 1024
        return self.emit("health", values)

    async def measure_due(self):
        # type: () -> int
        """Run every schedule that is due; returns ms until the next one is."""
        now = self.platform.monotonic_ms()
        for name, every_s in self.settings.schedule.items():
            if now >= self._due.get(name, 0):
                self._due[name] = now + every_s * 1000
                if name == "radio":
                    await self.measure_radio()
                else:
                    self.measure_health()
                self.watchdog.feed()
        return max(0, min(self._due.values()) - self.platform.monotonic_ms())

    # -- delivery ------------------------------------------------------------------------------

    def measure_soon(self, names):
        # type: (list[str]) -> None
        """Make these schedules due now and end the delivery phase, so they run next."""
        for name in names:
            self._due[name] = 0
        self._measure_soon = True
        self._acked.set()

    def on_message(self, topic, payload):
        # type: (str, bytes) -> None
        if self.commands is not None and topic == topics.commands(self.probe):
            self.commands.handle(payload)
            self._acked.set()  # its status record goes out now
            return
        if topic != topics.acks(self.probe):
            return
        try:
            entries = acks.decode(payload)
        except acks.AckError:
            return  # a malformed ack removes nothing; the records are resent
        for epoch, seq, _status in entries:
            self._inflight.pop((epoch, seq), None)
            self.outbox.remove(epoch, seq)
        self._acked.set()

    async def _publish_pending(self, client):
        # type: (mqtt.Client) -> None
        timeout_ms = self.settings.ack_timeout_s * 1000
        for key in self.outbox.pending():
            now = self.platform.monotonic_ms()
            sent = self._inflight.get(key)
            if sent is not None and now - sent < timeout_ms:
                continue
            if sent is None and len(self._inflight) >= WINDOW:
                return
            epoch, seq = key
            try:
                raw = self.outbox.read(epoch, seq)
            except OSError:  # dropped while we were publishing
                continue
            await client.publish(topics.records(self.probe), raw)
            self._inflight[key] = self.platform.monotonic_ms()
            self.watchdog.feed()

    async def deliver(self, until_ms):
        # type: (int) -> None
        """Deliver the outbox until the monotonic time until_ms (or a command asks for a
        measurement); survives broker outages."""
        self._measure_soon = False
        while self.platform.monotonic_ms() < until_ms and not self._measure_soon:
            self.watchdog.feed()
            try:
                await self._session(until_ms)
            except (OSError, mqtt.MQTTError, asyncio.TimeoutError) as exc:
                self.platform.log("uplink: %s" % (exc or type(exc).__name__))
                wait_ms = min(RETRY_S * 1000, until_ms - self.platform.monotonic_ms())
                if wait_ms > 0:
                    await asyncio.sleep(wait_ms / 1000)

    async def _session(self, until_ms):
        # type: (int) -> None
        settings = self.settings
        client = mqtt.Client(self.probe, self.on_message, timeout_s=10)
        status_topic = topics.status(self.probe)
        death = json.dumps({"state": "offline", "reason": "connection lost"}).encode()
        try:
            await self.platform.network_up()
            await client.connect(
                settings.broker_host,
                settings.broker_port,
                status_topic,
                death,
                self.platform.tls_context() if settings.broker_tls else None,
            )
            await client.subscribe(topics.acks(self.probe))
            if self.commands is not None:
                await client.subscribe(topics.commands(self.probe))
            birth = {"state": "online", "epoch": self.epoch, "firmware": self.versions["firmware"]}
            await client.publish(status_topic, json.dumps(birth).encode(), retain=True)
            self._inflight = {}  # a new connection: resend what was not acknowledged
            while not client.closed.is_set():
                await self._publish_pending(client)
                left = until_ms - self.platform.monotonic_ms()
                if left <= 0 or self._measure_soon:
                    break
                self._acked.clear()
                try:
                    await asyncio.wait_for(self._acked.wait(), min(left, 1000) / 1000)
                except asyncio.TimeoutError:
                    pass
                self.watchdog.feed()
            if client.closed.is_set():
                raise mqtt.MQTTError(client.error or "connection closed")
            # Off the network until the next delivery phase: say so, rather than leave "online".
            away = {"state": "offline", "reason": "measuring", "epoch": self.epoch}
            await client.publish(status_topic, json.dumps(away).encode(), retain=True)
        finally:
            await client.close()
            await self.platform.network_down()

    # -- the loop ------------------------------------------------------------------------------

    async def run(self):
        # type: () -> None
        """Measure and deliver, forever."""
        if self.outbox.recovered:
            self.status("outbox-recovered", self.outbox.recovered)
        while True:
            wait_ms = await self.measure_due()
            await self.deliver(self.platform.monotonic_ms() + wait_ms)
