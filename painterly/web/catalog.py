"""What the studio can offer: built-in styles, stylization methods and trained models.

The methods and models come from the runner (the default one reads the project registry), so a test
or a deployment with its own runner lists what it can really run.
"""

from __future__ import annotations

import dataclasses
from dataclasses import asdict, dataclass
from typing import Optional


@dataclass(frozen=True)
class MethodInfo:
    """A method as the studio shows it.

    Attributes:
        name: the registered method name sent back in ``POST /api/jobs``.
        label: what the page calls it (``High quality``, ``Fast model``, ``GAN model``).
        summary: one line from the registry.
        kind: ``high-quality``, ``fast``, ``gan`` or ``other``; the page groups methods by it.
        needs_style: the job must name or upload a painting.
        needs_model: the job must name a trained model.
        previews: the method reports intermediate previews while it runs.
        options: which of the studio's job options (:data:`STUDIO_OPTIONS`) the method takes.
    """

    name: str
    label: str
    summary: str = ""
    kind: str = "other"
    needs_style: bool = True
    needs_model: bool = False
    previews: bool = False
    options: tuple[str, ...] = ()

    def to_json(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class ModelInfo:
    """A trained model: its name and the method that runs it (``title`` for people)."""

    name: str
    method: str
    title: str = ""

    def to_json(self) -> dict:
        return asdict(self)


#: Job options the studio offers; a method takes all or some of them.
STUDIO_OPTIONS = ("size", "steps", "strength", "style_scale", "preserve_color", "seed")
_MODEL_OPTIONS = ("size", "strength", "preserve_color")

# How the page presents the methods the project registers; a method missing here is shown as "other"
# and offered every option.
_KNOWN_METHODS = {
    "optimize": dict(label="High quality", kind="high-quality", needs_style=True, needs_model=False, previews=True,
                     options=STUDIO_OPTIONS),
    "feedforward": dict(label="Fast model", kind="fast", needs_style=False, needs_model=True, options=_MODEL_OPTIONS),
    "fast": dict(label="Fast model", kind="fast", needs_style=False, needs_model=True, options=_MODEL_OPTIONS),
    "adain": dict(label="Fast, any painting", kind="fast", needs_style=True, needs_model=False,
                  options=("size", "strength", "style_scale", "preserve_color")),
    "gan": dict(label="GAN model", kind="gan", needs_style=False, needs_model=True, options=_MODEL_OPTIONS),
}


def describe_method(name: str, summary: str = "", entry: object = None) -> MethodInfo:
    """The studio's view of a registered method; attributes of the registry ``entry`` win where it has them."""
    values = dict(label=name.replace("-", " ").replace("_", " ").capitalize(), kind="other", needs_style=True,
                  needs_model=False, previews=False, options=STUDIO_OPTIONS)
    values.update(_KNOWN_METHODS.get(name, {}))
    for key in ("needs_style", "needs_model", "previews", "kind", "label"):
        if entry is not None and getattr(entry, key, None) is not None:
            values[key] = getattr(entry, key)
    config = getattr(entry, "config", None)  # a method's options dataclass, where the registry gives it
    if dataclasses.is_dataclass(config):
        names = {item.name for item in dataclasses.fields(config)}
        values["options"] = tuple(option for option in STUDIO_OPTIONS if option in names)
    return MethodInfo(name=name, summary=summary, **values)


def _usable(name: str) -> bool:
    """Arbitrary style needs a trained decoder: the studio does not offer it before one is installed."""
    if name != "adain":
        return True
    from painterly.errors import PainterlyError
    from painterly.models.adain_io import resolve_decoder_path

    try:
        resolve_decoder_path(None)
    except PainterlyError:
        return False
    return True


def registry_methods() -> list[MethodInfo]:
    from painterly.registry import list_methods

    return [describe_method(entry.name, entry.summary, entry) for entry in list_methods() if _usable(entry.name)]


def registry_models() -> list[ModelInfo]:
    """Trained models the registry lists (none while the project has no model registry)."""
    import painterly.registry as registry

    list_models = getattr(registry, "list_models", None)
    if list_models is None:
        return []
    models = []
    for entry in list_models():
        method: Optional[str] = getattr(entry, "method", None) or getattr(entry, "kind", None) or "feedforward"
        models.append(ModelInfo(name=entry.name, method=method, title=getattr(entry, "title", "") or ""))
    return models
