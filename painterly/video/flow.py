"""Dense optical flow between frames, warping along it, and where it can be trusted.

Flow convention: a flow ``(B, 2, H, W)`` from frame ``a`` to frame ``b`` holds, for every pixel
``x`` of ``a``, the displacement ``(dx, dy)`` in pixels such that ``a(x) ≈ b(x + flow(x))``. To
bring the previous frame onto the current one, estimate the flow from the current frame to the
previous one (the *backward* flow) and :func:`warp` the previous frame with it.

The flow itself comes from OpenCV's DIS (Kroeger et al. 2016), fast enough for every frame on a
CPU; warping and the occlusion test are pure tensor functions.
"""

from __future__ import annotations

from typing import Optional

import numpy as np
import torch
import torch.nn.functional as F

from painterly.errors import PainterlyError

#: DIS presets by name, fastest first (``"fast"`` runs at ~30 ms per 480p frame on one core).
FLOW_PRESETS = ("ultrafast", "fast", "medium")


def _grey_uint8(image: torch.Tensor) -> np.ndarray:
    """``(1, 3, H, W)`` RGB in ``[0, 1]`` → ``(H, W)`` uint8 luma, what DIS works on."""
    import cv2

    rgb = image[0].detach().float().clamp(0, 1).mul(255).round().to(torch.uint8).permute(1, 2, 0).cpu().numpy()
    return cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2GRAY)


#: OpenCV's DIS crashes the process (segmentation fault) on frames less than this many pixels
#: high (e.g. 20–30 px with the fast presets), such as a wide clip shrunk for the flow.
MIN_FLOW_SIDE = 32


