"""The validity verdict on an end-to-end result (docs/methodology.md §4).

`valid` / `flagged` with machine-readable reasons. The reasons a result's own values imply are
found here; the scheduler adds those only it knows (the link window, §7).
"""

from __future__ import annotations

from typing import Any

UNSTABLE_CV = 0.15
CROSS_TRAFFIC_SHARE = 0.05
CPU_BUSY_SHARE = 0.9
SERVER_BUSY_SHARE = 0.9

REASONS = (
    "cross-traffic",
    "cross-traffic-unknown",
    "link-change",
    "link-unknown",
    "client-cpu",
    "server-limited",
    "unstable",
    "not-steady",
)


def verdict(reasons: list[str]) -> dict[str, Any]:
    """The record's `validity` field: flagged exactly when there is a reason, reasons in the order
    of REASONS, each once."""
    unknown = set(reasons) - set(REASONS)
    if unknown:
        raise ValueError(f"unknown validity reasons {sorted(unknown)}")
    ordered = [r for r in REASONS if r in reasons]
    return {"verdict": "flagged" if ordered else "valid", "reasons": ordered}


def _over(value: Any, limit: float) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and value > limit


def capacity_reasons(values: dict[str, Any]) -> list[str]:
    """Reasons a capacity result's values imply, direction by direction (down, up)."""
    found = []
    for d in ("down", "up"):
        if f"{d}_mbps" not in values:
            continue
        if values.get(f"{d}_steady") is False:
            found.append("not-steady")
        if _over(values.get(f"{d}_cv"), UNSTABLE_CV):
            found.append("unstable")
        own = values.get(f"{d}_test_line_bytes")
        cross = values.get(f"cross_traffic_bytes_{d}")
        if cross is None:
            found.append("cross-traffic-unknown")
        elif isinstance(own, int) and own > 0 and cross > CROSS_TRAFFIC_SHARE * own:
            found.append("cross-traffic")
        if _over(values.get(f"{d}_client_cpu"), CPU_BUSY_SHARE):
            found.append("client-cpu")
        if _over(values.get(f"{d}_server_cpu"), SERVER_BUSY_SHARE) or _over(
            values.get(f"{d}_server_nic"), SERVER_BUSY_SHARE
        ):
            found.append("server-limited")
    return found
