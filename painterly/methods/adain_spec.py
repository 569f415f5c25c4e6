"""The adain method's spec: its options (:class:`AdaINConfig`), its memory estimate and how it is built,
importable without torch (the command line builds its options from them). The method itself is
:mod:`painterly.methods.adain`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Optional, Union

from PIL import Image

from painterly.devices import PRECISIONS
from painterly.errors import PainterlyError
from painterly.inference.tiling import fits_one_tile, largest_tile
from painterly.methods.spec import MethodSpec, lazy, value_bytes
from painterly.models.shapes import ADAIN_SIZE_MULTIPLE as SIZE_MULTIPLE
from painterly.models.shapes import ADAIN_TRANSFORMS as TRANSFORMS
from painterly.ops.colorspace import PRESERVE_COLOR_MODES
from painterly.options import check_limits, limits

#: A mask: a file, a PIL image, or a ``(H, W)`` torch tensor in ``[0, 1]`` (``Any`` here, which imports no torch).
MaskSource = Union[str, Path, Image.Image, Any]

#: Longest side a painting is encoded at by default. Past it the painting is only enlarged, which
#: blurs its strokes: on an 8000 px panorama the style went murky (and took 13 GB), on a 12 MP photo
#: it almost vanished, while a 2048 px photo painted with a 1024 px painting keeps its palette and strokes.
STYLE_WORKING_SIZE = 1024


def painting_size(long_side: int, painting_long_side: int, style_scale: float = 1.0) -> int:
    """Long side to encode a painting at for an image of long side ``long_side``: the image's,
    but never above :data:`STYLE_WORKING_SIZE` nor the painting's own, times ``style_scale``.

    Example:
        >>> painting_size(512, 960), painting_size(8000, 960), painting_size(8000, 3000), painting_size(512, 960, 2.0)
        (512, 960, 1024, 1024)
    """
    return max(16, round(min(long_side, STYLE_WORKING_SIZE, painting_long_side) * style_scale))


@dataclass
class AdaINConfig:
    """Options of the adain method.

    Attributes:
        decoder: a decoder file or installed name (default: the shipped decoder).
        strength: 0 gives the photo, 1 the full style (interpolated in feature space).
        preserve_color: ``None``, ``"luminance"`` or ``"histogram"``, as for the fast method.
        size: long side of the output in pixels (``None``: the input's size).
        style_size: long side each painting is resized to before encoding (``None``: the long
            side of the image being painted, as the optimization method and ``painterly evaluate``
            see it, but at most 1024 px and never above the painting's own, times ``style_scale``;
            see :func:`painting_size`).
        style_scale: size of the painting's strokes relative to that default (with
            ``style_size`` unset); 2 gives strokes twice as large.
        mask: an image (path or PIL, white = 1) or a tensor ``(H, W)`` in ``[0, 1]``: the first
            style inside, the others (or the photo) outside.
        invert_mask: swap the inside and the outside of the mask.
        transform: ``adain`` (channel mean/std) or ``wct`` (whole covariance, slower).
        precision: ``auto`` (bf16 where the hardware runs it fast), ``bf16`` or ``fp32``.
        work_scale: encoder and decoder run at this fraction of the image's size and the result
            is upsampled (bicubic): 0.5 is about 3–4× faster, with softer fine detail.
        channels_last: channels-last memory layout (measured 1.5× faster in bf16 on a CPU).
        tile_size: images of more than ``tile_size²`` pixels are encoded and decoded in overlapping
            tiles (the AdaIN statistics still come from the whole image), so memory stays bounded.
        tile_overlap: pixels by which neighbouring tiles overlap (a multiple of 8).
    """

    decoder: Optional[str] = None
    strength: float = field(default=1.0, metadata=limits(0, 1))
    preserve_color: Optional[str] = field(default=None, metadata=limits(choices=PRESERVE_COLOR_MODES, label="colour mode"))
    size: Optional[int] = field(default=None, metadata=limits(16))
    style_size: Optional[int] = field(default=None, metadata=limits(16, label="style size"))
    style_scale: float = field(default=1.0, metadata=limits(0.1, 4))
    mask: Optional[MaskSource] = None
    invert_mask: bool = False
    transform: str = field(default="adain", metadata=limits(choices=TRANSFORMS, label="feature transform"))
    precision: str = field(default="auto", metadata=limits(choices=PRECISIONS))
    work_scale: float = field(default=1.0, metadata=limits(0.1, 1))
    channels_last: bool = True
    tile_size: int = field(default=1024, metadata=limits(64, label="tile size"))
    tile_overlap: int = 64

    def validate(self) -> "AdaINConfig":
        check_limits(self, "the adain method")
        if not 0 <= self.tile_overlap <= self.tile_size // 2:
            raise PainterlyError(
                f"tile overlap {self.tile_overlap} does not work with tiles of {self.tile_size}: use at most half the tile size"
            )
        return self

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["mask"] = None if self.mask is None else str(self.mask) if isinstance(self.mask, (str, Path)) else "<image>"
        return data


#: Peak memory of the adain method, measured with ``/usr/bin/time -v`` (see docs/methods.md): the
#: process with PyTorch, the encoder and the decoder loaded, painting a 64 px photo (308 MB measured).
ADAIN_BASE_BYTES = 330 * 2**20
#: Per pixel encoded and decoded at once (the image, a tile, or a painting), by compute dtype size:
#: 1024×768 measured about 340 B/px in bf16, whole-image buffers included; fp32 scaled as measured for fast.
ADAIN_NETWORK_BYTES = {4: 460, 2: 260}
#: Per pixel of the whole image, tiled or not: input, output, the relu4_1 map and its AdaIN target
#: (1/64 of the pixels, 512 channels), 8-bit copies (4000×3000 tiled measured 1.51 GB in bf16).
ADAIN_IMAGE_BYTES = 100


def adain_memory(config: AdaINConfig, width: int, height: int, dtype: Any, batch: int = 1) -> int:
    """Estimated peak memory in bytes of the adain method painting ``batch`` images of ``width × height``.

    ``dtype`` is the compute dtype or its size in bytes (see :func:`painterly.methods.spec.value_bytes`).
    The network runs at ``work_scale`` of the size, in tiles above ``tile_size²`` pixels; each painting is
    encoded at most at 1024 px (or ``style_size``) times ``style_scale``.

    Example:
        >>> round(adain_memory(AdaINConfig(), 4000, 3000, 2) / 2**30, 1)
        1.6
    """
    net_width, net_height = max(1, round(width * config.work_scale)), max(1, round(height * config.work_scale))
    if not fits_one_tile(net_height, net_width, config.tile_size):
        overlap = max(SIZE_MULTIPLE, config.tile_overlap // SIZE_MULTIPLE * SIZE_MULTIPLE)
        at_once = batch * largest_tile(net_width, net_height, config.tile_size, overlap, SIZE_MULTIPLE)
    else:
        at_once = batch * net_width * net_height
    painting_side = config.style_size or round(min(max(net_width, net_height), STYLE_WORKING_SIZE) * config.style_scale)
    at_once = max(at_once, painting_side * painting_side * 3 // 4)  # a painting of 4:3 proportions
    per_pixel = ADAIN_NETWORK_BYTES[4 if value_bytes(dtype) >= 4 else 2]
    return ADAIN_BASE_BYTES + per_pixel * at_once + ADAIN_IMAGE_BYTES * batch * width * height


SPEC = MethodSpec(
    name="adain",
    summary="any painting in one pass through a trained AdaIN decoder (seconds on a CPU; --decoder FILE or the shipped one)",
    config=AdaINConfig,
    build=lazy("painterly.methods.adain:build_stylizer"),
    options=("decoder", "size", "strength", "style_scale", "preserve_color", "precision", "work_scale", "mask", "invert_mask"),
    needs_painting=True,
    takes_model=True,
    model_option="decoder",
    needs_features=True,
    label="AdaIN, any painting",
    kind="fast",
    aliases=("arbitrary",),
    memory=adain_memory,
)
