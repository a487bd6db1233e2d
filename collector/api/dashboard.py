"""The dashboard page and its static files (not part of the API's schema)."""

from fastapi import APIRouter, HTTPException
from fastapi.responses import HTMLResponse, Response

from collector.api.deps import web_file

router = APIRouter(include_in_schema=False)

_STATIC = {"dashboard.js": "text/javascript", "dashboard.css": "text/css"}


@router.get("/")
def dashboard() -> HTMLResponse:
    return HTMLResponse(web_file("dashboard.html"))


@router.get("/static/{name}")
def static(name: str) -> Response:
    if name not in _STATIC:
        raise HTTPException(404, "no such file")
    return Response(web_file(name), media_type=_STATIC[name])
