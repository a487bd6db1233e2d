"""A ModemManager stand-in on a real D-Bus, built from ModemManager's own introspection XML.

The interfaces, their properties' types and their methods' signatures are read from the XML that
Debian's modemmanager-dev installs in /usr/share/dbus-1/interfaces/ (the files of
linux-mobile-broadband/ModemManager, introspection/org.freedesktop.ModemManager1*.xml): every
property the XML defines is exported with its XML type (a value of another type fails when the
service starts), a property the XML does not define cannot be given, and a call whose arguments do
not match the XML's signature is refused with InvalidArgs, as GDBus refuses it for ModemManager.
The values are the test's: a modem's state written the way ModemManager holds it.

What runs here is only the D-Bus side of ModemManager (the object manager, Properties, the
Signal.Setup refresh and GetCellInfo); nothing of our client is reused.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
from pathlib import Path
from typing import Any

from dbus_fast import Message, MessageType, Variant
from dbus_fast.aio import MessageBus
from dbus_fast.introspection import Interface, Node

XML_DIR = Path("/usr/share/dbus-1/interfaces")
MM = "org.freedesktop.ModemManager1"
MM_PATH = "/org/freedesktop/ModemManager1"
MODEM_PATH = MM_PATH + "/Modem/0"
MODEM, MODEM_3GPP, SIGNAL = MM + ".Modem", MM + ".Modem.Modem3gpp", MM + ".Modem.Signal"
PROPERTIES = "org.freedesktop.DBus.Properties"
OBJECT_MANAGER = "org.freedesktop.DBus.ObjectManager"
INTROSPECTABLE = "org.freedesktop.DBus.Introspectable"


def interface(name: str) -> Interface:
    """One interface as ModemManager's XML defines it."""
    node = Node.parse((XML_DIR / f"{name}.xml").read_text())
    (found,) = [i for i in node.interfaces if i.name == name]
    return found


def zero(signature: str) -> Any:
    """What a GDBus skeleton exports for a property nobody set: zero, empty, "/"."""
    if signature in "ynqiuxtd":
        return 0
    if signature == "b":
        return False
    if signature in "sg":
        return ""
    if signature == "o":
        return "/"
    if signature.startswith("a{"):
        return {}
    if signature.startswith("a"):
        return []
    if signature.startswith("("):
        from dbus_fast.signature import SignatureTree

        (tree,) = SignatureTree(signature).types
        return [zero(child.signature) for child in tree.children]
    raise ValueError(f"no zero for signature {signature}")


class ExportedInterface:
    def __init__(self, name: str, values: dict[str, Any]) -> None:
        self.xml = interface(name)
        self.name = name
        self.types = {p.name: p.signature for p in self.xml.properties}
        unknown = set(values) - set(self.types)
        if unknown:
            raise ValueError(f"{name} has no properties {sorted(unknown)} in ModemManager's XML")
        self.values: dict[str, Any] = {p: zero(t) for p, t in self.types.items()}
        self.values.update(values)
        self.variants()  # a value that does not fit its XML type fails here, at start

    def variants(self, names: list[str] | None = None) -> dict[str, Variant]:
        return {p: Variant(self.types[p], self.values[p]) for p in names or self.types}


