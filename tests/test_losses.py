"""Gram matrix and perceptual losses on known small tensors."""

from __future__ import annotations

import pytest
import torch

from painterly.losses import content_loss, gram_loss, gram_matrix, mean_std, mean_std_loss, total_variation


def test_gram_matrix_of_known_features():
    features = torch.tensor([[[[1.0, 2.0]], [[3.0, 4.0]]]])  # (1, 2, 1, 2)
    expected = torch.tensor([[[5.0, 11.0], [11.0, 25.0]]]) / 2
    assert torch.allclose(gram_matrix(features), expected)


def test_gram_matrix_does_not_grow_with_image_size():
    torch.manual_seed(0)
    small = torch.rand(1, 4, 8, 8)
    tiled = small.repeat(1, 1, 2, 2)
    assert torch.allclose(gram_matrix(small), gram_matrix(tiled), atol=1e-6)


def test_gram_matrix_gradcheck():
    features = torch.rand(1, 3, 2, 3, dtype=torch.double, requires_grad=True)
    assert torch.autograd.gradcheck(gram_matrix, (features,))


def test_losses_are_zero_for_identical_inputs_and_positive_otherwise():
    torch.manual_seed(0)
    a, b = torch.rand(1, 4, 5, 5), torch.rand(1, 4, 5, 5)
    assert content_loss(a, a).item() == 0
    assert content_loss(a, b).item() > 0
    assert gram_loss(a, gram_matrix(a)).item() == 0
    assert gram_loss(a, gram_matrix(b)).item() > 0
    assert mean_std_loss(a, a).item() == pytest.approx(0, abs=1e-10)


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
