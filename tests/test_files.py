"""Atomic writes: every file Painterly writes gets the umask's normal mode, and a failure leaves nothing."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
import torch
from PIL import Image

from conftest import make_gradient_image
from feedforward_helpers import tiny_model_file, tiny_net
from painterly.io.files import atomic_write, write_bytes_atomically

pytestmark = pytest.mark.usefixtures("single_thread")


@pytest.fixture(params=[0o022, 0o077, 0o002])
def umask(request):
    previous = os.umask(request.param)
    yield request.param
    os.umask(previous)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def write_image(folder: Path) -> Path:
    from painterly.io.images import save_image

    return save_image(Image.fromarray(make_gradient_image(16, 16)), folder / "out.png")


def write_model(folder: Path) -> Path:
    return tiny_model_file(folder)


def write_decoder(folder: Path) -> Path:
    from painterly.models.adain import AdaINDecoder, DecoderConfig
    from painterly.models.adain_io import save_decoder

    return save_decoder(AdaINDecoder(DecoderConfig(width=0.0625, convs=(1, 1, 1, 2))), folder / "decoder.safetensors")


def write_weights_cache(folder: Path) -> Path:
    from painterly.features.weights import VGGWeights, write_weights_cache

    path = folder / "vgg19.safetensors"
    write_weights_cache(VGGWeights({"conv1_1.weight": torch.zeros(2, 3, 3, 3), "conv1_1.bias": torch.zeros(2)}, "caffe", "test"), path)
    return path


def write_torchscript(folder: Path) -> Path:
    from painterly.export import export_model

    return export_model(tiny_model_file(folder), folder / "m.pt", format="torchscript", check=False)


def write_onnx(folder: Path) -> Path:
    pytest.importorskip("onnx")
    from painterly.export import export_model

    return export_model(tiny_model_file(folder), folder / "m.onnx", format="onnx", check=False)


@pytest.mark.parametrize("write", [write_image, write_model, write_decoder, write_weights_cache, write_torchscript, write_onnx])
def test_written_files_get_the_mode_the_umask_gives(tmp_path, umask, write):
    path = write(tmp_path)
    assert mode(path) == 0o666 & ~umask
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temporary file left


def test_a_failed_write_leaves_neither_file_nor_temporary(tmp_path):
    target = tmp_path / "model.safetensors"
    target.write_bytes(b"the previous model")
    with pytest.raises(RuntimeError, match="disk full"):
        with atomic_write(target) as temporary:
            temporary.write_bytes(b"half a mod")
            raise RuntimeError("disk full")
    assert target.read_bytes() == b"the previous model"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.safetensors"]
    assert write_bytes_atomically(tmp_path / "new" / "a.bin", b"x").read_bytes() == b"x"  # makes the folder


def test_a_trained_model_reloads_after_the_atomic_write(tmp_path):
    from painterly.models import load_model

    net, _ = load_model(tiny_model_file(tmp_path))
    image = torch.rand(1, 3, 16, 16)
    with torch.no_grad():
        assert torch.allclose(net(image), tiny_net().eval()(image), atol=1e-6)
