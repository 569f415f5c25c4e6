"""The catalogue: built-in paintings (``/api/styles``) and the methods and models this server runs
(``/api/models``)."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from fastapi.responses import FileResponse

from painterly.registry import find_style, list_styles, style_names
from painterly.web.errors import ApiError, shown
from painterly.web.storage import decode_image
from painterly.web.studio import Studio, get_studio

router = APIRouter(tags=["catalogue"])


@router.get("/api/styles")
def styles():
    """The built-in paintings, with thumbnail URLs."""
    return {"styles": [
        {"name": entry.name, "title": entry.title, "artist": entry.artist, "year": entry.year,
         "licence": entry.licence, "thumbnail_url": f"/api/styles/{entry.name}/thumbnail"}
        for entry in list_styles()
    ]}


@router.get("/api/styles/{name}/thumbnail", response_class=FileResponse,
            responses={200: {"content": {"image/jpeg": {}}}})
def style_thumbnail(name: str, studio: Studio = Depends(get_studio)):
    """A small JPEG of a built-in painting."""
    entry = find_style(name)
    if entry is None:
        raise ApiError(404, "unknown_style",
                       f"unknown style {shown(name)}: use one of {', '.join(style_names())}")

    def make():
        with open(entry.path, "rb") as stream:
            return decode_image(stream.read(), max_pixels=studio.config.max_pixels * 4, what="style")

    path = studio.storage.cached_thumbnail(f"style-{entry.name}", make)
    return FileResponse(path, media_type="image/jpeg")


@router.get("/api/models")
def models(studio: Studio = Depends(get_studio)):
    """The stylization methods this server runs and the trained models it has."""
    methods = studio.methods()
    return {"methods": [method.to_json() for method in methods or []],
            "models": [model.to_json() for model in studio.models()]}
