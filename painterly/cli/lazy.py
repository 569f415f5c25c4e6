"""Commands loaded when they run, so ``painterly --help`` starts without torch.

:class:`LazyGroup` lists its subcommands from a table (name → ``module:attribute`` and the
one-line help) and imports a command's module only when that command is invoked or its own help is
asked for. :class:`LazyOptionsCommand` adds options built from the method specs (which import
torch) the first time the command parses its arguments or shows its help, not at import.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any, Callable, Optional

import click

#: Attribute a command callback carries when some of its options are built on first use:
#: ``(loader, count)``: ``loader()`` returns the options; ``count`` options follow them.
LAZY_OPTIONS_ATTRIBUTE = "__painterly_lazy_options__"


class LazyOptionsCommand(click.Command):
    """A click command whose lazily built options (see :func:`painterly.cli.common.method_options`
    given a function) join its parameters the first time they are needed."""

    def __init__(self, *args: Any, **kwargs: Any):
        callback = kwargs.get("callback", args[1] if len(args) > 1 else None)
        self._lazy_options: Optional[tuple[Callable[[], list[click.Parameter]], int]] = getattr(
            callback, LAZY_OPTIONS_ATTRIBUTE, None
        )
        super().__init__(*args, **kwargs)

    @property  # type: ignore[override]
    def params(self) -> list[click.Parameter]:
        """The command's parameters, the lazily built ones included (built at the first look)."""
        if self._lazy_options is not None:
            loader, after = self._lazy_options
            self._lazy_options = None
            position = len(self._params) - after
            self._params[position:position] = loader()
        return self._params

    @params.setter
    def params(self, value: list[click.Parameter]) -> None:
        self._params = value


class LazyGroup(click.Group):
    """A click group whose listed commands are imported on first use.

    Args:
        lazy_commands: ``{name: ("module:attribute", help)}``; ``help`` is the first paragraph of the
            command's help, shortened as click does for ``painterly --help`` (a test checks it
            matches the command's own).
    """

    command_class = LazyOptionsCommand

    def __init__(self, *args: Any, lazy_commands: Optional[dict[str, tuple[str, str]]] = None, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.lazy_commands = dict(lazy_commands or {})

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.lazy_commands})

    def get_command(self, ctx: click.Context, name: str) -> Optional[click.Command]:
        if name not in self.commands and name in self.lazy_commands:
            module, _, attribute = self.lazy_commands[name][0].partition(":")
            self.add_command(getattr(import_module(module), attribute), name)
        return super().get_command(ctx, name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The command list from the table for commands not loaded yet, so listing imports nothing."""
        limit = formatter.width - 6 - max((len(name) for name in self.list_commands(ctx)), default=0)
        rows = []
        for name in self.list_commands(ctx):
            if name in self.commands:
                command = self.commands[name]
                if command.hidden:
                    continue
                rows.append((name, command.get_short_help_str(limit)))
            else:
                # Shortened exactly as click shortens a loaded command's help.
                rows.append((name, click.Command(name, help=self.lazy_commands[name][1]).get_short_help_str(limit)))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)
