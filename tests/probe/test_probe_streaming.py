"""The video streaming test: the player's accounting on a worked example, its abandonment rule,
and whole sessions across shaped namespace links (a fast one, and one that falls below the
ladder's lowest rung mid-session)."""

from __future__ import annotations

import asyncio
import json
import threading

import pytest

from agent.probe import streaming
from agent.probe.webserver import LADDER_KBPS, WebServer, segment_size
from hil.link import ShapedLink
from hil.link.serve import QIYAS, ROOT, start_server_where

LADDER = list(LADDER_KBPS)


def test_worked_example_start_up_step_up_stall_step_down() -> None:
    """Times worked by hand (docs/qoe.md §4): three quick 235 kbit/s segments, a step up to
    750 whose download outlasts the buffer, the stall it causes, the step back down."""
    player = streaming.Player(LADDER, 2.0)
    assert player.next_rung() == 235  # no estimate yet: the lowest rung
    player.arrived(0.5, 235, 0.5)  # 940 kbit/s; playback starts, buffer 2 s
    assert player.startup_s == 0.5 and player.next_rung() == 235  # 750 fits, but buffer < 4 s
    player.arrived(1.0, 235, 0.5)  # buffer 2 − 0.5 + 2 = 3.5 s
    assert player.next_rung() == 235
    player.arrived(1.5, 235, 0.5)  # buffer 5 s: the step up is allowed
    assert player.next_rung() == 750  # highest rung ≤ 0.8 × 940
    player.arrived(7.0, 750, 5.5)  # the buffer ran dry at 6.5 s: a 0.5 s stall
    assert (player.stalls, player.stall_s) == (1, pytest.approx(0.5))
    # harmonic mean of 940, 940 and 750·2/5.5 = 272.7 kbit/s is 517.7; 0.8 × that < 750
    assert player.next_rung() == 235
    player.finish(8.0)
    values = player.values()
    assert values["played_s"] == pytest.approx(7.0)  # 0.5 → 6.5, then 7.0 → 8.0
    assert values["bitrate_kbps_mean"] == pytest.approx((235 * 6 + 750 * 1) / 7, abs=0.05)
    assert (values["bitrate_kbps_max"], values["bitrate_kbps_held"]) == (750, 235)
    assert (values["switches"], values["segments"], values["stall_ms"]) == (1, 4, 500.0)


def test_a_download_that_would_outlast_the_buffer_is_abandoned() -> None:
    player = streaming.Player(LADDER, 2.0)
    for t in (0.1, 0.2, 0.3):
        player.arrived(t, 235, 0.1)  # buffer ≈ 5.8 s at 0.3 s
    size = segment_size(8000)
    assert player.abandon(0.6, 0.3, size // 2, 8000) is None  # judged only after 0.5 s
    assert player.abandon(1.3, 0.3, size - 10_000, 8000) is None  # nearly done: it finishes
    # 100 kB in 1 s is 800 kbit/s: the other 1.9 MB need 19 s, the buffer holds ~4.8 s
    assert player.abandon(1.3, 0.3, 100_000, 8000) == 235  # highest rung ≤ 0.8 × 800
    assert player.abandoned == 1
    assert player.abandon(5.0, 1.3, 0, 235) is None  # nothing lower to go to


async def test_a_server_without_the_ladder_is_an_error(reference: WebServer) -> None:
    with pytest.raises(streaming.StreamingError, match="ladder: HTTP 404"):
        await streaming.play(f"http://127.0.0.1:{reference.port}/nothing", 2)
    with pytest.raises(streaming.StreamingError, match="Connection refused"):
        await streaming.play("http://127.0.0.1:1", 2)


async def test_the_segments_counted_are_the_octets_received(reference: WebServer) -> None:
    video = await streaming.play(f"http://127.0.0.1:{reference.port}", 3, max_buffer_s=4)
    assert video["errors"] == [] and video["abandoned"] == 0
    assert video["bytes"] >= sum(segment_size(LADDER[0]) for _ in range(2))
    assert video["played_s"] == pytest.approx(3 - video["startup_ms"] / 1000, abs=0.05)


@pytest.mark.netns
def test_a_fast_link_holds_the_top_rung() -> None:
    with ShapedLink(100, queue_ms=50) as link:
        proc, where = start_server_where(link)
        done = link.run(
            "a",
            [*QIYAS, "probe", "streaming", "--server", link.addr_b, "--duration", "20",
             "--url", f"http://{link.addr_b}:{where['web_port']}", "--json"],
            capture_output=True, text=True, cwd=ROOT, timeout=60,
        )  # fmt: skip
        proc.terminate()
        proc.wait(10)
    assert done.returncode == 0, done.stderr
    video = json.loads(done.stdout)["streaming"]
    print(video)
    assert video["errors"] == [] and (video["stalls"], video["abandoned"]) == (0, 0)
    assert video["bitrate_kbps_held"] == video["bitrate_kbps_last"] == max(LADDER)
    assert video["startup_ms"] < 1000
    assert video["played_s"] == pytest.approx(20 - video["startup_ms"] / 1000, abs=0.1)


@pytest.mark.netns
def test_a_link_falling_below_the_lowest_rung_steps_down_and_stalls() -> None:
    """20 Mbit/s for 8 s (the top rung fits), then 0.1 Mbit/s, below the lowest 235 kbit/s:
    the player abandons what it was fetching, steps down to the bottom and stalls."""
    with ShapedLink(20, queue_ms=50) as link:
        proc, where = start_server_where(link)
        url = f"http://{link.addr_b}:{where['web_port']}"
        slow = threading.Timer(8.0, link.shape, (0.1, 0.1, 50))
        slow.start()
        try:
            video = link.call("a", lambda: asyncio.run(streaming.play(url, 30, max_buffer_s=6)))
        finally:
            slow.cancel()
            proc.terminate()
            proc.wait(10)
    print(video)
    assert video["bitrate_kbps_max"] == max(LADDER) and video["bitrate_kbps_last"] == min(LADDER)
    assert video["switches"] >= 2 and video["stalls"] >= 1 and video["stall_ms"] > 1000
    assert video["bitrate_kbps_mean"] < max(LADDER)
    assert video["startup_ms"] / 1000 + video["played_s"] + video["stall_ms"] / 1000 == (
        pytest.approx(30, abs=0.1)
    )
