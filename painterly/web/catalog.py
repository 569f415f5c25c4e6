"""What the studio can offer: built-in styles, stylization methods and trained models.

Methods are described from their specs in :mod:`painterly.registry` (label, what they need, which
of the studio's options they take and in what range), so the studio, the CLI and ``painterly
styles`` agree. The methods and models come from the runner (the default one reads the registry),
so a test or a deployment with its own runner lists what it can really run.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any, Optional

from painterly.registry import ModelEntry

#: A trained model as the studio lists it (the registry's entry).
ModelInfo = ModelEntry

#: Job options the studio offers; a method takes all or some of them.
STUDIO_OPTIONS = ("size", "steps", "strength", "style_scale", "preserve_color", "seed")


@dataclass(frozen=True)
class MethodInfo:
    """A method as the studio shows it.

    Attributes:
        name: the registered method name sent back in ``POST /api/jobs``.
        label: what the page calls it (``High quality``, ``Fast model``, ``Fast, any painting``).
        summary: one line from the registry.
        kind: ``high-quality``, ``fast`` or ``other``; the page groups methods by it.
        needs_style: the job must name or upload a painting.
        needs_model: the job must name a trained model.
        previews: the method reports intermediate previews while it runs.
        options: which of the studio's job options (:data:`STUDIO_OPTIONS`) the method takes.
        ranges: ``{option: [low, high]}`` for the numeric options it takes (``high`` null: no upper bound).
    """

    name: str
    label: str
    summary: str = ""
    kind: str = "other"
    needs_style: bool = True
    needs_model: bool = False
    previews: bool = False
    options: tuple[str, ...] = ()
    ranges: dict[str, tuple[float, Optional[float]]] = field(default_factory=dict, hash=False, compare=False)

    def to_json(self) -> dict:
        return asdict(self)


def _from_spec(spec: Any, name: str, summary: str) -> MethodInfo:
    options = tuple(option for option in STUDIO_OPTIONS if spec.takes(option))
    ranges = {}
    for option in options:
        limits = spec.limits(option)
        if limits.get("low") is not None or limits.get("high") is not None:
            ranges[option] = (limits.get("low"), limits.get("high"))
    return MethodInfo(name=name, label=spec.label or name.capitalize(), summary=summary or spec.summary, kind=spec.kind,
                      needs_style=spec.needs_painting, needs_model=spec.needs_model, previews=spec.previews,
                      options=options, ranges=ranges)  # fmt: skip


def describe_method(name: str, summary: str = "", *, like: Optional[str] = None) -> MethodInfo:
    """The studio's view of the registered method ``name`` (or, for a runner's own method, of the
    registered method ``like`` under the name ``name``); an unknown method takes every studio option."""
    from painterly.errors import PainterlyError
    from painterly.registry import get_method

    try:
        return _from_spec(get_method(like or name), name, summary)
    except PainterlyError:
        return MethodInfo(name=name, label=name.replace("-", " ").replace("_", " ").capitalize(), summary=summary,
                          options=STUDIO_OPTIONS)  # fmt: skip


def check_range(method: Optional[MethodInfo], name: str, value: Optional[float], high_cap: float = math.inf) -> Optional[str]:
    """Why ``value`` is out of the method's range for option ``name`` (capped by the server at ``high_cap``), or ``None``."""
    if value is None:
        return None
    low, high = (method.ranges.get(name, (None, None)) if method is not None else (None, None))
    low = -math.inf if low is None else low
    high = min(math.inf if high is None else high, high_cap)
    if not math.isfinite(value) or not low <= value <= high:
        shown = f"{low:g} or more" if high == math.inf else f"between {low:g} and {high:g}"
        owner = f" for method {method.name!r}" if method is not None and name in method.ranges else ""
        return f"{name} must be {shown}{owner}, not {value:g}"
    return None


def _usable(name: str) -> bool:
    """Arbitrary style needs a trained network: the studio does not offer it before one is installed."""
    if name == "anystyle":
        from painterly.models.lookup import SHIPPED_ANYSTYLE

        return SHIPPED_ANYSTYLE.is_file()
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

    return [_from_spec(spec, spec.name, spec.summary) for spec in list_methods() if _usable(spec.name)]


def registry_models() -> list[ModelInfo]:
    """Trained models the registry lists."""
    from painterly.registry import list_models

    return list_models()
