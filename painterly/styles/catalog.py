"""The built-in style paintings (``painterly/styles/data``, listed in ``styles.json``) and loading a
style given as a built-in name, a file, a PIL image or an array."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, Sequence, Union

import numpy as np
from PIL import Image

from painterly.errors import PainterlyError
from painterly.io.images import load_image

ImageSource = Union[str, Path, Image.Image, np.ndarray]
StyleSource = Union[ImageSource, tuple]


@dataclass(frozen=True)
class StyleEntry:
    """A built-in style painting."""

    name: str
    title: str
    artist: str
    year: int | str  # "early 19th c." where no single year is known
    file: str
    licence: str

    @property
    def path(self) -> Path:
        return Path(str(resources.files("painterly.styles") / "data" / self.file))


@lru_cache(maxsize=1)  # the shipped list never changes while the process runs
def list_styles() -> tuple[StyleEntry, ...]:
    """Every built-in style painting, in the order ``styles.json`` gives."""
    text = (resources.files("painterly.styles") / "styles.json").read_text(encoding="utf-8")
    return tuple(StyleEntry(**entry) for entry in json.loads(text))


def find_style(name: str) -> StyleEntry | None:
    """The built-in style called ``name`` (case and ``_``/``-`` insensitive), or ``None``."""
    key = name.strip().lower().replace("_", "-").replace(" ", "-")
    for entry in list_styles():
        if entry.name == key:
            return entry
    return None


def style_names() -> list[str]:
    return [entry.name for entry in list_styles()]


def resolve_style_path(spec: str | Path, what: str = "style") -> Path:
    """A style given as a built-in name or a file path, as a path to an image file; ``what`` names
    the input in the error for neither."""
    entry = find_style(str(spec)) if isinstance(spec, str) else None
    if entry is not None:
        return entry.path
    path = Path(spec).expanduser()
    if path.exists():
        return path
    raise PainterlyError(
        f"{what} {str(spec)!r} is neither a file nor a built-in style; built-in styles: {', '.join(style_names())}"
    )


def parse_style_spec(spec: str) -> tuple[str, float]:
    """``"starry-night"`` → ``("starry-night", 1.0)``; ``"a.jpg:0.3"`` → ``("a.jpg", 0.3)``."""
    head, separator, tail = spec.rpartition(":")
    if separator and head:
        try:
            weight = float(tail)
        except ValueError:
            return spec, 1.0  # a ':' inside a path, not a weight
        if weight < 0:
            raise PainterlyError(f"style weight in {spec!r} is negative: use a weight of 0 or more")
        return head, weight
    return spec, 1.0


def normalize_styles(style: StyleSource | Sequence[StyleSource]) -> list[tuple[ImageSource, float]]:
    """Any accepted way to give styles → ``[(source, weight)]``.

    Accepts a built-in name or path (optionally ``"path:weight"``), a PIL image, an array, a
    ``(source, weight)`` pair, or a list of these.
    """
    items = style if isinstance(style, list) else [style]
    normalized: list[tuple[ImageSource, float]] = []
    for item in items:
        if isinstance(item, tuple):
            source, weight = item
            normalized.append((source, float(weight)))
        elif isinstance(item, str):
            normalized.append(parse_style_spec(item))
        else:
            normalized.append((item, 1.0))
    return normalized


def load_style_image(source: ImageSource, max_pixels: int, what: str = "style") -> Image.Image:
    """A style given as a built-in name, a path, a PIL image or an array, as an RGB image (``what``:
    as in :func:`resolve_style_path`)."""
    if isinstance(source, (str, Path)):
        return load_image(resolve_style_path(source, what), max_pixels=max_pixels)
    return load_image(source, max_pixels=max_pixels)


def describe_source(source: Any) -> str:
    """A short text naming an input, for metadata and reports."""
    if isinstance(source, (str, Path)):
        entry = find_style(str(source)) if isinstance(source, str) else None
        return entry.name if entry else Path(source).name
    if isinstance(source, Image.Image):
        return f"<image {source.width}x{source.height}>"
    return f"<array {tuple(np.shape(source))}>"
