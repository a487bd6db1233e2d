"""Every dialect parser against the corpus of real captures, field by field.

Each capture in tests/modem/captures/ is polled through the real ATSession and Poller with its
dialect's full plan (commands it holds no answer for get ERROR, as an unsupported command would),
and the snapshot must equal the values worked out by hand from the vendor's rules: every listed
field equal, every unlisted field null. A value where the capture has none fails as surely as a
wrong one.
"""

from __future__ import annotations

from typing import Any

import pytest

from agent.core import dialects
from agent.core.at import ATSession
from agent.core.radio import CA_KEYS, CELL_KEYS, Poller, new_snapshot
from hil.modem import captures

IDENTITY = ("dialect", "manufacturer", "model", "revision")


def poll_capture(capture: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """The snapshot and notes of one poll of the capture's dialect plan over its answers."""
    steps = dialects.plan(capture["dialect"])
    answers = captures.answers(capture, [step[0] for step in steps])
    snapshot = new_snapshot()
    # the driver learns the model from +CGMM before the plan runs; the corpus names it instead
    snapshot["model"] = capture["model"] or None
    poller = Poller(ATSession(), steps, snapshot)
    out = poller.start(0.0)
    while not poller.done:
        command = out.decode().rstrip("\r")
        lines = answers.get(command)
        body = (
            "".join(f"\r\n{line}" for line in lines) + "\r\n\r\nOK\r\n"
            if lines
            else "\r\nERROR\r\n"
        )
        out = poller.receive(body.encode(), 0.0)
    assert poller.failed is None, poller.failed
    return snapshot, poller.notes


def _cell(expect: dict[str, Any], prefix: str) -> dict[str, Any] | None:
    keys = [key for key in expect if key.startswith(prefix + ".")]
    if not keys:
        return None
    cell = dict.fromkeys(CELL_KEYS)
    for key in keys:
        cell[key[len(prefix) + 1 :]] = expect[key]
    return cell


def expected_snapshot(capture: dict[str, Any]) -> dict[str, Any]:
    expect = capture["expect"]
    snapshot = new_snapshot()
    for group in ("sim", "registration", "operator"):
        for key in snapshot[group]:
            snapshot[group][key] = expect.get(f"{group}.{key}")
    serving = _cell(expect, "serving_cell")
    snapshot["serving_cell"] = serving if serving is not None else dict.fromkeys(CELL_KEYS)
    snapshot["nr"] = _cell(expect, "nr")
    if "ca" in expect:
        snapshot["ca"] = [{key: carrier.get(key) for key in CA_KEYS} for carrier in expect["ca"]]
    snapshot["temperature_c"] = expect.get("temperature_c")
    return snapshot


def field_differences(got: dict[str, Any], want: dict[str, Any]) -> list[tuple[str, Any, Any]]:
    """(field, got, want) for every field that differs; identity fields are the harness's."""
    out = []
    for key in want:
        if key in IDENTITY:
            continue
        a, b = got[key], want[key]
        if isinstance(b, dict) and isinstance(a, dict):
            out.extend((f"{key}.{k}", a.get(k), b[k]) for k in b if a.get(k) != b[k])
        elif isinstance(b, list) and isinstance(a, list) and len(a) == len(b):
            for i, (x, y) in enumerate(zip(a, b, strict=True)):
                out.extend((f"{key}[{i}].{k}", x.get(k), y[k]) for k in y if x.get(k) != y[k])
        elif a != b:
            out.append((key, a, b))
    return out


def test_the_corpus_covers_every_dialect_with_25_captures() -> None:
    loaded = [captures.load(name) for name in captures.names()]
    assert len(loaded) >= 25
    assert {capture["dialect"] for capture in loaded} <= set(dialects.NAMES)
    for capture in loaded:
        assert capture["source"].startswith(("https://github.com/", "linux-mobile-broadband/"))
        assert capture["response"] and all(block["lines"] for block in capture["response"])


@pytest.mark.parametrize("name", captures.names())
def test_capture_field_by_field(name: str) -> None:
    capture = captures.load(name)
    snapshot, notes = poll_capture(capture)
    differences = field_differences(snapshot, expected_snapshot(capture))
    assert differences == [], "\n".join(f"{f}: got {g!r}, want {w!r}" for f, g, w in differences)
    for reason in capture["expect"].get("notes", []):
        assert any(reason in note for note in notes), (reason, notes)
