"""Colour preservation ops: YIQ, luminance-only transfer, luminance and colour statistics matching."""

from __future__ import annotations

import pytest
import torch

from painterly.ops.color import luminance, match_color, match_luminance, rgb_to_yiq, transfer_luminance, yiq_to_rgb


def stats(image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean (B, 3) and covariance (B, 3, 3) of the pixels of (B, 3, H, W)."""
    pixels = image.double().flatten(2)
    centred = pixels - pixels.mean(2, keepdim=True)
    return pixels.mean(2), centred @ centred.transpose(1, 2) / pixels.shape[2]


def correlated_colours(mean, mixing, shape=(2, 3, 32, 32), seed=0) -> torch.Tensor:
    """Pixels ``mean + mixing @ noise``: known mean and covariance ``mixing mixingᵀ``, inside [0, 1]."""
    generator = torch.Generator().manual_seed(seed)
    noise = torch.randn(shape, generator=generator).clamp(-3, 3)
    return torch.einsum("ij,bjhw->bihw", torch.tensor(mixing), noise) + torch.tensor(mean)[:, None, None]


def test_yiq_round_trip_and_known_values():
    image = torch.rand(2, 3, 8, 8, dtype=torch.float64)
    torch.testing.assert_close(yiq_to_rgb(rgb_to_yiq(image)), image, atol=1e-12, rtol=0)
    grey = torch.full((1, 3, 1, 1), 0.25)
    torch.testing.assert_close(rgb_to_yiq(grey).flatten(), torch.tensor([0.25, 0.0, 0.0]), atol=1e-6, rtol=0)
    red = torch.tensor([1.0, 0.0, 0.0]).reshape(1, 3, 1, 1)
    torch.testing.assert_close(luminance(red).flatten(), torch.tensor([0.299]))


def test_transfer_luminance_keeps_stylized_y_and_content_iq():
    # Mid-range values, so the [0, 1] clamp does not bite and the channels survive exactly.
    stylized = 0.3 + 0.4 * torch.rand(2, 3, 16, 16, dtype=torch.float64)
    content = 0.4 + 0.2 * torch.rand(2, 3, 16, 16, dtype=torch.float64)
    result = transfer_luminance(stylized, content)
    assert result.shape == stylized.shape and result.dtype == torch.float64
    result_yiq, stylized_yiq, content_yiq = rgb_to_yiq(result), rgb_to_yiq(stylized), rgb_to_yiq(content)
    torch.testing.assert_close(result_yiq[:, 0], stylized_yiq[:, 0], atol=1e-12, rtol=0)
    torch.testing.assert_close(result_yiq[:, 1:], content_yiq[:, 1:], atol=1e-12, rtol=0)


def test_transfer_luminance_clamps_broadcasts_and_keeps_dtype():
    stylized = torch.rand(3, 3, 8, 8).to(torch.bfloat16)
    content = torch.rand(1, 3, 8, 8)
    result = transfer_luminance(stylized, content)
    assert result.shape == (3, 3, 8, 8) and result.dtype == torch.bfloat16
    assert result.min() >= 0 and result.max() <= 1
    with pytest.raises(ValueError):
        transfer_luminance(stylized, torch.rand(1, 3, 4, 4))


def test_transfer_luminance_gradcheck():
    stylized = (0.3 + 0.4 * torch.rand(1, 3, 3, 3, dtype=torch.float64)).requires_grad_()
    content = (0.4 + 0.2 * torch.rand(1, 3, 3, 3, dtype=torch.float64)).requires_grad_()
    assert torch.autograd.gradcheck(transfer_luminance, (stylized, content))


def test_match_luminance_matches_mean_and_std_and_keeps_chroma():
    source = 0.45 + 0.05 * torch.randn(2, 3, 16, 16, dtype=torch.float64)
    target = 0.3 + 0.5 * torch.rand(1, 3, 24, 24, dtype=torch.float64)
    result = match_luminance(source, target, eps=0)
    result_y, target_y = luminance(result), luminance(target)
    for index in range(2):
        torch.testing.assert_close(result_y[index].mean(), target_y.mean())
        torch.testing.assert_close(result_y[index].std(unbiased=False), target_y.std(unbiased=False))
    torch.testing.assert_close(rgb_to_yiq(result)[:, 1:], rgb_to_yiq(source)[:, 1:])


def test_match_color_gives_the_target_mean_and_covariance():
    source = correlated_colours([0.6, 0.4, 0.3], [[0.05, 0.01, 0.0], [0.02, 0.04, 0.0], [0.0, 0.01, 0.03]])
    target = correlated_colours([0.3, 0.5, 0.6], [[0.04, 0.0, 0.02], [0.0, 0.03, 0.0], [0.01, 0.02, 0.05]], seed=1)
    result = match_color(source, target, eps=0)
    assert result.shape == source.shape and result.dtype == torch.float32
    result_mean, result_cov = stats(result)
    target_mean, target_cov = stats(target)
    torch.testing.assert_close(result_mean, target_mean, atol=1e-5, rtol=0)
    torch.testing.assert_close(result_cov, target_cov, atol=1e-6, rtol=1e-3)


def test_match_color_broadcasts_a_single_target_and_handles_bf16():
    source = torch.rand(2, 3, 8, 8).to(torch.bfloat16)
    target = torch.rand(1, 3, 12, 12)
    result = match_color(source, target)
    assert result.shape == (2, 3, 8, 8) and result.dtype == torch.bfloat16
    assert torch.isfinite(result.float()).all()


@pytest.mark.parametrize("flat", ["source", "target", "both", "grey source"])
def test_match_color_survives_singular_covariances(flat):
    colourful = torch.rand(1, 3, 8, 8)
    uniform = torch.full((1, 3, 8, 8), 0.3)
    grey = torch.rand(1, 1, 8, 8).expand(1, 3, 8, 8)
    source = {"source": uniform, "target": colourful, "both": uniform, "grey source": grey}[flat]
    target = {"source": colourful, "target": uniform, "both": uniform, "grey source": colourful}[flat]
    result = match_color(source, target)
    assert torch.isfinite(result).all() and result.min() >= 0 and result.max() <= 1
    if flat == "source":  # nothing to scale: every pixel lands on the target mean
        torch.testing.assert_close(result, colourful.mean(dim=(2, 3), keepdim=True).expand_as(result))
    if flat == "target":
        torch.testing.assert_close(result, uniform, atol=1e-5, rtol=0)
