"""Start-up: the command line imports nothing heavy until a command runs."""

from __future__ import annotations

import subprocess
import sys
from importlib import import_module

import click
from click.testing import CliRunner

from painterly.cli.main import LAZY_COMMANDS, cli


def _modules_after(code: str) -> set[str]:
    """Names in ``sys.modules`` after running ``code`` in a fresh interpreter."""
    script = f"{code}\nimport sys\nprint('MODULES', *sys.modules)"
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    return set(done.stdout.rpartition("MODULES")[2].split())


def test_importing_the_cli_does_not_import_torch():
    loaded = _modules_after("import painterly.cli.main")
    assert "painterly.cli.main" in loaded
    assert not {name for name in loaded if name == "torch" or name.startswith("torch.")}
    assert "numpy" not in loaded


def test_main_help_does_not_import_torch():
    loaded = _modules_after("from painterly.cli.main import main\ntry:\n    main(['--help'])\nexcept SystemExit:\n    pass")
    assert "torch" not in loaded
    assert "painterly.registry" not in loaded


def test_the_lazy_table_says_what_each_command_says():
    for name, (target, text) in LAZY_COMMANDS.items():
        module, _, attribute = target.partition(":")
        command = getattr(import_module(module), attribute)
        assert command.name == name
        for limit in (45, 80, 200):
            assert click.Command(name, help=text).get_short_help_str(limit) == command.get_short_help_str(limit), name


def test_help_lists_every_command_and_a_lazy_command_runs():
    result = CliRunner().invoke(cli, ["--help"])
    assert result.exit_code == 0
    listed = [line.split()[0] for line in result.output.split("Commands:")[1].splitlines() if line.strip()]
    assert listed == sorted([*LAZY_COMMANDS, "styles", "stylize"])
    export_help = CliRunner().invoke(cli, ["export", "--help"])
    assert export_help.exit_code == 0 and "ONNX" in export_help.output


def test_method_options_are_added_when_the_command_parses(tmp_path):
    result = CliRunner().invoke(cli, ["stylize", "--help"])
    assert result.exit_code == 0
    options = result.output
    # The method flags sit between --model and --save-every, as declared.
    assert options.index("--model") < options.index("--steps") < options.index("--save-every")
    photo = tmp_path / "photo.png"
    photo.write_bytes(b"")
    refused = CliRunner().invoke(cli, ["stylize", str(photo), "--model", "starry-night", "--steps", "3"])
    assert refused.exit_code == 2 and "--steps applies to optimize only" in refused.output


def test_a_feed_forward_run_loads_no_vgg_and_no_dynamo(tmp_path, monkeypatch):
    """The fast method needs neither the VGG19 network nor torch's compiler stack; the second run of a
    model (its graph already exported) does not even import torch, and through PyTorch not torch._dynamo."""
    from PIL import Image

    from conftest import make_gradient_image
    from feedforward_helpers import tiny_model_file
    from painterly.features import weights

    def refuse(*args, **kwargs):
        raise AssertionError("VGG19 loaded for a feed-forward run")

    monkeypatch.setattr(weights, "load_vgg19", refuse)
    monkeypatch.setattr(weights, "find_weights", refuse)
    model = tiny_model_file(tmp_path)
    photo = tmp_path / "photo.png"
    Image.fromarray(make_gradient_image(32, 40)).save(photo)
    run = ["stylize", str(photo), "--model", str(model), "-o", str(tmp_path / "out.png"), "--overwrite"]
    assert CliRunner().invoke(cli, run).exit_code == 0
    code = "from painterly.cli.main import main\ntry:\n    main({!r})\nexcept SystemExit as end:\n    assert not end.code, end.code"
    loaded = _modules_after(code.format(run))
    assert "painterly.methods.fast_onnx" in loaded and "torch" not in loaded
    loaded = _modules_after(code.format([*run, "--runtime", "torch"]))
    assert "painterly.methods.feedforward" in loaded
    assert "torch._dynamo" not in loaded


def test_method_options_are_there_for_anyone_reading_the_parameters():
    """Tools that read ``command.params`` (docs checks, completion) see the method flags too."""
    code = (
        "from painterly.cli.main import cli\n"
        "names = {name for param in cli.commands['stylize'].params for name in param.opts}\n"
        "assert {'--steps', '--runtime', '--model', '--save-every'} <= names, names"
    )
    assert "painterly.registry" in _modules_after(code)
