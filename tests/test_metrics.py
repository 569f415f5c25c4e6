"""Evaluation metrics on cases with known answers."""

from __future__ import annotations

import math

import pytest
import torch

from painterly.errors import PainterlyError
from painterly.evaluate import inception as inception_module
from painterly.evaluate import metrics
from painterly.io.images import image_to_tensor, load_image

from conftest import make_gradient_image


def picture(seed: int = 0, height: int = 16, width: int = 24) -> torch.Tensor:
    return image_to_tensor(load_image(make_gradient_image(height, width, seed)))


@pytest.fixture
def images():
    content = picture(0)
    style = torch.rand(1, 3, 20, 20, generator=torch.Generator().manual_seed(3))  # another size on purpose
    return content, style


# --- VGG distances -----------------------------------------------------------------------------------


def test_distances_of_an_image_to_itself_are_zero(random_vgg, images):
    content, style = images
    assert metrics.content_distance(random_vgg, content, content).item() == 0
    assert metrics.gram_style_distance(random_vgg, style, style).item() == 0
    assert metrics.meancov_style_distance(random_vgg, style, style).item() == pytest.approx(0, abs=1e-6)


def test_style_distances_are_symmetric_positive_and_take_any_size(random_vgg, images):
    content, style = images
    for distance in (metrics.gram_style_distance, metrics.meancov_style_distance):
        forward, backward = distance(random_vgg, content, style), distance(random_vgg, style, content)
        assert forward.item() > 0
        assert forward.item() == pytest.approx(backward.item(), rel=1e-5)


@pytest.mark.parametrize("kind", ["gram", "meancov"])
def test_normalized_style_distance_is_0_for_the_style_and_1_for_the_content(random_vgg, images, kind):
    content, style = images
    assert metrics.normalized_style_distance(random_vgg, style, content, style, kind=kind).item() == pytest.approx(0, abs=1e-6)
    assert metrics.normalized_style_distance(random_vgg, content, content, style, kind=kind).item() == pytest.approx(1)


def test_normalized_content_distance_is_0_for_the_content_and_1_for_the_style(random_vgg, images):
    content, style = images
    assert metrics.normalized_content_distance(random_vgg, content, content, style).item() == 0
    resized = metrics.resize_to(style, tuple(content.shape[-2:]))
    assert metrics.normalized_content_distance(random_vgg, resized, content, style).item() == pytest.approx(1)


def test_unknown_style_distance_and_mismatched_content_sizes_are_clear_errors(random_vgg, images):
    content, style = images
    with pytest.raises(PainterlyError, match="gram, meancov$"):
        metrics.normalized_style_distance(random_vgg, content, content, style, kind="wasserstein")
    with pytest.raises(PainterlyError, match="same size"):
        metrics.content_distance(random_vgg, content, style)


# --- pixel metrics -----------------------------------------------------------------------------------


def test_ssim_of_identical_images_is_one_and_symmetric():
    a, b = picture(0, 32, 48), picture(1, 32, 48)
    assert metrics.ssim_luminance(a, a).item() == pytest.approx(1, abs=1e-6)
    assert metrics.ssim_luminance(a, b).item() == pytest.approx(metrics.ssim_luminance(b, a).item(), abs=1e-6)
    assert metrics.ssim_luminance(a, torch.rand_like(a)).item() < 0.5


def test_ssim_matches_the_closed_form_for_constant_images():
    # Constant images: no variance, so SSIM = (2 μx μy + C1) / (μx² + μy² + C1).
    x, y = torch.full((1, 1, 16, 16), 0.2), torch.full((1, 1, 16, 16), 0.6)
    c1 = 0.01**2
    expected = (2 * 0.2 * 0.6 + c1) / (0.2**2 + 0.6**2 + c1)
    assert metrics.ssim(x, y).item() == pytest.approx(expected, rel=1e-4)


def test_ssim_works_on_images_smaller_than_the_window_and_rejects_other_shapes():
    small = torch.rand(2, 3, 6, 7)
    assert metrics.ssim(small, small).shape == (2,)
    with pytest.raises(PainterlyError, match="same shape"):
        metrics.ssim(small, torch.rand(2, 3, 7, 7))


