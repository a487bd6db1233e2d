"""No wrong value, ever: a poll interrupted by a restart, a URC burst or a late answer.

For every capture of the corpus (real answers, tests/modem/captures) the poll is run once clean,
then with generated interruptions at every position: unsolicited codes between any two lines
(also inside an answer), late answers (a whole answer of another command of the plan, as a
command that timed out earlier would deliver it, with or without its echo) before any answer,
and a restart (RDY, or only the boot URCs without it) anywhere. Properties:
- with URCs and late answers only, the snapshot equals the clean one exactly: they null nothing;
- with a restart, the poll ends failed with a reason, and every field it did fill equals the
  clean value: a restart may null fields, never change one.

A late answer whose lines a modem also sends unsolicited (+CREG/+CEREG/+C5GREG/+CPIN/^HCSQ) has
no mark that tells it from a URC; those are left out, as is a late bare OK (docs/modems.md).
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import Phase, given, settings
from hypothesis import strategies as st

from agent.core import dialects
from agent.core.at import ATSession, response_prefix
from agent.core.radio import UNSOLICITED_TOO, Poller, new_snapshot
from hil.modem import captures

# real unsolicited codes: Quectel, SIMCom (T-SIM7600X issue 90's log), 27.007 registration in both
# of its unsolicited forms, a call, a bare boot notice
URCS = [
    '+QIND: "csq",20,99',
    "+QIND: SMS DONE",
    '+CMTI: "SM",4',
    "+CEREG: 1",
    '+CEREG: 1,"2B5C","01A2D003",7',
    "+CREG: 5",
    '+C5GREG: 1,"2F5E6","A07F03001",11',
    "^RSSI: 15",
    "+CGEV: NW MODIFY 1,0",
    "RING",
    "SMS DONE",
    "PB DONE",
    "+PBREADY",
]
BOOT = ["RDY", "+CPIN: READY", "SMS DONE", "PB DONE"]  # SIM7600G-H after a reset (issue 140)
EXAMPLES = 120  # per capture: with the corpus' 29 captures, thousands of interleavings


def _plan(capture: dict[str, Any]) -> tuple[tuple[Any, ...], dict[str, list[str]]]:
    steps = dialects.plan(capture["dialect"])
    return steps, captures.answers(capture, [step[0] for step in steps])


def _answer(answers: dict[str, list[str]], command: str) -> list[str]:
    lines = answers.get(command)
    return [*lines, "OK"] if lines else ["ERROR"]


def _late_candidates(steps: tuple[Any, ...], answers: dict[str, list[str]]) -> list[str]:
    """Commands whose answer a late delivery can be told by: it carries its own prefix."""
    out = []
    for step in steps:
        prefix = response_prefix(step[0])
        lines = answers.get(step[0]) or []
        if prefix not in UNSOLICITED_TOO and any(line.upper().startswith(prefix) for line in lines):
            out.append(step[0])
    return out


def _interrupted(draw: Any, lines: list[str], late: list[str], answers: dict[str, Any]) -> list:
    """An answer as the line carries it: late answers before it, URCs anywhere inside."""
    if draw is None:
        return lines
    stream: list[str] = []
    for _ in range(draw(st.integers(0, 2)) if late else 0):
        other = draw(st.sampled_from(late))
        if draw(st.booleans()):
            stream.append(other)  # its echo, from a modem with echo on
        stream += _answer(answers, other)
    body = list(lines)
    for _ in range(draw(st.integers(0, 4))):
        body.insert(draw(st.integers(0, len(body) - 1)), draw(st.sampled_from(URCS)))
    return stream + body


def _cuts(draw: Any, size: int) -> list[int]:
    return sorted(draw(st.lists(st.integers(0, size), max_size=6))) if draw else []


def poll(capture: dict[str, Any], draw: Any = None) -> tuple[dict[str, Any], Poller, bool]:
    """(snapshot, poller, restarted) of one poll; `draw` (hypothesis) chooses interruptions."""
    steps, answers = _plan(capture)
    late = _late_candidates(steps, answers)
    snapshot = new_snapshot()
    snapshot["model"] = capture["model"] or None
    poller = Poller(ATSession(), steps, snapshot)
    restart = None
    if draw is not None and draw(st.booleans()):
        at_step = draw(st.integers(0, len(steps) - 1))
        restart = (at_step, draw(st.integers(0, 60)), draw(st.booleans()))
    queue = [poller.start(0.0)]  # what the poller wrote: the modem answers it in order
    dead = False
    answered = 0
    while not poller.done:
        if not queue:
            poller.tick(1e6)  # nothing more is coming: the command in flight times out
            break
        command = queue.pop(0).decode().rstrip("\r")
        if dead:
            continue  # a rebooted modem lost what it was sent
        stream = _interrupted(draw, _answer(answers, command), late, answers)
        answered += 1
        if restart is not None and restart[0] == answered - 1:
            cut = restart[1] % (len(stream) + 1)
            stream = stream[:cut] + (BOOT if restart[2] else BOOT[1:])
            dead = True
        data = "".join(f"\r\n{line}\r\n" for line in stream).encode()
        last = 0
        for mark in [*_cuts(draw, len(data)), len(data)]:
            out = poller.receive(data[last:mark], 0.0)
            if out:
                queue.append(out)
            last = mark
    return snapshot, poller, restart is not None


def _leaves(value: Any, path: str = "") -> dict[str, Any]:
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            out.update(_leaves(item, f"{path}.{key}" if path else key))
        return out
    if isinstance(value, list):
        out = {}
        for i, item in enumerate(value):
            out.update(_leaves(item, f"{path}[{i}]"))
        return out
    return {path: value}


@pytest.mark.parametrize("name", captures.names())
def test_interruptions_never_change_a_value(name: str) -> None:
    capture = captures.load(name)
    clean, clean_poller, _ = poll(capture)
    assert clean_poller.failed is None
    clean_leaves = _leaves(clean)

    @settings(max_examples=EXAMPLES, deadline=None, phases=(Phase.generate,))
    @given(st.data())
    def check(data: st.DataObject) -> None:
        snapshot, poller, restarted = poll(capture, data.draw)
        if poller.failed is None:
            # URCs and late answers null nothing and change nothing (nor does a restart after
            # the last answer)
            assert snapshot == clean
            return
        # only a restart ends a poll early, and the poll says why
        assert restarted, poller.failed
        assert "rebooted" in poller.failed or "no answer" in poller.failed
        for path, value in _leaves(snapshot).items():
            if value is not None:
                assert clean_leaves.get(path) == value, (path, value, clean_leaves.get(path))

    check()
