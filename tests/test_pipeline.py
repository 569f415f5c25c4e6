"""Folders: decoding and encoding overlapped with painting, one bad file reported while the others finish."""

from __future__ import annotations

import json
import threading

import pytest
from click.testing import CliRunner
from PIL import Image

from conftest import make_gradient_image
from feedforward_helpers import tiny_model_file
from painterly.cli.main import cli
from painterly.errors import PainterlyError
from painterly.inference.pipeline import run_files


def test_results_come_in_order_and_a_bad_item_fails_alone():
    def load(item):
        if item == 2:
            raise PainterlyError("cannot read 2")
        return item * 10

    def paint(item, value):
        if item == 4:
            raise OSError("disk trouble")
        return value + 1

    outcomes = list(run_files(range(6), load, paint, lambda item, value: value * 2))
    assert [outcome.item for outcome in outcomes] == list(range(6))
    assert [outcome.result for outcome in outcomes] == [2, 22, None, 62, None, 102]
    assert [(outcome.stage, str(outcome.error)) for outcome in outcomes if not outcome.ok] == [
        ("read", "cannot read 2"), ("paint", "disk trouble")]  # fmt: skip


def test_a_failed_write_is_reported():
    def save(item, value):
        if item == 1:
            raise PainterlyError("read-only folder")
        return value

    outcomes = list(run_files([0, 1, 2], lambda item: item, lambda item, value: value, save))
    assert [outcome.ok for outcome in outcomes] == [True, False, True]
    assert outcomes[1].stage == "write"


def test_an_unexpected_error_stops_the_run():
    def load(item):
        if item == 1:
            raise ZeroDivisionError("bug")
        return item

    with pytest.raises(ZeroDivisionError):
        list(run_files([0, 1, 2], load, lambda item, value: value, lambda item, value: value))


def test_decoding_and_encoding_overlap_with_painting():
    """The next item is decoded, and the previous one encoded, while an item is being painted."""
    loaded_next = [threading.Event() for _ in range(3)]
    saved = [threading.Event() for _ in range(3)]
    seen = []

    def load(item):
        loaded_next[item].set()
        return item

    def paint(item, value):
        if item + 1 < 3:
            seen.append(("next decoded", loaded_next[item + 1].wait(timeout=5)))
        if item > 0:
            seen.append(("previous encoded", saved[item - 1].wait(timeout=5)))
        return value

    def save(item, value):
        saved[item].set()
        return value

    assert [outcome.result for outcome in run_files(range(3), load, paint, save)] == [0, 1, 2]
    assert seen and all(done for _, done in seen), seen


def test_a_folder_with_a_bad_photo_writes_the_others(tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    for index in range(3):
        Image.fromarray(make_gradient_image(30, 40, seed=index)).save(folder / f"p{index}.png")
    (folder / "p1b.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    model = tiny_model_file(tmp_path)
    result = CliRunner().invoke(cli, ["stylize", str(folder), "--model", str(model), "-o", str(tmp_path / "out"), "--json"])
    assert result.exit_code == 2, result.output
    written = sorted(path.name for path in (tmp_path / "out").iterdir())
    assert written == ["p0-stylized.png", "p1-stylized.png", "p2-stylized.png"]
    lines = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    assert len(lines) == 3
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert errors[0].startswith("error: p1b.jpg:")
    assert errors[-1] == "error: 1 of 4 images failed (p1b.jpg); the others were written"


def test_stopping_early_stops_the_threads():
    import time

    before = {thread.name for thread in threading.enumerate()}
    outcomes = run_files(range(100), lambda item: item, lambda item, value: value, lambda item, value: value)
    assert next(outcomes).item == 0
    outcomes.close()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and any(t.name.startswith("painterly-") for t in threading.enumerate()):
        time.sleep(0.05)
    assert not [t.name for t in threading.enumerate() if t.name.startswith("painterly-") and t.name not in before]


def test_two_painters_paint_side_by_side_and_keep_the_order():
    started = [threading.Event() for _ in range(6)]
    overlapped, threads = [], set()

    def paint(item, value):
        started[item].set()
        threads.add(threading.current_thread().name)
        if item % 2 == 0 and item + 1 < 6:  # the next item starts while this one still paints
            overlapped.append(started[item + 1].wait(timeout=5))
        if item == 3:
            raise OSError("disk trouble")
        return value + 1

    outcomes = list(run_files(range(6), lambda item: item * 10, paint, lambda item, value: value * 2, painters=2))
    assert [outcome.item for outcome in outcomes] == list(range(6))
    assert [outcome.result for outcome in outcomes] == [2, 22, 42, None, 82, 102]
    assert outcomes[3].stage == "paint" and str(outcomes[3].error) == "disk trouble"
    assert overlapped == [True, True, True]
    assert threads and all(name.startswith("painterly-paint") for name in threads)


def test_a_folder_painted_two_at_a_time_equals_one_at_a_time(tmp_path, monkeypatch):
    import numpy as np

    import painterly.cli.main as cli_main

    folder = tmp_path / "photos"
    folder.mkdir()
    for index in range(4):
        Image.fromarray(make_gradient_image(30 + 2 * index, 40, seed=index)).save(folder / f"p{index}.png")
    model = tiny_model_file(tmp_path)
    monkeypatch.setenv("PAINTERLY_CACHE_DIR", str(tmp_path / "cache"))  # no graph exported by another test
    from painterly.methods.fast_onnx import OnnxFastStylizer
    from painterly.methods.feedforward import FastStylizer

    granted = []
    # The first run exports the tiny model's graph through torch; the second paints without torch.
    for kind in (FastStylizer, OnnxFastStylizer):
        original = kind.concurrent_images
        monkeypatch.setattr(kind, "concurrent_images", lambda self, *args, original=original: granted.append(
            (type(self).__name__, original(self, *args))) or granted[-1][1])  # fmt: skip
    painted = {}
    for painters in (1, 2):
        monkeypatch.setattr(cli_main, "FOLDER_PAINTERS", painters)
        out = tmp_path / f"out{painters}"
        result = CliRunner().invoke(cli, ["stylize", str(folder), "--model", str(model), "-o", str(out)])
        assert result.exit_code == 0, result.output
        painted[painters] = {path.name: np.asarray(Image.open(path)) for path in sorted(out.iterdir())}
    assert granted == [("FastStylizer", 1), ("OnnxFastStylizer", 2)]  # onnxruntime took two photos at once
    assert sorted(painted[2]) == [f"p{index}-stylized.png" for index in range(4)]
    for name, pixels in painted[1].items():
        assert pixels.shape == painted[2][name].shape and np.abs(pixels.astype(int) - painted[2][name]).max() <= 1
