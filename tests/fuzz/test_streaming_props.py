"""The video ladder's parser and the player's accounting under any input: StreamingError or a
consistent state, never a crash."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agent.probe import streaming

SCALAR = (
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=4)
)
JSONISH = SCALAR | st.lists(SCALAR, max_size=20)


@given(st.binary(max_size=600))
def test_ladder_from_any_bytes(body: bytes) -> None:
    try:
        kbps, segment_s = streaming.parse_ladder(body)
    except streaming.StreamingError:
        return
    assert kbps and 0.5 <= segment_s <= 10


@given(st.dictionaries(st.sampled_from(["kbps", "segment_s", "x"]), JSONISH))
def test_ladder_from_any_json(doc: dict) -> None:
    try:
        kbps, segment_s = streaming.parse_ladder(json.dumps(doc).encode())
    except streaming.StreamingError:
        return
    assert all(isinstance(k, int) and k > 0 for k in kbps) and 0.5 <= segment_s <= 10


EVENTS = st.lists(
    st.tuples(st.floats(0, 5), st.sampled_from([235, 750, 1750, 4300, 8000]), st.floats(0, 5)),
    max_size=40,
)


@given(EVENTS, st.floats(0, 10))
def test_player_accounts_every_second(events: list, tail: float) -> None:
    """Whatever the arrival times: played + stalled + start-up never exceed the session, the
    buffer never goes negative, and what is played was downloaded."""
    player = streaming.Player([235, 750, 1750, 4300, 8000], 2.0)
    now = 0.0
    for gap, kbps, download in events:
        now += gap
        player.arrived(now, kbps, download)
        assert player.buffer_s >= 0
        assert player.next_rung() in player.ladder
    player.finish(now + tail)
    end = now + tail
    assert player.played_s <= 2.0 * len(player.rungs) + 1e-9
    startup = player.startup_s if player.startup_s is not None else end
    assert startup + player.played_s + player.stall_s == pytest.approx(end, abs=1e-6)