class ModemManagerService:
    """One modem at /org/freedesktop/ModemManager1/Modem/0.

    `state`: interface name -> property -> value, for Modem, Modem3gpp and Signal (others are
    not exported). `refresh`: what a Signal refresh reads (property -> value), applied when
    Signal.Setup turns polling on. `cells`: GetCellInfo's answer, or None to answer it as
    ModemManager does for a plugin without cell info (Core.Unsupported).
    """

    def __init__(
        self,
        state: dict[str, dict[str, Any]],
        refresh: dict[str, Any] | None = None,
        cells: list[dict[str, Variant]] | None = None,
    ) -> None:
        self.root = {MM: ExportedInterface(MM, {"Version": "1.20.4"})}
        self.modem = {name: ExportedInterface(name, values) for name, values in state.items()}
        self.refresh = refresh or {}
        self.cells = cells
        self.calls: list[tuple[str, list[Any]]] = []  # (member, body) of every call received
        self.bus: MessageBus | None = None

    async def start(self, address: str) -> None:
        self.bus = await MessageBus(bus_address=address).connect()
        self.bus.add_message_handler(self._handle)
        await self.bus.request_name(MM)

    async def stop(self) -> None:
        if self.bus is not None:
            self.bus.disconnect()

    def _objects(self, path: str) -> dict[str, ExportedInterface] | None:
        return {MM_PATH: self.root, MODEM_PATH: self.modem}.get(path)

    def _handle(self, msg: Message) -> Message | bool | None:
        if msg.message_type != MessageType.METHOD_CALL:
            return None
        self.calls.append((msg.member, list(msg.body)))
        objects = self._objects(msg.path)
        if objects is None:
            return Message.new_error(msg, "org.freedesktop.DBus.Error.UnknownObject", msg.path)
        if msg.interface == INTROSPECTABLE and msg.member == "Introspect":
            return Message.new_method_return(msg, "s", [self._introspect(objects)])
        if msg.interface == OBJECT_MANAGER and msg.path == MM_PATH:
            if msg.member != "GetManagedObjects":
                return _unknown_method(msg)
            managed = {MODEM_PATH: {n: i.variants() for n, i in self.modem.items()}}
            return Message.new_method_return(msg, "a{oa{sa{sv}}}", [managed])
        if msg.interface == PROPERTIES:
            return self._properties(msg, objects)
        exported = objects.get(msg.interface or "")
        if exported is None:
            return Message.new_error(msg, "org.freedesktop.DBus.Error.UnknownInterface", "")
        methods = {m.name: m for m in exported.xml.methods}
        method = methods.get(msg.member)
        if method is None:
            return _unknown_method(msg)
        if msg.signature != method.in_signature:
            return Message.new_error(
                msg,
                "org.freedesktop.DBus.Error.InvalidArgs",
                f"{msg.member} takes ({method.in_signature}), not ({msg.signature})",
            )
        if (msg.interface, msg.member) == (SIGNAL, "Setup"):
            return self._setup(msg)
        if (msg.interface, msg.member) == (MODEM, "GetCellInfo"):
            if self.cells is None:
                return Message.new_error(
                    msg, MM + ".Error.Core.Unsupported", "Cell info retrieval not supported"
                )
            return Message.new_method_return(msg, method.out_signature, [self.cells])
        return Message.new_error(msg, MM + ".Error.Core.Unsupported", "not in this test")

    def _properties(self, msg: Message, objects: dict[str, ExportedInterface]) -> Message:
        exported = objects.get(msg.body[0]) if msg.body else None
        if exported is None:
            return Message.new_error(msg, "org.freedesktop.DBus.Error.InvalidArgs", "interface")
        if msg.member == "GetAll" and msg.signature == "s":
            return Message.new_method_return(msg, "a{sv}", [exported.variants()])
        if msg.member == "Get" and msg.signature == "ss" and msg.body[1] in exported.types:
            return Message.new_method_return(
                msg, "v", [exported.variants([msg.body[1]])[msg.body[1]]]
            )
        if msg.member == "Set":  # every ModemManager property is access="read"
            return Message.new_error(msg, "org.freedesktop.DBus.Error.PropertyReadOnly", "")
        return Message.new_error(msg, "org.freedesktop.DBus.Error.InvalidArgs", msg.member or "")

    def _setup(self, msg: Message) -> Message:
        """Signal.Setup(rate): the rate is stored and, when polling is on, a refresh runs at once
        (ModemManager: src/mm-iface-modem-signal.c, polling_restart "launch right away")."""
        signal_iface = self.modem[SIGNAL]
        (rate,) = msg.body
        signal_iface.values["Rate"] = rate
        self._changed(["Rate"])
        if rate:
            asyncio.get_running_loop().call_soon(self._refreshed)
        return Message.new_method_return(msg)

    def _refreshed(self) -> None:
        self.modem[SIGNAL].values.update(self.refresh)
        self._changed(list(self.refresh))

    def _changed(self, names: list[str]) -> None:
        assert self.bus is not None
        if names:
            changed = self.modem[SIGNAL].variants(names)
            self.bus.send(
                Message.new_signal(
                    MODEM_PATH, PROPERTIES, "PropertiesChanged", "sa{sv}as", [SIGNAL, changed, []]
                )
            )

    def _introspect(self, objects: dict[str, ExportedInterface]) -> str:
        node = Node(interfaces=[i.xml for i in objects.values()])
        return node.tostring()


def _unknown_method(msg: Message) -> Message:
    return Message.new_error(msg, "org.freedesktop.DBus.Error.UnknownMethod", msg.member or "")


class SessionBus:
    """A private `dbus-daemon --session` on a socket in `folder`; its address in `.address`."""

    def __init__(self, folder: Path) -> None:
        socket = folder / "bus"
        self.proc = subprocess.Popen(
            [
                "dbus-daemon",
                "--session",
                "--nofork",
                "--nopidfile",
                "--print-address=1",
                f"--address=unix:path={socket}",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        self.address = self.proc.stdout.readline().strip()
        assert self.address.startswith("unix:"), self.proc.stderr.read() if self.proc.stderr else ""

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=10)


def environment(address: str) -> dict[str, str]:
    """The environment of a `qiyas` whose system bus is the test's."""
    return {**os.environ, "DBUS_SYSTEM_BUS_ADDRESS": address}
