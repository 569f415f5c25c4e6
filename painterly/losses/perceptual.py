"""Perceptual losses on VGG features: content, Gram style, mean/std style, total variation.

All functions are pure: tensors in, scalar tensor out. Features are ``(B, C, H, W)``.
"""

from __future__ import annotations

from typing import Mapping

import torch


def gram_matrix(features: torch.Tensor) -> torch.Tensor:
    """Channel co-occurrence of feature maps, normalized by the number of positions.

    Args:
        features: ``(B, C, H, W)``.

    Returns:
        ``(B, C, C)``: ``F Fᵀ / (H W)``, so the value does not grow with image size.

    Example:
        >>> gram_matrix(torch.ones(1, 2, 3, 3))
        tensor([[[1., 1.],
                 [1., 1.]]])
    """
    batch, channels, height, width = features.shape
    flat = features.reshape(batch, channels, height * width)
    if flat.dtype in (torch.float16, torch.bfloat16):
        # Summed in float32: bf16 sums over ~1e5 positions lose too many digits.
        flat = flat.float()
    return torch.bmm(flat, flat.transpose(1, 2)) / (height * width)


def content_loss(features: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean squared difference of two ``(B, C, H, W)`` feature maps; a scalar."""
    return torch.mean((features.float() - target.float()) ** 2)


def gram_loss(features: torch.Tensor, target_gram: torch.Tensor) -> torch.Tensor:
    """Mean squared difference between the Gram matrix of ``features`` and ``target_gram``.

    Args:
        features: ``(B, C, H, W)``.
        target_gram: ``(B, C, C)`` or ``(1, C, C)``.

    Returns:
        A scalar.
    """
    return torch.mean((gram_matrix(features) - target_gram) ** 2)


def mean_std(features: torch.Tensor, eps: float = 1e-5) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel mean and standard deviation over positions.

    Args:
        features: ``(B, C, H, W)``.

    Returns:
        ``(B, C)`` means and ``(B, C)`` standard deviations.
    """
    flat = features.float().flatten(2)
    return flat.mean(dim=2), (flat.var(dim=2, unbiased=False) + eps).sqrt()


def channel_mean_cov(features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel mean and channel covariance over positions.

    Args:
        features: ``(B, C, H, W)``; bf16/fp16 are computed in float32, float64 stays float64.

    Returns:
        ``(B, C)`` means and ``(B, C, C)`` covariances (normalized by ``H W``).
    """
    flat = features.flatten(2)
    if flat.dtype in (torch.float16, torch.bfloat16):
        flat = flat.float()
    mean = flat.mean(dim=2)
    centred = flat - mean.unsqueeze(2)
    return mean, torch.bmm(centred, centred.transpose(1, 2)) / flat.shape[2]


def symmetric_matrix_power(matrix: torch.Tensor, power: float) -> torch.Tensor:
    """``matrix ** power`` for symmetric positive semi-definite ``(..., C, C)`` by eigendecomposition.

    Negative eigenvalues (round-off) are clamped to 0 (or, for negative powers, to the smallest
    positive float), so near-singular covariances give finite results.
    """
    eigenvalues, eigenvectors = torch.linalg.eigh(matrix)
    scaled = eigenvalues.clamp(min=0 if power > 0 else torch.finfo(matrix.dtype).tiny) ** power
    return eigenvectors @ torch.diag_embed(scaled) @ eigenvectors.transpose(-1, -2)


def mean_std_loss(features: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Style loss on channel statistics (Huang & Belongie 2017): MSE of means plus MSE of stds.

    Args:
        features, target: ``(B, C, H, W)`` and ``(B or 1, C, H', W')``.
    """
    mean, std = mean_std(features)
    target_mean, target_std = mean_std(target)
    return torch.mean((mean - target_mean) ** 2) + torch.mean((std - target_std) ** 2)


def total_variation(image: torch.Tensor) -> torch.Tensor:
    """Mean absolute difference between neighbouring pixels of ``(B, C, H, W)``; a scalar."""
    horizontal = (image[..., :, 1:] - image[..., :, :-1]).abs().mean()
    vertical = (image[..., 1:, :] - image[..., :-1, :]).abs().mean()
    return horizontal + vertical


def weighted_sum(losses: Mapping[str, torch.Tensor], weights: Mapping[str, float]) -> torch.Tensor:
    """``Σ weights[name] · losses[name]`` over the names in ``weights``."""
    return sum(weights[name] * losses[name] for name in weights)  # type: ignore[return-value]
