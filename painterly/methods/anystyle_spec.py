"""The anystyle method's spec: its options (:class:`AnyStyleMethodConfig`), its memory estimate and how it
is built, importable without torch. The method itself is :mod:`painterly.methods.anystyle`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Optional

from painterly.devices import PRECISIONS
from painterly.inference.tiling import tile_ranges
from painterly.methods.adain_spec import MaskSource
from painterly.methods.fast_spec import RUNTIMES, FastConfig, fast_memory
from painterly.methods.spec import MethodSpec, Paintings, TorchFreePath, lazy
from painterly.models.lookup import SHIPPED_ANYSTYLE
from painterly.models.shapes import TRANSFORMER_SIZE_MULTIPLE as SIZE_MULTIPLE
from painterly.ops.colorspace import PRESERVE_COLOR_MODES
from painterly.options import check_limits, limits

#: Memory of describing a painting (VGG19 to relu4_1 at 256 px) and of the predictor, besides the fast method's.
DESCRIBE_BYTES = 160 * 2**20


@dataclass
class AnyStyleMethodConfig:
    """Options of the anystyle method (any painting, one pass of a light style network).

    Attributes:
        anystyle_model: an any-painting model file (``painterly train-anystyle``; default: the shipped one).
        strength: blend with the photo, pixel by pixel: 0 gives the photo, 1 the full style.
        preserve_color: ``None``, ``"luminance"`` or ``"histogram"``, as for the fast method.
        size: long side of the output in pixels (``None``: the input's size).
        style_scale: size of the painting's brush strokes relative to the default (the painting
            is described at 256 px divided by this).
        mask: an image (path or PIL, white = 1) or a tensor ``(H, W)`` in ``[0, 1]``: the first
            painting inside, the blend of the others (or the photo) outside.
        invert_mask: swap the inside and the outside of the mask.
        precision: ``auto`` (bf16 where the hardware runs it fast), ``bf16`` or ``fp32``.
        runtime: ``auto`` (onnxruntime on the CPU when installed, else PyTorch), ``torch`` or
            ``onnx``; each painting's network and its graph are made once and cached.
        work_scale: the network paints at this fraction of the image's size and its result is
            upsampled (bicubic) to full size: 0.5 is about 3–4× faster, with softer fine detail.
        tile_size: images of more than ``tile_size²`` pixels are painted in tiles of at most this size.
        tile_overlap: pixels by which neighbouring tiles overlap (blended).
        stats_size: long side at which a tiled image's normalization statistics are measured.
    """

    anystyle_model: Optional[str] = None
    strength: float = field(default=1.0, metadata=limits(0, 1))
    preserve_color: Optional[str] = field(default=None, metadata=limits(choices=PRESERVE_COLOR_MODES, label="colour mode"))
    size: Optional[int] = field(default=None, metadata=limits(16))
    style_scale: float = field(default=1.0, metadata=limits(0.1, 4))
    mask: Optional[MaskSource] = None
    invert_mask: bool = False
    precision: str = field(default="auto", metadata=limits(choices=PRECISIONS))
    runtime: str = field(default="auto", metadata=limits(choices=RUNTIMES))
    work_scale: float = field(default=1.0, metadata=limits(0.1, 1))
    tile_size: int = 1024
    tile_overlap: int = 128
    stats_size: int = field(default=1024, metadata=limits(16, label="stats size"))

    def validate(self) -> "AnyStyleMethodConfig":
        check_limits(self, "the anystyle method")
        tile_ranges(self.tile_size + 1, self.tile_size, self.tile_overlap, SIZE_MULTIPLE)  # checks the pair
        return self

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["mask"] = None if self.mask is None else str(self.mask) if isinstance(self.mask, (str, Path)) else "<image>"
        return data

    def fast_config(self, model: str) -> FastConfig:
        """The fast method's options for a painting's network (``model``, a cached model file)."""
        return FastConfig(model=model, strength=self.strength, preserve_color=self.preserve_color, size=None,
                          tile_size=self.tile_size, tile_overlap=self.tile_overlap, stats_size=self.stats_size,
                          precision=self.precision, runtime=self.runtime, work_scale=self.work_scale)  # fmt: skip


    def source(self) -> Path:
        """The any-painting model file these options name."""
        return Path(self.anystyle_model).expanduser() if self.anystyle_model else SHIPPED_ANYSTYLE


def painting_networks(config: AnyStyleMethodConfig, paintings: Paintings) -> dict[str, Path]:
    """Where each one-style network painting ``paintings`` with ``config`` is cached (written by
    :class:`painterly.methods.anystyle.AnyStyleStylizer`, once): ``{"all": …}``, or with a mask
    ``{"inside": …}`` and, with several paintings, ``{"outside": …}``. The name changes with the
    any-painting model file, the paintings' pixels, their weights and the stroke scale; no torch."""
    import hashlib
    import json

    from painterly.io.files import cache_dir, file_identity
    from painterly.io.images import pixels_digest

    identity = json.dumps([file_identity(config.source()), pixels_digest([image for image, _ in paintings]),
                           [float(weight) for _, weight in paintings], config.style_scale], sort_keys=True)  # fmt: skip
    key = hashlib.sha256(identity.encode()).hexdigest()[:20]
    folder = cache_dir() / "anystyle"
    if config.mask is None:
        return {"all": folder / f"{key}.safetensors"}
    parts = {"inside": folder / f"{key}-in.safetensors"}
    if len(paintings) > 1:
        parts["outside"] = folder / f"{key}-out.safetensors"
    return parts


