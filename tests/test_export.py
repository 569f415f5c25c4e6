"""Exporting style networks to ONNX and TorchScript, and the onnx runtime of the fast method."""

from __future__ import annotations

import sys

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from conftest import make_gradient_image
from feedforward_helpers import tiny_model_file
from painterly.errors import PainterlyError
from painterly.export import EXPORT_TOLERANCE, export_model, onnx_session, run_onnx
from painterly.models import load_model

pytestmark = pytest.mark.usefixtures("single_thread")


@pytest.fixture
def model(tmp_path):
    return tiny_model_file(tmp_path, half=True)


def test_onnx_export_matches_pytorch_at_any_size(tmp_path, model):
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    out = export_model(model, tmp_path / "m.onnx", format="onnx")
    net, _ = load_model(model)
    session = onnx_session(out)
    for shape in [(1, 3, 37, 50), (2, 3, 64, 33), (1, 3, 40, 40)]:
        image = torch.rand(shape)
        with torch.no_grad():
            expected = net(image)
        got = run_onnx(session, image)
        assert got.shape == expected.shape
        assert (got - expected).abs().max() <= EXPORT_TOLERANCE


def test_torchscript_export_matches(tmp_path, model):
    out = export_model(model, tmp_path / "m.pt", format="torchscript")
    net, _ = load_model(model)
    image = torch.rand(1, 3, 29, 43)
    with torch.no_grad():
        assert (torch.jit.load(str(out))(image) - net(image)).abs().max() <= EXPORT_TOLERANCE


def test_missing_onnxruntime_is_a_clear_error(tmp_path, model, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    with pytest.raises(PainterlyError, match="pip install onnx onnxruntime"):
        onnx_session(tmp_path / "m.onnx")


def test_bad_export_arguments(tmp_path, model):
    with pytest.raises(PainterlyError, match="onnx or torchscript"):
        export_model(model, tmp_path / "m.x", format="tflite")
    with pytest.raises(PainterlyError, match="neither a file"):
        export_model(tmp_path / "missing.safetensors", tmp_path / "m.onnx")


def test_onnx_runtime_in_the_fast_method(tmp_path, model):
    pytest.importorskip("onnxruntime")
    from feedforward_helpers import run_method

    photo = Image.fromarray(make_gradient_image(36, 52))
    cpu = torch.device("cpu")
    with_torch = np.asarray(run_method("fast", photo, [], device=cpu, model=model, precision="fp32"), dtype=int)
    with_onnx = np.asarray(run_method("fast", photo, [], device=cpu, model=model, runtime="onnx"), dtype=int)
    assert np.abs(with_torch - with_onnx).max() <= 2


def test_export_command(tmp_path, model):
    pytest.importorskip("onnxruntime")
    from painterly.cli.train import export_command

    result = CliRunner().invoke(export_command, [str(model), "-o", str(tmp_path / "out.onnx")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "out.onnx").is_file()
    result = CliRunner().invoke(export_command, [str(tmp_path / "nope.safetensors")])
    assert result.exit_code == 2 and "error:" in result.output
