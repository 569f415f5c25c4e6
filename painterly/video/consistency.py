"""Temporal consistency: blending with the warped previous output, and measuring flicker.

Frame-by-frame stylization flickers because each frame's strokes land somewhere new. Carrying
the previous stylized frame along the optical flow of the input video and blending it in where
the flow is reliable keeps the painting attached to the scene (the approach of Ruder et al. 2016
and ReCoNet, Gao et al. 2018, without retraining the network). The same warp measures the
result: the temporal warping error between consecutive stylized frames.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from painterly.errors import PainterlyError
from painterly.evaluate.metrics import temporal_warping_error
from painterly.video.flow import warp


@dataclass
class Guidance:
    """What a frame stylizer may use to stay consistent with the previous output.

    Attributes:
        warped: ``(1, 3, H, W)`` the previous stylized frame warped onto this frame, in ``[0, 1]``.
        mask: ``(1, 1, H, W)`` in ``[0, 1]``: 1 where ``warped`` is reliable (not occluded).
        strength: the consistency strength asked for, in ``[0, 1]``.
    """

    warped: torch.Tensor
    mask: torch.Tensor
    strength: float


#: Side in pixels of the cells in which :func:`restore_detail` matches stroke contrast.
DETAIL_CELL = 4


def blend_with_previous(
    stylized: torch.Tensor,
    warped_previous: torch.Tensor,
    mask: torch.Tensor,
    strength: float,
    detail_cell: int = DETAIL_CELL,
) -> torch.Tensor:
    """Blend a new stylized frame with the previous one carried along the flow.

    ``blend = stylized + strength · mask · (warped_previous − stylized)``: where the flow is
    reliable, a share ``strength`` of the previous output is kept; in occluded or newly
    visible regions the new frame is used as it is. ``strength = 0`` gives plain per-frame
    output. The flicker between frames (the warping error) shrinks by ``(1 − strength)²``.

    Averaging two frames whose strokes do not line up also washes the strokes out (mixing two
    unrelated textures 0.3/0.7 keeps 76 % of their contrast): on Big Buck Bunny the style loss
    of starry-night rose 22 %. So the blend's fine detail is then given back the local contrast of
    the new frame (:func:`restore_detail`, ``detail_cell > 0``), which brought it to −5 %…+0 %.

    Args:
        stylized, warped_previous: ``(B, 3, H, W)`` in ``[0, 1]``.
        mask: ``(B, 1, H, W)`` in ``[0, 1]``.
        strength: in ``[0, 1]``.
        detail_cell: cell size of the contrast restoration in pixels; 0 = a plain linear blend.

    Returns:
        ``(B, 3, H, W)`` in ``[0, 1]``.
    """
    if not 0 <= strength <= 1:
        raise PainterlyError(f"consistency strength must be between 0 and 1, got {strength}")
    blended = torch.lerp(stylized, warped_previous, strength * mask)
    if detail_cell > 0 and strength > 0:
        blended = restore_detail(blended, stylized, detail_cell)
    return blended.clamp(0, 1)


def box_blur(image: torch.Tensor, radius: int) -> torch.Tensor:
    """``(B, C, H, W)`` → the mean over the ``(2r+1)²`` window around each pixel (edges replicated)."""
    size, channels = 2 * radius + 1, image.shape[1]
    weight = torch.full((channels, 1, 1, size), 1 / size, dtype=image.dtype, device=image.device)
    # Two depthwise 1-D convolutions, channels-last: 9× faster on a CPU than avg_pool2d with stride 1.
    padded = F.pad(image, (radius, radius, radius, radius), mode="replicate").contiguous(memory_format=torch.channels_last)
    rows = F.conv2d(padded, weight, groups=channels)
    return F.conv2d(rows, weight.transpose(2, 3), groups=channels).contiguous()


def restore_detail(blended: torch.Tensor, reference: torch.Tensor, cell: int, max_gain: float = 2.0) -> torch.Tensor:
    """Scale ``blended``'s fine detail up to the local contrast of ``reference`` (never down).

    Detail is what a ``cell``-pixel low-pass (the mean of each cell, upsampled bilinearly) leaves
    out; its gain is ``sqrt(variance of reference / variance of blended)`` in each cell (smoothed
    over 3×3 cells), measured on luma (one gain for the three channels, so colours do not shift)
    and clamped to ``[1, max_gain]``. Where the two frames agree (or the mask kept the new frame)
    the gain is 1, so the carried frame never sharpens itself frame after frame. The same idea as
    variance-preserving blending of textures (Heitz & Neyret 2018), made local; on cells, so that
    it costs a few passes over a frame (memory, not arithmetic, bounds it on a CPU).

    Args:
        blended, reference: ``(B, 3, H, W)`` RGB.
        cell: side of the cells in pixels (detail is finer than this).

    Returns:
        ``(B, 3, H, W)``, not clamped.
    """
    size = blended.shape[-2:]
    luma = torch.cat([_luma(reference), _luma(blended)], 1)
    moments = _cell_means(torch.cat([luma, luma.square()], 1), cell)
    variances = box_blur((moments[:, 2:] - moments[:, :2].square()).clamp_min(0), 1)
    gain = (variances[:, :1] / variances[:, 1:].clamp_min(1e-8)).sqrt().clamp(1.0, max_gain)
    low = F.interpolate(_cell_means(blended, cell), size=size, mode="bilinear", align_corners=False)
    return torch.lerp(low, blended, F.interpolate(gain, size=size, mode="bilinear", align_corners=False))


def _cell_means(image: torch.Tensor, cell: int) -> torch.Tensor:
    """``(B, C, H, W)`` → the mean of each ``cell × cell`` block (a partial block at the edge counts too)."""
    return F.avg_pool2d(image, cell, stride=cell, ceil_mode=True)


def _luma(image: torch.Tensor) -> torch.Tensor:
    """``(B, 3, H, W)`` RGB → ``(B, 1, H, W)`` Rec. 601 luma."""
    red, green, blue = image.unbind(1)
    return (0.299 * red + 0.587 * green + 0.114 * blue).unsqueeze(1)


def pair_warping_error(stylized: torch.Tensor, warped_previous: torch.Tensor, mask: torch.Tensor) -> tuple[float, float]:
    """The warping error of one frame pair, and its weight (the reliable pixels) for averaging.

    Args:
        stylized: ``(1, 3, H, W)`` stylized frame ``t``.
        warped_previous: ``(1, 3, H, W)`` stylized frame ``t − 1`` warped onto frame ``t`` by the
            flow of the *input* frames (see :func:`painterly.video.flow.warp`).
        mask: ``(1, 1, H, W)`` reliable pixels.

    Returns:
        ``(error, weight)``: the mean masked squared difference and ``mask.sum()``; the error of
        several pairs is ``Σ error · weight / Σ weight``.
    """
    error = temporal_warping_error(stylized, warped_previous, mask)
    return float(error), float(mask.sum())


def warping_error(frames: torch.Tensor, flows: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    """Mean temporal warping error of a stylized clip.

    Each stylized frame ``t ≥ 1`` is compared with stylized frame ``t − 1`` warped onto it by
    the flow of the *input* frames, over the reliable pixels (see
    :func:`painterly.evaluate.metrics.temporal_warping_error`).

    Args:
        frames: ``(T, 3, H, W)`` stylized frames in ``[0, 1]``.
        flows: ``(T − 1, 2, H, W)``; ``flows[t − 1]`` is the input flow from frame ``t`` to ``t − 1``.
        masks: ``(T − 1, 1, H, W)`` in ``[0, 1]``, 1 where that flow is reliable.

    Returns:
        A scalar ``≥ 0``; lower is steadier.
    """
    if frames.shape[0] < 2:
        raise PainterlyError("the warping error needs at least two frames")
    return temporal_warping_error(frames[1:], warp(frames[:-1], flows), masks)
