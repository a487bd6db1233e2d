"""Both IP families: latency and capacity over IPv4 and over IPv6 on a dual-stack namespace link
(ULA addresses, RFC 4193), each result naming its family; on an IPv4-only link a test asked for
IPv6 says IPv6 is unavailable instead of failing."""

from __future__ import annotations

import json
from typing import Any

import pytest

from hil.link import ShapedLink
from hil.link.serve import QIYAS, ROOT, start_server_where

RATE_MBIT = 20


def _probe(link: ShapedLink, *args: str) -> tuple[int, Any]:
    done = link.run(
        "a", [*QIYAS, "probe", *args, "--json"], capture_output=True, text=True, cwd=ROOT,
        timeout=120,
    )  # fmt: skip
    return done.returncode, json.loads(done.stdout) if done.stdout else done.stderr


@pytest.mark.netns
def test_latency_and_capacity_over_each_family_of_a_dual_stack_link() -> None:
    with ShapedLink(RATE_MBIT, queue_ms=50, ipv6=True) as link:
        link.hosts("a", {"dual.test": link.addr_b})
        with open(f"/etc/netns/{link.ns_a}/hosts", "a", encoding="ascii") as hosts:
            hosts.write(f"{link.addr6_b} dual.test\n")  # the name has both an A and an AAAA
        proc, where = start_server_where(link, "--listen", "[::]:0")  # both families
        results = {}
        for family in ("ipv4", "ipv6"):
            code, out = _probe(link, "all", "--server", f"dual.test:{where['port']}",
                               "--family", family, "--duration", "5", "--count", "20")  # fmt: skip
            assert code == 0, out
            results[family] = out
        proc.terminate()
        proc.wait(10)
    v4, v6 = results["ipv4"], results["ipv6"]
    assert (v4["family"], v4["address"]) == ("ipv4", "198.18.0.2")
    assert (v6["family"], v6["address"]) == ("ipv6", "fd00:198:18::2")
    for out in (v4, v6):
        print(out["family"], out["capacity"]["down_mbps"], out["capacity"]["up_mbps"],
              out["latency"]["rtt_ms"])  # fmt: skip
        assert out["server"] == f"dual.test:{where['port']}"
        assert out["latency"]["loss"] == 0.0 and out["latency"]["rtt_ms"]["median"] < 5
        # The shaped rate less the headers (IPv6's are 20 octets longer than IPv4's), and the
        # 5 % above it that test_probe_link allows a short window against tbf's bucket.
        for direction in ("down_mbps", "up_mbps"):
            assert 0.85 * RATE_MBIT <= out["capacity"][direction] <= 1.05 * RATE_MBIT, out


@pytest.mark.netns
def test_an_ipv4_only_line_says_ipv6_is_unavailable() -> None:
    with ShapedLink(RATE_MBIT, queue_ms=50) as link:
        link.hosts("a", {"v4only.test": link.addr_b})
        proc, where = start_server_where(link)
        port = where["port"]
        by_name = _probe(link, "latency", "--server", f"v4only.test:{port}", "--family", "ipv6")
        by_address = _probe(link, "latency", "--server", f"[fd00:198:18::2]:{port}",
                            "--family", "ipv6")  # fmt: skip
        v4 = _probe(link, "latency", "--server", f"v4only.test:{port}", "--family", "ipv4",
                    "--count", "5")  # fmt: skip
        proc.terminate()
        proc.wait(10)
    code, out = by_name
    assert code == 0 and out["family"] == "ipv6" and "latency" not in out
    assert out["unavailable"].startswith("no ipv6 address for v4only.test")
    code, out = by_address
    assert code == 0 and "latency" not in out
    assert out["unavailable"] == "no ipv6 route to fd00:198:18::2: Network is unreachable"
    code, out = v4
    assert code == 0 and out["family"] == "ipv4" and out["latency"]["loss"] == 0.0