def test_a_luma_preserving_colour_shift_changes_colourfulness_not_ssim_of_luminance():
    grey = picture(0, 32, 48).mean(dim=1, keepdim=True).expand(1, 3, 32, 48)
    # Add a hue with zero luma (0.299 r + 0.587 g + 0.114 b = 0), kept inside [0, 1].
    hue = torch.tensor([0.587, -0.299, 0.0]).view(1, 3, 1, 1) * 0.15
    tinted = (grey * 0.7 + 0.15 + hue).clamp(0, 1)
    base = grey * 0.7 + 0.15
    assert metrics.colourfulness(base).item() == pytest.approx(0, abs=1e-3)
    assert metrics.colourfulness(tinted).item() > 10
    assert metrics.ssim_luminance(tinted, base).item() == pytest.approx(1, abs=1e-4)


def test_colourfulness_of_pure_colours_matches_the_formula():
    red = torch.zeros(1, 3, 8, 8)
    red[:, 0] = 1
    # rg = 255, yb = 127.5, no spread: M = 0.3 * sqrt(255² + 127.5²)
    assert metrics.colourfulness(red).item() == pytest.approx(0.3 * math.hypot(255, 127.5), rel=1e-5)
    assert metrics.colourfulness(torch.full((2, 3, 8, 8), 0.4)).tolist() == pytest.approx([0, 0], abs=1e-4)


def test_temporal_warping_error_is_masked_mean_squared_difference():
    frames = torch.zeros(2, 3, 4, 4)
    warped = torch.zeros(2, 3, 4, 4)
    warped[:, :, :2] = 0.5  # differs in the top half only
    masks = torch.ones(2, 1, 4, 4)
    assert metrics.temporal_warping_error(frames, warped, masks).item() == pytest.approx(0.125)
    masks[:, :, :2] = 0  # occluded where they differ
    assert metrics.temporal_warping_error(frames, warped, masks).item() == 0
    assert metrics.temporal_warping_error(frames, warped, torch.zeros(2, 1, 4, 4)).item() == 0
    with pytest.raises(PainterlyError, match="warped frames"):
        metrics.temporal_warping_error(frames, warped[:1], masks)


# --- FID -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("backend", ["torch", pytest.param("scipy", marks=pytest.mark.skipif(
    not __import__("importlib").util.find_spec("scipy"), reason="scipy not installed"))])  # fmt: skip
def test_frechet_distance_matches_the_closed_form(backend):
    # Diagonal covariances commute: d² = |μ1-μ2|² + Σ (√a - √b)².
    mu1, mu2 = torch.tensor([0.0, 1.0, 2.0]), torch.tensor([1.0, 1.0, 0.0])
    a, b = torch.tensor([1.0, 4.0, 9.0]), torch.tensor([4.0, 1.0, 9.0])
    expected = 1 + 4 + ((a.sqrt() - b.sqrt()) ** 2).sum().item()
    value = metrics.frechet_distance(mu1, torch.diag(a), mu2, torch.diag(b), backend=backend)
    assert value == pytest.approx(expected, rel=1e-6)
    assert metrics.frechet_distance(mu1, torch.diag(a), mu1, torch.diag(a), backend=backend) == pytest.approx(0, abs=1e-8)


def test_frechet_backends_agree_on_random_covariances():
    pytest.importorskip("scipy")
    generator = torch.Generator().manual_seed(1)
    a, b = torch.randn(50, 6, generator=generator), torch.randn(50, 6, generator=generator) * 2 + 1
    statistics = (*metrics.feature_statistics(a), *metrics.feature_statistics(b))
    torch_value = metrics.frechet_distance(*statistics, backend="torch")
    assert metrics.frechet_distance(*statistics, backend="scipy") == pytest.approx(torch_value, rel=1e-6)
    assert metrics.frechet_distance(*statistics) == pytest.approx(torch_value, rel=1e-6)


