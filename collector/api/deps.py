"""What the API's routers share: the store, API-key scopes, and the query parameters' bounds.

No `from __future__ import annotations` in this package: FastAPI reads the handlers'
annotations, which name the aliases below.
"""

import threading
from dataclasses import dataclass
from importlib import resources
from typing import Annotated

from fastapi import Depends, HTTPException, Path, Query, Request
from fastapi.security import APIKeyHeader, APIKeyQuery

from agent.core import record as record_schema
from collector import apikeys, metrics, queries
from collector.store import Store, open_store
from collector.times import parse_time_ms

PROBE_PATTERN = r"^[A-Za-z0-9._-]{1,64}$"
TEXT_PATTERN = r"^[^\x00-\x1f]{1,128}$"  # no NUL or control characters: PostgreSQL refuses NUL
REGION_PATTERN = "^MA-(0[1-9]|1[0-2])$"
TECHNOLOGY_PATTERN = "^(5G-FWA|4G|FTTH)$"
MAX_INT64 = 2**63 - 1

_header_key = APIKeyHeader(name="X-API-Key", auto_error=False)
_query_key = APIKeyQuery(name="api_key", auto_error=False)


class Stores:
    """One store connection per worker thread: a connection is used by one thread at a time."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._local = threading.local()
        self._all: list[Store] = []
        self._lock = threading.Lock()

    def get(self) -> Store:
        store: Store | None = getattr(self._local, "store", None)
        if store is None:
            store = open_store(self.url, migrate=False)
            self._local.store = store
            with self._lock:
                self._all.append(store)
        return store

    def close(self) -> None:
        with self._lock:
            for store in self._all:
                store.close()
            self._all.clear()


@dataclass(frozen=True)
class ApiState:
    """What create_app was given, kept on the app for the routers' dependencies."""

    stores: Stores
    public: bool
    feed_poll_s: float


def api_state(request: Request) -> ApiState:
    state: ApiState = request.app.state.api
    return state


State = Annotated[ApiState, Depends(api_state)]


def store(state: State) -> Store:
    return state.stores.get()


Db = Annotated[Store, Depends(store)]


def scope(
    header: Annotated[str | None, Depends(_header_key)],
    query: Annotated[str | None, Depends(_query_key)],
    db: Db,
) -> str | None:
    return apikeys.scope_of(db, header or query)


def reader(state: State, granted: Annotated[str | None, Depends(scope)]) -> None:
    if not state.public and granted is None:
        raise HTTPException(401, "an API key is needed (X-API-Key header or api_key)")


def admin(granted: Annotated[str | None, Depends(scope)]) -> None:
    if granted is None:
        raise HTTPException(401, "an admin API key is needed (X-API-Key header)")
    if granted != "admin":
        raise HTTPException(403, "this API key is read-only")


READ = [Depends(reader)]
ADMIN = [Depends(admin)]

Probe = Annotated[str | None, Query(pattern=PROBE_PATTERN)]
ProbeInPath = Annotated[str, Path(pattern=PROBE_PATTERN)]
Text = Annotated[str | None, Query(pattern=TEXT_PATTERN)]
Region = Annotated[str | None, Query(pattern=REGION_PATTERN)]
Technology = Annotated[str | None, Query(pattern=TECHNOLOGY_PATTERN)]
Kind = Annotated[str | None, Query(pattern="^(" + "|".join(record_schema.KINDS) + ")$")]
Time = Annotated[str | None, Query(description="ISO 8601 or ms since 1970", max_length=40)]
Validity = Annotated[
    str | None,
    Query(
        pattern="^(" + "|".join(queries.VALIDITY) + ")$",
        description="by the probe's verdict (docs/methodology.md §4); aggregates default to"
        " usable (valid, or no verdict), records to all",
    ),
]
Metric = Annotated[str, Query(pattern="^(" + "|".join(metrics.NAMES) + ")$")]
Group = Annotated[str, Query(pattern="^(" + "|".join(queries.GROUPS) + ")$")]


def _time(value: str | None, name: str) -> int | None:
    if value is None:
        return None
    try:
        return parse_time_ms(value)
    except ValueError as exc:
        raise HTTPException(400, f"{name}: {exc}") from None


def filters(
    validity: Validity = None,
    probe: Probe = None,
    operator: Text = None,
    region: Region = None,
    technology: Technology = None,
    kind: Kind = None,
    since: Time = None,
    until: Time = None,
) -> queries.Filters:
    return queries.Filters(
        probe=probe,
        operator=operator,
        region=region,
        technology=technology,
        kind=kind,
        since_ms=_time(since, "since"),
        until_ms=_time(until, "until"),
        validity=validity,
    )


Filtered = Annotated[queries.Filters, Depends(filters)]


def web_file(name: str) -> str:
    return resources.files("collector").joinpath("web", name).read_text(encoding="utf-8")
