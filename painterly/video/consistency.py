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


def blend_with_previous(stylized: torch.Tensor, warped_previous: torch.Tensor, mask: torch.Tensor, strength: float) -> torch.Tensor:
    """Blend a new stylized frame with the previous one carried along the flow.

    ``out = stylized + strength · mask · (warped_previous − stylized)``: where the flow is
    reliable, a share ``strength`` of the previous output is kept; in occluded or newly
    visible regions the new frame is used as it is. ``strength = 0`` gives plain per-frame
    output. The flicker between frames (the warping error) shrinks by ``(1 − strength)²``.

    Args:
        stylized, warped_previous: ``(B, 3, H, W)`` in ``[0, 1]``.
        mask: ``(B, 1, H, W)`` in ``[0, 1]``.
        strength: in ``[0, 1]``.

    Returns:
        ``(B, 3, H, W)`` in ``[0, 1]``.
    """
    if not 0 <= strength <= 1:
        raise PainterlyError(f"consistency strength must be between 0 and 1, got {strength}")
    return torch.lerp(stylized, warped_previous, strength * mask).clamp(0, 1)


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
