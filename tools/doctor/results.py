"""What a check is given (a frozen `Context`) and what it answers (a `Result`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    from agent.boards import Board
    from agent.config import AgentConfig

PASS, WARN, FAIL, SKIP = "pass", "warn", "fail", "skip"


@dataclass(frozen=True)
class Context:
    """What the checks know: the loaded config and board, then what earlier checks read.

    A check never changes it: one that learns something (the modem's answer) returns a new
    context with its result, and the checks after it are given that one."""

    config: AgentConfig
    board: Board
    modem: dict[str, Any] | None = None  # the modem's answer to one poll
    modem_trouble: str | None = None  # why the modem checks from here on are skipped
    ont: dict[str, Any] | None = None  # the ONT's reading (its "optical" part at least)
    broker_accepted: bool = False  # the broker took this probe's connection


class Result(NamedTuple):
    check: str
    status: str
    reason: str
    fix: str = ""
    learned: Context | None = None  # the context for the checks after this one, if it changed

    def as_json(self) -> dict[str, str]:
        return {"check": self.check, "status": self.status, "reason": self.reason, "fix": self.fix}


def passed(check: str, reason: str) -> Result:
    return Result(check, PASS, reason)


def unreadable(check: str, path: Path) -> Result:
    """The doctor's user cannot read the agent's state: nothing to judge, and it says so."""
    return Result(check, SKIP, f"cannot read {path} as this user", "run qiyas doctor with sudo")


def graded(check: str, text: str, fix: str, bad: bool, weak: bool) -> Result:
    if bad:
        return Result(check, FAIL, f"{text}: too weak for reliable measurements", fix)
    if weak:
        return Result(check, WARN, f"{text}: usable but weak", fix)
    return passed(check, text)
