"""Hostile bytes into the AT core and hostile lines into every dialect parser: no crash, no
unbounded growth, and whatever comes out still makes a valid record."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from agent.core import dialects
from agent.core.at import URC, ATSession, Response, Timeout
from agent.core.dialects import fields
from agent.core.radio import Poller, new_snapshot
from hil.modem import scenario
from hil.modem.emulator import MAX_COMMAND, ModemEmulator
from tests.fuzz.radio_records import assert_recordable

MAX_LINE = 64
MAX_LINES = 8

# bytes that look like modem output more often than uniform noise would
PIECES = st.sampled_from(
    [
        b"\r",
        b"\n",
        b"\r\n",
        b"OK",
        b"ERROR",
        b"+CME ERROR: 10",
        b"+CSQ: 20,99",
        b"RDY",
        b"AT+CSQ",
        b'+QENG: "servingcell"',
        b",",
        b'"',
        b"\xff",
        b"\x00",
        b"-",
        b"+CEREG: 1",
        b"A" * 70,
    ]
)
NOISY = st.lists(st.one_of(PIECES, st.binary(max_size=40)), max_size=60).map(b"".join)


def _cuts(data: bytes, points: list[int]) -> list[bytes]:
    marks = sorted({p % (len(data) + 1) for p in points})
    out, last = [], 0
    for mark in marks:
        out.append(data[last:mark])
        last = mark
    out.append(data[last:])
    return out


def _describe(events: list[Any]) -> list[tuple[Any, ...]]:
    out: list[tuple[Any, ...]] = []
    for event in events:
        if isinstance(event, Response):
            out.append(("R", event.command, tuple(event.lines), event.final, event.truncated))
        elif isinstance(event, URC):
            out.append(("U", event.line))
        else:
            out.append(("T", event.command))
    return out


@settings(max_examples=300, deadline=None)
@given(NOISY, st.lists(st.integers(min_value=0), max_size=30), st.booleans())
def test_any_bytes_split_anywhere_give_the_same_bounded_events(
    data: bytes, points: list[int], pending: bool
) -> None:
    results = []
    for chunks in ([data], _cuts(data, points)):
        session = ATSession(max_line=MAX_LINE, max_lines=MAX_LINES)
        if pending:
            session.command("AT+CSQ", 0.0, 10.0)
        events = []
        for chunk in chunks:
            events += session.receive(chunk, 1.0)
            assert len(session._buffer) <= MAX_LINE
            assert len(session._lines) <= MAX_LINES
        for event in events:
            assert isinstance(event, (Response, URC, Timeout))
            lines = event.lines if isinstance(event, Response) else [getattr(event, "line", "")]
            assert len(lines) <= MAX_LINES
            for line in lines:
                assert len(line.encode()) <= MAX_LINE
                assert all(ch == "\t" or 32 <= ord(ch) != 127 for ch in line), line
        results.append(_describe(events))
    assert results[0] == results[1]


@settings(max_examples=100, deadline=None)
@given(st.lists(NOISY, max_size=20))
def test_a_session_fed_forever_stays_bounded_and_usable(stream: list[bytes]) -> None:
    session = ATSession(max_line=MAX_LINE, max_lines=MAX_LINES)
    now = 0.0
    for data in stream:
        now += 1.0
        if not session.busy:
            session.command("AT", now, 0.5)
        session.receive(data, now)
        session.tick(now + 0.6)
        assert not session.busy  # every command ends: answered or timed out
        assert len(session._buffer) <= MAX_LINE
    session.reset()
    session.command("AT", now, 1.0)
    [event] = session.receive(b"\r\nOK\r\n", now)
    assert isinstance(event, Response) and event.ok


TEXT = st.text(
    alphabet=st.sampled_from(list('0123456789ABCDEFabcdef-+,". :_xnNRLTEBAND\t')), max_size=120
)
PREFIXES = [
    "+QENG: ",
    '+QENG: "servingcell",',
    '+QENG: "servingcell","NOCONN","LTE",',
    '+QENG: "servingcell","NOCONN","NR5G-SA",',
    '+QENG: "NR5G-NSA",',
    '+QENG: "LTE",',
    "+QCAINFO: ",
    '+QCAINFO: "SCC",',
    "+QTEMP: ",
    "+CPSI: LTE,",
    "+CPSI: NR5G_SA,",
    "+CPSI: NR5G_NSA,",
    "+CPMUTEMP: ",
    "^HCSQ: ",
    '^HCSQ: "LTE",',
    '^HCSQ: "NR",',
    "^MONSC: LTE,",
    "^MONSC: NR,",
    "1,",
    "#RFSTS: ",
    "+MTSM: ",
    "+CESQ: ",
    "+CEREG: ",
    "+C5GREG: ",
    "+CREG: ",
    "+COPS: ",
    "+CSQ: ",
    "+CPIN: ",
    "System mode:   ",
    "LTE band: ",
    "RSRP (dBm): ",
    "",
]
LINES = st.lists(st.tuples(st.sampled_from(PREFIXES), TEXT).map("".join), max_size=8)
PARSERS = [step[1] for name in dialects.NAMES for step in dialects.plan(name)] + [
    step[1] for step in dialects.IDENTIFY
]


@settings(max_examples=400, deadline=None)
@given(st.sampled_from(PARSERS), LINES, st.sampled_from([None, "LTE", "NR5G-SA", "NR5G-NSA"]))
def test_parsers_take_any_lines_and_leave_a_valid_record(
    parser: Any, lines: list[str], tech: Any
) -> None:
    snapshot = new_snapshot()
    snapshot["registration"]["tech"] = tech
    parser(snapshot, lines)
    for cell in (snapshot["serving_cell"], snapshot["nr"] or {}):
        for key, value in cell.items():
            assert value is None or isinstance(value, (int, float, str)), (key, value)
    # what parsers produce is always a recordable radio record, valid against the schema
    snapshot["dialect"] = "generic"
    assert_recordable(snapshot)


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.none(), st.text(max_size=30)))
def test_field_readers_never_raise(text: str | None) -> None:
    fields.integer(text)
    fields.number(text)
    fields.hexadecimal(text)
    fields.band(None, text)
    fields.plmn(text)
    fields.mcc_mnc(text, text)
    if text is not None:
        assert len(fields.params(text)) <= fields.MAX_FIELDS


@settings(max_examples=150, deadline=None)
@given(st.sampled_from(dialects.NAMES), st.lists(NOISY, min_size=1, max_size=40))
def test_a_poller_fed_noise_ends_and_never_raises(name: str, answers: list[bytes]) -> None:
    session = ATSession(max_line=MAX_LINE, max_lines=MAX_LINES)
    poller = Poller(session, dialects.plan(name), new_snapshot(), timeout_cap_s=1.0)
    poller.start(0.0)
    now = 0.0
    for data in answers:
        now += 0.4
        poller.receive(data, now)
        poller.tick(now)
        if poller.done:
            break
    now += 2.0
    poller.tick(now)
    poller.tick(now + 2.0)
    assert poller.done
    assert len(poller.urcs) <= 16 and len(poller.notes) <= 16


@settings(max_examples=200, deadline=None)
@given(st.lists(NOISY, max_size=20))
def test_the_emulators_command_reader_takes_any_bytes(stream: list[bytes]) -> None:
    """The emulator is a long-running reader too: any bytes, bounded input, no crash."""
    emu = ModemEmulator(scenario.load("quectel", "healthy"))
    emu.booting = False  # no PTY, no loop: answers go nowhere, the parsing is what is tested
    for data in stream:
        emu._receive(data)
        assert len(emu._input) <= MAX_COMMAND
    emu._receive(b"\rAT+CSQ\r")
    assert emu.answered >= 1
