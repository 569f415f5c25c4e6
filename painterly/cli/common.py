"""Pieces every command shares: error handling, options built from config dataclasses, progress."""

from __future__ import annotations

import dataclasses
import functools
import sys
import time
import typing
from pathlib import Path
from typing import Any, Callable, Iterable, Optional, Sequence

import click

from painterly.errors import PainterlyError
from painterly.options import convert_option, field_defaults, field_help

EXIT_BAD_INPUT = 2
#: ``--max-memory`` of the commands that paint (stylize, video).
MAX_MEMORY_HELP = ("Refuse, before starting, an image whose estimated peak memory exceeds SIZE (e.g. 4G, 512M) "
                   "[default: the memory available].")  # fmt: skip


def is_out_of_memory(error: BaseException) -> bool:
    """A ``MemoryError``, or PyTorch's own out-of-memory error (a ``RuntimeError`` on a CPU under
    ``ulimit -v`` or a cgroup limit, ``torch.cuda.OutOfMemoryError`` on a GPU)."""
    if isinstance(error, MemoryError):
        return True
    text = str(error)
    return isinstance(error, RuntimeError) and ("can't allocate memory" in text or "out of memory" in text.lower())


#: Exit code when some outputs of an evaluation failed (its report holds the others).
EXIT_FAILED = 1


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


def note_time_limit(result: Any, config: Any) -> None:
    """After a training run: say so when it stopped at its ``--time-limit`` before its ``--steps``."""
    if config.time_limit and result.steps < config.steps:
        click.echo(f"stopped at the time limit after {result.steps} of {config.steps} steps: "
                   "run the same command with --resume to go on", err=True)  # fmt: skip


def exit_if_failed(evaluation: Any) -> None:
    """After an evaluation's report: each failed output on stderr, then exit code 1 if any failed."""
    for failure in evaluation.failures:
        click.echo(f"failed: {failure.line()}", err=True)
    if evaluation.failures:
        total = len(evaluation.failures) + len(evaluation.records)
        click.echo(f"error: {len(evaluation.failures)} of {total} outputs failed (listed above and in the report)", err=True)
        raise click.exceptions.Exit(EXIT_FAILED)


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
    defaults = field_defaults(config_type)
    helps = field_help(config_type)

    def decorate(command: Callable) -> Callable:
        for name in reversed(list(names)):
            kind, is_tuple = _click_type(hints[name])
            default = defaults.get(name)
            settings: dict[str, Any] = {"default": None, "help": helps.get(name, ""), "show_default": False}
            if default is not None:
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
    """The options a user actually set (not None), converted as :func:`painterly.options.config_from_options` does."""
    names = {item.name for item in dataclasses.fields(config_type)}
    return {name: convert_option(config_type, name, value) for name, value in values.items()
            if value is not None and name in names}  # fmt: skip


def _shown(value: Any) -> str:
    if value is None:
        return "not set"
    return ",".join(map(str, value)) if isinstance(value, tuple) else str(value)


def _range(limits: dict[str, Any]) -> str:
    low, high = limits.get("low"), limits.get("high")
    if low is None and high is None:
        return ""
    if high is None:
        return f"{low:g} or more"
    return f"{low:g} to {high:g}" if low is not None else f"{high:g} or less"


def _per_method(takers: Sequence[Any], describe: Callable[[Any], str], all_methods: int) -> str:
    """``512 (optimize), not set (adain, fast)``; one value alone when every method agrees."""
    by_value: dict[str, list[str]] = {}
    for spec in takers:
        by_value.setdefault(describe(spec), []).append(spec.name)
    if len(by_value) == 1 and len(takers) == all_methods:
        return next(iter(by_value))
    return ", ".join(f"{value} ({', '.join(methods)})" for value, methods in by_value.items() if value)


