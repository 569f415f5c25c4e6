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
from typing import Callable, Optional

import torch

from painterly.errors import PainterlyError
from painterly.progress import Cancelled, ProgressCallback, ProgressEvent

#: A function stylizing a ``(1, 3, h, w)`` tile into ``(1, 3, h, w)``.
TileFunction = Callable[[torch.Tensor], torch.Tensor]


def tile_ranges(length: int, tile_size: int, overlap: int, multiple: int = 4) -> list[tuple[int, int]]:
    """``[(start, end)]`` covering ``range(length)`` with tiles of about ``tile_size`` overlapping by ≥ ``overlap``.

    Starts are multiples of ``multiple``; the last tile runs to the end (up to ``multiple - 1``
    pixels longer than ``tile_size``).

    Example:
        >>> tile_ranges(100, 48, 16)
        [(0, 48), (28, 76), (52, 100)]
    """
    if tile_size < 2 * multiple or overlap < 0 or overlap >= tile_size:
        raise PainterlyError(
            f"tile size {tile_size} with overlap {overlap} does not work: use a tile size of at least "
            f"{2 * multiple} and an overlap smaller than it"
        )
    if length <= tile_size:
        return [(0, length)]
    longest_stride = max(multiple, (tile_size - overlap) // multiple * multiple)
    last = (length - tile_size) // multiple * multiple
    if last == 0:
        return [(0, length)]
    count = math.ceil(last / longest_stride) + 1
    # Spread the tiles evenly rather than leaving a sliver of a last tile.
    stride = math.ceil(math.ceil(last / (count - 1)) / multiple) * multiple
    starts = [min(index * stride, last) for index in range(count)]
    return [(start, start + tile_size) for start in starts[:-1]] + [(last, length)]


def blend_weights(length: int, fade_in: int, fade_out: int) -> torch.Tensor:
    """``(length,)`` weights rising over the first ``fade_in`` and falling over the last ``fade_out`` samples.

    Cosine ramps, strictly positive, so every pixel keeps some weight.
    """
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
    progress: Optional[ProgressCallback] = None,
) -> torch.Tensor:
    """Apply ``function`` to ``image`` ``(1, 3, H, W)`` tile by tile and blend the tiles.

    Returns:
        ``(1, 3, H, W)`` float32 on ``image``'s device; ``function(image)`` itself when the image
        fits in one tile.
    """
    height, width = image.shape[-2:]
    rows = tile_ranges(height, tile_size, tile_overlap, multiple)
    columns = tile_ranges(width, tile_size, tile_overlap, multiple)
    if len(rows) == 1 and len(columns) == 1:
        return function(image).float()
    output = torch.zeros(1, 3, height, width, device=image.device)
    total_weight = torch.zeros(1, 1, height, width, device=image.device)
    count, done = len(rows) * len(columns), 0
    for top, bottom in rows:
        row_weights = blend_weights(bottom - top, tile_overlap if top > 0 else 0, tile_overlap if bottom < height else 0)
        for left, right in columns:
            column_weights = blend_weights(
                right - left, tile_overlap if left > 0 else 0, tile_overlap if right < width else 0
            )
            weights = (row_weights[:, None] * column_weights[None, :]).to(image.device)
            tile = function(image[..., top:bottom, left:right]).float()
            output[..., top:bottom, left:right] += tile * weights
            total_weight[..., top:bottom, left:right] += weights
            done += 1
            if progress is not None and progress(ProgressEvent(step=done, total=count, stage=f"tile {done}/{count}")) is False:
                raise Cancelled(f"cancelled after tile {done} of {count}")
    return output.div_(total_weight)
