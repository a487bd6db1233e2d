"""The regulator's HTTP API (FastAPI) and dashboard, read from the collector's store.

No `from __future__ import annotations` here: FastAPI reads the annotations of the handlers,
which name dependency aliases local to create_app.

Reads need an API key of scope `read` or `admin` (header `X-API-Key`, or `api_key` in the query
for browsers' EventSource), unless the server runs with `public=True` (open data). Every write
needs an `admin` key, always. Bad parameters are a 4xx that names the parameter, never a 5xx.
"""

import asyncio
import json
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib import resources
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Path, Query, Request
from fastapi.responses import HTMLResponse, PlainTextResponse, Response, StreamingResponse
from fastapi.security import APIKeyHeader, APIKeyQuery
from pydantic import BaseModel, Field

from agent.core import record as record_schema
from collector import apikeys, export, metrics, queries, registry
from collector.regions import REGIONS, TECHNOLOGIES
from collector.store import ProbeRow, Store, open_store
from collector.times import parse_time_ms

PROBE_PATTERN = r"^[A-Za-z0-9._-]{1,64}$"
TEXT_PATTERN = r"^[^\x00-\x1f]{1,128}$"  # no NUL or control characters: PostgreSQL refuses NUL
MAX_INT64 = 2**63 - 1

_header_key = APIKeyHeader(name="X-API-Key", auto_error=False)
_query_key = APIKeyQuery(name="api_key", auto_error=False)


class _Stores:
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


class ProbeUpdate(BaseModel):
    """Fields to set on a probe; those left out keep their value."""

    operator: str | None = Field(None, pattern=TEXT_PATTERN)
    technology: str | None = Field(None, pattern="^(5G-FWA|4G|FTTH)$")
    region: str | None = Field(None, pattern="^MA-(0[1-9]|1[0-2])$")
    commune: str | None = Field(None, pattern=TEXT_PATTERN)
    consent_date: str | None = Field(None, pattern=r"^\d{4}-\d{2}-\d{2}$")


def _time(value: str | None, name: str) -> int | None:
    if value is None:
        return None
    try:
        return parse_time_ms(value)
    except ValueError as exc:
        raise HTTPException(400, f"{name}: {exc}") from None


