"""Direct DNS queries against a real caching resolver (dnsmasq) across a namespace link.

dnsmasq (Debian dnsmasq-base) is the resolver the household's CPE usually runs; it forwards
`*.bust.test` and `*.fail.test` to an upstream the test runs in the far namespace, which answers
after 30 ms — the recursion a cache miss costs — or with SERVFAIL. `*.slow.test` goes to an address
that never answers; `big.test` is a TXT record too large for 512 octets of UDP.
"""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from agent.probe import dns
from agent.probe.endpoint import Endpoint
from hil.link import ShapedLink, enter_netns

pytestmark = pytest.mark.netns

UPSTREAM_DELAY_S = 0.03
RESOLVER = Endpoint("198.18.0.2", 53)
BIG_TXT = ",".join(["x" * 200] * 4)


def _upstream_answer(query: bytes) -> bytes:
    """A for 198.18.0.9 with TTL 300 (so dnsmasq caches it), or SERVFAIL under fail.test."""
    end = 12 + query[12:].index(0) + 5
    question = query[12:end]
    servfail = b"\x04fail\x04test\x00" in question.lower()
    flags = bytes([0x80 | (query[2] & 0x01), 0x82 if servfail else 0x80])
    counts = b"\x00\x01" + (b"\x00\x00" if servfail else b"\x00\x01") + b"\x00\x00\x00\x00"
    record = (
        b"" if servfail else b"\xc0\x0c\x00\x01\x00\x01\x00\x00\x01\x2c\x00\x04\xc6\x12\x00\x09"
    )
    return query[:2] + flags + counts + question + record


def _serve_upstream(link: ShapedLink, ready: threading.Event) -> None:
    enter_netns(link.ns_b)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 5353))
        ready.set()
        while True:
            query, peer = sock.recvfrom(512)
            threading.Timer(UPSTREAM_DELAY_S, sock.sendto, (_upstream_answer(query), peer)).start()


@pytest.fixture(scope="module")
def resolver_link() -> Iterator[ShapedLink]:
    if shutil.which("dnsmasq") is None:
        pytest.skip("dnsmasq is not installed (scripts/setup installs dnsmasq-base)")
    with ShapedLink(100, queue_ms=20) as link:
        # the start-up polling below draws port-unreachable replies, and the kernel's ICMP rate
        # limit would then swallow the one the no-resolver test waits for
        link.run("b", ["sysctl", "-qw", "net.ipv4.icmp_ratelimit=0"], check=True)
        ready = threading.Event()
        threading.Thread(target=_serve_upstream, args=(link, ready), daemon=True).start()
        assert ready.wait(10)
        link.popen(
            "b",
            ["dnsmasq", "--keep-in-foreground", "--conf-file=/dev/null", "--no-resolv",
             "--no-hosts", "--pid-file=", "--listen-address=198.18.0.2", "--bind-interfaces",
             "--server=/bust.test/127.0.0.1#5353", "--server=/fail.test/127.0.0.1#5353",
             "--server=/slow.test/198.18.0.77", f"--txt-record=big.test,{BIG_TXT}",
             "--address=/local.test/198.18.0.8"],
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        for _ in range(100):  # until dnsmasq answers (it takes a moment to bind)
            if query(link, "local.test", timeout_s=0.1).get("rcode") == "NOERROR":
                break
        else:
            pytest.fail("dnsmasq did not start answering")
        yield link


def query(link: ShapedLink, name: str, qtype: str = "A", timeout_s: float = 2.0) -> Any:
    return link.call("a", asyncio.run, dns.query_time(RESOLVER, name, qtype, timeout_s))


def test_cache_miss_then_hit_are_told_apart(resolver_link: ShapedLink) -> None:
    miss, hit = resolver_link.call("a", asyncio.run, dns.cache_miss_and_hit(RESOLVER, "bust.test"))
    assert miss["target"] == hit["target"] and miss["target"].endswith(".bust.test")
    assert (miss["cache"], hit["cache"]) == ("miss", "hit")
    assert miss["rcode"] == hit["rcode"] == "NOERROR" and miss["answers"] == 1
    # The miss waited for the upstream's 30 ms; the hit came from dnsmasq's cache.
    assert miss["query_ms"] >= UPSTREAM_DELAY_S * 1000
    assert hit["query_ms"] < miss["query_ms"] / 2


def test_servfail_and_timeout_are_recorded_as_such(resolver_link: ShapedLink) -> None:
    failed = query(resolver_link, "x.fail.test")
    assert failed["rcode"] == "SERVFAIL" and failed["query_ms"] > 0
    silent = query(resolver_link, "x.slow.test", timeout_s=0.5)
    assert silent["rcode"] == "TIMEOUT" and "query_ms" not in silent


def test_truncated_answer_is_asked_again_over_tcp(resolver_link: ShapedLink) -> None:
    out = query(resolver_link, "big.test", "TXT")
    assert (out["transport"], out["rcode"], out["answers"]) == ("tcp", "NOERROR", 1)
    assert query(resolver_link, "local.test")["transport"] == "udp"


def test_no_resolver_there_is_an_error_not_a_time(resolver_link: ShapedLink) -> None:
    out = resolver_link.call(
        "a", asyncio.run, dns.query_time(Endpoint("198.18.0.2", 54), "a.test", "A", 1.0)
    )
    assert out["error"] == "Connection refused" and "rcode" not in out


def test_system_resolver_from_resolv_conf(tmp_path: Any) -> None:
    conf = tmp_path / "resolv.conf"
    conf.write_text("# generated\nsearch lan\nnameserver fe80::1%eth0\nnameserver 192.0.2.1\n")
    assert dns.system_resolver(conf) == "fe80::1"
    conf.write_text("search lan\n")
    assert dns.system_resolver(conf) is None
    assert dns.system_resolver(tmp_path / "absent") is None
