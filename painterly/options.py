"""Options of methods and pipelines: declared once as dataclass fields, converted and checked here.

A config is a dataclass. Its docstring's ``Attributes:`` section gives each field's help text;
a field's limits (a range, or a set of choices) are its metadata, written with :func:`limits`::

    strength: float = field(default=1.0, metadata=limits(0, 1))

:func:`config_from_options` turns a dict of options (from the Python API, the CLI, the web) into a
checked config: unknown names are refused, lists become tuples, comma-separated text becomes a
tuple for tuple fields, numeric text becomes a number for number fields (``size="512"`` from a
form or a script is 512; ``size="big"`` is refused naming the option and the type it takes), and
the limits are checked by :func:`check_limits`, which every config's ``validate()`` calls first.
Every float must be finite: ``nan`` and ``inf`` are refused naming the option.
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
    """Per-field help texts from the ``Attributes:`` sections of a dataclass's docstring and its
    base classes' (a class's own text wins)."""
    helps: dict[str, str] = {}
    for klass in reversed(config_type.__mro__):
        if "Attributes:" in (klass.__doc__ or ""):
            helps.update(_attribute_help(klass.__doc__))
    return helps


def _attribute_help(doc: str) -> dict[str, str]:
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


_KIND_WORDS = {int: "a whole number", float: "a number", bool: "true or false"}
_TRUE, _FALSE = ("true", "yes", "on", "1"), ("false", "no", "off", "0")


def as_number(name: str, value: Any, kind: type) -> Any:
    """``value`` as ``kind`` (``int``, ``float`` or ``bool``), numeric text included; a PainterlyError
    naming ``name`` and the type it takes otherwise.

    Example:
        >>> as_number("size", "512", int), as_number("strength", 1, float), as_number("invert_mask", "no", bool)
        (512, 1.0, False)
    """
    if kind is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in _TRUE + _FALSE:
            return value.strip().lower() in _TRUE
    elif not isinstance(value, bool):
        if kind is int and isinstance(value, int):
            return value
        if kind is int and isinstance(value, float) and value.is_integer():
            return int(value)
        if kind is float and isinstance(value, (int, float)):
            return float(value)
        if isinstance(value, str):
            try:
                return kind(value.strip())
            except ValueError:
                pass
    shown = repr(value) if isinstance(value, (str, int, float)) else f"a {type(value).__name__}"
    raise PainterlyError(f"{name} takes {_KIND_WORDS[kind]}, got {shown[:60]}")


def _scalar_kind(hint: Any) -> Optional[type]:
    """``int``, ``float`` or ``bool`` for a field typed so (``Optional`` or not), else ``None``."""
    options = [arg for arg in typing.get_args(hint) if arg is not type(None)] if typing.get_origin(hint) is typing.Union else [hint]
    return options[0] if len(options) == 1 and options[0] in (int, float, bool) else None


def _finite(label: str, value: Any) -> None:
    values = value if isinstance(value, tuple) else (value,)
    if any(isinstance(item, float) and not math.isfinite(item) for item in values):
        raise PainterlyError(f"{label} must be a finite number, got {value}")


def check_limits(config: Any, owner: str = "") -> Any:
    """Check every field of ``config`` against its :func:`limits`; raise a PainterlyError naming the bad one.

    ``owner`` (``"the fast method"``) is added to range messages, since ranges differ by method.
    """
    where = f" for {owner}" if owner else ""
    for item in dataclasses.fields(config):
        metadata = item.metadata
        value = getattr(config, item.name)
        if value is None:
            continue
        label = _label(item.name, metadata)
        _finite(label, value)
        if not metadata:
            continue
        choices = metadata.get("choices")
        if choices is not None and value not in choices:
            shown = " or ".join(map(str, choices)) if len(choices) <= 2 else ", ".join(map(str, choices))
            raise PainterlyError(f"unknown {label} {value!r}: use {shown}")
        low, high = metadata.get("low"), metadata.get("high")
        if low is None and high is None or isinstance(value, (str, tuple)):
            continue
        if low is not None and high is not None and not low <= value <= high:
            raise PainterlyError(f"{label} must be between {low:g} and {high:g}{where}, got {value:g}")
        if high is None and value < low:
            raise PainterlyError(f"{label} must be {low:g} or more{where}, got {value:g}")
        if low is None and value > high:
            raise PainterlyError(f"{label} must be {high:g} or less{where}, got {value:g}")
    return config


def convert_option(config_type: type, name: str, value: Any) -> Any:
    """One option's value as its field takes it: lists as tuples, comma-separated text as a tuple,
    paths as text for text fields, numeric text as numbers for number fields (see :func:`as_number`)."""
    hint = typing.get_type_hints(config_type)[name]
    kind = _scalar_kind(hint)
    if kind is not None and value is not None:
        return as_number(name.replace("_", " "), value, kind)
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