def method_options(specs: Sequence[Any] | Callable[[], Sequence[Any]], names: Optional[Iterable[str]] = None,
                   exclude: Iterable[str] = (), overrides: Optional[dict[str, dict]] = None) -> Callable:  # fmt: skip
    """A decorator adding one ``--kebab-name`` option per method option of ``specs`` (every option
    of every method, or ``names``), each said once: its help from the first method that takes it, its
    default per method (``[default: 512 (optimize); not set (adain, fast)]``), its choices from the
    config's limits. Options are left unset (``None``) so :func:`chosen_method_options` can tell
    which the user gave.

    ``specs`` given as a function (``lambda: list_methods()``) builds the options the first time the
    command parses or shows help (the command's class must be
    :class:`painterly.cli.lazy.LazyOptionsCommand`), so importing the CLI does not import the methods.
    """
    if callable(specs):
        from painterly.cli.lazy import LAZY_OPTIONS_ATTRIBUTE

        load_specs = specs

        def load() -> list[click.Parameter]:
            def placeholder() -> None: ...

            method_options(load_specs(), names, exclude, overrides)(placeholder)
            return list(reversed(getattr(placeholder, "__click_params__", [])))

        def decorate_lazily(command: Callable) -> Callable:
            setattr(command, LAZY_OPTIONS_ATTRIBUTE, (load, len(getattr(command, "__click_params__", []))))
            return command

        return decorate_lazily
    overrides = overrides or {}
    order: list[str] = []
    for spec in specs:
        order += [name for name in spec.options if name not in order and name not in exclude]
    if names is not None:
        order = [name for name in names if name in order]

    def decorate(command: Callable) -> Callable:
        for name in reversed(order):
            takers = [spec for spec in specs if spec.takes(name)]
            first = takers[0]
            hint = str(typing.get_type_hints(first.config)[name])
            kind, is_tuple = _click_type(hint)
            where = "" if len(takers) == len(specs) else f"{', '.join(spec.name for spec in takers)}: "
            notes = [f"default: {_per_method(takers, lambda spec: _shown(spec.default(name)), len(specs))}"]
            ranges = _per_method(takers, lambda spec: _range(spec.limits(name)), len(specs))
            if ranges.strip("; "):
                notes.append(f"range: {ranges}")
            settings: dict[str, Any] = {"default": None, "show_default": False,
                                        "help": f"{where}{first.help(name)}  [{'; '.join(notes)}]"}  # fmt: skip
            flag = "--" + name.replace("_", "-")
            choices = first.limits(name).get("choices")
            if kind is bool and "Optional" not in hint:
                settings.update(is_flag=True)
                declaration = [f"{flag}/--no-{name.replace('_', '-')}"]
            else:
                settings["type"] = click.Choice([str(choice) for choice in choices]) if choices else kind
                declaration = [flag]
            settings.update(overrides.get(name, {}))
            command = click.option(*declaration, name, **settings)(command)
        return command

    return decorate


def joined(names: Sequence[str]) -> str:
    """``["adain", "fast"]`` → ``"adain and fast"``."""
    return " and ".join([", ".join(names[:-1]), names[-1]]) if len(names) > 1 else "".join(names)


def check_paintings(spec: Any, styles: Sequence[str]) -> None:
    """One line when the method needs a painting and none is given, or takes none and one is."""
    if spec.needs_painting and not styles:
        fail("no style given: add --style NAME (see `painterly styles`) or --style painting.jpg")
    if styles and not spec.needs_painting:
        fail(f"{spec.owner} paints in its model's style: drop --style, or drop --model for any painting (anystyle)")


def chosen_method_options(spec: Any, values: dict[str, Any]) -> dict[str, Any]:
    """The method options the user set, for ``spec``'s method; one set for another method is refused
    with one line naming the methods that take it (``--steps applies to optimize only``)."""
    from painterly.registry import methods_taking

    chosen: dict[str, Any] = {}
    for name, value in values.items():
        if value is None:
            continue
        if not spec.takes(name):
            fail(f"--{name.replace('_', '-')} applies to {joined(methods_taking(name))} only")
        chosen[name] = convert_option(spec.config, name, value)
    return chosen


