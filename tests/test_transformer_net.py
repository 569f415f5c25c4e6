"""The feed-forward style networks and their model files."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import save_file

from feedforward_helpers import TINY, tiny_checkpoint_file, tiny_model_file, tiny_net, tiny_torchscript_file
from painterly.errors import PainterlyError
from painterly.models import (
    VARIANTS,
    ModelInfo,
    TransformerNet,
    create_model,
    list_pretrained,
    load_model,
    save_model,
    variant_config,
)
from painterly.models.files import model_file_kind, read_model_file

pytestmark = pytest.mark.usefixtures("single_thread")


@pytest.mark.parametrize("variant", sorted(VARIANTS))
@pytest.mark.parametrize("size", [(32, 32), (17, 23), (5, 7), (3, 2)])
def test_any_size_keeps_shape_and_range(variant, size):
    net = TransformerNet(variant_config(variant)).eval()
    image = torch.rand(2, 3, *size)
    with torch.no_grad():
        output = net(image)
    assert output.shape == image.shape
    assert 0 <= output.min() and output.max() <= 1


def test_light_is_smaller_and_separable():
    light, johnson = TransformerNet(variant_config("light")), TransformerNet(variant_config("johnson"))
    count = lambda net: sum(p.numel() for p in net.parameters())  # noqa: E731
    assert count(light) < count(johnson) / 10
    assert any(m.groups > 1 for m in light.modules() if isinstance(m, torch.nn.Conv2d))


def test_gradients_reach_every_parameter():
    net = TransformerNet(TINY)
    net(torch.rand(1, 3, 20, 28)).mean().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in net.parameters())


def test_too_small_or_wrong_shape_is_a_clear_error():
    net = TransformerNet(TINY)
    with pytest.raises(PainterlyError, match="too small"):
        net(torch.rand(1, 3, 1, 9))
    with pytest.raises(PainterlyError, match="RGB"):
        net(torch.rand(1, 4, 16, 16))


def test_unknown_variant_and_bad_config():
    with pytest.raises(PainterlyError, match="light"):
        variant_config("huge")
    with pytest.raises(PainterlyError):
        variant_config("light", outer_kernel=4)


def test_forward_with_own_statistics_equals_forward():
    net = tiny_net()
    image = torch.rand(1, 3, 30, 42)
    with torch.no_grad():
        stats = net.norm_statistics(image)
        assert len(stats) == 3 + 2 * TINY.residual_blocks + 2
        torch.testing.assert_close(net.forward_with_stats(image, stats), net(image), atol=1e-6, rtol=0)


@pytest.mark.parametrize("half", [False, True])
def test_model_file_round_trip(tmp_path, half):
    net = tiny_net()
    info = ModelInfo(TINY, training={"style": "starry-night", "steps": 3}, record={"losses": {"total": 1.5}}, name="x")
    path = save_model(net, tmp_path / "m.safetensors", info, half=half)
    loaded, loaded_info = load_model(path)
    assert loaded_info.network == TINY and loaded_info.training["steps"] == 3
    assert loaded_info.record["losses"]["total"] == 1.5 and loaded_info.name == "x"
    image = torch.rand(1, 3, 24, 24)
    with torch.no_grad():
        difference = (loaded(image) - net(image)).abs().max()
    assert difference < (1 / 255 if half else 1e-6)
    assert not any(p.requires_grad for p in loaded.parameters())
    assert [p.name for p in tmp_path.iterdir()] == ["m.safetensors"]  # no temporary left behind


def test_shipped_light_model_fits_in_3_mb(tmp_path):
    path = save_model(TransformerNet(variant_config("light")), tmp_path / "light.safetensors")
    assert path.stat().st_size < 3_000_000


def test_every_shipped_model_is_small_trained_and_paints():
    from painterly.models import load_model, resolve_model_path
    from painterly.registry import style_names

    assert set(style_names()) <= set(list_pretrained())
    photo = torch.rand(1, 3, 40, 52, generator=torch.Generator().manual_seed(0))
    for name in list_pretrained():
        path = resolve_model_path(name)
        net, info = load_model(path)
        if "direction" in info.training:  # a CycleGAN generator: the residual network CycleGAN uses, fp16
            assert info.network.variant == "johnson" and path.stat().st_size < 4_000_000
            assert info.record["steps"] >= 1000 and info.record["title"]
        else:
            start = info.record.get("initialized_from") or {}
            # Style models are fine-tuned from the shared network: its steps count towards their training.
            assert info.network.variant == "light" and info.record.get("steps", 0) + (start.get("steps") or 0) >= 1000
            assert path.stat().st_size < 3_000_000
        with torch.no_grad():
            painted = net(photo)
        assert painted.shape == photo.shape and (painted - photo).abs().mean() > 0.05  # it changes the photo


def test_create_model_by_path_and_unknown_name(tmp_path):
    path = tiny_model_file(tmp_path)
    assert isinstance(create_model(path), TransformerNet)
    assert isinstance(create_model(str(path), device="cpu"), TransformerNet)
    with pytest.raises(PainterlyError, match="painterly train"):
        create_model("no-such-style")


def test_bad_model_files_are_clear_errors(tmp_path):
    garbage = tmp_path / "garbage.safetensors"
    garbage.write_bytes(b"\x00\x01 not a model at all")
    truncated = tmp_path / "truncated.safetensors"
    truncated.write_bytes(tiny_model_file(tmp_path).read_bytes()[:200])
    foreign = tmp_path / "foreign.safetensors"
    save_file({"weight": torch.zeros(2)}, str(foreign))
    for path in (garbage, truncated, foreign):
        with pytest.raises(PainterlyError, match="not a readable painterly model") as caught:
            load_model(path)
        assert "download" not in str(caught.value)  # nothing is ever downloaded
    with pytest.raises(PainterlyError, match="does not exist"):
        read_model_file(tmp_path / "missing.safetensors")


def test_weights_not_fitting_the_config_are_a_clear_error(tmp_path):
    info = ModelInfo(variant_config("light"))
    path = save_model(tiny_net(), tmp_path / "m.safetensors", info)
    # save_model records the network's own config; swap it in the file for a mismatched one.
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as handle:
        state = {key: handle.get_tensor(key) for key in handle.keys()}
    info.network = variant_config("light")
    save_file(state, str(path), metadata={"painterly.model": info.to_json()})
    with pytest.raises(PainterlyError, match="do not fit"):
        load_model(path)


def test_a_training_checkpoint_loads_as_its_network(tmp_path):
    path = tiny_checkpoint_file(tmp_path)
    assert model_file_kind(path) == "checkpoint" and path.suffix == ".pt"
    net, info = load_model(path)
    assert info.network == TINY and info.record["steps"] == 5 and info.name == "starry-night"
    assert info.training["style"] == "starry-night"
    image = torch.rand(1, 3, 20, 28, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        torch.testing.assert_close(net(image), tiny_net(1)(image))
    assert isinstance(create_model(str(path)), TransformerNet)


def test_exports_are_refused_saying_what_they_are_and_what_to_give(tmp_path):
    torchscript = tiny_torchscript_file(tmp_path)
    onnx_file = tmp_path / "tiny.onnx"
    onnx_file.write_bytes(b"\x08\x07\x12\x07pytorch")  # a protobuf start, as an ONNX file has
    assert (model_file_kind(torchscript), model_file_kind(onnx_file)) == ("torchscript", "onnx")
    assert model_file_kind(tiny_model_file(tmp_path)) == "safetensors"
    for path, kind in ((torchscript, "TorchScript"), (onnx_file, "ONNX")):
        with pytest.raises(PainterlyError) as caught:
            load_model(path)
        message = str(caught.value)
        assert f"is a {kind} export" in message and "cannot be loaded as a model" in message
        assert ".safetensors model file it was exported from" in message and "download" not in message
