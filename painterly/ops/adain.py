"""Feature-space style operations for arbitrary style transfer: AdaIN, WCT, blends, masks, strength.

Adaptive instance normalization (Huang & Belongie 2017) gives content features the per-channel
mean and standard deviation of a style's features; whitening-colouring (Li et al. 2017) gives
them the style's whole channel covariance. Both act on encoder features ``(B, C, H, W)``; the
decoder turns the result back into an image. Several styles blend by weight, a mask picks a
style by region, and a strength below 1 moves the target back towards the content features.
"""

from __future__ import annotations

from typing import Optional, Sequence

import torch
import torch.nn.functional as F

from painterly.errors import PainterlyError
from painterly.ops.stats import channel_mean_cov, mean_std, symmetric_matrix_power


def masked_mean_std(
    features: torch.Tensor, mask: Optional[torch.Tensor] = None, eps: float = 1e-5
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel mean and standard deviation over the positions a mask selects.

    Args:
        features: ``(B, C, H, W)``.
        mask: ``(B or 1, 1, H, W)`` weights in ``[0, 1]``, or ``None`` for every position.
        eps: added to the variance.

    Returns:
        ``(B, C)`` means and ``(B, C)`` standard deviations, in float32 (float64 stays float64).
    """
    if mask is None:
        return mean_std(features, eps)
    values = features if features.dtype == torch.float64 else features.float()
    weights = mask.to(values.dtype)
    total = weights.sum(dim=(2, 3)).clamp_min(eps)
    mean = (values * weights).sum(dim=(2, 3)) / total
    variance = ((values - mean[..., None, None]) ** 2 * weights).sum(dim=(2, 3)) / total
    return mean, (variance + eps).sqrt()


def adain(
    content_feats: torch.Tensor,
    style_feats: torch.Tensor,
    eps: float = 1e-5,
    content_mask: Optional[torch.Tensor] = None,
) -> torch.Tensor:
    """Adaptive instance normalization: the content features with the style's channel statistics.

    Args:
        content_feats: ``(B, C, H, W)``.
        style_feats: ``(B or 1, C, H', W')``; any spatial size.
        eps: added to both variances.
        content_mask: ``(B or 1, 1, H, W)``: take the content's statistics only where it is set,
            so a region is restyled by its own statistics (the paper's spatial control).

    Returns:
        ``(B, C, H, W)`` in the content's dtype, whose per-channel mean and std (over the masked
        positions) are the style's.

    Example:
        >>> out = adain(torch.randn(1, 4, 8, 8), 3 + 2 * torch.randn(1, 4, 16, 16))
        >>> out.mean(dim=(2, 3)).round()
        tensor([[3., 3., 3., 3.]])
    """
    style_mean, style_std = mean_std(style_feats, eps)
    return adain_to_statistics(content_feats, style_mean, style_std, eps, content_mask)


def adain_to_statistics(
    content_feats: torch.Tensor,
    style_mean: torch.Tensor,
    style_std: torch.Tensor,
    eps: float = 1e-5,
    content_mask: Optional[torch.Tensor] = None,
) -> torch.Tensor:
    """:func:`adain` with the style given by its statistics ``(B or 1, C)`` mean and std (stored styles, export)."""
    content_mean, content_std = masked_mean_std(content_feats, content_mask, eps)
    scale = (style_std / content_std)[..., None, None]
    shift = (style_mean - content_mean * style_std / content_std)[..., None, None]
    return (content_feats.float() * scale + shift).to(content_feats.dtype)


def wct(content: torch.Tensor, style: torch.Tensor, alpha: float = 1.0, eps: float = 1e-5) -> torch.Tensor:
    """Whitening and colouring transform: the content features with the style's mean and covariance.

    Computed in float64 (eigendecompositions of ``C × C`` covariances), so it suits the
    relu4_1 features of one image at a time rather than training batches.

    Args:
        content: ``(B, C, H, W)``; ``H · W`` should exceed ``C`` for an exact whitening.
        style: ``(B or 1, C, H', W')``.
        alpha: strength: ``alpha · wct + (1 − alpha) · content``.
        eps: ridge added to the content covariance before it is inverted.

    Returns:
        ``(B, C, H, W)`` in the content's dtype.
    """
    batch, channels, height, width = content.shape
    flat = content.double().reshape(batch, channels, height * width)
    content_mean, content_cov = channel_mean_cov(content.double())
    style_mean, style_cov = channel_mean_cov(style.double())
    identity = torch.eye(channels, dtype=torch.float64, device=content.device)
    whiten = symmetric_matrix_power(content_cov + eps * identity, -0.5)
    colour = symmetric_matrix_power(style_cov, 0.5)
    coloured = colour @ whiten @ (flat - content_mean.unsqueeze(2)) + style_mean.unsqueeze(2)
    result = coloured.reshape(batch, channels, height, width)
    return apply_strength(content.double(), result, alpha).to(content.dtype)


def blend_styles(targets: Sequence[torch.Tensor], weights: Optional[Sequence[float]] = None) -> torch.Tensor:
    """Weighted average of several styles' targets for the same content.

    Args:
        targets: ``K`` tensors ``(B, C, H, W)`` (e.g. :func:`adain` of one content with ``K`` styles).
        weights: ``K`` weights ≥ 0, normalized to sum to 1 (``None``: equal weights).

    Returns:
        ``(B, C, H, W)``.
    """
    if not targets:
        raise PainterlyError("no style given: pass at least one style image")
    weights = [1.0] * len(targets) if weights is None else [float(weight) for weight in weights]
    if len(weights) != len(targets):
        raise PainterlyError(f"{len(targets)} styles but {len(weights)} weights: give one weight per style")
    if min(weights) < 0 or sum(weights) <= 0:
        raise PainterlyError(f"style weights must be 0 or more and not all 0, got {weights}")
    total = sum(weights)
    return sum(target * (weight / total) for target, weight in zip(targets, weights))  # type: ignore[return-value]


def check_mask_proportions(mask_size: tuple[int, int], image_size: tuple[int, int], tolerance: float = 0.01) -> None:
    """Refuse a mask that would be stretched to fit: its ``(H, W)`` must have the image's proportions.

    ``tolerance`` is the relative difference of the two aspect ratios allowed, plus the rounding
    of one pixel on the image's shorter side.

    Raises:
        PainterlyError: the proportions differ; the message gives both sizes and what to do.

    Example:
        >>> check_mask_proportions((300, 400), (384, 512))   # 3:4 both: fine
    """
    (mask_h, mask_w), (image_h, image_w) = mask_size, image_size
    ratio = (mask_w / mask_h) / (image_w / image_h)
    if abs(ratio - 1) > tolerance + 1 / min(image_h, image_w):
        raise PainterlyError(
            f"the mask is {mask_w}×{mask_h} but the image is {image_w}×{image_h} (other proportions), so the mask would be "
            f"stretched: crop or pad the mask to the photo's proportions (or draw it on a copy of the photo)"
        )


def resize_mask(mask: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """A mask at another resolution, kept soft at region borders.

    Args:
        mask: ``(B, 1, H, W)`` or ``(H, W)`` in ``[0, 1]``.
        size: ``(h, w)`` wanted.

    Returns:
        ``(B, 1, h, w)`` float32 in ``[0, 1]`` (area averaging when shrinking).
    """
    if mask.dim() == 2:
        mask = mask[None, None]
    if mask.dim() != 4 or mask.shape[1] != 1:
        raise PainterlyError(f"a mask must be (H, W) or (B, 1, H, W), got shape {tuple(mask.shape)}")
    mask = mask.float()
    if tuple(mask.shape[-2:]) == tuple(size):
        return mask
    shrinking = size[0] <= mask.shape[-2] and size[1] <= mask.shape[-1]
    mode = "area" if shrinking else "bilinear"
    resized = F.interpolate(mask, size=size, mode=mode, **({} if shrinking else {"align_corners": False}))
    return resized.clamp(0, 1)


def masked_targets(inside: torch.Tensor, outside: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """One target from two: ``inside`` where the mask is 1, ``outside`` where it is 0.

    Args:
        inside, outside: ``(B, C, H, W)`` targets (``outside`` may be the content features, to
            leave that region unstyled).
        mask: ``(B or 1, 1, H, W)`` in ``[0, 1]`` (see :func:`resize_mask`).

    Returns:
        ``(B, C, H, W)``.
    """
    weight = mask.to(inside.dtype)
    return inside * weight + outside * (1 - weight)


def apply_strength(content: torch.Tensor, target: torch.Tensor, strength: float) -> torch.Tensor:
    """Feature interpolation: ``strength · target + (1 − strength) · content``.

    Args:
        content, target: ``(B, C, H, W)``.
        strength: in ``[0, 1]``; 0 gives the content features, 1 the target.
    """
    if not 0 <= strength <= 1:
        raise PainterlyError(f"strength must be between 0 and 1, got {strength}")
    if strength == 1:
        return target
    return torch.lerp(content.to(target.dtype), target, strength)
