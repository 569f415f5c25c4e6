"""Gram matrix, perceptual and Gatys losses, and channel statistics, on known small tensors."""

from __future__ import annotations

import pytest
import torch

from painterly.losses import StyleTargets, content_loss, gram_matrix, style_content_losses, temporal_loss, total_variation
from painterly.ops.stats import mean_std


def test_gram_matrix_of_known_features():
    features = torch.tensor([[[[1.0, 2.0]], [[3.0, 4.0]]]])  # (1, 2, 1, 2)
    expected = torch.tensor([[[5.0, 11.0], [11.0, 25.0]]]) / 2
    assert torch.allclose(gram_matrix(features), expected)


def test_gram_matrix_does_not_grow_with_image_size():
    torch.manual_seed(0)
    small = torch.rand(1, 4, 8, 8)
    tiled = small.repeat(1, 1, 2, 2)
    assert torch.allclose(gram_matrix(small), gram_matrix(tiled), atol=1e-6)


def test_gram_matrix_of_channels_last_features_is_the_same_without_a_copy():
    torch.manual_seed(0)
    features = torch.rand(2, 5, 6, 7, dtype=torch.double, requires_grad=True)
    last = features.contiguous(memory_format=torch.channels_last)
    assert torch.allclose(gram_matrix(last), gram_matrix(features), atol=1e-12)
    assert torch.autograd.gradcheck(lambda x: gram_matrix(x.contiguous(memory_format=torch.channels_last)), (features,))
    half = last.detach().bfloat16()
    for products in (False, True):  # float32 products, or bf16 ones summed in float32 by the kernel
        value = gram_matrix(half, half_products=products)
        assert value.dtype == torch.float32
        assert ((value - gram_matrix(features.detach())).norm() / value.norm()).item() < 0.01


def test_gram_matrix_gradcheck():
    features = torch.rand(1, 3, 2, 3, dtype=torch.double, requires_grad=True)
    assert torch.autograd.gradcheck(gram_matrix, (features,))


def test_gram_matrix_gradient_of_bf16_features_is_bf16_and_close_to_float64s():
    torch.manual_seed(0)
    features = torch.randn(2, 8, 6, 5).contiguous(memory_format=torch.channels_last)
    weights = torch.randn(2, 8, 8)  # a non-symmetric upstream gradient
    exact = features.double().requires_grad_(True)
    (gram_matrix(exact) * weights.double()).sum().backward()
    for products in (False, True):
        half = features.bfloat16().requires_grad_(True)
        (gram_matrix(half, half_products=products) * weights).sum().backward()
        assert half.grad.dtype == torch.bfloat16 and half.grad.shape == features.shape
        error = (half.grad.double() - exact.grad).norm() / exact.grad.norm()
        assert error.item() < 0.01


def targets_of(features: torch.Tensor) -> StyleTargets:
    gram = gram_matrix(features)
    return StyleTargets({"relu1_1": gram}, {"relu1_1": gram.pow(2).mean()})


def test_losses_are_zero_for_identical_inputs_and_positive_otherwise():
    torch.manual_seed(0)
    a, b = torch.rand(1, 4, 5, 5), torch.rand(1, 4, 5, 5)
    assert content_loss(a, a).item() == 0
    assert content_loss(a, b).item() > 0
    same = style_content_losses({"relu1_1": a, "relu4_2": a}, {"relu4_2": a}, targets_of(a), {"relu1_1": 1.0})
    assert [value.item() for value in same] == [0, 0]
    other = style_content_losses({"relu1_1": a, "relu4_2": a}, {"relu4_2": b}, targets_of(b), {"relu1_1": 1.0})
    assert all(value.item() > 0 for value in other)


def test_gatys_losses_are_relative_to_the_targets_energy():
    """Scaling features and targets together leaves the relative losses unchanged."""
    torch.manual_seed(0)
    a, b = torch.rand(1, 4, 5, 5), torch.rand(1, 4, 5, 5)
    content, style = style_content_losses({"relu1_1": a, "relu4_2": a}, {"relu4_2": b}, targets_of(b), {"relu1_1": 1.0})
    scaled = style_content_losses({"relu1_1": 3 * a, "relu4_2": 3 * a}, {"relu4_2": 3 * b}, targets_of(3 * b), {"relu1_1": 1.0})
    assert scaled[0].item() == pytest.approx(content.item(), rel=1e-5)
    assert scaled[1].item() == pytest.approx(style.item(), rel=1e-4)


def test_temporal_loss_counts_only_the_masked_pixels():
    image, target = torch.zeros(1, 3, 2, 2), torch.ones(1, 3, 2, 2)
    mask = torch.zeros(1, 1, 2, 2)
    mask[..., 0, 0] = 1
    assert temporal_loss(image, target, mask).item() == pytest.approx(1.0)
    assert temporal_loss(image, image, mask).item() == 0


def test_content_loss_value():
    assert content_loss(torch.zeros(1, 1, 2, 2), torch.full((1, 1, 2, 2), 2.0)).item() == pytest.approx(4.0)


def test_mean_std_of_known_features():
    features = torch.tensor([[[[0.0, 2.0]], [[1.0, 1.0]]]])
    mean, std = mean_std(features, eps=0)
    assert mean.tolist() == [[1.0, 1.0]]
    assert std.tolist() == [[1.0, 0.0]]


def test_total_variation_of_flat_and_striped_images():
    assert total_variation(torch.ones(1, 3, 4, 4)).item() == 0
    stripes = torch.zeros(1, 1, 2, 4)
    stripes[..., 1::2] = 1.0
    assert total_variation(stripes).item() == pytest.approx(1.0)