class ProgressReporter:
    """Progress on stderr fed by ProgressEvents: stage, step, loss, elapsed and ETA.

    On a terminal, a rich progress bar. Elsewhere (a log file, a pipe, a CI job) a bar cannot be
    redrawn, so a plain line is written at the first event, then at most every ``interval``
    seconds, and at the last step: ``training: step 120/2000 (6%) loss 1.234 · 0:42 elapsed, ETA 10:51``.
    The ETA uses the event's ``fraction`` (compute done), not steps, because early
    low-resolution steps are much cheaper than late ones. Silent when ``enabled`` is False.

    Args:
        terminal: draw a bar (``None``: when stderr is a terminal).
        interval: seconds between plain lines.
        clock: seconds, monotonic (tests pass their own).
    """

    def __init__(self, description: str, enabled: bool = True, on_event: Optional[Callable] = None, *,
                 terminal: Optional[bool] = None, interval: float = 5.0,
                 clock: Callable[[], float] = time.perf_counter):  # fmt: skip
        self.description = description
        self.enabled = enabled
        self.on_event = on_event
        self.terminal = stderr_is_terminal() if terminal is None else terminal
        self.interval = interval
        self.clock = clock
        self.started = clock()
        self.last_losses: dict[str, float] = {}
        self._progress = None
        self._task = None
        self._last_line: Optional[float] = None

    def __enter__(self) -> "ProgressReporter":
        return self

    def _start(self) -> None:
        """Draw the bar at the first event, so input errors print alone, without a bar above them."""
        if self.enabled and self.terminal and self._progress is None:
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
        if self.enabled and getattr(event, "memory", None) and self._progress is None and self._last_line is None:
            # Said before the work starts, so a run too large for the machine can be stopped at once.
            from painterly.devices import format_bytes

            click.echo(f"{self.description}: needs about {format_bytes(event.memory)} of memory (estimate)", err=True)
        self._start()
        loss = event.losses.get("total")
        detail = f"step {event.step}/{event.total}" + (f" loss {loss:.4g}" if loss is not None else "")
        if event.stage:
            detail += f" · {event.stage}"
        if self._progress is not None:
            self._progress.update(self._task, completed=round(event.fraction * 1000), detail=detail)
        elif self.enabled and not self.terminal:
            self._plain_line(event, detail)
        if self.on_event is not None:
            return self.on_event(event)
        return None

    def _plain_line(self, event: Any, detail: str) -> None:
        now = self.clock()
        last = event.total and event.step >= event.total
        if self._last_line is not None and now - self._last_line < self.interval and not last:
            return
        self._last_line = now
        elapsed, fraction = now - self.started, event.fraction
        eta = f", ETA {_clock_time(elapsed / fraction * (1 - fraction))}" if 0 < fraction < 1 else ""
        percent = f" ({fraction:.0%})" if event.total else ""
        detail = detail.replace(f"step {event.step}/{event.total}", f"step {event.step}/{event.total}{percent}", 1)
        click.echo(f"{self.description}: {detail} · {_clock_time(elapsed)} elapsed{eta}", err=True)

    @property
    def seconds(self) -> float:
        return self.clock() - self.started


def _clock_time(seconds: float) -> str:
    """``3725.4`` → ``"1:02:05"``, ``42`` → ``"0:42"``."""
    minutes, whole = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{whole:02d}" if hours else f"{minutes}:{whole:02d}"


def stderr_is_terminal() -> bool:
    return sys.stderr.isatty()


def output_paths(content: Path, output: Optional[Path], is_folder: bool) -> list[tuple[Path, Path]]:
    """(input, output) pairs for one image or every image of a folder."""
    from painterly.io.formats import IMAGE_SUFFIXES
    from painterly.io.images import find_images

    if not is_folder:
        if output is None:
            output = Path.cwd() / f"{content.stem}-stylized.png"
        elif output.is_dir():
            output = output / f"{content.stem}-stylized.png"
        return [(content, output)]
    images = find_images(content)
    if not images:
        raise PainterlyError(f"no images in folder {content}: add {', '.join(sorted(IMAGE_SUFFIXES))} files")
    if output is None:
        raise PainterlyError("CONTENT is a folder: give an output folder with -o DIR")
    if output.exists() and not output.is_dir():
        raise PainterlyError(f"CONTENT is a folder, so -o must be a folder, but {output} is a file")
    return [(image, output / f"{image.stem}-stylized.png") for image in images]
