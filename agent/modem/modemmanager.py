"""The `modemmanager` modem source's driver: the radio snapshot read from ModemManager over the
system D-Bus, for boards where ModemManager owns the modem and its AT port
(`[modem] source = "modemmanager"` in the board profile; docs/modems.md).

One poll is one GetManagedObjects on /org/freedesktop/ModemManager1 (every property of every
modem in one round trip) and one Modem.GetCellInfo(). ModemManager fills its Signal interface only
while polling is on (Signal.Setup with a rate > 0): if it is off, the driver turns it on, waits
for the first refresh, and turns it off again when it closes, leaving ModemManager as it found it.

The bus is the system bus (DBUS_SYSTEM_BUS_ADDRESS when set, as every D-Bus client reads it);
dbus-fast is imported only here, so a board on the AT path never loads it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from typing import Any

from dbus_fast import BusType, Message, MessageType, unpack_variants
from dbus_fast.aio import MessageBus

from agent.core.errors import QiyasError
from agent.modem.driver import ModemDown
from agent.modem.mmsnapshot import MM, MODEM, SIGNAL, build

log = logging.getLogger("qiyas.modem")

MM_PATH = "/org/freedesktop/ModemManager1"
OBJECT_MANAGER = "org.freedesktop.DBus.ObjectManager"
PROPERTIES = "org.freedesktop.DBus.Properties"
PORT_IGNORED = 9  # MMModemPortType: listed but left alone (ModemManager src/mm-base-modem.c)
LEVELS = ("Lte", "Nr5g", "Umts", "Gsm")  # the Signal dictionaries a snapshot reads
MAX_MODEMS = 16


class Unavailable(QiyasError):
    """ModemManager, or the modem, cannot be read; the text says which and why."""


class ModemManagerSettings:
    """Which modem (the one whose ports include `port`, or the only one) and how long to wait."""

    def __init__(
        self,
        port: str | None,
        signal_rate_s: int = 30,
        timeout_s: float = 5.0,
        signal_wait_s: float = 5.0,
    ) -> None:
        self.port = port
        self.signal_rate_s = signal_rate_s
        self.timeout_s = timeout_s
        self.signal_wait_s = signal_wait_s


def port_name(port: str) -> str:
    """The kernel name ModemManager lists in Modem.Ports ("ttyUSB2", "cdc-wdm0") for a device
    path, following /dev/serial/by-id/ links."""
    return os.path.basename(os.path.realpath(port) if os.path.exists(port) else port)


def held_ports(interfaces: dict[str, Any]) -> list[str]:
    """The ports ModemManager uses for a modem object (Modem.Ports, less those it ignores)."""
    ports = interfaces.get(MODEM, {}).get("Ports")
    if not isinstance(ports, list):
        return []
    return [
        str(p[0])
        for p in ports
        if isinstance(p, list | tuple) and len(p) == 2 and p[1] != PORT_IGNORED
    ]


class Bus:
    """One connection to the system bus, with calls bounded in time and D-Bus errors raised."""

    def __init__(self, timeout_s: float) -> None:
        self.timeout_s = timeout_s
        self._bus: MessageBus | None = None

    async def connect(self) -> MessageBus:
        if self._bus is None or not self._bus.connected:
            try:
                self._bus = await asyncio.wait_for(
                    MessageBus(bus_type=BusType.SYSTEM).connect(), self.timeout_s
                )
            except (OSError, TimeoutError) as exc:
                where = os.environ.get("DBUS_SYSTEM_BUS_ADDRESS", "/run/dbus/system_bus_socket")
                raise Unavailable(f"no system D-Bus at {where}: {exc or 'timed out'}") from None
        return self._bus

    async def call(
        self,
        path: str,
        interface: str,
        member: str,
        signature: str = "",
        body: Any = (),
        destination: str = MM,
    ) -> list[Any]:
        bus = await self.connect()
        message = Message(
            destination=destination,
            path=path,
            interface=interface,
            member=member,
            signature=signature,
            body=list(body),
        )
        try:
            reply = await asyncio.wait_for(bus.call(message), self.timeout_s)
        except TimeoutError:
            raise Unavailable(
                f"ModemManager did not answer {member} within {self.timeout_s:g} s"
            ) from None
        assert reply is not None
        if reply.message_type == MessageType.ERROR:
            text = reply.body[0] if reply.body and isinstance(reply.body[0], str) else ""
            raise CallFailed(reply.error_name or "?", text)
        return list(reply.body)

    async def close(self) -> None:
        bus, self._bus = self._bus, None
        if bus is not None:
            bus.disconnect()
            with contextlib.suppress(Exception):  # closing a bus that is already gone
                await asyncio.wait_for(bus.wait_for_disconnect(), self.timeout_s)  # type: ignore[no-untyped-call]


class CallFailed(Unavailable):
    def __init__(self, name: str, text: str) -> None:
        self.name = name
        super().__init__(f"{name}: {text[:200]}" if text else name)


async def managed_modems(bus: Bus) -> dict[str, dict[str, Any]]:
    """Modem object path -> its interfaces and their properties, as ModemManager holds them."""
    try:
        (objects,) = await bus.call(MM_PATH, OBJECT_MANAGER, "GetManagedObjects")
    except CallFailed as exc:
        if exc.name in (
            "org.freedesktop.DBus.Error.ServiceUnknown",
            "org.freedesktop.DBus.Error.NameHasNoOwner",
        ):
            raise Unavailable(
                f"ModemManager is not running (no owner of {MM} on the system bus)"
            ) from None
        raise
    found: dict[str, dict[str, Any]] = {}
    for path in sorted(objects)[:MAX_MODEMS]:
        interfaces = unpack_variants(objects[path])
        if isinstance(interfaces, dict) and MODEM in interfaces:
            found[path] = interfaces
    return found


class ModemManagerDriver:
    """poll() / take_recoveries() / aclose(), as the AT driver: RadioSource runs either."""

    def __init__(self, settings: ModemManagerSettings) -> None:
        self.settings = settings
        self.bus = Bus(settings.timeout_s)
        self._signal_set_on: str | None = None  # the modem whose Signal polling we turned on
        self._failed = False
        self._recovered: list[str] = []

    async def poll(self) -> dict[str, Any]:
        try:
            snapshot = await self._poll()
        except Unavailable as exc:
            self._failed = True
            await self.bus.close()  # the next poll connects afresh
            raise ModemDown(str(exc)) from None
        if self._failed:
            self._failed = False
            self._recovered.append("reconnect to ModemManager")
        return snapshot

    def take_recoveries(self) -> list[str]:
        done, self._recovered = self._recovered, []
        return done

    async def aclose(self) -> None:
        path, self._signal_set_on = self._signal_set_on, None
        if path is not None:
            with contextlib.suppress(Unavailable):
                await self.bus.call(path, SIGNAL, "Setup", "u", [0])
        await self.bus.close()

    async def _poll(self) -> dict[str, Any]:
        path, interfaces = self._choose(await managed_modems(self.bus))
        note = None
        if SIGNAL in interfaces and interfaces[SIGNAL].get("Rate") == 0:
            note = await self._enable_signal(path)
            (props,) = await self.bus.call(path, PROPERTIES, "GetAll", "s", [SIGNAL])
            interfaces[SIGNAL] = unpack_variants(props)
        try:
            (cells,) = await self.bus.call(path, MODEM, "GetCellInfo")
            return build(interfaces, unpack_variants(cells), None, note)
        except CallFailed as exc:  # Unsupported on many plugins (AT-only modems)
            return build(interfaces, None, str(exc), note)

    def _choose(self, modems: dict[str, dict[str, Any]]) -> tuple[str, dict[str, Any]]:
        listing = "; ".join(
            f"{path.rsplit('/', 1)[-1]}: {', '.join(held_ports(i)) or 'no ports'}"
            for path, i in modems.items()
        )
        if not modems:
            raise Unavailable("ModemManager manages no modem")
        if self.settings.port is None:
            if len(modems) > 1:
                raise Unavailable(
                    f"ModemManager has {len(modems)} modems ({listing}); set [modem] port"
                )
            return next(iter(modems.items()))
        name = port_name(self.settings.port)
        for path, interfaces in modems.items():
            if name in held_ports(interfaces):
                return path, interfaces
        raise Unavailable(f"no ModemManager modem uses {name} (modem {listing})")

    async def _enable_signal(self, path: str) -> str | None:
        """Turn Signal polling on and wait for ModemManager's first refresh (it runs one at once:
        src/mm-iface-modem-signal.c, polling_restart); None when levels came, else why not."""
        bus = await self.bus.connect()
        refreshed = asyncio.Event()
        rule = (
            f"type='signal',sender='{MM}',path='{path}',interface='{PROPERTIES}',"
            f"member='PropertiesChanged',arg0='{SIGNAL}'"
        )

        def on_message(message: Message) -> None:
            if (
                message.message_type == MessageType.SIGNAL
                and message.path == path
                and message.member == "PropertiesChanged"
                and message.body
                and message.body[0] == SIGNAL
                and any(key in LEVELS for key in message.body[1])
            ):
                refreshed.set()

        bus.add_message_handler(on_message)
        await self._daemon("AddMatch", rule)
        try:
            await self.bus.call(path, SIGNAL, "Setup", "u", [self.settings.signal_rate_s])
            self._signal_set_on = path
            log.info(
                "modem: ModemManager signal polling on, every %d s", self.settings.signal_rate_s
            )
            try:
                await asyncio.wait_for(refreshed.wait(), self.settings.signal_wait_s)
            except TimeoutError:
                wait = self.settings.signal_wait_s
                return (
                    f"no signal refresh from ModemManager within {wait:g} s of turning its "
                    "polling on (what it holds may be older: not read)"
                )
            return None
        except CallFailed as exc:
            return f"ModemManager's Signal.Setup failed: {exc}"
        finally:
            bus.remove_message_handler(on_message)
            with contextlib.suppress(Unavailable):
                await self._daemon("RemoveMatch", rule)

    async def _daemon(self, member: str, rule: str) -> None:
        """A call to the bus daemon itself (match rules)."""
        await self.bus.call(
            "/org/freedesktop/DBus",
            "org.freedesktop.DBus",
            member,
            "s",
            [rule],
            "org.freedesktop.DBus",
        )
