"""The checks in the order a technician fixes things, and the loop that runs them."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from tools.doctor import broker, delivery, modem, modemmanager, network, ont, probe
from tools.doctor.results import FAIL, SKIP, Context, Result

CHECK_TIMEOUT_S = 60.0

Check = Callable[[Context], Awaitable[Result]]

# After "config", which makes the context (tools/doctor/probe.py).
CHECKS: list[tuple[str, Check]] = [
    ("probe key", probe.check_key),
    ("ModemManager", modemmanager.check_modemmanager),
    ("modem port", modem.check_modem_port),
    ("SIM", modem.check_sim),
    ("registration", modem.check_registration),
    ("signal", modem.check_signal),
    ("ONT", ont.check_ont),
    ("optical levels", ont.check_optical),
    ("clock", network.check_clock),
    ("DNS", network.check_dns),
    ("measurement server", network.check_server),
    ("broker", broker.check_broker),
    ("outbox", delivery.check_outbox),
    ("delivery", delivery.check_delivery),
]

Show = Callable[[str, Result | None], None]


async def diagnose(config_path: str, show: Show) -> list[Result]:
    """Run every check in order; show(name, None) before each and show(name, result) after.
    Each check is given the context the checks before it left."""
    show("config", None)
    first = await _guarded("config", probe.check_config(config_path))
    show("config", first)
    results, context = [first], first.learned
    for name, check in CHECKS:
        show(name, None)
        if context is None:
            result = Result(name, SKIP, "the config is not valid")
        else:
            result = await _guarded(name, check(context))
            context = result.learned or context
        show(name, result)
        results.append(result)
    return results


async def _guarded(name: str, check: Awaitable[Result]) -> Result:
    """One check, bounded in time; whatever goes wrong in it becomes its one-line fail."""
    try:
        return await asyncio.wait_for(check, CHECK_TIMEOUT_S)
    except TimeoutError:
        return Result(
            name,
            FAIL,
            f"no answer within {CHECK_TIMEOUT_S:g} s",
            "check that part's cable and power, then run qiyas doctor again",
        )
    except Exception as exc:  # a technician gets one line, not a traceback
        return Result(name, FAIL, f"{type(exc).__name__}: {exc}", "report this to Qiyas")
