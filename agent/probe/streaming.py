"""The video streaming test (docs/qoe.md §4): play the server's DASH-style ladder for a fixed
time with a documented adaptation rule, and record what a viewer sees: start-up delay, the
bitrate reached and held, switches and stalls.

`Player` is the sans-IO part (the buffer, the rule, the stall accounting, driven by the times
segments arrive); `play(base_url)` fetches the segments over one keep-alive HTTP/1.1
connection (agent.probe.web.Session) and returns the record's values.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import ssl
import time
from typing import Any

import h11

from agent.probe.endpoint import reason
from agent.probe.web import Session, WebError, split_url

SAFETY = 0.8  # the next rung's bitrate is at most this share of the estimated throughput
ESTIMATE_SEGMENTS = 3  # the estimate is the harmonic mean of the last this many downloads
STEP_UP_MIN_BUFFER_S = 4.0  # below this buffer the player never steps up
STARTUP_BUFFER_S = 2.0
MAX_BUFFER_S = 10.0
ABANDON_AFTER_S = 0.5  # a download is judged for abandonment once it has run this long
PROGRESS_S = 0.25  # how often a running download is judged
DURATION_S = 30.0
MAX_DURATION_S = 300.0
MAX_RUNGS = 16
MAX_LADDER_BYTES = 4096
MAX_SEGMENT_BYTES = 16 * 1024 * 1024


class StreamingError(WebError):
    """The stream could not be played at all (no ladder, no first segment); the text says why."""


class Player:
    """A player's state through one session, in seconds since the first request.

    Segments arrive whole (`arrived`); between arrivals playback drains the buffer in real time.
    Playback starts once STARTUP_BUFFER_S is buffered; when the buffer runs dry a stall starts,
    and it ends when one segment is buffered again. A download that would finish only after the
    buffer has run dry is abandoned for a lower rung (`abandon`).
    """

    def __init__(
        self, ladder_kbps: list[int], segment_s: float, max_buffer_s: float = MAX_BUFFER_S
    ) -> None:
        self.ladder = sorted(ladder_kbps)
        self.segment_s = segment_s
        self.max_buffer_s = max_buffer_s
        self.now = 0.0
        self.buffer_s = 0.0
        self.startup_s: float | None = None
        self.stalled_since: float | None = None
        self.stalls = 0
        self.stall_s = 0.0
        self.abandoned = 0
        self.played_s = 0.0
        self.rungs: list[int] = []  # the rung of each segment, in play order
        self._rates: list[float] = []  # kbit/s of the recent downloads

    def advance(self, now: float) -> None:
        """Play from self.now to `now`: drain the buffer, start a stall if it runs dry."""
        if self.startup_s is not None and self.stalled_since is None:
            drained = min(self.buffer_s, now - self.now)
            self.played_s += drained
            self.buffer_s -= drained
            if self.buffer_s <= 0 and now - self.now > drained:
                self.stalled_since = self.now + drained
                self.stalls += 1
        self.now = now

    def arrived(self, now: float, kbps: int, download_s: float) -> None:
        """A segment at rung `kbps` arrived at `now` after `download_s` of downloading."""
        self.advance(now)
        self.rungs.append(kbps)
        self.buffer_s += self.segment_s
        self._sample(kbps * self.segment_s / max(download_s, 1e-6))
        if self.startup_s is None and self.buffer_s >= STARTUP_BUFFER_S:
            self.startup_s = now
        if self.stalled_since is not None and self.buffer_s >= self.segment_s:
            self.stall_s += now - self.stalled_since
            self.stalled_since = None

    def _sample(self, kbps: float) -> None:
        self._rates = [*self._rates, kbps][-ESTIMATE_SEGMENTS:]

    def abandon(self, now: float, started: float, received: int, kbps: int) -> int | None:
        """Judge the download of a `kbps` segment started at `started` that has `received`
        octets at `now`: the lower rung to fetch instead when, at the rate it is getting, it
        would finish only after the buffer has run dry (dash.js' AbandonRequestsRule, simplified);
        else None. An abandoned download's rate counts in the estimate."""
        elapsed = now - started
        if kbps == self.ladder[0] or elapsed < ABANDON_AFTER_S:
            return None
        self.advance(now)
        size = kbps * 1000 * self.segment_s / 8
        rate_kbps = received * 8 / 1000 / elapsed
        left_s = (size - received) * 8 / 1000 / rate_kbps if rate_kbps else float("inf")
        if left_s <= self.buffer_s:
            return None
        self.abandoned += 1
        self._sample(max(rate_kbps, 1e-3))
        lower = [r for r in self.ladder if r <= SAFETY * rate_kbps and r < kbps]
        return lower[-1] if lower else self.ladder[0]

    def finish(self, now: float) -> None:
        """The session ends at `now`; a stall still going counts up to it."""
        self.advance(now)
        if self.stalled_since is not None:
            self.stall_s += now - self.stalled_since
            self.stalled_since = None

    def next_rung(self) -> int:
        """The rule: the highest rung at most SAFETY × the harmonic mean of the last downloads;
        the lowest before any estimate; never a step up while the buffer is short."""
        if not self._rates:
            return self.ladder[0]
        estimate = len(self._rates) / sum(1 / rate for rate in self._rates)
        fitting = [r for r in self.ladder if r <= SAFETY * estimate] or self.ladder[:1]
        choice = fitting[-1]
        if self.rungs and choice > self.rungs[-1] and self.buffer_s < STEP_UP_MIN_BUFFER_S:
            return self.rungs[-1]
        return choice

    def wait_s(self) -> float:
        """How long to wait before the next request: while the buffer is over MAX_BUFFER_S."""
        playing = self.startup_s is not None and self.stalled_since is None
        return max(0.0, self.buffer_s - self.max_buffer_s) if playing else 0.0

    def played_by_rung(self) -> dict[int, float]:
        """Seconds of media played at each rung (playback is in order, so the first
        played_s seconds of the segments)."""
        left = self.played_s
        seconds: dict[int, float] = {}
        for rung in self.rungs:
            if left <= 0:
                break
            part = min(self.segment_s, left)
            seconds[rung] = seconds.get(rung, 0.0) + part
            left -= part
        return seconds

    def values(self) -> dict[str, Any]:
        by_rung = self.played_by_rung()
        played = sum(by_rung.values())
        mean = sum(r * s for r, s in by_rung.items()) / played if played else None
        return {
            "startup_ms": None if self.startup_s is None else round(self.startup_s * 1000, 3),
            "bitrate_kbps_mean": None if mean is None else round(mean, 1),
            "bitrate_kbps_max": max(by_rung) if by_rung else None,
            "bitrate_kbps_held": max(by_rung, key=lambda r: (by_rung[r], r)) if by_rung else None,
            "bitrate_kbps_last": self.rungs[-1] if self.rungs else None,
            "switches": sum(1 for a, b in zip(self.rungs, self.rungs[1:], strict=False) if a != b),
            "stalls": self.stalls,
            "stall_ms": round(self.stall_s * 1000, 3),
            "abandoned": self.abandoned,
            "played_s": round(self.played_s, 3),
            "segments": len(self.rungs),
        }


def parse_ladder(body: bytes) -> tuple[list[int], float]:
    """The server's /video/ladder.json: ({kbps…}, segment_s); raises StreamingError."""
    try:
        doc = json.loads(body[:MAX_LADDER_BYTES])
        kbps, segment_s = doc["kbps"], doc["segment_s"]
    except (ValueError, KeyError, TypeError) as exc:
        raise StreamingError(f"ladder.json unreadable: {exc}") from None
    good_rungs = (
        isinstance(kbps, list)
        and 0 < len(kbps) <= MAX_RUNGS
        and all(isinstance(k, int) and 0 < k <= 1_000_000 for k in kbps)
    )
    if not good_rungs:
        raise StreamingError("ladder.json: kbps must be 1..16 positive integers")
    if not isinstance(segment_s, (int, float)) or not 0.5 <= segment_s <= 10:
        raise StreamingError("ladder.json: segment_s must be in 0.5..10")
    return kbps, float(segment_s)


_FETCH_ERRORS = (OSError, TimeoutError, h11.ProtocolError, WebError, ssl.SSLError)


class _Stream:
    """One session's IO: the segments fetched one after the other, each judged while it runs."""

    def __init__(self, session: Session, prefix: str, duration_s: float) -> None:
        self.session = session
        self.prefix = prefix
        self.duration_s = duration_s
        self.t0 = time.perf_counter()
        self.bytes = 0
        self.errors: list[str] = []

    def clock(self) -> float:
        """The session's time, which ends at duration_s."""
        return min(time.perf_counter() - self.t0, self.duration_s)

    async def run(self, player: Player) -> None:
        number = 0
        kbps: int | None = None
        while True:
            await asyncio.sleep(min(player.wait_s(), self.duration_s - player.now))
            started = self.clock()
            player.advance(started)
            if started >= self.duration_s:
                return
            kbps = kbps or player.next_rung()
            outcome = await self._download(player, number, kbps, started)
            if outcome is None:
                return
            if isinstance(outcome, int):
                kbps = outcome  # abandoned: the same segment again at this lower rung
                continue
            player.arrived(self.clock(), kbps, self.clock() - started)
            number += 1
            kbps = None

    async def _download(
        self, player: Player, number: int, kbps: int, started: float
    ) -> bytes | int | None:
        """The segment's body, or the rung to fetch it at instead, or None: the session is over
        (its time ran out, or the fetch failed, named under errors)."""
        target = f"{self.prefix}{kbps}/{number}.m4s"
        task = asyncio.ensure_future(self.session.get(target, MAX_SEGMENT_BYTES))
        try:
            while not task.done():
                left_s = max(0.0, self.duration_s - self.clock())
                await asyncio.wait({task}, timeout=min(PROGRESS_S, left_s))
                now = self.clock()
                if task.done():
                    break
                if now >= self.duration_s:
                    return None
                lower = player.abandon(now, started, self.session.received, kbps)
                if lower is not None:
                    self.bytes += self.session.received
                    return lower
            status, body = task.result()
        except _FETCH_ERRORS as exc:
            self.errors.append(f"segment {number}: {reason(exc)}")
            return None
        finally:
            if not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, *_FETCH_ERRORS):
                    await task
                await self.session.close()  # the connection is mid-response: not reusable
        if status != 200:
            self.errors.append(f"segment {number}: HTTP {status}")
            return None
        self.bytes += len(body)
        return body


