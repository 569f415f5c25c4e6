"""The fast method's spec: its options (:class:`FastConfig`), its memory estimate and how it is built,
importable without torch (the command line builds its options from them; a photo painted through
onnxruntime never loads torch, see :mod:`painterly.methods.fast_onnx`). The method itself is
:mod:`painterly.methods.feedforward`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Optional

from painterly.devices import PRECISIONS
from painterly.errors import PainterlyError
from painterly.inference.tiling import fits_one_tile, largest_tile, tile_ranges
from painterly.io.files import file_identity
from painterly.methods.spec import MethodSpec, TorchFreePath, lazy, value_bytes
from painterly.models.shapes import TRANSFORMER_SIZE_MULTIPLE as SIZE_MULTIPLE
from painterly.ops.colorspace import PRESERVE_COLOR_MODES
from painterly.options import check_limits, limits

RUNTIMES = ("auto", "torch", "onnx")


@dataclass
class FastConfig:
    """Options of the fast method.

    Attributes:
        model: an installed model name (``painterly.models.list_model_names()``) or a model file.
        strength: blend with the photo, pixel by pixel: 0 gives the photo, 1 the network's output.
        preserve_color: ``None``, ``"luminance"`` (the output's brightness with the photo's
            colours) or ``"histogram"`` (the output recoloured to the photo's palette).
        size: long side of the output in pixels (``None``: the input's size).
        tile_size: images of more than ``tile_size²`` pixels are stylized in tiles of at most this size.
        tile_overlap: pixels by which neighbouring tiles overlap (blended with cosine ramps); more
            than the shipped networks' receptive radius (54 px), so no seam shows.
        stats_size: long side at which a tiled image's normalization statistics are measured.
        precision: ``auto`` (bf16 where the hardware runs it fast), ``bf16`` or ``fp32``.
        channels_last: channels-last memory layout (``None``: off; measured slower for these
            networks on CPUs, see benchmarks/bench_fast.py).
        runtime: ``auto`` (onnxruntime on the CPU when installed: measured faster than PyTorch
            bf16 for the shipped networks, see docs/benchmarks.md; else PyTorch), ``torch`` or
            ``onnx``. The graph is exported once per model file into the user cache. Images
            larger than a tile run through PyTorch, whose tiles share the whole image's statistics.
        work_scale: the network paints at this fraction of the image's size and its result is
            upsampled (bicubic) to full size: 0.5 is about 3–4× faster, with strokes twice as
            large and softer fine detail (live previews, video on a CPU).
    """

    model: Optional[str] = None
    strength: float = field(default=1.0, metadata=limits(0, 1))
    preserve_color: Optional[str] = field(default=None, metadata=limits(choices=PRESERVE_COLOR_MODES, label="colour mode"))
    size: Optional[int] = field(default=None, metadata=limits(16))
    tile_size: int = 1024
    tile_overlap: int = 128
    stats_size: int = field(default=1024, metadata=limits(16, label="stats size"))
    precision: str = field(default="auto", metadata=limits(choices=PRECISIONS))
    channels_last: Optional[bool] = None
    runtime: str = field(default="auto", metadata=limits(choices=RUNTIMES))
    work_scale: float = field(default=1.0, metadata=limits(0.1, 1))

    def validate(self) -> "FastConfig":
        check_limits(self, "the fast method")
        if not self.model:
            from painterly.models.lookup import list_model_names

            names = ", ".join(list_model_names()) or "none installed yet"
            raise PainterlyError(
                f"the fast method needs a trained model: pass --model NAME_OR_FILE (installed: {names}) "
                "or train one with `painterly train`"
            )
        tile_ranges(self.tile_size + 1, self.tile_size, self.tile_overlap, SIZE_MULTIPLE)  # checks the pair
        return self

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def image_info(self) -> dict[str, Any]:
        """What a painted image's ``info["painterly"]`` records: the options that are set."""
        return {key: value for key, value in self.to_dict().items() if value is not None}

    def settings(self, model_path: Path) -> dict[str, Any]:
        """The stylizer's ``settings`` (what a folder's or a video's resume record compares): the
        method, the model file's identity and the other options."""
        options = {key: value for key, value in self.to_dict().items() if key != "model"}
        return {"method": "fast", "model": file_identity(model_path), "options": options}


#: Peak memory of the fast method, measured with ``/usr/bin/time -v`` (see docs/methods.md): the
#: process with PyTorch and a model loaded, painting a 64 px photo (255 MB measured).
FAST_BASE_BYTES = 280 * 2**20
#: Per pixel the network paints at once (the image, a tile, or the statistics pass), by compute
#: dtype size: 1024×768 measured about 690 B/px in fp32 and 390 B/px in bf16, whole-image buffers included.
FAST_NETWORK_BYTES = {4: 600, 2: 350}
#: Per pixel of the whole image, tiled or not, by compute dtype size: input, output, blend and 8-bit
#: copies (4000×3000 tiled measured 1.08 GB in bf16, 2048×1536 tiled 971 MB in fp32).
FAST_IMAGE_BYTES = {4: 90, 2: 60}


def fast_memory(config: FastConfig, width: int, height: int, dtype: Any, batch: int = 1) -> int:
    """Estimated peak memory in bytes of the fast method painting ``batch`` images of ``width × height``.

    ``dtype`` is the compute dtype or its size in bytes (see :func:`painterly.methods.spec.value_bytes`).
    The network runs at ``work_scale`` of the size; above ``tile_size²`` pixels it holds one tile (or the
    ``stats_size`` statistics pass) at once, so memory grows with the image's buffers only.

    Example:
        >>> round(fast_memory(FastConfig(model="x"), 4000, 3000, 4) / 2**30, 1)
        1.7
    """
    net_width, net_height = max(1, round(width * config.work_scale)), max(1, round(height * config.work_scale))
    if not fits_one_tile(net_height, net_width, config.tile_size) and batch == 1:
        stats_scale = min(1.0, config.stats_size / max(net_width, net_height))
        at_once = max(largest_tile(net_width, net_height, config.tile_size, config.tile_overlap, SIZE_MULTIPLE),
                      round(net_width * stats_scale) * round(net_height * stats_scale))  # fmt: skip
    else:
        at_once = batch * net_width * net_height
    size = 4 if value_bytes(dtype) >= 4 else 2
    return FAST_BASE_BYTES + FAST_NETWORK_BYTES[size] * at_once + FAST_IMAGE_BYTES[size] * batch * width * height


SPEC = MethodSpec(
    name="fast",
    summary="one pass through a trained feed-forward network (milliseconds to a second; needs --model)",
    config=FastConfig,
    build=lazy("painterly.methods.feedforward:build_stylizer"),
    options=("model", "size", "strength", "preserve_color", "precision", "work_scale", "runtime"),
    needs_painting=False,
    needs_model=True,
    takes_model=True,
    label="Fast model",
    kind="fast",
    memory=fast_memory,
    without_torch=TorchFreePath(lazy("painterly.methods.fast_onnx:torch_needed"),
                                lazy("painterly.methods.fast_onnx:OnnxFastStylizer")),
)