def test_fid_of_identical_sets_is_zero_and_of_shifted_gaussians_is_the_shift():
    generator = torch.Generator().manual_seed(0)
    features = torch.randn(400, 8, generator=generator, dtype=torch.float64)
    assert metrics.fid_from_features(features, features, backend="torch") == pytest.approx(0, abs=1e-6)
    shift = torch.tensor([3.0, 0, 0, 0, 0, 0, 0, 4.0], dtype=torch.float64)
    # The same samples moved: equal covariances, so FID is exactly |shift|² = 25.
    assert metrics.fid_from_features(features + shift, features, backend="torch") == pytest.approx(25, rel=1e-6)


def test_fid_with_an_injected_tiny_network_and_artfid():
    torch.manual_seed(0)
    network = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten())
    images = torch.rand(6, 3, 16, 16)
    with torch.no_grad():
        same = metrics.fid_from_features(network(images), network(images), backend="torch")
        other = metrics.fid_from_features(network(images), network(images * 0.2), backend="torch")
    assert same == pytest.approx(0, abs=1e-6)
    assert other > 0
    assert metrics.art_fid(other, 0.5) == pytest.approx(1.5 * (1 + other))
    assert metrics.art_fid(0.0, 0.0) == 1.0


def test_frechet_distance_rejects_mismatched_shapes():
    with pytest.raises(PainterlyError, match="one size"):
        metrics.frechet_distance(torch.zeros(3), torch.eye(3), torch.zeros(2), torch.eye(2))


# --- Inception network -----------------------------------------------------------------------------


def test_missing_inception_weights_say_how_to_get_them(tmp_path, monkeypatch):
    monkeypatch.delenv(inception_module.WEIGHTS_ENV, raising=False)
    with pytest.raises(PainterlyError, match="pt_inception-2015-12-05.*--inception-weights"):
        inception_module.load_inception()
    with pytest.raises(PainterlyError, match="does not exist.*pytorch-fid"):
        inception_module.load_inception(tmp_path / "nope.pth")
    monkeypatch.setenv(inception_module.WEIGHTS_ENV, str(tmp_path / "env.pth"))
    with pytest.raises(PainterlyError, match="env.pth"):
        inception_module.load_inception()


def test_a_damaged_or_wrong_inception_file_is_a_clear_error(tmp_path):
    damaged = tmp_path / "damaged.pth"
    damaged.write_bytes(b"not a checkpoint")
    with pytest.raises(PainterlyError, match="cannot read Inception weights"):
        inception_module.load_inception(damaged)
    wrong = tmp_path / "wrong.pth"
    torch.save({"conv.weight": torch.zeros(1)}, wrong)
    with pytest.raises(PainterlyError, match="not the FID Inception network"):
        inception_module.load_inception(wrong)


def test_inception_loads_pytorch_fid_key_names_and_gives_2048_features():
    # The pytorch-fid file: torchvision Inception3 names, 1008-class fc, no num_batches_tracked.
    model = inception_module.InceptionV3Features(input_size=75)  # the smallest it takes, for speed
    state = {k: torch.randn_like(v.float()) * 0.01 for k, v in model.state_dict().items() if "num_batches" not in k}
    state.update({"fc.weight": torch.zeros(1008, 2048), "fc.bias": torch.zeros(1008)})
    for key in ("Conv2d_1a_3x3.conv.weight", "Mixed_5b.branch5x5_2.bn.running_var",
                "Mixed_6e.branch7x7dbl_5.conv.weight", "Mixed_7c.branch3x3dbl_3b.bn.bias"):  # fmt: skip
        assert key in state
    loaded = inception_module.inception_from_state_dict(state, input_size=75)
    assert torch.equal(loaded.Mixed_7c.branch_pool.conv.weight, state["Mixed_7c.branch_pool.conv.weight"])
    assert loaded(torch.rand(1, 3, 40, 30)).shape == (1, inception_module.FEATURE_DIM)
    state["Mixed_7c.branch_pool.conv.weight"] = torch.zeros(3, 3, 1, 1)
    with pytest.raises(PainterlyError, match="Mixed_7c.branch_pool.conv.weight"):
        inception_module.inception_from_state_dict(state)