def _calc_flow(dis, source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """``dis.calc`` on two ``(H, W)`` uint8 frames, padded (edge pixels repeated) to at least
    :data:`MIN_FLOW_SIDE` on each side and cropped back: an ``(H, W, 2)`` float32 flow."""
    import cv2

    height, width = source.shape[:2]
    pad_y, pad_x = max(0, MIN_FLOW_SIDE - height), max(0, MIN_FLOW_SIDE - width)
    if pad_y or pad_x:
        source, target = (cv2.copyMakeBorder(frame, 0, pad_y, 0, pad_x, cv2.BORDER_REPLICATE) for frame in (source, target))
    return dis.calc(source, target, None)[:height, :width]


def _dis(preset: str):
    """An OpenCV DIS flow estimator for ``preset``."""
    import cv2

    if preset not in FLOW_PRESETS:
        raise PainterlyError(f"unknown flow preset {preset!r}: use one of {', '.join(FLOW_PRESETS)}")
    codes = {
        "ultrafast": cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST,
        "fast": cv2.DISOPTICAL_FLOW_PRESET_FAST,
        "medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM,
    }
    return cv2.DISOpticalFlow_create(codes[preset])


def _check_pair(source: torch.Tensor, target: torch.Tensor) -> None:
    if source.shape != target.shape or source.dim() != 4 or source.shape[:2] != (1, 3):
        raise PainterlyError(f"flow needs two (1, 3, H, W) frames of one size, got {tuple(source.shape)} and {tuple(target.shape)}")


def _to_tensor(flow: np.ndarray, device: torch.device) -> torch.Tensor:
    """OpenCV's ``(H, W, 2)`` flow → ``(1, 2, H, W)``."""
    return torch.from_numpy(flow).permute(2, 0, 1).unsqueeze(0).contiguous().to(device)


def estimate_flow(source: torch.Tensor, target: torch.Tensor, preset: str = "fast") -> torch.Tensor:
    """Dense optical flow from ``source`` to ``target`` with OpenCV's DIS.

    Args:
        source, target: ``(1, 3, H, W)`` RGB frames in ``[0, 1]``, same size.
        preset: ``"ultrafast"``, ``"fast"`` or ``"medium"`` (slower, more accurate).

    Returns:
        ``(1, 2, H, W)`` float32 on ``source``'s device: ``source(x) ≈ target(x + flow(x))``.

    Example:
        >>> backward = estimate_flow(current, previous)      # doctest: +SKIP
        >>> previous_on_current = warp(previous, backward)   # doctest: +SKIP
    """
    _check_pair(source, target)
    flow = _calc_flow(_dis(preset), _grey_uint8(source), _grey_uint8(target))  # (H, W, 2) float32
    return _to_tensor(flow, source.device)


def shrink_for_flow(frame: torch.Tensor, max_side: Optional[int]) -> torch.Tensor:
    """``(B, C, H, W)`` shrunk (antialiased) so its long side is at most ``max_side``.

    The flow, the occlusion test and the colour test are estimated at this size: the flow of a
    480p frame is no better at full size, and the tests cost a quarter as much.
    ``None`` (or a frame already small enough) returns the frame as it is.
    """
    height, width = frame.shape[-2:]
    if max_side is None or max(height, width) <= max_side:
        return frame
    scale = max_side / max(height, width)
    size = (max(8, round(height * scale)), max(8, round(width * scale)))
    return F.interpolate(frame, size=size, mode="bilinear", antialias=True, align_corners=False)


def resize_flow(flow: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """A ``(B, 2, h, w)`` flow resampled to ``size = (H, W)``, its displacements rescaled to match.

    Returns:
        ``(B, 2, H, W)``, bilinear (the flow of the same motion measured in the larger frame's pixels).
    """
    height, width = flow.shape[-2:]
    if (height, width) == tuple(size):
        return flow
    factors = torch.tensor([size[1] / width, size[0] / height], dtype=flow.dtype, device=flow.device).view(1, 2, 1, 1)
    return F.interpolate(flow, size=size, mode="bilinear", align_corners=False) * factors


def estimate_flows(
    current: torch.Tensor, previous: torch.Tensor, preset: str = "fast", max_side: Optional[int] = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Both flows between two frames: ``(backward, forward)`` = (current → previous, previous → current).

    Args:
        current, previous: ``(1, 3, H, W)`` RGB frames in ``[0, 1]``, same size.
        preset: as for :func:`estimate_flow`.
        max_side: estimate on frames shrunk to this long side (:func:`shrink_for_flow`), then
            scale the flows back up (several times faster on large frames; ``None``: full size).

    Returns:
        Two ``(1, 2, H, W)`` flows, as :func:`estimate_flow` gives them (each frame converted once).
    """
    _check_pair(current, previous)
    dis = _dis(preset)
    size = tuple(current.shape[-2:])
    grey_current = _grey_uint8(shrink_for_flow(current, max_side))
    grey_previous = _grey_uint8(shrink_for_flow(previous, max_side))
    flows = []
    for source, target in ((grey_current, grey_previous), (grey_previous, grey_current)):
        flow = _to_tensor(_calc_flow(dis, source, target), current.device)
        flows.append(resize_flow(flow, size))  # type: ignore[arg-type]
    return flows[0], flows[1]


def _sample_points(flow: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Pixel coordinates ``x + flow(x)``: two ``(B, H, W)`` tensors (x, y)."""
    _, _, height, width = flow.shape
    ys = torch.arange(height, device=flow.device, dtype=flow.dtype).view(1, height, 1)
    xs = torch.arange(width, device=flow.device, dtype=flow.dtype).view(1, 1, width)
    return xs + flow[:, 0], ys + flow[:, 1]


def warp(image: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """Sample ``image`` at ``x + flow(x)`` (bilinear; outside the frame the border is repeated).

    Args:
        image: ``(B, C, H, W)``.
        flow: ``(B, 2, H, W)`` displacements in pixels, ``(dx, dy)``.

    Returns:
        ``(B, C, H, W)``: ``out(x) = image(x + flow(x))``.

    Example:
        >>> shift = torch.zeros(1, 2, 4, 4); shift[:, 0] = 1    # look one pixel to the right
        >>> warp(torch.arange(16.).view(1, 1, 4, 4), shift)[0, 0, 0].tolist()
        [1.0, 2.0, 3.0, 3.0]
    """
    if flow.dim() != 4 or flow.shape[1] != 2 or image.shape[-2:] != flow.shape[-2:] or image.shape[0] != flow.shape[0]:
        raise PainterlyError(f"warp needs an image (B, C, H, W) and a flow (B, 2, H, W), got {tuple(image.shape)} and {tuple(flow.shape)}")
    _, _, height, width = flow.shape
    x, y = _sample_points(flow.to(image.dtype))
    grid = torch.stack((2 * x / max(width - 1, 1) - 1, 2 * y / max(height - 1, 1) - 1), dim=-1)
    return F.grid_sample(image, grid, mode="bilinear", padding_mode="border", align_corners=True)


def inside_mask(flow: torch.Tensor) -> torch.Tensor:
    """``(B, 2, H, W)`` flow → ``(B, 1, H, W)`` float: 1 where ``x + flow(x)`` lands inside the frame."""
    _, _, height, width = flow.shape
    x, y = _sample_points(flow)
    inside = (x >= 0) & (x <= width - 1) & (y >= 0) & (y <= height - 1)
    return inside.unsqueeze(1).to(flow.dtype)


def occlusion_mask(backward: torch.Tensor, forward: torch.Tensor, relative: float = 0.01, absolute: float = 0.5) -> torch.Tensor:
    """Forward–backward consistency check (Sundaram et al. 2010, as in Ruder et al. 2016).

    A pixel ``x`` of the current frame is trusted when following the backward flow to the
    previous frame and the forward flow back returns to ``x``:
    ``|b + f̃|² ≤ relative · (|b|² + |f̃|²) + absolute`` with ``f̃ = warp(forward, backward)``,
    and when ``x + b(x)`` lies inside the frame. Pixels that were hidden in the previous frame
    (disocclusions) fail the test.

    Args:
        backward: ``(B, 2, H, W)`` flow from the current frame to the previous one.
        forward: ``(B, 2, H, W)`` flow from the previous frame to the current one.

    Returns:
        ``(B, 1, H, W)`` float, 1 where the warped previous frame is reliable, else 0.
    """
    forward_at = warp(forward, backward)
    mismatch = (backward + forward_at).pow(2).sum(1, keepdim=True)
    bound = relative * (backward.pow(2).sum(1, keepdim=True) + forward_at.pow(2).sum(1, keepdim=True)) + absolute
    return (mismatch <= bound).to(backward.dtype) * inside_mask(backward)


def reliable_mask(
    current: torch.Tensor,
    warped_previous: torch.Tensor,
    backward: torch.Tensor,
    forward: torch.Tensor,
    colour_tolerance: float = 0.15,
) -> torch.Tensor:
    """Where the previous frame, warped by ``backward``, can stand in for the current one.

    The occlusion test of :func:`occlusion_mask`, and the warped *input* frame must also look
    like the current one (mean absolute RGB difference ≤ ``colour_tolerance``): this rejects
    scene cuts, flashes and flow failures that the flow check alone lets through.

    Args:
        current: ``(B, 3, H, W)`` input frame in ``[0, 1]``.
        warped_previous: ``(B, 3, H, W)`` the previous input frame warped by ``backward``.
        backward, forward: ``(B, 2, H, W)`` flows current → previous and previous → current.

    Returns:
        ``(B, 1, H, W)`` float in ``{0, 1}``.
    """
    mask = occlusion_mask(backward, forward)
    if colour_tolerance > 0:
        difference = (warped_previous - current).abs().mean(1, keepdim=True)
        mask = mask * (difference <= colour_tolerance).to(mask.dtype)
    return mask