async def play(
    base_url: str,
    duration_s: float = DURATION_S,
    tls: ssl.SSLContext | None = None,
    max_buffer_s: float = MAX_BUFFER_S,
) -> dict[str, Any]:
    """Play `base_url`/video/ for `duration_s` seconds (wall clock from the first segment's
    request). A segment that fails ends the session early, named under `errors`;
    StreamingError when not even the ladder or the first segment could be had."""
    origin, path = split_url(base_url.rstrip("/") + "/video/ladder.json")
    session = Session(origin, tls)
    try:
        try:
            status, body = await asyncio.wait_for(session.get(path, MAX_LADDER_BYTES), 10)
        except _FETCH_ERRORS as exc:
            raise StreamingError(f"ladder: {reason(exc)}") from None
        if status != 200:
            raise StreamingError(f"ladder: HTTP {status}")
        ladder, segment_s = parse_ladder(body)
        player = Player(ladder, segment_s, max_buffer_s)
        stream = _Stream(session, path[: -len("ladder.json")], duration_s)
        await stream.run(player)
        player.finish(stream.clock())
    finally:
        await session.close()
    if not player.rungs:
        raise StreamingError(stream.errors[0] if stream.errors else "no segment arrived")
    return {
        "url": base_url,
        "duration_s": duration_s,
        "segment_s": segment_s,
        "ladder_kbps": ladder,
        **player.values(),
        "bytes": stream.bytes,
        "errors": stream.errors,
    }
