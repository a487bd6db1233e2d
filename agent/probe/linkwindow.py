"""The access link just before and just after a test, and what changed between (methodology §7).

A snapshot is taken from the values of a radio and/or optical poll (the records' `radio-values`
and `optical-values`), flattened so that it fits the record's nesting bound under `link.before` /
`link.after`. `changes` compares two snapshots; any change means the result was not measured on one
steady link.
"""

from __future__ import annotations

from typing import Any

SINR_DROP_DB = 6.0

CHANGES = ("handover", "tech-change", "ca-change", "sinr-drop", "ont-alarm", "fec-burst")


def _carriers(ca: Any) -> str | None:
    """Aggregated carriers as one text, primary first: "B3/101 B7/7" (band/PCI)."""
    if not isinstance(ca, list):
        return None
    carriers = [c for c in ca if isinstance(c, dict)]
    return " ".join(f"{c.get('band') or '?'}/{c.get('pci', '?')}" for c in carriers)


def radio_snapshot(values: dict[str, Any]) -> dict[str, Any]:
    """The radio part of a snapshot from a radio record's values; unknown fields left out."""
    cell = values.get("serving_cell") or {}
    nr = values.get("nr") or {}
    out = {
        "tech": (values.get("registration") or {}).get("tech"),
        "cell_id": cell.get("cell_id"),
        "pci": cell.get("pci"),
        "sinr_db": cell.get("sinr_db"),
        "rsrp_dbm": cell.get("rsrp_dbm"),
        "nr_pci": nr.get("pci"),
        "nr_sinr_db": nr.get("sinr_db"),
        "ca": _carriers(values.get("ca")),
    }
    return {k: v for k, v in out.items() if v is not None}


def optical_snapshot(values: dict[str, Any]) -> dict[str, Any]:
    """The optical part of a snapshot from an optical record's values."""
    alarms = values.get("ani_alarms")
    out = {
        "rx_dbm": values.get("rx_dbm"),
        "tx_dbm": values.get("tx_dbm"),
        "alarms": " ".join(sorted(alarms)) if isinstance(alarms, list) else None,
        "fec_uncorrectable_codewords": values.get("fec_uncorrectable_codewords"),
    }
    return {k: v for k, v in out.items() if v is not None}


def snapshot(
    time_ms: int, radio: dict[str, Any] | None, optical: dict[str, Any] | None
) -> dict[str, Any]:
    """A snapshot at time_ms from the polls' values (None: that source gave nothing)."""
    out: dict[str, Any] = {"time_ms": time_ms}
    if radio is not None:
        out["radio"] = radio_snapshot(radio)
    if optical is not None:
        out["optical"] = optical_snapshot(optical)
    return out


def _dropped(before: Any, after: Any) -> bool:
    return (
        isinstance(before, int | float)
        and isinstance(after, int | float)
        and before - after > SINR_DROP_DB
    )


def changes(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    """What differs between two snapshots, as names from CHANGES (in that order)."""
    found: set[str] = set()
    r0, r1 = before.get("radio"), after.get("radio")
    if r0 is not None and r1 is not None:
        if any(r0.get(k) != r1.get(k) for k in ("cell_id", "pci", "nr_pci")):
            found.add("handover")
        if r0.get("tech") != r1.get("tech"):
            found.add("tech-change")
        if r0.get("ca") != r1.get("ca"):
            found.add("ca-change")
        if _dropped(r0.get("sinr_db"), r1.get("sinr_db")) or _dropped(
            r0.get("nr_sinr_db"), r1.get("nr_sinr_db")
        ):
            found.add("sinr-drop")
    o0, o1 = before.get("optical"), after.get("optical")
    if (
        o0 is not None
        and o1 is not None
        and set(o1.get("alarms", "").split()) - set(o0.get("alarms", "").split())
    ):
        found.add("ont-alarm")
    if o1 is not None and o1.get("fec_uncorrectable_codewords", 0) > 0:
        # The after-poll counts since the previous poll, which is the before-poll.
        found.add("fec-burst")
    return [c for c in CHANGES if c in found]


def window(
    before: dict[str, Any], after: dict[str, Any], expected: tuple[str, ...]
) -> tuple[dict[str, Any], list[str]]:
    """The record's `link` field and the verdict's reasons for it.

    expected: the link sources the probe has ("radio", "optical"); one missing from either
    snapshot (its poll failed) is `link-unknown`, since a change then cannot be ruled out.
    """
    found = changes(before, after)
    reasons = ["link-change"] if found else []
    if any(name not in before or name not in after for name in expected):
        reasons.append("link-unknown")
    return {"before": before, "after": after, "changes": found}, reasons
