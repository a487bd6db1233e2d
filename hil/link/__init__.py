"""A shaped link: two network namespaces joined by a veth pair, `tc tbf` on each direction.

Side "a" is the household (the probe), side "b" the far end (the measurement server). Each side's
egress is shaped by its own tbf, so `rate_mbit` holds in both directions and the tbf queue
(`queue_ms`, tbf's `latency`) is where a loaded link's extra delay builds up, as in a real
access network. Addresses come from 198.18.0.0/15 (RFC 2544 benchmarking) and exist only inside
the namespaces, which are removed on exit, on error and at interpreter exit.

Needs root (CAP_NET_ADMIN) and iproute2.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import ctypes.util
import itertools
import os
import shutil
import subprocess
import threading
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from agent.core.errors import QiyasError

T = TypeVar("T")

_CLONE_NEWNET = 0x40000000
_IFACE = "qy0"
_counter = itertools.count()
_live: set[ShapedLink] = set()


class LinkError(QiyasError, RuntimeError):
    """The link could not be built; the text carries the failing command and its error."""


def _ip(*args: str) -> None:
    proc = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=10)
    if proc.returncode:
        raise LinkError(f"ip {' '.join(args)}: {proc.stderr.strip()}")


def _check(down_mbit: float | None, up_mbit: float | None, queue_ms: float) -> None:
    # tc itself takes "-5mbit" for some 18 Pbit/s: refuse such values here.
    for rate in (down_mbit, up_mbit):
        if rate is not None and not 0 < rate <= 100_000:
            raise ValueError(f"rate {rate:g} Mbit/s is outside (0, 100000]")
    if not 0 < queue_ms <= 10_000:
        raise ValueError(f"queue {queue_ms:g} ms is outside (0, 10000]")


def tbf_burst_bytes(rate_mbit: float) -> int:
    """A token bucket deep enough for the kernel's timer and a 64 KiB GSO segment, no deeper:
    a deep bucket lets a burst pass above the rate and skews short measurements."""
    return max(64 * 1024, int(rate_mbit * 1e6 / 8 / 1000))  # 1 ms at the rate


class ShapedLink:
    """`with ShapedLink(20) as link:` → namespaces `link.ns_a`/`link.ns_b`, addresses
    `link.addr_a`/`link.addr_b`; `rate_mbit=None` leaves the veth unshaped. `ipv6=True` makes
    the link dual-stack: ULA `link.addr6_a`/`link.addr6_b` (RFC 4193) beside the IPv4 ones."""

    def __init__(
        self,
        rate_mbit: float | None,
        queue_ms: float = 50.0,
        rate_up_mbit: float | None = None,
        ipv6: bool = False,
    ) -> None:
        tag = f"qy{os.getpid()}x{next(_counter)}"
        self.ns_a = f"{tag}a"
        self.ns_b = f"{tag}b"
        self.addr_a = "198.18.0.1"
        self.addr_b = "198.18.0.2"
        self.ipv6 = ipv6
        self.addr6_a = "fd00:198:18::1"
        self.addr6_b = "fd00:198:18::2"
        self.iface = _IFACE
        self.rate_down_mbit = rate_mbit  # b → a, what the household downloads
        self.rate_up_mbit = rate_up_mbit if rate_up_mbit is not None else rate_mbit
        self.queue_ms = queue_ms
        self._procs: list[subprocess.Popen[bytes]] = []
        self._created: list[str] = []  # namespaces this link made, and so removes
        _check(self.rate_down_mbit, self.rate_up_mbit, queue_ms)

    def up(self) -> ShapedLink:
        _live.add(self)
        try:
            for ns in (self.ns_a, self.ns_b):
                _ip("netns", "add", ns)
                self._created.append(ns)
            _ip("-n", self.ns_a, "link", "add", _IFACE, "type", "veth",
                "peer", "name", _IFACE, "netns", self.ns_b)  # fmt: skip
            for ns, addr, addr6 in (
                (self.ns_a, self.addr_a, self.addr6_a),
                (self.ns_b, self.addr_b, self.addr6_b),
            ):
                _ip("-n", ns, "addr", "add", f"{addr}/24", "dev", _IFACE)
                if self.ipv6:  # nodad: usable at once, not after duplicate detection's second
                    _ip("-n", ns, "addr", "add", f"{addr6}/64", "dev", _IFACE, "nodad")
                _ip("-n", ns, "link", "set", "lo", "up")
                _ip("-n", ns, "link", "set", _IFACE, "up")
            self.shape(self.rate_down_mbit, self.rate_up_mbit, self.queue_ms)
        except BaseException:
            self.down()
            raise
        return self

    def shape(self, down_mbit: float | None, up_mbit: float | None, queue_ms: float) -> None:
        """(Re)shape both directions; None removes the shaping of that direction."""
        _check(down_mbit, up_mbit, queue_ms)
        for ns, rate in ((self.ns_b, down_mbit), (self.ns_a, up_mbit)):
            if rate is None:
                with contextlib.suppress(LinkError):  # no qdisc to remove is fine
                    _ip_tc(ns, "qdisc", "del", "dev", _IFACE, "root")
                continue
            _ip_tc(ns, "qdisc", "replace", "dev", _IFACE, "root", "tbf",
                   "rate", f"{rate}mbit", "burst", str(tbf_burst_bytes(rate)),
                   "latency", f"{queue_ms}ms")  # fmt: skip
        self.rate_down_mbit, self.rate_up_mbit, self.queue_ms = down_mbit, up_mbit, queue_ms

    def down(self) -> None:
        """Stop what was started inside and remove both namespaces (and with them the veth)."""
        for proc in self._procs:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(5)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        self._procs.clear()
        while self._created:
            ns = self._created.pop()
            subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=10)
            shutil.rmtree(f"/etc/netns/{ns}", ignore_errors=True)
        _live.discard(self)

    def __enter__(self) -> ShapedLink:
        return self.up()

    def __exit__(self, *exc: object) -> None:
        self.down()

    def ns(self, side: str) -> str:
        if side not in ("a", "b"):
            raise ValueError(f"side {side!r} is not 'a' or 'b'")
        return self.ns_a if side == "a" else self.ns_b

    def hosts(self, side: str, names: dict[str, str]) -> None:
        """Names that processes started on one side (`ip netns exec`, which bind-mounts
        /etc/netns/NS/hosts over /etc/hosts) resolve; removed with the namespace."""
        folder = f"/etc/netns/{self.ns(side)}"
        os.makedirs(folder, exist_ok=True)
        with open(f"{folder}/hosts", "w", encoding="ascii") as out:
            out.write("127.0.0.1 localhost\n")
            out.writelines(f"{addr} {name}\n" for name, addr in names.items())

    def command(self, side: str, argv: Sequence[str]) -> list[str]:
        return ["ip", "netns", "exec", self.ns(side), *argv]

    def popen(self, side: str, argv: Sequence[str], **kw: Any) -> subprocess.Popen[bytes]:
        """Start a process inside one side; it is stopped by `down()`."""
        proc: subprocess.Popen[bytes] = subprocess.Popen(self.command(side, argv), **kw)
        self._procs.append(proc)
        return proc

    def run(self, side: str, argv: Sequence[str], timeout: float = 120, **kw: Any) -> Any:
        return subprocess.run(self.command(side, argv), timeout=timeout, **kw)

    def call(self, side: str, fn: Callable[..., T], *args: Any) -> T:
        """Run fn(*args) in a thread that lives inside one side's namespace, so the sockets it
        opens belong there; returns its result or raises its exception."""
        result: list[T] = []
        error: list[BaseException] = []

        def body() -> None:
            try:
                enter_netns(self.ns(side))
                result.append(fn(*args))
            except BaseException as exc:
                error.append(exc)

        thread = threading.Thread(target=body, name=f"netns-{self.ns(side)}", daemon=True)
        thread.start()
        thread.join()
        if error:
            raise error[0]
        return result[0]


def _ip_tc(ns: str, *args: str) -> None:
    proc = subprocess.run(
        ["ip", "netns", "exec", ns, "tc", *args], capture_output=True, text=True, timeout=10
    )
    if proc.returncode:
        raise LinkError(f"tc {' '.join(args)} in {ns}: {proc.stderr.strip()}")


_libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)


def enter_netns(name: str) -> None:
    """Move the calling thread (only it) into a named network namespace."""
    fd = os.open(f"/run/netns/{name}", os.O_RDONLY)
    try:
        if _libc.setns(fd, _CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise LinkError(f"setns {name}: {os.strerror(err)}")
    finally:
        os.close(fd)


@atexit.register
def _remove_leftovers() -> None:
    for link in list(_live):
        link.down()
