"""Channel statistics of feature maps: mean and standard deviation, mean and covariance, and matrix
powers of covariances (AdaIN, WCT, colour transfer, the style metrics)."""

from __future__ import annotations

import torch


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
