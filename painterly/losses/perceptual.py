"""Perceptual losses on VGG features: content, Gram matrix, total variation.

All functions are pure: tensors in, scalar tensor out. Features are ``(B, C, H, W)``.
"""

from __future__ import annotations

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


def total_variation(image: torch.Tensor) -> torch.Tensor:
    """Mean absolute difference between neighbouring pixels of ``(B, C, H, W)``; a scalar."""
    horizontal = (image[..., :, 1:] - image[..., :, :-1]).abs().mean()
    vertical = (image[..., 1:, :] - image[..., :-1, :]).abs().mean()
    return horizontal + vertical
