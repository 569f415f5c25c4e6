"""Stylizing images of any size in overlapping tiles, blended without seams.

A 4000×3000 photo through a full-resolution network needs gigabytes of activations; in tiles of
1024 px only the tile's activations live at once. Tiles overlap by ``tile_overlap`` pixels and
are blended with cosine ramps over the overlap, so no seam shows. Tile starts are multiples of
the network's size multiple (4), so the strided layers see the same pixel grid as they would on
the whole image: with the whole image's normalization statistics (see
:meth:`painterly.models.TransformerNet.forward_with_stats`) a tile's interior equals the untiled
result exactly.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Callable, Optional

from painterly.errors import PainterlyError
from painterly.progress import Cancelled, ProgressCallback, ProgressEvent

if TYPE_CHECKING:  # the tile arithmetic is plain; only blending tiles needs torch
    import torch

#: A function stylizing a ``(1, 3, h, w)`` tile into ``(1, 3, h, w)``.
TileFunction = Callable[["torch.Tensor"], "torch.Tensor"]


def tile_ranges(length: int, tile_size: int, overlap: int, multiple: int = 4) -> list[tuple[int, int]]:
    """``[(start, end)]`` covering ``range(length)`` with tiles of at most about ``tile_size`` overlapping by ≥ ``overlap``.

    As few tiles as fit, all of one length (shorter than ``tile_size`` where that is enough), so
    the overlapping work is no more than it must be: 4000 px in 1024-px tiles is five tiles of
    852 px (4260 px painted), not five of 1024 (5120). Starts are multiples of ``multiple``; the
    last tile runs to the end (up to ``multiple - 1`` pixels longer than the others).

    Example:
        >>> tile_ranges(100, 48, 16)
        [(0, 44), (28, 72), (56, 100)]
    """
    if tile_size < 2 * multiple or overlap < 0 or overlap > tile_size - multiple:
        raise PainterlyError(
            f"tile size {tile_size} with overlap {overlap} does not work: use a tile size of at least "
            f"{2 * multiple} and an overlap at least {multiple} pixels smaller than it"
        )
    if length <= tile_size:
        return [(0, length)]
    # Strides are multiples of ``multiple``, so a tile's usable step is at most this.
    longest_step = max(multiple, (tile_size - overlap) // multiple * multiple)
    count = math.ceil((length - overlap) / longest_step)
    # The shortest tile length (a multiple) whose evenly spread tiles still overlap enough.
    step = math.ceil((length - overlap) / count / multiple) * multiple
    while True:
        tile_length = step + overlap
        last = (length - tile_length) // multiple * multiple
        stride = math.ceil(last / (count - 1) / multiple) * multiple if count > 1 else 0
        if last <= 0:
            return [(0, length)]
        if stride <= step:
            break
        step += multiple
    starts = sorted({min(index * stride, last) for index in range(count)})
    return [(start, start + tile_length) for start in starts[:-1]] + [(last, length)]


def fits_one_tile(height: int, width: int, tile_size: int) -> bool:
    """Whether an image of ``height × width`` runs whole: at most ``tile_size²`` pixels.

    Memory follows the pixel count, not the long side, so a 1280×720 video frame (0.92 MP) or a
    panorama of the same area runs whole, without the seams and the repeated border work of tiles.
    """
    return height * width <= tile_size * tile_size


def largest_tile(width: int, height: int, tile_size: int, overlap: int, multiple: int = 4) -> int:
    """Pixels of the largest piece a ``width × height`` image is painted in: the whole image when
    it :func:`fits_one_tile`, else the largest tile :func:`stylize_tiled` cuts (what a tiled
    network holds at once).

    Example:
        >>> largest_tile(100, 40, 48, 16)
        1760
    """
    if fits_one_tile(height, width, tile_size):
        return width * height
    rows, columns = tile_ranges(height, tile_size, overlap, multiple), tile_ranges(width, tile_size, overlap, multiple)
    return max(bottom - top for top, bottom in rows) * max(right - left for left, right in columns)


def blend_weights(length: int, fade_in: int, fade_out: int) -> torch.Tensor:
    """``(length,)`` weights rising over the first ``fade_in`` and falling over the last ``fade_out`` samples.

    Cosine ramps, strictly positive, so every pixel keeps some weight.
    """
    import torch

    weights = torch.ones(length)
    for fade, reverse in ((fade_in, False), (fade_out, True)):
        fade = min(fade, length)
        if fade > 0:
            ramp = 0.5 - 0.5 * torch.cos(math.pi * (torch.arange(fade) + 0.5) / fade)
            if reverse:
                weights[length - fade :] *= ramp.flip(0)
            else:
                weights[:fade] *= ramp
    return weights


def stylize_tiled(
    function: TileFunction,
    image: torch.Tensor,
    *,
    tile_size: int = 1024,
    tile_overlap: int = 64,
    multiple: int = 4,
    scale: float = 1,
    dtype: Optional[torch.dtype] = None,
    progress: Optional[ProgressCallback] = None,
) -> torch.Tensor:
    """Apply ``function`` to ``image`` ``(B, C, H, W)`` tile by tile and blend the tiles.

    Args:
        function: maps a ``(B, C, h, w)`` tile to ``(B, C', h * scale, w * scale)``.
        scale: the output's size over the input's: 1 for image → image, 1/8 for an encoder
            that downsamples 8 times, 8 for a decoder. ``multiple * scale`` must be a whole
            number, so every tile maps onto whole output pixels.
        dtype: of the result, float32 when ``None`` (bf16 halves the memory of a large feature map; the blend
            itself is computed in float32 tile by tile).

    Returns:
        ``(B, C', H * scale, W * scale)`` in ``dtype`` on ``image``'s device; ``function(image)``
        itself (in ``dtype``) when the image fits in one tile.
    """
    import torch

    dtype = torch.float32 if dtype is None else dtype
    if multiple * scale != round(multiple * scale) or (image.shape[-2] * scale) % 1 or (image.shape[-1] * scale) % 1:
        raise PainterlyError(f"tiles of a {tuple(image.shape[-2:])} image cannot be scaled by {scale} in steps of {multiple}")
    height, width = image.shape[-2:]
    rows = tile_ranges(height, tile_size, tile_overlap, multiple)
    columns = tile_ranges(width, tile_size, tile_overlap, multiple)
    if len(rows) == 1 and len(columns) == 1:
        return function(image).to(dtype)
    out_overlap = round(tile_overlap * scale)
    out_height, out_width = round(height * scale), round(width * scale)
    output: Optional[torch.Tensor] = None
    total_weight = torch.zeros(1, 1, out_height, out_width, device=image.device)
    count, done = len(rows) * len(columns), 0
    for top, bottom in rows:
        out_top, out_bottom = round(top * scale), round(bottom * scale)
        row_weights = blend_weights(
            out_bottom - out_top, out_overlap if top > 0 else 0, out_overlap if bottom < height else 0
        )
        for left, right in columns:
            out_left, out_right = round(left * scale), round(right * scale)
            column_weights = blend_weights(
                out_right - out_left, out_overlap if left > 0 else 0, out_overlap if right < width else 0
            )
            weights = (row_weights[:, None] * column_weights[None, :]).to(image.device)
            tile = function(image[..., top:bottom, left:right]).float()
            if output is None:
                output = torch.zeros(image.shape[0], tile.shape[1], out_height, out_width, device=image.device, dtype=dtype)
            region = (..., slice(out_top, out_bottom), slice(out_left, out_right))
            # Accumulated in float32 per tile, so a bf16 result is rounded once per tile, not per add.
            output[region] = (output[region].float() + tile * weights).to(dtype)
            total_weight[region] += weights
            done += 1
            if progress is not None and progress(ProgressEvent(step=done, total=count, stage=f"tile {done}/{count}")) is False:
                raise Cancelled(f"cancelled after tile {done} of {count}")
    assert output is not None
    if dtype == torch.float32:
        return output.div_(total_weight)
    return (output.float() / total_weight).to(dtype)
