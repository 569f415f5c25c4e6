"""The "fast" method: one pass through a trained feed-forward style network (Johnson et al. 2016).

The style is the model's (``model="starry-night"`` or a file from ``painterly train``); paintings
given to the method are not used. Large images are stylized in overlapping tiles
normalized with the whole image's statistics, so memory stays bounded and no seam shows.

The options, the memory estimate and the spec live in :mod:`painterly.methods.fast_spec` (no torch
there); a photo that needs no torch is painted by :mod:`painterly.methods.fast_onnx`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable, Optional, Sequence

import torch
import torch.nn.functional as F
from PIL import Image

from painterly.devices import pick_precision, resolve_device
from painterly.errors import PainterlyError
from painterly.inference.onnx import cached_onnx_session, onnxruntime_installed, run_onnx
from painterly.inference.tiling import fits_one_tile, stylize_tiled
from painterly.io.images import image_to_tensor, resize_long_side, tensor_to_image
from painterly.methods.fast_spec import (FAST_BASE_BYTES, FAST_IMAGE_BYTES, FAST_NETWORK_BYTES, RUNTIMES, SPEC, FastConfig,
                                         fast_memory)  # fmt: skip
from painterly.models.files import load_model, resolve_model_path
from painterly.models.transformer import SIZE_MULTIPLE
from painterly.ops.color import finish_stylized
from painterly.ops.resize import resize_to_long_side, scale_image
from painterly.progress import ProgressCallback

__all__ = ["FAST_BASE_BYTES", "FAST_IMAGE_BYTES", "FAST_NETWORK_BYTES", "RUNTIMES", "SPEC", "FastConfig", "FastStylizer",
           "fast_memory", "stylize_batch"]  # fmt: skip


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
        self.settings = config.settings(model_path)

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
        result.info["painterly"] = self.config.image_info()
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


def build_stylizer(config: FastConfig, *, device: Any, **_: Any) -> "FastStylizer":
    """The fast method's stylizer on ``device`` (the spec's builder)."""
    return FastStylizer(config, device)
