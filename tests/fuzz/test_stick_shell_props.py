"""Hostile shell output for the stick-shell parsers: arbitrary text, and the real captures with
lines dropped, repeated or garbled, give a reading or a ShellOutputError, never another
exception, and never a level outside what the format can hold."""

from __future__ import annotations

import math
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agent.ont import stick_shell
from agent.ont.stick_shell import (
    OMCI_PIPE_OLT_G,
    OMCICLI_ANI_G,
    OTOP_STATUS,
    PLOAM_STATE,
    ShellOutputError,
)

CAPTURES = Path(__file__).resolve().parents[1] / "ont" / "stick_captures"
OTOP = (CAPTURES / "lantiq-fs-gpon-onu-34-20bi.otop-status.txt").read_text()
PLOAM = (CAPTURES / "lantiq-pmg3000-d20b.ploamsg-o5.txt").read_text()
ANIG = (CAPTURES / "realtek-dfp-34x-2c2.omcicli-263.txt").read_text()
OLT_G = (CAPTURES / "lantiq-fs-gpon-onu-34-20bi.omci_pipe-meg-131-0.txt").read_text()
FAST = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def mutated(text: str) -> st.SearchStrategy[str]:
    """The capture with some lines dropped, duplicated or replaced by arbitrary text."""
    lines = text.splitlines()
    edit = st.tuples(
        st.integers(0, len(lines) - 1),
        st.sampled_from(["drop", "twice", "replace", "truncate"]),
        st.text(max_size=80),
    )

    def apply(edits: list[tuple[int, str, str]]) -> str:
        out = list(lines)
        for index, how, junk in edits:
            index %= max(len(out), 1)
            if not out:
                break
            if how == "drop":
                del out[index]
            elif how == "twice":
                out.insert(index, out[index])
            elif how == "replace":
                out[index] = junk
            else:
                out[index] = out[index][: len(junk)]
        return "\n".join(out) + "\n"

    return st.lists(edit, max_size=6).map(apply)


def check_levels(optical: dict[str, object]) -> None:
    for key in ("rx_dbm", "tx_dbm"):
        value = optical[key]
        assert value is None or (isinstance(value, float) and math.isfinite(value))
        assert value is None or -70 <= value <= 70  # 0.002 dB × int16, or otop's 6 digits


@FAST
@given(
    st.text(max_size=3000) | mutated(OTOP),
    st.text(max_size=200) | mutated(PLOAM),
    st.text(max_size=3000) | mutated(OLT_G),
)
def test_lantiq_outputs_read_or_fail_cleanly(otop: str, ploam: str, olt_g: str) -> None:
    outputs = {OTOP_STATUS: otop, PLOAM_STATE: ploam, OMCI_PIPE_OLT_G: olt_g}
    try:
        reading = stick_shell.reading("lantiq", outputs)
    except ShellOutputError as exc:
        assert str(exc)
        return
    check_levels(reading["optical"])
    for key, value in reading["optical"].items():
        assert value is not None or key in reading["unknown"]  # every null says why
    assert reading["olt_vendor_id"] is not None or "olt_vendor_id" in reading["unknown"]


@FAST
@given(st.text(max_size=3000) | mutated(OLT_G))
def test_omci_pipe_meg_reads_or_fails_cleanly(text: str) -> None:
    try:
        me = stick_shell.parse_omci_pipe_meg(text)
    except ShellOutputError as exc:
        assert str(exc)
        return
    assert all(v is None or isinstance(v, bytes) for v in me["attributes"].values())


@FAST
@given(st.text(max_size=3000) | mutated(ANIG))
def test_realtek_outputs_read_or_fail_cleanly(anig: str) -> None:
    try:
        reading = stick_shell.reading("realtek", {OMCICLI_ANI_G: anig})
    except ShellOutputError as exc:
        assert str(exc)
        return
    check_levels(reading["optical"])
    assert len(reading["ani_g"]) <= stick_shell.MAX_INSTANCES


@FAST
@given(st.integers(0, 0xFFFF), st.integers(0, 0xFFFF))
def test_any_16_bit_level_decodes_as_g988_says(rx: int, tx: int) -> None:
    text = ANIG.replace("0xd663", f"0x{rx:04x}").replace("0x04cb", f"0x{tx:04x}")
    optical = stick_shell.reading("realtek", {OMCICLI_ANI_G: text})["optical"]
    signed = rx - 0x10000 if rx & 0x8000 else rx
    assert optical["rx_dbm"] == round(signed * 0.002, 3)
    check_levels(optical)
