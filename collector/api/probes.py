"""Probes: the registry with each probe's health, one probe with its keys, and the admin update."""

from typing import Any

from fastapi import APIRouter, HTTPException
from pydantic import BaseModel, Field

from collector import queries, registry
from collector.api.deps import (
    ADMIN,
    READ,
    REGION_PATTERN,
    TECHNOLOGY_PATTERN,
    TEXT_PATTERN,
    Db,
    ProbeInPath,
)
from collector.store import ProbeRow

router = APIRouter()


class ProbeUpdate(BaseModel):
    """Fields to set on a probe; those left out keep their value."""

    operator: str | None = Field(None, pattern=TEXT_PATTERN)
    technology: str | None = Field(None, pattern=TECHNOLOGY_PATTERN)
    region: str | None = Field(None, pattern=REGION_PATTERN)
    commune: str | None = Field(None, pattern=TEXT_PATTERN)
    consent_date: str | None = Field(None, pattern=r"^\d{4}-\d{2}-\d{2}$")


@router.get("/api/v1/probes", dependencies=READ, tags=["probes"])
def probes(db: Db) -> list[dict[str, Any]]:
    """Every registered probe with its metadata, last activity and status."""
    return queries.probe_health(db)


@router.get("/api/v1/probes/{probe}", dependencies=READ, tags=["probes"])
def probe(db: Db, probe: ProbeInPath) -> dict[str, Any]:
    """One probe's health and keys."""
    found = queries.probe_health(db, probe)
    if not found:
        raise HTTPException(404, f"no probe {probe!r} is registered")
    return {**found[0], "keys": [registry.describe_key(k) for k in db.probe_keys(probe)]}


@router.post("/api/v1/probes/{probe}", dependencies=ADMIN, tags=["admin"])
def update_probe(db: Db, body: ProbeUpdate, probe: ProbeInPath) -> dict[str, Any]:
    """Set a probe's operator, technology, region, commune or consent date (admin)."""
    try:
        row = registry.set_probe(db, ProbeRow(probe=probe, **body.model_dump()))
    except registry.RegistryError as exc:
        raise HTTPException(422, str(exc)) from None
    return {"probe": row.probe, "operator": row.operator, "region": row.region}
