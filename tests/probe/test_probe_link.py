"""The probe on a real shaped link: two namespaces, veth, tbf at 20 Mbit/s each way with a
50 ms queue. The figures are checked against the shaper (ground truth) and the packets against
tshark's TWAMP-Test dissector."""

from __future__ import annotations

import json
import signal
import subprocess

import pytest

from hil.link import LinkError, ShapedLink
from hil.link.serve import QIYAS, ROOT, probe, readline

pytestmark = pytest.mark.netns

RATE = 20.0  # the link20 fixture's tbf rate, each way


def test_probe_all_matches_the_shaper(link20: ShapedLink, server20: int) -> None:
    proc = probe(link20, server20, "all", "--duration", "5")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    cap = out["capacity"]
    # Ground truth: the tbf rate. TCP/IP/Ethernet headers take 4.4 % of it at MTU 1500.
    assert cap["down_mbps"] == pytest.approx(RATE, rel=0.05)
    assert cap["up_mbps"] == pytest.approx(RATE, rel=0.05)
    assert (cap["streams"], cap["duration_s"]) == (4, 5.0)
    idle = out["latency"]
    assert idle["loss"] == 0.0
    assert 0 < idle["rtt_ms"]["min"] <= idle["rtt_ms"]["median"] <= idle["rtt_ms"]["p95"] < 5
    # Four TCP streams fill the 50 ms tbf queue: the household feels it.
    for direction in ("down", "up"):
        loaded = out["loaded_latency"][direction]["rtt_ms_median"]
        assert loaded > idle["rtt_ms"]["median"] + 10, (direction, loaded)
        assert loaded < 200


def test_download_and_upload_are_not_swapped(link20: ShapedLink, server20: int) -> None:
    link20.shape(20, 5, 50)  # an asymmetric line, as most are
    try:
        proc = probe(link20, server20, "capacity", "--duration", "2", "--streams", "2")
    finally:
        link20.shape(RATE, RATE, 50)
    cap = json.loads(proc.stdout)["capacity"]
    # Coarse on purpose: after a loss TCP hands data over in bursts (head-of-line blocking),
    # which a 2 s test does not average out; what matters here is which way is which.
    assert cap["up_mbps"] < cap["down_mbps"] / 2
    assert cap["down_mbps"] == pytest.approx(20, rel=0.25)
    assert cap["up_mbps"] == pytest.approx(5, rel=0.3)


def test_tshark_decodes_our_stamp_as_twamp_test(
    link20: ShapedLink, server20: int, tmp_path: pytest.TempPathFactory
) -> None:
    pcap = f"{tmp_path}/stamp.pcapng"
    tshark = link20.popen(
        "a",
        ["tshark", "-i", link20.iface, "-f", f"udp port {server20}", "-c", "10", "-w", pcap],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    assert tshark.stderr is not None
    while "Capturing on" not in (line := tshark.stderr.readline().decode()):
        assert line, "tshark did not start capturing"
    assert probe(link20, server20, "latency", "--count", "5").returncode == 0
    tshark.wait(20)
    fields = ["udp.srcport", "twamp.test.seq_number", "twamp.test.sender_seq_number",
              "twamp.test.sender_ttl", "twamp.test.error_estimate.multiplier", "_ws.malformed",
              "_ws.expert.severity"]  # fmt: skip
    argv = ["tshark", "-r", pcap, "-d", f"udp.port=={server20},twamp.test", "-T", "fields"]
    decoded = subprocess.run(
        argv + [x for f in fields for x in ("-e", f)],
        capture_output=True,
        text=True,
        check=True,
    )
    rows = [line.split("\t") for line in decoded.stdout.splitlines()]
    assert len(rows) == 10
    sent = [r for r in rows if r[0] != str(server20)]
    reflected = [r for r in rows if r[0] == str(server20)]
    assert [r[1] for r in sent] == ["0", "1", "2", "3", "4"]
    assert [r[2] for r in reflected] == ["0", "1", "2", "3", "4"]
    assert {r[3] for r in reflected} == {"64"}  # the TTL the test packets arrived with
    assert all(r[4] not in ("", "0") for r in rows)  # multiplier 0 is forbidden
    assert all(r[5] == "" and r[6] == "" for r in rows), decoded.stdout


def namespaces() -> str:
    return subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout


def test_a_link_that_fails_to_build_leaves_nothing_behind() -> None:
    link = ShapedLink(10)
    subprocess.run(["ip", "netns", "add", link.ns_b], check=True)  # in the way of the 2nd one
    try:
        with pytest.raises(LinkError, match="File exists"):
            link.up()
        assert link.ns_a not in namespaces()  # the one it made is gone
        assert link.ns_b in namespaces()  # the one it did not make is left alone
    finally:
        subprocess.run(["ip", "netns", "del", link.ns_b], check=True)
    with pytest.raises(ValueError, match="rate -5 Mbit/s"):
        ShapedLink(-5)


def test_hil_link_command_builds_and_removes_the_link() -> None:
    proc = subprocess.Popen(
        [*QIYAS, "hil", "link", "--rate", "10", "--json"], stdout=subprocess.PIPE, cwd=ROOT
    )
    try:
        where = json.loads(readline(proc, 20))
        ns_a, ns_b = where["household"]["netns"], where["server"]["netns"]
        assert ns_a in namespaces() and ns_b in namespaces()
        assert where["down_mbit"] == where["up_mbit"] == 10.0
        ping = subprocess.run(
            ["ip", "netns", "exec", ns_a, "ping", "-c", "1", "-W", "2", where["server"]["address"]],
            capture_output=True,
        )
        assert ping.returncode == 0
    finally:
        proc.send_signal(signal.SIGINT)
        assert proc.wait(10) == 0
    assert ns_a not in namespaces() and ns_b not in namespaces()
