"""Open descriptions of the data: labels, the data dictionary, the methodology (no key needed)."""

from typing import Any

from fastapi import APIRouter
from fastapi.responses import PlainTextResponse

from collector import export, metrics
from collector.api.deps import web_file
from collector.regions import REGIONS, TECHNOLOGIES

router = APIRouter(tags=["meta"])


@router.get("/api/v1/meta")
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


@router.get("/api/v1/dictionary")
def dictionary() -> list[dict[str, str]]:
    """The data dictionary of the open-data exports (CSV, Parquet)."""
    return export.dictionary()


@router.get("/api/v1/methodology", response_class=PlainTextResponse)
def methodology() -> PlainTextResponse:
    """How every published figure is measured (docs/methodology.md), as Markdown."""
    return PlainTextResponse(web_file("methodology.md"), media_type="text/markdown")
