"""Hostile ModemManager state into the modemmanager source's snapshot builder: whatever the
properties and cell dictionaries hold (wrong types, NaN, huge numbers, junk keys), the builder
never raises, every value it keeps is in range, every null is explained, and the result makes a
radio record valid against the schema."""

from __future__ import annotations

import math
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from agent.core.radio import CELL_KEYS
from agent.modem import mmsnapshot
from agent.modem.mmsnapshot import MODEM, MODEM_3GPP, SIGNAL
from tests.fuzz.radio_records import assert_recordable

ANY_VALUE = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**40), max_value=2**40),
    st.sampled_from([0, 1, 2, 3, 5, 6, 8, 9, 11, 0xFFFFFFFF, 1 << 14, 1 << 15, 3 << 14]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=80),
    st.sampled_from(["", "26201", "1A2D003", "7B", "FFFFFFFF", "-1", "0x2B5C", "zz"]),
    st.lists(st.tuples(st.text(max_size=10), st.integers(0, 12)), max_size=4),
)
LEVELS = st.dictionaries(
    st.sampled_from(["rsrp", "rsrq", "rssi", "snr", "sinr", "error-rate", "junk"]),
    st.one_of(st.floats(allow_nan=True, allow_infinity=True), ANY_VALUE),
    max_size=6,
)
MODEM_PROPS = ["Manufacturer", "Model", "Revision", "State", "StateFailedReason",
               "UnlockRequired", "AccessTechnologies", "Ports"]  # fmt: skip
THREE_GPP_PROPS = ["RegistrationState", "OperatorCode", "OperatorName"]
CELL_KEYS_MM = ["cell-type", "serving", "serving-cell-type", "ci", "tac", "lac", "physical-ci",
                "psc", "earfcn", "nrarfcn", "uarfcn", "arfcn", "rsrp", "rsrq", "sinr"]  # fmt: skip


BOUNDS = {
    "rsrp_dbm": mmsnapshot.RSRP,
    "rsrq_db": mmsnapshot.RSRQ,
    "sinr_db": mmsnapshot.SINR,
    "rssi_dbm": mmsnapshot.RSSI,
}


def props(names: list[str]) -> st.SearchStrategy[dict[str, Any]]:
    return st.dictionaries(st.sampled_from(names), ANY_VALUE, max_size=len(names))


INTERFACES = st.fixed_dictionaries(
    {},
    optional={
        MODEM: props(MODEM_PROPS),
        MODEM_3GPP: props(THREE_GPP_PROPS),
        SIGNAL: st.fixed_dictionaries(
            {}, optional={"Rate": ANY_VALUE, "Lte": LEVELS, "Nr5g": LEVELS, "Umts": LEVELS}
        ),
    },
)
CELLS = st.one_of(
    st.none(),
    st.lists(
        st.one_of(
            st.dictionaries(
                st.sampled_from(CELL_KEYS_MM),
                st.one_of(ANY_VALUE, st.sampled_from([5, 6, True, 1, 3])),
                max_size=10,
            ),
            ANY_VALUE,
        ),
        max_size=40,
    ),
)


def leaves(snapshot: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in snapshot.items():
        if key in ("dialect", "null_reasons"):
            continue
        if isinstance(value, dict):
            out.update({f"{key}.{k}": v for k, v in value.items()})
        else:
            out[key] = value
    return out


@settings(max_examples=500, deadline=None)
@given(INTERFACES, CELLS, st.one_of(st.none(), st.text(max_size=300)))
def test_any_modemmanager_state_gives_a_bounded_explained_snapshot(
    interfaces: dict[str, Any], cells: list[Any] | None, note: str | None
) -> None:
    snap = mmsnapshot.build(interfaces, cells, "org.freedesktop.ModemManager1.Error.X", note)
    flat = leaves(snap)
    nulls = {path for path, value in flat.items() if value is None}
    assert set(snap["null_reasons"]) == nulls  # every null explained, nothing else
    assert all(0 < len(why) <= 160 for why in snap["null_reasons"].values())
    for leg in ("serving_cell", "nr"):
        cell = snap[leg]
        if cell is None:
            continue
        assert list(cell) == list(CELL_KEYS)
        for key, value in cell.items():
            if value is None or key == "tech":
                continue
            assert isinstance(value, int | float) and not isinstance(value, bool), (key, value)
            assert math.isfinite(value)
        for key, (lo, hi) in BOUNDS.items():
            assert cell[key] is None or lo <= cell[key] <= hi
    for key in ("manufacturer", "model", "revision"):
        assert snap[key] is None or 0 < len(snap[key]) <= mmsnapshot.MAX_TEXT
    assert_recordable(snap)
