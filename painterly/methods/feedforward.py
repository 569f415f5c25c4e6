"""The "fast" method: one pass through a trained feed-forward style network (Johnson et al. 2016).

The style is the model's (``model="starry-night"`` or a file from ``painterly train``); paintings
given to the method are not used. Large images are stylized in overlapping tiles
normalized with the whole image's statistics, so memory stays bounded and no seam shows.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable, Optional, Sequence

import torch
import torch.nn.functional as F
from PIL import Image

from painterly.devices import PRECISIONS, pick_precision, resolve_device
from painterly.errors import PainterlyError
from painterly.inference.onnx import cached_onnx_session, onnxruntime_installed, run_onnx
from painterly.inference.tiling import fits_one_tile, largest_tile, stylize_tiled, tile_ranges
from painterly.io.files import file_identity
from painterly.io.images import image_to_tensor, resize_long_side, tensor_to_image
from painterly.methods.spec import MethodSpec
from painterly.models.files import load_model, resolve_model_path
from painterly.models.transformer import SIZE_MULTIPLE
from painterly.ops.color import PRESERVE_COLOR_MODES, finish_stylized
from painterly.ops.resize import resize_to_long_side, scale_image
from painterly.options import check_limits, limits
from painterly.progress import ProgressCallback

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
            from painterly.models.files import list_model_names

            names = ", ".join(list_model_names()) or "none installed yet"
            raise PainterlyError(
                f"the fast method needs a trained model: pass --model NAME_OR_FILE (installed: {names}) "
                "or train one with `painterly train`"
            )
        tile_ranges(self.tile_size + 1, self.tile_size, self.tile_overlap, SIZE_MULTIPLE)  # checks the pair
        return self

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class FastStylizer:
    """A loaded model, ready to stylize many images (the model is read once).

    Example:
        >>> stylizer = FastStylizer(FastConfig(model="starry-night"))   # doctest: +SKIP
        >>> stylizer(load_image("photo.jpg")).save("out.jpg")           # doctest: +SKIP
    """

    uses_guidance = False

    def __init__(self, config: FastConfig, device: torch.device | str | None = None):
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
        self.session = _onnx_session(config.runtime, model_path, self.device)
        self.runtime = "torch" if self.session is None else "onnx"
        self.model_path = model_path
        options = {key: value for key, value in config.to_dict().items() if key != "model"}
        self.settings = {"method": "fast", "model": file_identity(model_path), "options": options}

    def stylize_tensor(self, image: torch.Tensor, progress: Optional[ProgressCallback] = None) -> torch.Tensor:
        """``(B, 3, H, W)`` in ``[0, 1]`` → stylized, same shape (float32, on this stylizer's device)."""
        image = image.to(self.device, torch.float32)
        config = self.config
        with torch.no_grad():
            raw = self._paint(scale_image(image, config.work_scale), progress)
            if raw.shape[-2:] != image.shape[-2:]:
                raw = F.interpolate(raw, size=image.shape[-2:], mode="bicubic", align_corners=False)
        return finish_stylized(raw.float(), image, config.strength, config.preserve_color)

    def _paint(self, image: torch.Tensor, progress: Optional[ProgressCallback]) -> torch.Tensor:
        """The network's output for ``image``, in tiles sharing the whole image's statistics when large."""
        config = self.config
        if image.shape[0] > 1 or fits_one_tile(*image.shape[-2:], config.tile_size):
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
            return run_onnx(self.session, image).to(image.device)
        return self._forward_torch(image)

    def _forward_torch(self, image: torch.Tensor, stats: Optional[list] = None) -> torch.Tensor:
        image = image.to(self.net_dtype).contiguous(memory_format=self.memory_format)
        output = self.net(image) if stats is None else self.net.forward_with_stats(image, stats)
        return output.float().contiguous()

    def __call__(self, image: Image.Image, progress: Optional[ProgressCallback] = None) -> Image.Image:
        if self.config.size is not None:
            image = resize_long_side(image, self.config.size)
        return tensor_to_image(self.stylize_tensor(image_to_tensor(image), progress))

    def stylize_image(self, image: Image.Image, progress: Optional[ProgressCallback] = None) -> Image.Image:
        result = self(image, progress)
        result.info["painterly"] = {key: value for key, value in self.config.to_dict().items() if value is not None}
        return result

    def stylize_frame(self, frame: torch.Tensor, guidance: Any = None) -> torch.Tensor:
        return self.stylize_tensor(frame)

    def concurrent_images(self, workers: int, height: int, width: int) -> int:
        """Get ready to paint ``workers`` images (photos of a folder, video frames) of at most
        ``height × width`` at once from as many threads; how many it can take.

        With onnxruntime on the CPU each frame then gets ``threads / workers`` threads: two threads
        on one frame do only 1.4× the work of one (a 720p frame: 422 ms on one thread, 298 ms on
        two), so two frames side by side paint 1.2× more frames per second. Frames painted in
        tiles go through PyTorch, whose thread pool the whole process shares: one at a time.
        """
        scale = self.config.work_scale
        tiled = not fits_one_tile(round(height * scale), round(width * scale), self.config.tile_size)
        if self.session is None or workers <= 1 or tiled:
            return 1
        threads = max(1, torch.get_num_threads() // workers)
        self.session = cached_onnx_session(self.model_path, _export_onnx, threads=threads)
        return workers

    def batch(self, images: Sequence[Image.Image], batch_size: int = 4) -> list[Image.Image]:
        """Stylize many images; same-size images that fit in one tile run together in batches."""
        if self.config.size is not None:
            images = [resize_long_side(image, self.config.size) for image in images]
        results: list[Optional[Image.Image]] = [None] * len(images)
        groups: dict[tuple[int, int], list[int]] = {}
        for index, image in enumerate(images):
            groups.setdefault(image.size, []).append(index)
        for size, indices in groups.items():
            chunk = batch_size if fits_one_tile(size[1], size[0], self.config.tile_size) else 1
            for start in range(0, len(indices), chunk):
                part = indices[start : start + chunk]
                tensor = torch.cat([image_to_tensor(images[index]) for index in part])
                for index, stylized in zip(part, self.stylize_tensor(tensor)):
                    results[index] = tensor_to_image(stylized)
        return results  # type: ignore[return-value]


def stylize_batch(
    model: str | Path,
    images: Iterable[Image.Image],
    *,
    device: torch.device | str | None = None,
    batch_size: int = 4,
    **options: Any,
) -> list[Image.Image]:
    """Stylize many PIL images with one model (loaded once); options as for the fast method."""
    stylizer = FastStylizer(SPEC.make_config({**options, "model": str(model)}), device)
    return stylizer.batch(list(images), batch_size=batch_size)


def _onnx_session(runtime: str, model_path: Path, device: torch.device) -> Any:
    """The onnxruntime session ``runtime`` asks for, or ``None`` for PyTorch.

    ``auto`` takes onnxruntime on the CPU when it is installed and the graph exports; a failure
    there falls back to PyTorch, while ``onnx`` asked for by name raises it.
    """
    if runtime == "torch" or (runtime == "auto" and (device.type != "cpu" or not onnxruntime_installed())):
        return None
    try:
        return cached_onnx_session(model_path, _export_onnx, threads=torch.get_num_threads())
    except (PainterlyError, ImportError):
        if runtime == "onnx":
            raise
        return None


def _export_onnx(model_path: Path, out: Path) -> None:
    from painterly.export.exporters import export_model

    export_model(model_path, out, format="onnx", check=True)


#: Peak memory of the fast method, measured with ``/usr/bin/time -v`` (see docs/methods.md): the
#: process with PyTorch and a model loaded, painting a 64 px photo (255 MB measured).
FAST_BASE_BYTES = 280 * 2**20
#: Per pixel the network paints at once (the image, a tile, or the statistics pass), by compute
#: dtype size: 1024×768 measured about 690 B/px in fp32 and 390 B/px in bf16, whole-image buffers included.
FAST_NETWORK_BYTES = {4: 600, 2: 350}
#: Per pixel of the whole image, tiled or not, by compute dtype size: input, output, blend and 8-bit
#: copies (4000×3000 tiled measured 1.08 GB in bf16, 2048×1536 tiled 971 MB in fp32).
FAST_IMAGE_BYTES = {4: 90, 2: 60}


def fast_memory(config: FastConfig, width: int, height: int, dtype: torch.dtype, batch: int = 1) -> int:
    """Estimated peak memory in bytes of the fast method painting ``batch`` images of ``width × height``.

    The network runs at ``work_scale`` of the size; above ``tile_size²`` pixels it holds one tile (or the
    ``stats_size`` statistics pass) at once, so memory grows with the image's buffers only.

    Example:
        >>> round(fast_memory(FastConfig(model="x"), 4000, 3000, torch.float32) / 2**30, 1)
        1.7
    """
    net_width, net_height = max(1, round(width * config.work_scale)), max(1, round(height * config.work_scale))
    if not fits_one_tile(net_height, net_width, config.tile_size) and batch == 1:
        stats_scale = min(1.0, config.stats_size / max(net_width, net_height))
        at_once = max(largest_tile(net_width, net_height, config.tile_size, config.tile_overlap, SIZE_MULTIPLE),
                      round(net_width * stats_scale) * round(net_height * stats_scale))  # fmt: skip
    else:
        at_once = batch * net_width * net_height
    size = 4 if dtype == torch.float32 else 2
    return FAST_BASE_BYTES + FAST_NETWORK_BYTES[size] * at_once + FAST_IMAGE_BYTES[size] * batch * width * height


def build(config: FastConfig, *, device: torch.device, **_: Any) -> FastStylizer:
    return FastStylizer(config, device)


SPEC = MethodSpec(
    name="fast",
    summary="one pass through a trained feed-forward network (milliseconds to a second; needs --model)",
    config=FastConfig,
    build=build,
    options=("model", "size", "strength", "preserve_color", "precision", "work_scale", "runtime"),
    needs_painting=False,
    needs_model=True,
    takes_model=True,
    label="Fast model",
    kind="fast",
    memory=fast_memory,
)
