"""Laplacian pyramids of image tensors: an image as a coarse copy plus the detail each finer size adds."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def _half(size: tuple[int, int]) -> tuple[int, int]:
    return (max(1, (size[0] + 1) // 2), max(1, (size[1] + 1) // 2))


def laplacian_pyramid(image: torch.Tensor, levels: int) -> list[torch.Tensor]:
    """Split ``image`` into ``levels`` bands, finest first.

    Band ``k`` (``k < levels - 1``) is the detail lost between sizes ``H / 2^k`` and ``H / 2^(k+1)``
    (the image at that size minus its half-size copy upsampled); the last band is the image at
    ``H / 2^(levels-1)``. :func:`collapse_laplacian_pyramid` puts them back together exactly.

    Args:
        image: ``(B, C, H, W)``, any range.
        levels: number of bands, ≥ 1 (fewer are returned when the image gets down to 1 px).

    Returns:
        ``[(B, C, H, W), (B, C, ⌈H/2⌉, ⌈W/2⌉), …]``.

    Example:
        >>> [band.shape[-1] for band in laplacian_pyramid(torch.rand(1, 3, 8, 12), 3)]
        [12, 6, 3]
    """
    bands: list[torch.Tensor] = []
    current = image
    for _ in range(levels - 1):
        size = tuple(current.shape[-2:])
        if max(size) <= 1:
            break
        smaller = F.interpolate(current, size=_half(size), mode="bilinear", align_corners=False, antialias=True)
        bands.append(current - F.interpolate(smaller, size=size, mode="bilinear", align_corners=False))
        current = smaller
    bands.append(current)
    return bands


def collapse_laplacian_pyramid(bands: list[torch.Tensor]) -> torch.Tensor:
    """The image whose :func:`laplacian_pyramid` is ``bands`` (finest first); differentiable.

    Returns:
        ``(B, C, H, W)`` with the size of ``bands[0]``.
    """
    image = bands[-1]
    for band in reversed(bands[:-1]):
        image = band + F.interpolate(image, size=band.shape[-2:], mode="bilinear", align_corners=False)
    return image