def create_app(db_url: str, public: bool = False, feed_poll_s: float = 1.0) -> FastAPI:
    """The API over the store at db_url (migrated here, once)."""
    open_store(db_url).close()
    stores = _Stores(db_url)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        stores.close()

    app = FastAPI(
        title="Qiyas collector API",
        version="1",
        description="Signed broadband measurements from household probes, verified and stored.",
        lifespan=lifespan,
    )

    def store() -> Store:
        return stores.get()

    def scope(
        header: Annotated[str | None, Depends(_header_key)],
        query: Annotated[str | None, Depends(_query_key)],
        db: Annotated[Store, Depends(store)],
    ) -> str | None:
        return apikeys.scope_of(db, header or query)

    def reader(granted: Annotated[str | None, Depends(scope)]) -> None:
        if not public and granted is None:
            raise HTTPException(401, "an API key is needed (X-API-Key header or api_key)")

    def admin(granted: Annotated[str | None, Depends(scope)]) -> None:
        if granted is None:
            raise HTTPException(401, "an admin API key is needed (X-API-Key header)")
        if granted != "admin":
            raise HTTPException(403, "this API key is read-only")

    Db = Annotated[Store, Depends(store)]
    Probe = Annotated[str | None, Query(pattern=PROBE_PATTERN)]
    Text = Annotated[str | None, Query(pattern=TEXT_PATTERN)]
    Region = Annotated[str | None, Query(pattern="^MA-(0[1-9]|1[0-2])$")]
    Technology = Annotated[str | None, Query(pattern="^(5G-FWA|4G|FTTH)$")]
    Kind = Annotated[str | None, Query(pattern="^(" + "|".join(record_schema.KINDS) + ")$")]
    Time = Annotated[str | None, Query(description="ISO 8601 or ms since 1970", max_length=40)]
    Metric = Annotated[str, Query(pattern="^(" + "|".join(metrics.NAMES) + ")$")]
    Group = Annotated[str, Query(pattern="^(" + "|".join(queries.GROUPS) + ")$")]
    Validity = Annotated[
        str | None,
        Query(
            pattern="^(" + "|".join(queries.VALIDITY) + ")$",
            description="by the probe's verdict (docs/methodology.md §4); aggregates default to"
            " usable (valid, or no verdict), records to all",
        ),
    ]

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
    read = [Depends(reader)]

    @app.get("/api/v1/records", dependencies=read, tags=["records"])
    def records(
        db: Db,
        where: Filtered,
        after: Annotated[int, Query(ge=0, le=MAX_INT64, description="cursor: last id seen")] = 0,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    ) -> dict[str, Any]:
        """Verified records, filtered, in arrival order; follow `next` for the next page."""
        items, next_cursor = queries.records_page(db, where, after, limit)
        return {"items": items, "next": next_cursor}

    @app.get("/api/v1/aggregates", dependencies=read, tags=["aggregates"])
    def aggregates(
        db: Db,
        where: Filtered,
        metric: Metric = "down_mbps",
        group_by: Group = "operator",
        threshold: Annotated[float | None, Query(allow_inf_nan=False)] = None,
        bucket: Annotated[str | None, Query(pattern="^(hour|day)$")] = None,
    ) -> dict[str, Any]:
        """Median and percentiles of a metric per group (per hour/day with `bucket`); with
        `threshold`, the share of tests below it."""
        bucket_ms = {"hour": 3_600_000, "day": 86_400_000}.get(bucket or "")
        rows = queries.aggregate(db, metric, group_by, where, threshold, bucket_ms)
        m = metrics.BY_NAME[metric]
        return {"metric": metric, "unit": m.unit, "groups": [r.doc() for r in rows]}

    @app.get("/api/v1/probes", dependencies=read, tags=["probes"])
    def probes(db: Db) -> list[dict[str, Any]]:
        """Every registered probe with its metadata, last activity and status."""
        return queries.probe_health(db)

    ProbeInPath = Annotated[str, Path(pattern=PROBE_PATTERN)]

    @app.get("/api/v1/probes/{probe}", dependencies=read, tags=["probes"])
    def probe(db: Db, probe: ProbeInPath) -> dict[str, Any]:
        """One probe's health and keys."""
        found = queries.probe_health(db, probe)
        if not found:
            raise HTTPException(404, f"no probe {probe!r} is registered")
        return {**found[0], "keys": [registry.describe_key(k) for k in db.probe_keys(probe)]}

    @app.post("/api/v1/probes/{probe}", dependencies=[Depends(admin)], tags=["admin"])
    def update_probe(db: Db, body: ProbeUpdate, probe: ProbeInPath) -> dict[str, Any]:
        """Set a probe's operator, technology, region, commune or consent date (admin)."""
        try:
            row = registry.set_probe(db, ProbeRow(probe=probe, **body.model_dump()))
        except registry.RegistryError as exc:
            raise HTTPException(422, str(exc)) from None
        return {"probe": row.probe, "operator": row.operator, "region": row.region}

    @app.get("/api/v1/meta", tags=["meta"])
    def meta() -> dict[str, Any]:
        """Names (French, Arabic) of regions, technologies and metrics, for labels."""
        return {
            "regions": {c: {"fr": fr, "ar": ar} for c, (fr, ar) in REGIONS.items()},
            "technologies": {c: {"fr": fr, "ar": ar} for c, (fr, ar) in TECHNOLOGIES.items()},
            "metrics": {
                m.name: {"unit": m.unit, "fr": m.label_fr, "ar": m.label_ar, "kind": m.kind}
                for m in metrics.METRICS
            },
        }

    @app.get("/api/v1/dictionary", tags=["meta"])
    def dictionary() -> list[dict[str, str]]:
        """The data dictionary of the open-data exports (CSV, Parquet)."""
        return export.dictionary()

    @app.get("/api/v1/methodology", tags=["meta"], response_class=PlainTextResponse)
    def methodology() -> PlainTextResponse:
        """How every published figure is measured (docs/methodology.md), as Markdown."""
        return PlainTextResponse(_web_file("methodology.md"), media_type="text/markdown")

    @app.get("/api/v1/feed", dependencies=read, tags=["records"])
    async def feed(
        request: Request,
        after: Annotated[int | None, Query(ge=0, le=MAX_INT64)] = None,
    ) -> StreamingResponse:
        """Server-sent events: each verified record as it is stored (`event: record`)."""

        async def events() -> AsyncIterator[str]:
            # A connection of its own: the stream outlives any one request thread.
            db = await asyncio.to_thread(open_store, db_url, False)
            try:
                last = await asyncio.to_thread(queries.latest_id, db) if after is None else after
                yield ": qiyas live feed\n\n"
                while not await request.is_disconnected():
                    page, _ = await asyncio.to_thread(
                        queries.records_page, db, queries.Filters(), last, 500
                    )
                    for item in page:
                        last = item["id"]
                        yield f"id: {last}\nevent: record\ndata: {json.dumps(item)}\n\n"
                    if not page:
                        await asyncio.sleep(feed_poll_s)  # the store has no change notification
            finally:
                db.close()

        return StreamingResponse(events(), media_type="text/event-stream")

    @app.get("/", include_in_schema=False)
    def dashboard() -> HTMLResponse:
        return HTMLResponse(_web_file("dashboard.html"))

    @app.get("/static/{name}", include_in_schema=False)
    def static(name: str) -> Response:
        if name not in _STATIC:
            raise HTTPException(404, "no such file")
        return Response(_web_file(name), media_type=_STATIC[name])

    return app


_STATIC = {"dashboard.js": "text/javascript", "dashboard.css": "text/css"}


def _web_file(name: str) -> str:
    return resources.files("collector").joinpath("web", name).read_text(encoding="utf-8")
