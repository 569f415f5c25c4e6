"""Colour operations for colour preservation (Gatys et al. 2017, "Controlling Perceptual Factors").

Two ways to keep the content photo's colours in a stylized image:

* luminance-only transfer: stylize luminance, then put back the content's chroma
  (:func:`match_luminance` before, :func:`transfer_luminance` after);
* colour histogram matching: recolour the style image so its colour mean and covariance are the
  content's (:func:`match_color`), then stylize as usual.

All functions take and return ``(B, 3, H, W)`` RGB tensors in ``[0, 1]`` and are pure. All but
:func:`match_color` (a preprocessing step, whose eigendecomposition has unstable gradients for
repeated eigenvalues) are meant to be differentiated through. Statistics are computed in at least
float32, so bf16 inputs are safe.
"""

from __future__ import annotations

import math
from typing import Optional

import torch

from painterly.ops.colorspace import PRESERVE_COLOR_MODES, RGB_TO_YIQ, YIQ_TO_RGB
from painterly.ops.stats import channel_mean_cov, symmetric_matrix_power

__all__ = ["PRESERVE_COLOR_MODES", "finish_stylized", "grey", "luminance", "match_color", "match_luminance", "recolour",
           "rgb_to_yiq", "transfer_luminance", "yiq_to_rgb"]  # fmt: skip


def _work_dtype(tensor: torch.Tensor) -> torch.dtype:
    """float32, or float64 when the input already is (so gradcheck can run in double)."""
    return torch.promote_types(tensor.dtype, torch.float32)


def _apply_matrix(matrix: tuple, image: torch.Tensor) -> torch.Tensor:
    """``(3, 3)`` matrix times every pixel of ``image: (B, 3, H, W)``."""
    weights = torch.tensor(matrix, dtype=image.dtype, device=image.device)
    return torch.einsum("ij,bjhw->bihw", weights, image)


def rgb_to_yiq(image: torch.Tensor) -> torch.Tensor:
    """RGB → YIQ.

    Args:
        image: ``(B, 3, H, W)`` RGB in ``[0, 1]``.

    Returns:
        ``(B, 3, H, W)``: Y in ``[0, 1]``, I in about ``±0.6``, Q in about ``±0.53``.

    Example:
        >>> white = torch.ones(1, 3, 1, 1)
        >>> torch.allclose(rgb_to_yiq(white).flatten(), torch.tensor([1.0, 0.0, 0.0]), atol=1e-6)  # no colour
        True
    """
    return _apply_matrix(RGB_TO_YIQ, image)


def yiq_to_rgb(image: torch.Tensor) -> torch.Tensor:
    """YIQ → RGB, the inverse of :func:`rgb_to_yiq`; ``(B, 3, H, W)`` → ``(B, 3, H, W)``, not clamped."""
    return _apply_matrix(YIQ_TO_RGB, image)


def recolour(image: torch.Tensor, hue: float, saturation: float = 1.0) -> torch.Tensor:
    """``image: (B, 3, H, W)`` RGB in ``[0, 1]`` with its hues turned by ``hue`` radians and its
    chroma scaled by ``saturation`` (in YIQ: luminance kept); returns ``(B, 3, H, W)`` in ``[0, 1]``.

    Example:
        >>> red = torch.tensor([1.0, 0.0, 0.0]).view(1, 3, 1, 1)
        >>> torch.allclose(recolour(red, 0.0), red, atol=1e-5)
        True
        >>> torch.allclose(luminance(recolour(torch.full((1, 3, 1, 1), 0.5), 1.0, 2.0)), torch.full((1, 1, 1, 1), 0.5), atol=1e-5)
        True
    """
    yiq = rgb_to_yiq(image.to(_work_dtype(image)))
    cos, sin = saturation * math.cos(hue), saturation * math.sin(hue)
    i, q = yiq[:, 1:2], yiq[:, 2:3]
    turned = torch.cat([yiq[:, :1], cos * i - sin * q, sin * i + cos * q], dim=1)
    return yiq_to_rgb(turned).clamp(0, 1).to(image.dtype)


def luminance(image: torch.Tensor) -> torch.Tensor:
    """The Y channel of ``image: (B, 3, H, W)`` RGB in ``[0, 1]``; returns ``(B, 1, H, W)`` in ``[0, 1]``."""
    return rgb_to_yiq(image)[:, :1]


def transfer_luminance(stylized: torch.Tensor, content: torch.Tensor) -> torch.Tensor:
    """The stylized image's luminance with the content image's colour (luminance-only transfer).

    Args:
        stylized: ``(B, 3, H, W)`` RGB in ``[0, 1]``; its Y channel is kept.
        content: ``(B or 1, 3, H, W)`` RGB in ``[0, 1]``, same size; its I and Q channels are kept.

    Returns:
        ``(B, 3, H, W)`` RGB clamped to ``[0, 1]``, in ``stylized``'s dtype.
    """
    if stylized.shape[-2:] != content.shape[-2:]:
        raise ValueError(
            f"stylized {tuple(stylized.shape)} and content {tuple(content.shape)} must have the same height and width"
        )
    dtype = _work_dtype(stylized)
    stylized_yiq = rgb_to_yiq(stylized.to(dtype))
    content_yiq = rgb_to_yiq(content.to(dtype)).expand_as(stylized_yiq)
    mixed = torch.cat([stylized_yiq[:, :1], content_yiq[:, 1:]], dim=1)
    return yiq_to_rgb(mixed).clamp(0, 1).to(stylized.dtype)


