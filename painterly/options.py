"""Options of methods and pipelines: declared once as dataclass fields, converted and checked here.

A config is a dataclass. Its docstring's ``Attributes:`` section gives each field's help text;
a field's limits (a range, or a set of choices) are its metadata, written with :func:`limits`::

    strength: float = field(default=1.0, metadata=limits(0, 1))

:func:`config_from_options` turns a dict of options (from the Python API, the CLI, the web) into a
checked config: unknown names are refused, lists become tuples, comma-separated text becomes a
tuple for tuple fields, and the limits are checked by :func:`check_limits`, which every config's
``validate()`` calls first.
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
import typing
from typing import Any, Mapping, Optional, Sequence

from painterly.errors import PainterlyError


def limits(low: Optional[float] = None, high: Optional[float] = None, *, choices: Optional[Sequence[Any]] = None,
           label: Optional[str] = None) -> dict[str, Any]:  # fmt: skip
    """Field metadata: the value must lie in ``[low, high]`` (either may be open) or be one of ``choices``.

    ``None`` is always accepted for a field whose type allows it. ``label`` names the option in
    messages (default: its name with spaces).
    """
    return {"low": low, "high": high, "choices": tuple(choices) if choices is not None else None, "label": label}


def field_limits(config_type: type, name: str) -> dict[str, Any]:
    """The :func:`limits` of one field (empty values where it has none)."""
    for item in dataclasses.fields(config_type):
        if item.name == name:
            return {**limits(), **dict(item.metadata)}
    raise KeyError(name)


def field_defaults(config_type: type) -> dict[str, Any]:
    """``{field: default}``; a field with a default factory gives the factory's value."""
    defaults = {}
    for item in dataclasses.fields(config_type):
        if item.default is not dataclasses.MISSING:
            defaults[item.name] = item.default
        elif item.default_factory is not dataclasses.MISSING:  # type: ignore[misc]
            defaults[item.name] = item.default_factory()  # type: ignore[misc]
    return defaults


def field_help(config_type: type) -> dict[str, str]:
    """Per-field help texts from the ``Attributes:`` section of a dataclass docstring."""
    doc = config_type.__doc__ or ""
    section = doc.split("Attributes:", 1)[-1]
    helps: dict[str, str] = {}
    current: list[str] = []
    for line in section.splitlines():
        match = re.match(r"^\s{8}([\w, ]+):\s*(.*)$", line)
        if match:
            current = [name.strip() for name in match.group(1).split(",")]
            for name in current:
                helps[name] = match.group(2)
        elif line.strip() and current:
            for name in current:
                helps[name] += " " + line.strip()
    return {name: (text[:1].upper() + text[1:]).replace("``", "") for name, text in helps.items()}


def is_tuple_field(config_type: type, name: str) -> bool:
    return "tuple" in str(typing.get_type_hints(config_type)[name])


def _label(name: str, metadata: Mapping[str, Any]) -> str:
    return metadata.get("label") or name.replace("_", " ")


def check_limits(config: Any, owner: str = "") -> Any:
    """Check every field of ``config`` against its :func:`limits`; raise a PainterlyError naming the bad one.

    ``owner`` (``"the fast method"``) is added to range messages, since ranges differ by method.
    """
    where = f" for {owner}" if owner else ""
    for item in dataclasses.fields(config):
        metadata = item.metadata
        value = getattr(config, item.name)
        if not metadata or value is None:
            continue
        label = _label(item.name, metadata)
        choices = metadata.get("choices")
        if choices is not None and value not in choices:
            shown = " or ".join(map(str, choices)) if len(choices) <= 2 else ", ".join(map(str, choices))
            raise PainterlyError(f"unknown {label} {value!r}: use {shown}")
        low, high = metadata.get("low"), metadata.get("high")
        if low is None and high is None or isinstance(value, (str, tuple)):
            continue
        if isinstance(value, float) and not math.isfinite(value):
            raise PainterlyError(f"{label} must be a finite number, got {value}")
        if low is not None and high is not None and not low <= value <= high:
            raise PainterlyError(f"{label} must be between {low:g} and {high:g}{where}, got {value:g}")
        if high is None and value < low:
            raise PainterlyError(f"{label} must be {low:g} or more{where}, got {value:g}")
        if low is None and value > high:
            raise PainterlyError(f"{label} must be {high:g} or less{where}, got {value:g}")
    return config


def convert_option(config_type: type, name: str, value: Any) -> Any:
    """One option's value as its field takes it: lists as tuples, comma-separated text as a tuple,
    paths as text for text fields."""
    hint = typing.get_type_hints(config_type)[name]
    if isinstance(value, os.PathLike) and hint in (str, Optional[str]):
        value = str(value)
    if isinstance(value, list):
        value = tuple(value)
    if isinstance(value, str) and is_tuple_field(config_type, name):
        value = tuple(part.strip() for part in value.split(",") if part.strip())
        if "float" in str(typing.get_type_hints(config_type)[name]):
            try:
                value = tuple(float(part) for part in value)
            except ValueError:
                raise PainterlyError(f"--{name.replace('_', '-')} takes comma-separated numbers") from None
    return value


def config_from_options(config_type: type, options: Mapping[str, Any], owner: str = "") -> Any:
    """A checked config from a dict of options; options set to ``None`` keep their defaults.

    Args:
        config_type: the config dataclass (with a ``validate()`` that calls :func:`check_limits`).
        owner: names the config's owner in messages, e.g. ``"the fast method"``.

    Raises:
        PainterlyError: an unknown option (naming the valid ones), or a value out of its limits.
    """
    names = [item.name for item in dataclasses.fields(config_type)]
    unknown = sorted(set(options) - set(names))
    if unknown:
        who = owner or config_type.__name__
        raise PainterlyError(f"unknown option(s) {', '.join(unknown)}: {who} has no option {unknown[0]!r}; "
                             f"valid options are {', '.join(sorted(names))}")  # fmt: skip
    values = {name: convert_option(config_type, name, value) for name, value in options.items() if value is not None}
    config = config_type(**values)
    validate = getattr(config, "validate", None)
    return validate() if validate is not None else check_limits(config, owner)
