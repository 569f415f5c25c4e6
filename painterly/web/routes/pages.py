"""The studio page at ``/`` (its scripts and styles are served from ``/static``)."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"

router = APIRouter()


@router.get("/", include_in_schema=False)
def page():
    return FileResponse(STATIC_DIR / "index.html", media_type="text/html")
