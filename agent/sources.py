"""Measurement sources: what the supervisor schedules, and the access-link state they share."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

from agent.schedule_registry import FACTORIES

if TYPE_CHECKING:
    from agent.boards import Board
    from agent.config import AgentConfig


class Measurement(NamedTuple):
    kind: str
    values: dict[str, Any]


class LinkState:
    """The latest access-link snapshot (radio from the modem, optical from the ONT).

    Every record carries it as its `context`, so an end-to-end result can be read against the
    state of the link at that moment (DESIGN principle 5).
    """

    def __init__(self) -> None:
        self.radio: dict[str, Any] | None = None
        self.optical: dict[str, Any] | None = None

    def context(self) -> dict[str, Any]:
        ctx: dict[str, Any] = {}
        if self.radio:
            ctx["radio"] = self.radio
        if self.optical:
            ctx["optical"] = self.optical
        return ctx


class Source(Protocol):
    async def measure(self, link: LinkState) -> list[Measurement]: ...

    async def aclose(self) -> None: ...


class Factory(Protocol):
    def __call__(self, config: AgentConfig, board: Board) -> Source: ...


def load_factory(name: str) -> Factory:
    """The factory of a schedule name (agent.schedule_registry), its module imported now."""
    module_name, _, attr = FACTORIES[name].partition(":")
    factory: Factory = getattr(importlib.import_module(module_name), attr)
    return factory
