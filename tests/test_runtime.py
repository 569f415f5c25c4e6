"""The fast method's runtime: onnxruntime by default where installed, graphs exported once per model file."""

from __future__ import annotations

import sys

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import make_gradient_image
from feedforward_helpers import tiny_model_file
from painterly.errors import PainterlyError
from painterly.methods import feedforward
from painterly.methods.feedforward import FastConfig, FastStylizer

pytestmark = pytest.mark.usefixtures("single_thread")


@pytest.fixture
def counted_exports(monkeypatch, tmp_path):
    monkeypatch.setenv("PAINTERLY_CACHE_DIR", str(tmp_path / "cache"))  # empty: nothing exported yet
    calls = []
    export = feedforward._export_onnx

    def counting(model_path, out):
        calls.append(model_path)
        export(model_path, out)

    monkeypatch.setattr(feedforward, "_export_onnx", counting)
    return calls


def test_auto_runs_onnxruntime_when_installed_and_exports_once(tmp_path, counted_exports):
    pytest.importorskip("onnxruntime")
    model = tiny_model_file(tmp_path)
    first = FastStylizer(FastConfig(model=str(model)))
    assert first.runtime == "onnx"
    assert FastStylizer(FastConfig(model=str(model))).runtime == "onnx"
    assert len(counted_exports) == 1  # the second stylizer found the cached graph
    tiny_model_file(tmp_path, seed=1)  # same file name, new contents: exported again
    FastStylizer(FastConfig(model=str(model)))
    assert len(counted_exports) == 2


def test_auto_output_matches_pytorch_fp32(tmp_path):
    pytest.importorskip("onnxruntime")
    model = tiny_model_file(tmp_path)
    photo = Image.fromarray(make_gradient_image(40, 56))
    auto = np.asarray(FastStylizer(FastConfig(model=str(model)))(photo), dtype=int)
    reference = np.asarray(FastStylizer(FastConfig(model=str(model), runtime="torch", precision="fp32"))(photo), dtype=int)
    assert np.abs(auto - reference).max() <= 2


def test_auto_falls_back_to_pytorch(tmp_path, monkeypatch):
    monkeypatch.setenv("PAINTERLY_CACHE_DIR", str(tmp_path / "cache"))  # no graph of this model exported yet
    model = tiny_model_file(tmp_path)
    monkeypatch.setattr(feedforward, "onnxruntime_installed", lambda: False)
    assert FastStylizer(FastConfig(model=str(model))).runtime == "torch"
    monkeypatch.undo()
    monkeypatch.setenv("PAINTERLY_CACHE_DIR", str(tmp_path / "cache"))

    def broken(model_path, out):
        raise PainterlyError("onnx is not installed: pip install onnx onnxruntime")

    monkeypatch.setattr(feedforward, "_export_onnx", broken)
    if feedforward.onnxruntime_installed():
        assert FastStylizer(FastConfig(model=str(model))).runtime == "torch"
        with pytest.raises(PainterlyError, match="pip install onnx"):
            FastStylizer(FastConfig(model=str(model), runtime="onnx"))


def test_torch_forced_and_onnx_refused_without_onnxruntime(tmp_path, monkeypatch):
    model = tiny_model_file(tmp_path)
    assert FastStylizer(FastConfig(model=str(model), runtime="torch")).runtime == "torch"
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    with pytest.raises(PainterlyError, match="onnxruntime is not installed"):
        FastStylizer(FastConfig(model=str(model), runtime="onnx"))


def test_runtime_is_a_cli_option(tmp_path):
    from click.testing import CliRunner

    from painterly.cli.main import cli

    model = tiny_model_file(tmp_path)
    photo = tmp_path / "photo.png"
    Image.fromarray(make_gradient_image(32, 40)).save(photo)
    result = CliRunner().invoke(cli, ["stylize", str(photo), "--model", str(model), "--runtime", "torch", "-o",
                                      str(tmp_path / "out.png")])  # fmt: skip
    assert result.exit_code == 0, result.output
    refused = CliRunner().invoke(cli, ["stylize", str(photo), "--model", str(model), "--runtime", "tflite"])
    assert refused.exit_code == 2 and "tflite" in refused.output


def test_shipped_models_carry_their_graph(counted_exports):
    """Every shipped model has its exported graph beside it, so its first run exports nothing."""
    pytest.importorskip("onnxruntime")
    from painterly.inference.onnx import exported_name
    from painterly.models.files import list_pretrained, resolve_model_path

    for name in list_pretrained():
        path = resolve_model_path(name)
        assert (path.parent / exported_name(path)).is_file(), f"run scripts/export_shipped_graphs.py ({name})"
    stylizer = FastStylizer(FastConfig(model="starry-night"))
    assert stylizer.runtime == "onnx" and counted_exports == []
    image = torch.rand(1, 3, 48, 64, generator=torch.Generator().manual_seed(0))
    reference = FastStylizer(FastConfig(model="starry-night", runtime="torch", precision="fp32")).stylize_tensor(image)
    assert (stylizer.stylize_tensor(image) - reference).abs().max() <= 2 / 255
