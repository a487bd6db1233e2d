"""The agent's web browsing and video streaming sources (docs/qoe.md §3, §4), towards the HTTP
side of each of `[probe] servers`: the server's port + 1, where `qiyas server` listens for the
reference page and the video ladder.

[probe]
servers = ["probe.example.net:8620"]   # web: http://probe.example.net:8621/ref-1/
streaming_duration_s = 30              # one video session, 5..120

Each server gives one record (`web` or `streaming`) carrying its `server`, and the `address` and
`family` it was reached at (docs/qoe.md §6); a page or stream that could not be had at all is a
record with `error`, not a missing one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from agent.probe import family, streaming, web, webserver
from agent.probe.endpoint import Endpoint
from agent.probe.source import ProbeSettings
from agent.sources import LinkState, Measurement

if TYPE_CHECKING:
    from agent.boards import Board
    from agent.config import AgentConfig


async def _pinned(server: Endpoint, values: dict[str, Any]) -> Endpoint | None:
    """The server at one address (its family in `values`), or None with `error` in values."""
    pinned, why = await family.pin(server, None)
    if pinned is None:
        values["error"] = why
        return None
    values.update(address=pinned.host, family=family.family_of(pinned.host))
    return pinned


def http_base(server: Endpoint) -> str:
    """The server's HTTP side: its measurement port + 1 (agent/probe/server_cli.py)."""
    host = f"[{server.host}]" if ":" in server.host else server.host
    return f"http://{host}:{server.port + 1}"


class WebSource:
    """The server's reference page, loaded as a browser would."""

    def __init__(self, settings: ProbeSettings) -> None:
        if not settings.servers:
            raise settings.error("servers", "must name a server for the web test")
        self.servers = settings.servers

    async def measure(self, link: LinkState) -> list[Measurement]:
        out = []
        for server in self.servers:
            values: dict[str, Any] = {"server": str(server), "page": webserver.PAGE}
            url = f"{http_base(server)}/{webserver.PAGE}/"
            pinned = await _pinned(server, values)
            if pinned is None:
                values["url"] = url
            else:
                url = f"{http_base(pinned)}/{webserver.PAGE}/"
                try:
                    values.update(await web.fetch_page(url))
                except web.WebError as exc:
                    values.update(url=url, error=str(exc))
            out.append(Measurement("web", values))
        return out

    async def aclose(self) -> None:
        return None


class StreamingSource:
    """One video session on the server's ladder."""

    def __init__(self, settings: ProbeSettings, duration_s: float) -> None:
        if not settings.servers:
            raise settings.error("servers", "must name a server for the streaming test")
        self.servers = settings.servers
        self.duration_s = duration_s

    async def measure(self, link: LinkState) -> list[Measurement]:
        out = []
        for server in self.servers:
            values: dict[str, Any] = {"server": str(server), "duration_s": self.duration_s}
            pinned = await _pinned(server, values)
            base = http_base(pinned or server)
            if pinned is None:
                values["url"] = base
            else:
                try:
                    values.update(await streaming.play(base, self.duration_s))
                except web.WebError as exc:  # a StreamingError is one
                    values.update(url=base, error=str(exc))
            out.append(Measurement("streaming", values))
        return out

    async def aclose(self) -> None:
        return None


def make_web(config: AgentConfig, board: Board) -> WebSource:
    return WebSource(ProbeSettings(config))


def make_streaming(config: AgentConfig, board: Board) -> StreamingSource:
    table = config.section("probe")
    duration = table.get("streaming_duration_s", streaming.DURATION_S)
    if isinstance(duration, bool) or not isinstance(duration, (int, float)):
        duration = -1.0
    settings = ProbeSettings(config)
    if not 5 <= duration <= 120:
        raise settings.error("streaming_duration_s", "must be a number in 5..120")
    return StreamingSource(settings, float(duration))
