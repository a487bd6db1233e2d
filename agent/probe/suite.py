"""Latency, capacity and latency under load against one server, in the shape of the
`qiyas probe --json` contract; shared by the CLI and the agent's sources."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from agent.probe import control
from agent.probe.endpoint import Endpoint
from agent.probe.latency import LatencyError, measure_latency

if TYPE_CHECKING:
    from agent.probe.capacity import DirectionResult

LOADED_INTERVAL_S = 0.05
LOADED_TIMEOUT_S = 3.0  # a bloated queue can hold packets for seconds: still a result, not loss
IDLE_TIMEOUT_S = 1.0

# (phase, elapsed s, current Mbit/s or None): drives a progress display.
Progress = Callable[[str, float, float | None], None]


def latency_summary(raw: dict[str, Any]) -> dict[str, Any]:
    return {
        "rtt_ms": {
            "min": raw["rtt_ms_min"],
            "median": raw["rtt_ms_median"],
            "p95": raw["rtt_ms_p95"],
        },
        "rtt_ipdv_ms": raw["rtt_ipdv_ms"],
        "rtt_pdv_ms": raw["rtt_pdv_ms"],
        "invalid_by_loss": raw["invalid_by_loss"],
        "loss": raw["loss"],
        "sent": raw["sent"],
        "received": raw["received"],
    }


async def idle_latency(server: Endpoint, count: int, interval_s: float) -> dict[str, Any]:
    return await measure_latency(server, count, interval_s, IDLE_TIMEOUT_S)


async def loaded_direction(
    server: Endpoint,
    direction: int,
    streams: int,
    duration_s: float,
    progress: Progress | None = None,
) -> tuple[DirectionResult, dict[str, Any]]:
    """One capacity direction with STAMP running beside it for as long as it loads the link."""
    from agent.probe.capacity import measure_direction  # a latency-only probe never loads it

    count = max(1, int((duration_s - 0.2) / LOADED_INTERVAL_S))
    loaded = asyncio.create_task(
        measure_latency(server, count, LOADED_INTERVAL_S, LOADED_TIMEOUT_S)
    )
    name = control.DIRECTIONS[direction]
    try:
        result = await measure_direction(
            server,
            direction,
            streams,
            duration_s,
            None if progress is None else lambda t, mbps: progress(name, t, mbps),
        )
    except BaseException:
        loaded.cancel()
        raise
    return result, await loaded


async def run_suite(
    server: Endpoint,
    latency: bool,
    capacity: bool,
    duration_s: float,
    streams: int,
    stamp_count: int = 50,
    stamp_interval_s: float = 0.02,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """The JSON document of `qiyas probe`; failures are listed under `errors`."""
    out: dict[str, Any] = {"server": str(server)}
    errors: list[str] = []
    if latency:
        if progress:
            progress("latency", 0.0, None)
        try:
            raw = await idle_latency(server, stamp_count, stamp_interval_s)
            out["latency"] = latency_summary(raw)
            if raw["received"] == 0:
                why = " (port unreachable)" if raw["unreachable"] else ""
                errors.append(f"latency: no STAMP reply from {server}{why}")
        except LatencyError as exc:
            errors.append(f"latency: {exc}")
    if capacity:
        from agent.probe.capacity import CapacityError

        cap: dict[str, Any] = {"streams": streams, "duration_s": duration_s}
        loaded: dict[str, Any] = {}
        for direction in (control.DOWN, control.UP):
            name = control.DIRECTIONS[direction]
            try:
                result, under_load = await loaded_direction(
                    server, direction, streams, duration_s, progress
                )
            except (CapacityError, LatencyError) as exc:
                errors.append(f"capacity {name}: {exc}")
                continue
            cap[f"{name}_mbps"] = result.mbps
            cap[name] = result.as_dict()
            loaded[name] = {
                "rtt_ms_median": under_load["rtt_ms_median"],
                "rtt_ms_p95": under_load["rtt_ms_p95"],
                "invalid_by_loss": under_load["invalid_by_loss"],
                "loss": under_load["loss"],
            }
        if loaded:
            out["capacity"] = cap
            out["loaded_latency"] = loaded
    if errors:
        out["errors"] = errors
    return out
