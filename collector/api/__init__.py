"""The regulator's HTTP API (FastAPI) and dashboard, read from the collector's store.

One router a resource: `records` (pages and the live feed), `aggregates`, `probes` (and their
admin update), `meta` (labels, data dictionary, methodology) and `dashboard` (the page and its
static files); what they share (the store, API-key scopes, query parameters) is in `deps`.

Reads need an API key of scope `read` or `admin` (header `X-API-Key`, or `api_key` in the query
for browsers' EventSource), unless the server runs with `public=True` (open data). Every write
needs an `admin` key, always. Bad parameters are a 4xx that names the parameter, never a 5xx.
"""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from collector.api import aggregates, dashboard, meta, probes, records
from collector.api.deps import ApiState, Stores
from collector.store import open_store


def create_app(db_url: str, public: bool = False, feed_poll_s: float = 1.0) -> FastAPI:
    """The API over the store at db_url (migrated here, once)."""
    open_store(db_url).close()
    stores = Stores(db_url)

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
    app.state.api = ApiState(stores, public, feed_poll_s)
    for module in (records, aggregates, probes, meta, dashboard):
        app.include_router(module.router)
    return app
