"""The "fast" method: one pass through a trained feed-forward style network (Johnson et al. 2016).

The style is the model's (``model="starry-night"`` or a file from ``painterly train``); the
style images given to :func:`run` are not used. Large images are stylized in overlapping tiles
normalized with the whole image's statistics, so memory stays bounded and no seam shows.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, Iterable, Optional, Sequence

import torch
import torch.nn.functional as F
from PIL import Image

from painterly.devices import resolve_device
from painterly.errors import PainterlyError
from painterly.inference.tiling import stylize_tiled, tile_ranges
from painterly.methods.optimize import PRESERVE_COLOR_MODES, pick_precision, resize_to_long_side
from painterly.models.transformer import SIZE_MULTIPLE
from painterly.progress import ProgressCallback
from painterly.registry import register_method

RUNTIMES = ("torch", "onnx")


@dataclass
class FastConfig:
    """Options of the fast method.

    Attributes:
        model: an installed model name (``painterly.models.list_model_names()``) or a model file.
        strength: blend with the photo, pixel by pixel: 0 gives the photo, 1 the network's output.
        preserve_color: ``None``, ``"luminance"`` (the output's brightness with the photo's
            colours) or ``"histogram"`` (the output recoloured to the photo's palette).
        size: long side of the output in pixels (``None``: the input's size).
        tile_size: images with a side longer than this are stylized in tiles of this size.
        tile_overlap: pixels by which neighbouring tiles overlap (blended with cosine ramps); more
            than the shipped networks' receptive radius (54 px), so no seam shows.
        stats_size: long side at which a tiled image's normalization statistics are measured.
        precision: ``auto`` (bf16 where the hardware runs it fast), ``bf16`` or ``fp32``.
        channels_last: channels-last memory layout (``None``: off; measured slower for these
            networks on CPUs, see benchmarks/bench_fast.py).
        runtime: ``torch``, or ``onnx`` (onnxruntime, when installed; images larger than a tile
            still run through PyTorch, whose tiles share the whole image's statistics).
        work_scale: the network paints at this fraction of the image's size and its result is
            upsampled (bicubic) to full size: 0.5 is about 3–4× faster, with strokes twice as
            large and softer fine detail (live previews, video on a CPU).
    """

    model: Optional[str] = None
    strength: float = 1.0
    preserve_color: Optional[str] = None
    size: Optional[int] = None
    tile_size: int = 1024
    tile_overlap: int = 128
    stats_size: int = 1024
    precision: str = "auto"
    channels_last: Optional[bool] = None
    runtime: str = "torch"
    work_scale: float = 1.0

    def validate(self) -> "FastConfig":
        if not self.model:
            from painterly.models import list_model_names

            names = ", ".join(list_model_names()) or "none installed yet"
            raise PainterlyError(
                f"the fast method needs a trained model: pass --model NAME_OR_FILE (installed: {names}) "
                "or train one with `painterly train`"
            )
        if not 0 <= self.strength <= 1:
            raise PainterlyError(f"strength must be between 0 and 1 for the fast method, got {self.strength}")
        if self.preserve_color not in (None, *PRESERVE_COLOR_MODES):
            raise PainterlyError(f"unknown colour mode {self.preserve_color!r}: use luminance or histogram")
        if self.size is not None and self.size < 16:
            raise PainterlyError(f"size {self.size} is too small: use at least 16 pixels")
        tile_ranges(self.tile_size + 1, self.tile_size, self.tile_overlap, SIZE_MULTIPLE)  # checks the pair
        if self.stats_size < 16:
            raise PainterlyError(f"stats size must be at least 16 pixels, got {self.stats_size}")
        if self.precision not in ("auto", "bf16", "fp32"):
            raise PainterlyError(f"unknown precision {self.precision!r}: use auto, bf16 or fp32")
        if not 0.1 <= self.work_scale <= 1:
            raise PainterlyError(f"work scale must be between 0.1 and 1, got {self.work_scale}")
        if self.runtime not in RUNTIMES:
            raise PainterlyError(f"unknown runtime {self.runtime!r}: use torch or onnx")
        return self

    @classmethod
    def from_options(cls, options: dict[str, Any]) -> "FastConfig":
        known = {item.name for item in fields(cls)}
        unknown = sorted(set(options) - known)
        if unknown:
            raise PainterlyError(f"the fast method has no option {unknown[0]!r}: use {', '.join(sorted(known))}")
        return cls(**options).validate()

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def scale_image(image: torch.Tensor, scale: float) -> torch.Tensor:
    """``(B, C, H, W)`` shrunk by ``scale`` (sides at least 2 px); unchanged at 1.

    Antialiased bilinear: as clean as area averaging and twice as fast at fractional scales
    (which torch runs as an adaptive pooling).
    """
    if scale >= 1:
        return image
    height, width = image.shape[-2:]
    size = (max(2, round(height * scale)), max(2, round(width * scale)))
    return F.interpolate(image, size=size, mode="bilinear", antialias=True, align_corners=False)


def finish(stylized: torch.Tensor, content: torch.Tensor, strength: float, preserve_color: Optional[str]) -> torch.Tensor:
    """Colour preservation, then the pixel-space blend with the photo.

    Args:
        stylized, content: ``(B, 3, H, W)`` in ``[0, 1]``, same size.

    Returns:
        ``(B, 3, H, W)`` in ``[0, 1]``.
    """
    if preserve_color == "luminance":
        from painterly.ops.color import transfer_luminance

        stylized = transfer_luminance(stylized, content)
    elif preserve_color == "histogram":
        from painterly.ops.color import match_color

        stylized = match_color(stylized, content)
    if strength < 1:
        stylized = torch.lerp(content, stylized, strength)
    return stylized.clamp(0, 1)


class FastStylizer:
    """A loaded model, ready to stylize many images (the model is read once).

    Example:
        >>> stylizer = FastStylizer(FastConfig(model="starry-night"))   # doctest: +SKIP
        >>> stylizer(load_image("photo.jpg")).save("out.jpg")           # doctest: +SKIP
    """

    def __init__(self, config: FastConfig, device: torch.device | str | None = None):
        from painterly.models import load_model, resolve_model_path

        self.config = config.validate()
        self.device = resolve_device(device)
        model_path = resolve_model_path(config.model)  # type: ignore[arg-type]
        self.net, self.info = load_model(model_path, device=self.device)
        self.dtype = pick_precision(config.precision, self.device)
        self.memory_format = torch.channels_last if config.channels_last else torch.contiguous_format
        # Weights and activations in the compute dtype, not autocast: autocast re-casts every
        # activation between the convolutions (bf16) and the norms (fp32), which measured as
        # 40 % of a CPU forward pass. The norms still take their statistics in fp32.
        compute_dtype = self.dtype if self.dtype is not None else torch.float32
        self.net = self.net.to(dtype=compute_dtype, memory_format=self.memory_format)
        self.session = _onnx_session_for(model_path) if config.runtime == "onnx" else None

    def stylize_tensor(self, image: torch.Tensor, progress: Optional[ProgressCallback] = None) -> torch.Tensor:
        """``(B, 3, H, W)`` in ``[0, 1]`` → stylized, same shape (float32, on this stylizer's device)."""
        image = image.to(self.device, torch.float32)
        config = self.config
        with torch.no_grad():
            raw = self._paint(scale_image(image, config.work_scale), progress)
            if raw.shape[-2:] != image.shape[-2:]:
                raw = F.interpolate(raw, size=image.shape[-2:], mode="bicubic", align_corners=False)
        return finish(raw.float(), image, config.strength, config.preserve_color)

    def _paint(self, image: torch.Tensor, progress: Optional[ProgressCallback]) -> torch.Tensor:
        """The network's output for ``image``, in tiles sharing the whole image's statistics when large."""
        config = self.config
        if image.shape[0] > 1 or max(image.shape[-2:]) <= config.tile_size:
            return self._forward(image)
        # Tiles normalized by the whole image's statistics, through PyTorch even with the ONNX
        # runtime: its exported graph normalizes each tile by its own, which shows every seam.
        small = resize_to_long_side(image, min(config.stats_size, max(image.shape[-2:])))
        stats = self.net.norm_statistics(small.to(self.net_dtype).contiguous(memory_format=self.memory_format))
        return stylize_tiled(
            lambda tile: self._forward_torch(tile, stats),
            image,
            tile_size=config.tile_size,
            tile_overlap=config.tile_overlap,
            multiple=SIZE_MULTIPLE,
            progress=progress,
        )

    @property
    def net_dtype(self) -> torch.dtype:
        return next(self.net.parameters()).dtype

    def _forward(self, image: torch.Tensor) -> torch.Tensor:
        if self.session is not None:
            from painterly.export import run_onnx

            return run_onnx(self.session, image).to(image.device)
        return self._forward_torch(image)

    def _forward_torch(self, image: torch.Tensor, stats: Optional[list] = None) -> torch.Tensor:
        image = image.to(self.net_dtype).contiguous(memory_format=self.memory_format)
        output = self.net(image) if stats is None else self.net.forward_with_stats(image, stats)
        return output.float().contiguous()

    def __call__(self, image: Image.Image, progress: Optional[ProgressCallback] = None) -> Image.Image:
        from painterly.io.images import image_to_tensor, resize_long_side, tensor_to_image

        if self.config.size is not None:
            image = resize_long_side(image, self.config.size)
        return tensor_to_image(self.stylize_tensor(image_to_tensor(image), progress))

    def batch(self, images: Sequence[Image.Image], batch_size: int = 4) -> list[Image.Image]:
        """Stylize many images; same-size images that fit in one tile run together in batches."""
        from painterly.io.images import image_to_tensor, resize_long_side, tensor_to_image

        if self.config.size is not None:
            images = [resize_long_side(image, self.config.size) for image in images]
        results: list[Optional[Image.Image]] = [None] * len(images)
        groups: dict[tuple[int, int], list[int]] = {}
        for index, image in enumerate(images):
            groups.setdefault(image.size, []).append(index)
        for size, indices in groups.items():
            chunk = batch_size if max(size) <= self.config.tile_size else 1
            for start in range(0, len(indices), chunk):
                part = indices[start : start + chunk]
                tensor = torch.cat([image_to_tensor(images[index]) for index in part])
                for index, stylized in zip(part, self.stylize_tensor(tensor)):
                    results[index] = tensor_to_image(stylized)
        return results  # type: ignore[return-value]


def _onnx_session_for(model_path: Path) -> Any:
    """An onnxruntime session for ``model_path``, exported once into the cache folder."""
    from painterly.export import _require_onnxruntime, export_model, onnx_session
    from painterly.features.weights import cache_dir

    _require_onnxruntime()
    digest = hashlib.sha256(model_path.read_bytes()).hexdigest()[:16]
    exported = cache_dir() / "onnx" / f"{model_path.stem}-{digest}.onnx"
    if not exported.is_file():
        export_model(model_path, exported, format="onnx", check=True)
    return onnx_session(exported)


def stylize_batch(
    model: str | Path,
    images: Iterable[Image.Image],
    *,
    device: torch.device | str | None = None,
    batch_size: int = 4,
    **options: Any,
) -> list[Image.Image]:
    """Stylize many PIL images with one model (loaded once); options as for the fast method."""
    stylizer = FastStylizer(FastConfig.from_options({**options, "model": str(model)}), device)
    return stylizer.batch(list(images), batch_size=batch_size)


@register_method("fast", "one pass through a trained feed-forward network (milliseconds to a second; needs --model)")
def run(
    content: Image.Image,
    styles: list[tuple[Image.Image, float]],
    *,
    device: torch.device,
    progress: Optional[ProgressCallback] = None,
    **options: Any,
) -> Image.Image:
    """Stylize ``content`` with the trained model ``options["model"]``; ``styles`` are not used.

    Without a model but with paintings, the arbitrary-style network paints them (method "adain").
    """
    if options.get("model") is None and styles:
        from painterly.methods.arbitrary import run as run_arbitrary

        options.pop("model", None)
        return run_arbitrary(content, styles, device=device, progress=progress, **options)
    if options.get("model") is not None:
        options["model"] = str(options["model"])
    config = FastConfig.from_options(options)
    result = FastStylizer(config, device)(content, progress)
    result.info["painterly"] = {key: value for key, value in config.to_dict().items() if value is not None}
    return result
