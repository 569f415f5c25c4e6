"""One registry for built-in styles and methods.

Built-in styles are the paintings shipped in ``painterly/styles/data`` (listed in
``styles.json``); methods register themselves with :func:`register_method`. ``painterly styles``
prints :func:`list_styles`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Callable

from painterly.errors import PainterlyError


@dataclass(frozen=True)
class StyleEntry:
    """A built-in style painting."""

    name: str
    title: str
    artist: str
    year: int
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


def resolve_style_path(spec: str | Path) -> Path:
    """A style given as a built-in name or a file path, as a path to an image file."""
    entry = find_style(str(spec)) if isinstance(spec, str) else None
    if entry is not None:
        return entry.path
    path = Path(spec).expanduser()
    if path.exists():
        return path
    raise PainterlyError(
        f"style {str(spec)!r} is neither a file nor a built-in style; built-in styles: {', '.join(style_names())}"
    )


@dataclass(frozen=True)
class MethodEntry:
    """A stylization method: ``run(content, styles, *, device, progress, **options) -> PIL.Image``.

    ``content`` is an RGB PIL image, ``styles`` a list of ``(RGB PIL image, weight)``. Methods
    that set ``needs_features`` also get ``feature_network``: a function
    ``(last_layer, pooling) -> VGG19`` that returns the caller's loaded network.
    """

    name: str
    summary: str
    run: Callable
    needs_features: bool = False


_METHODS: dict[str, MethodEntry] = {}


def register_method(name: str, summary: str, *, needs_features: bool = False) -> Callable[[Callable], Callable]:
    """Decorator registering a stylization function under ``name``."""

    def decorate(function: Callable) -> Callable:
        _METHODS[name] = MethodEntry(name, summary, function, needs_features)
        return function

    return decorate


def get_method(name: str) -> MethodEntry:
    import painterly.methods  # noqa: F401  (registers the built-in methods)

    if name not in _METHODS:
        raise PainterlyError(f"unknown method {name!r}: use one of {', '.join(sorted(_METHODS))}")
    return _METHODS[name]


def list_methods() -> list[MethodEntry]:
    import painterly.methods  # noqa: F401

    return sorted(_METHODS.values(), key=lambda entry: entry.name)


@dataclass(frozen=True)
class ModelEntry:
    """A trained style model shipped with the package, run by ``method``."""

    name: str
    method: str
    title: str


def list_models() -> list[ModelEntry]:
    """Feed-forward style models usable by name (``--model NAME``): the user's models folder
    (``$PAINTERLY_MODELS_DIR``, default ``<user data dir>/painterly/models``) and the shipped ones."""
    from painterly.models import list_model_names

    titles = {entry.name: f"{entry.title} ({entry.artist})" for entry in list_styles()}
    return [ModelEntry(name, "fast", titles.get(name, name)) for name in list_model_names()]
