"""Aggregates: a metric's median and percentiles per group, optionally per hour or day."""

from typing import Annotated, Any

from fastapi import APIRouter, Query

from collector import metrics, queries
from collector.api.deps import READ, Db, Filtered, Group, Metric

router = APIRouter(tags=["aggregates"], dependencies=READ)


@router.get("/api/v1/aggregates")
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