def match_luminance(source: torch.Tensor, target: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """``source`` with its luminance shifted and scaled to the mean and std of ``target``'s.

    Used on the style image before luminance-only transfer, so the style's brightness and
    contrast do not fight the content's: ``Y' = (Y - μ_s) σ_t / σ_s + μ_t``, colour unchanged.

    Args:
        source: ``(B, 3, H, W)`` RGB in ``[0, 1]``.
        target: ``(B or 1, 3, H', W')`` RGB in ``[0, 1]``; any size.
        eps: added to ``σ_s``, so a flat source becomes flat at ``μ_t`` instead of failing.

    Returns:
        ``(B, 3, H, W)`` RGB clamped to ``[0, 1]``, in ``source``'s dtype.
    """
    dtype = _work_dtype(source)
    source_yiq = rgb_to_yiq(source.to(dtype))
    source_y = source_yiq[:, :1]
    target_y = luminance(target.to(dtype))
    source_mean = source_y.mean(dim=(2, 3), keepdim=True)
    source_std = source_y.std(dim=(2, 3), keepdim=True, unbiased=False)
    target_mean = target_y.mean(dim=(2, 3), keepdim=True)
    target_std = target_y.std(dim=(2, 3), keepdim=True, unbiased=False)
    matched_y = (source_y - source_mean) * (target_std / (source_std + eps)) + target_mean
    matched = torch.cat([matched_y, source_yiq[:, 1:]], dim=1)
    return yiq_to_rgb(matched).clamp(0, 1).to(source.dtype)


def match_color(source: torch.Tensor, target: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """Recolour ``source`` so its pixel colours have ``target``'s mean and covariance.

    The colour histogram matching of Gatys et al. 2017 (from Hertzmann's Image Analogies):
    ``x' = A (x - μ_s) + μ_t`` with ``A = Σ_t^½ Σ_s^-½``, symmetric square roots by
    eigendecomposition, so ``A Σ_s Aᵀ = Σ_t``. In colour preservation, ``source`` is the style
    image and ``target`` the content photo.

    Args:
        source: ``(B, 3, H, W)`` RGB in ``[0, 1]``.
        target: ``(B or 1, 3, H', W')`` RGB in ``[0, 1]``; any size.
        eps: added to ``Σ_s``'s eigenvalues before inverting, so flat or grey sources (singular
            covariance) give finite results.

    Returns:
        ``(B, 3, H, W)`` RGB clamped to ``[0, 1]``, in ``source``'s dtype.

    Example:
        >>> flat = torch.full((1, 3, 4, 4), 0.2)
        >>> bool(match_color(flat, torch.rand(1, 3, 8, 8)).std(dim=(2, 3)).max() < 1e-6)  # stays flat, at μ_t
        True
    """
    input_dtype, dtype = source.dtype, _work_dtype(source)
    source = source.to(dtype)
    source_mean, source_cov = channel_mean_cov(source)
    target_mean, target_cov = channel_mean_cov(target.to(dtype))
    # 3x3 eigendecompositions in float64: cheap, and exact enough for near-singular matrices.
    regularized = source_cov.double() + eps * torch.eye(3, dtype=torch.float64, device=source.device)
    transform = symmetric_matrix_power(target_cov.double(), 0.5) @ symmetric_matrix_power(regularized, -0.5)
    centred = source - source_mean[..., None, None]
    recoloured = torch.einsum("bij,bjhw->bihw", transform.to(dtype), centred) + target_mean[..., None, None]
    return recoloured.clamp(0, 1).to(input_dtype)


def grey(image: torch.Tensor) -> torch.Tensor:
    """``(B, 3, H, W)`` RGB → the same shape with every channel set to the luminance."""
    return luminance(image).expand_as(image).contiguous()


def finish_stylized(stylized: torch.Tensor, content: torch.Tensor, strength: float, preserve_color: Optional[str]) -> torch.Tensor:
    """Colour preservation, then the pixel-space blend with the photo.

    Args:
        stylized, content: ``(B, 3, H, W)`` in ``[0, 1]``, same size.

    Returns:
        ``(B, 3, H, W)`` in ``[0, 1]``.
    """
    if preserve_color == "luminance":
        stylized = transfer_luminance(stylized, content)
    elif preserve_color == "histogram":
        stylized = match_color(stylized, content)
    if strength < 1:
        stylized = torch.lerp(content, stylized, strength)
    return stylized.clamp(0, 1)
