"""The background import of torch._dynamo: only where an optimizer is built, silent, never cut short at exit."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from click.testing import CliRunner
from PIL import Image

from painterly.cli.main import cli
from painterly.preload import import_in_background
from tests.conftest import make_gradient_image

ROOT = Path(__file__).resolve().parents[1]

EXIT_RIGHT_AWAY = """
import atexit, sys, threading
from painterly.preload import import_in_background

def at_exit():
    others = [thread.name for thread in threading.enumerate() if thread is not threading.main_thread()]
    print("running at exit:", others, "imported:", hasattr(sys.modules.get("torch._dynamo"), "optimize"))

atexit.register(at_exit)
import_in_background("torch._dynamo")
"""


def test_the_interpreter_waits_for_the_import_before_shutting_down():
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, "-c", EXIT_RIGHT_AWAY], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and "Traceback" not in done.stderr and "Exception" not in done.stderr, done.stderr
    assert done.stdout.strip() == "running at exit: [] imported: True"


def test_a_failed_background_import_is_silent(monkeypatch):
    reported = []
    monkeypatch.setattr(threading, "excepthook", reported.append)
    thread = import_in_background("painterly_has_no_such_module")
    thread.join(timeout=30)
    assert not thread.daemon and not thread.is_alive() and reported == []


@pytest.mark.parametrize("method_args, expected", [
    (["--model", "starry-night"], []),
    (["--style", "starry-night", "--size", "32", "--steps", "2", "--min-size", "32", "--precision", "fp32"], ["torch._dynamo"]),
])  # fmt: skip
def test_only_the_optimize_method_imports_the_optimizer_machinery_early(tmp_path, monkeypatch, method_args, expected):
    import painterly.preload

    started = []
    monkeypatch.setattr(painterly.preload, "_import_quietly", started.append)
    photo = tmp_path / "photo.png"
    Image.fromarray(make_gradient_image(32, 40)).save(photo)
    result = CliRunner().invoke(cli, ["stylize", str(photo), "-o", str(tmp_path / "out.png"), *method_args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert started == expected
