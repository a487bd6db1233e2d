"""Verified records: pages through them, and the live feed of those being stored."""

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse

from collector import queries
from collector.api.deps import MAX_INT64, READ, Db, Filtered, State
from collector.store import open_store

router = APIRouter(tags=["records"], dependencies=READ)


@router.get("/api/v1/records")
def records(
    db: Db,
    where: Filtered,
    after: Annotated[int, Query(ge=0, le=MAX_INT64, description="cursor: last id seen")] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict[str, Any]:
    """Verified records, filtered, in arrival order; follow `next` for the next page."""
    items, next_cursor = queries.records_page(db, where, after, limit)
    return {"items": items, "next": next_cursor}


@router.get("/api/v1/feed")
async def feed(
    request: Request,
    state: State,
    after: Annotated[int | None, Query(ge=0, le=MAX_INT64)] = None,
) -> StreamingResponse:
    """Server-sent events: each verified record as it is stored (`event: record`)."""

    async def events() -> AsyncIterator[str]:
        # A connection of its own: the stream outlives any one request thread.
        db = await asyncio.to_thread(open_store, state.stores.url, False)
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
                    await asyncio.sleep(state.feed_poll_s)  # the store has no change notification
        finally:
            db.close()

    return StreamingResponse(events(), media_type="text/event-stream")