def torch_needed(config: AnyStyleMethodConfig, device: Any, image_size: tuple[int, int], paintings: Paintings) -> Optional[str]:
    """Why painting one photo needs torch (one line), or ``None``: as the fast method's
    (:func:`painterly.methods.fast_onnx.torch_needed`), once the painting's network is cached."""
    from painterly.methods.fast_onnx import torch_needed as fast_torch_needed

    if config.mask is not None:
        return "a mask is composited in torch"
    if not paintings or not config.source().is_file():
        return "no painting or no any-painting model (the torch path says why)"
    network = painting_networks(config, paintings)["all"]
    if not network.is_file():
        return "the painting's network is not made yet (the torch path makes it, once)"
    return fast_torch_needed(config.fast_config(str(network)), device, image_size)


def torch_free_stylizer(config: AnyStyleMethodConfig, paintings: Paintings) -> Any:
    """The painting's cached network through onnxruntime, without torch (see :func:`torch_needed`)."""
    from painterly.methods.fast_onnx import OnnxFastStylizer

    network = painting_networks(config, paintings)["all"]
    stylizer = OnnxFastStylizer(config.fast_config(str(network)))
    stylizer.settings = anystyle_settings(config, paintings)
    return stylizer


def anystyle_settings(config: AnyStyleMethodConfig, paintings: Paintings) -> dict[str, Any]:
    """What decides the look (a folder's or a video's resume record compares it)."""
    from painterly.io.files import file_identity
    from painterly.io.images import pixels_digest

    return {
        "method": "anystyle",
        "model": file_identity(config.source()),
        "options": {k: str(v) for k, v in config.to_dict().items() if v is not None and k != "anystyle_model"},
        "styles": {"weights": [float(w) for _, w in paintings], "pixels_sha256": pixels_digest([i for i, _ in paintings])},
    }


def anystyle_memory(config: AnyStyleMethodConfig, width: int, height: int, dtype: Any, batch: int = 1) -> int:
    """Estimated peak memory in bytes: the fast method's for the image, plus describing the painting.

    Example:
        >>> round(anystyle_memory(AnyStyleMethodConfig(), 4000, 3000, 2) / 2**30, 1)
        1.3
    """
    return DESCRIBE_BYTES + fast_memory(config.fast_config("painting"), width, height, dtype, batch)


SPEC = MethodSpec(
    name="anystyle",
    summary="any painting in one pass of a light style network set by the painting (a fraction of a second per photo)",
    config=AnyStyleMethodConfig,
    build=lazy("painterly.methods.anystyle:build_stylizer"),
    options=("anystyle_model", "size", "strength", "style_scale", "preserve_color", "precision", "work_scale", "runtime",
             "mask", "invert_mask"),  # fmt: skip
    needs_painting=True,
    takes_model=True,
    model_option="anystyle_model",
    needs_features=True,
    label="Fast, any painting",
    kind="fast",
    aliases=("any",),
    memory=anystyle_memory,
    without_torch=TorchFreePath(torch_needed, torch_free_stylizer),
    # 480p video with consistency: 9.3 frames/s at full scale, 12.3 at 0.8 with a style loss as close (benchmarks/bench_video.py).
    frame_defaults={"work_scale": 0.8},
)
