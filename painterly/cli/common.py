"""Pieces every command shares: error handling, options built from config dataclasses, progress."""

from __future__ import annotations

import dataclasses
import functools
import re
import sys
import time
import typing
from typing import Any, Callable, Iterable, Optional

import click

from painterly.errors import PainterlyError

EXIT_BAD_INPUT = 2


def fail(message: str) -> "typing.NoReturn":
    """Print ``error: message`` on stderr as one line and exit with code 2."""
    click.echo(f"error: {' '.join(str(message).split())}", err=True)
    raise click.exceptions.Exit(EXIT_BAD_INPUT)


def handle_errors(command: Callable) -> Callable:
    """Turn a PainterlyError raised by ``command`` into one line on stderr and exit code 2."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except PainterlyError as error:
            fail(str(error))
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            raise click.exceptions.Exit(130)

    return wrapper


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


def _click_type(annotation: Any) -> tuple[Any, bool]:
    """Click type for a dataclass field annotation, and whether it is a tuple (comma list)."""
    text = str(annotation)
    if "tuple" in text:
        return str, True
    if "bool" in text:
        return bool, False
    if "float" in text:
        return float, False
    if "int" in text:
        return int, False
    return str, False


def options_from_config(config_type: type, names: Iterable[str], overrides: Optional[dict[str, dict]] = None) -> Callable:
    """A decorator adding one ``--kebab-name`` click option per named dataclass field.

    The default is the field's default and the help text its docstring line, so an option is
    described once, in the config. Tuple fields take comma-separated values.
    """
    overrides = overrides or {}
    hints = typing.get_type_hints(config_type)
    defaults = {item.name: item.default for item in dataclasses.fields(config_type)}
    helps = field_help(config_type)

    def decorate(command: Callable) -> Callable:
        for name in reversed(list(names)):
            kind, is_tuple = _click_type(hints[name])
            default = defaults[name]
            settings: dict[str, Any] = {"default": None, "help": helps.get(name, ""), "show_default": False}
            if default is not None and default is not dataclasses.MISSING:
                shown = ",".join(map(str, default)) if is_tuple else default
                settings["help"] += f"  [default: {shown}]"
            flag = "--" + name.replace("_", "-")
            if kind is bool and "Optional" not in str(hints[name]):
                settings.update(is_flag=True, default=None)
                declaration = [f"{flag}/--no-{name.replace('_', '-')}"]
            else:
                settings["type"] = kind
                declaration = [flag]
            settings.update(overrides.get(name, {}))
            command = click.option(*declaration, name, **settings)(command)
        return command

    return decorate


def config_kwargs(config_type: type, values: dict[str, Any]) -> dict[str, Any]:
    """The options a user actually set (not None), with comma lists split into tuples."""
    hints = typing.get_type_hints(config_type)
    result: dict[str, Any] = {}
    for item in dataclasses.fields(config_type):
        value = values.get(item.name)
        if value is None:
            continue
        if _click_type(hints[item.name])[1] and isinstance(value, str):
            value = tuple(part.strip() for part in value.split(",") if part.strip())
            if "float" in str(hints[item.name]):
                try:
                    value = tuple(float(part) for part in value)
                except ValueError:
                    raise PainterlyError(f"--{item.name.replace('_', '-')} takes comma-separated numbers") from None
        result[item.name] = value
    return result


class ProgressReporter:
    """A rich progress bar fed by ProgressEvents: stage, step, loss, elapsed and ETA.

    The ETA uses the event's ``fraction`` (compute done), not steps, because early low-resolution
    steps are much cheaper than late ones. Drawn on stderr; silent when ``enabled`` is False.
    """

    def __init__(self, description: str, enabled: bool = True, on_event: Optional[Callable] = None):
        self.description = description
        self.enabled = enabled
        self.on_event = on_event
        self.started = time.perf_counter()
        self.last_losses: dict[str, float] = {}
        self._progress = None
        self._task = None

    def __enter__(self) -> "ProgressReporter":
        return self

    def _start(self) -> None:
        """Draw the bar at the first event, so input errors print alone, without a bar above them."""
        if self.enabled and self._progress is None:
            from rich.console import Console
            from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

            self._progress = Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                TextColumn("{task.percentage:>3.0f}%"),
                TextColumn("{task.fields[detail]}"),
                TimeElapsedColumn(),
                TextColumn("ETA"),
                TimeRemainingColumn(),
                console=Console(stderr=True),
                transient=False,
            )
            self._progress.__enter__()
            self._task = self._progress.add_task(self.description, total=1000, detail="starting")

    def __exit__(self, *exc: Any) -> None:
        if self._progress is not None:
            self._progress.__exit__(*exc)

    def __call__(self, event: Any) -> Optional[bool]:
        self.last_losses = dict(event.losses)
        self._start()
        if self._progress is not None:
            loss = event.losses.get("total")
            detail = f"step {event.step}/{event.total}" + (f" loss {loss:.4g}" if loss is not None else "")
            if event.stage:
                detail += f" · {event.stage}"
            self._progress.update(self._task, completed=round(event.fraction * 1000), detail=detail)
        if self.on_event is not None:
            return self.on_event(event)
        return None

    @property
    def seconds(self) -> float:
        return time.perf_counter() - self.started


def stderr_is_terminal() -> bool:
    return sys.stderr.isatty()
