"""The fast method on one photo without torch: the model's exported graph through onnxruntime, the
colour finish in numpy.

Importing torch takes longer than painting a 1024×768 photo through onnxruntime, so a one-photo
command (``painterly stylize photo.jpg --model starry-night``), or a folder of photos that all fit one
tile, runs here when nothing needs torch:
:func:`torch_needed` is the one place that decides (called by
:func:`painterly.registry.create_stylizer`, before the device is resolved), and
:class:`OnnxFastStylizer` paints exactly what :class:`painterly.methods.feedforward.FastStylizer`
paints with the ONNX runtime: the same graph on the same float32 pixels, the same finish. Anything
else (tiles, ``work_scale``, a GPU, no exported graph yet, video) goes through
``FastStylizer``.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, Optional

import numpy as np
from PIL import Image

from painterly.devices import is_plain_cpu, onnx_threads
from painterly.errors import PainterlyError
from painterly.inference.onnx import exported_path, onnx_session, onnxruntime_installed, run_onnx_array
from painterly.inference.tiling import fits_one_tile
from painterly.io.images import array_to_image, image_to_array, resize_long_side
from painterly.methods.fast_spec import SPEC, FastConfig
from painterly.methods.spec import Paintings
from painterly.models.lookup import resolve_model_path
from painterly.ops.color_arrays import finish_stylized
from painterly.progress import ProgressCallback

if TYPE_CHECKING:
    import torch


def torch_needed(config: FastConfig, device: Any, image_size: tuple[int, int], paintings: Paintings = ()) -> Optional[str]:
    """Why painting one ``(width, height)`` photo with ``config`` on ``device`` (as the user gave it,
    not resolved) needs torch, in one line; ``None`` when :class:`OnnxFastStylizer` paints it
    (``paintings`` are not used: the style is the model's).

    Cheap: reads no model and imports neither torch nor onnxruntime (the model file is hashed to
    find its graph). A model that cannot be found is left to the torch path, which says so.

    Example:
        >>> torch_needed(FastConfig(model="starry-night", runtime="torch"), "auto", (64, 48))
        'runtime torch asked for'
    """
    if config.runtime == "torch":
        return "runtime torch asked for"
    if not is_plain_cpu(device):
        return f"device {device!r} may be a GPU (only torch can tell)"
    if not onnxruntime_installed():
        return "onnxruntime is not installed"
    if config.work_scale != 1:
        return "work_scale below 1 resizes tensors"
    width, height = SPEC.output_size(config, *image_size)
    if not fits_one_tile(height, width, config.tile_size):
        return f"{width}×{height} is painted in tiles, which share statistics through torch"
    try:
        graph = exported_path(resolve_model_path(config.model))  # type: ignore[arg-type]
    except (PainterlyError, OSError):
        return "the model is not found or not readable (the torch path says why)"
    if not graph.is_file():
        return "the model's graph is not exported yet (the torch path exports it)"
    return None


class OnnxFastStylizer:
    """The fast method on one image through the model's exported graph, without torch.

    Only for configs and images :func:`torch_needed` accepts: one tile, ``work_scale`` 1, the graph
    already exported (shipped next to the model, or cached from an earlier run).
    """

    uses_guidance = False

    def __init__(self, config: FastConfig, paintings: Paintings = ()):
        self.config = config.validate()
        self.model_path = resolve_model_path(config.model)  # type: ignore[arg-type]
        self.session = onnx_session(exported_path(self.model_path), threads=onnx_threads())
        self.runtime = "onnx"
        self.settings = config.settings(self.model_path)

    def concurrent_images(self, workers: int, height: int, width: int) -> int:
        """Get ready to paint ``workers`` images (photos of a folder) at once from as many threads;
        how many it can take.

        Each call of the session then gets ``threads / workers`` threads, as
        :meth:`painterly.methods.feedforward.FastStylizer.concurrent_images` does (one thread per
        photo does more work per thread than two on one photo); onnxruntime sessions may be run
        from several threads at once. ``height × width`` fit one tile here (:func:`torch_needed`).
        """
        if workers <= 1:
            return 1
        threads = max(1, (onnx_threads() or os.cpu_count() or 1) // workers)
        self.session = onnx_session(exported_path(self.model_path), threads=threads)
        return workers

    def stylize_array(self, image: np.ndarray) -> np.ndarray:
        """``(1, 3, H, W)`` float32 in ``[0, 1]`` → painted and finished, same shape and range."""
        raw = run_onnx_array(self.session, image).astype(np.float32)
        return finish_stylized(raw, image, self.config.strength, self.config.preserve_color)

    def stylize_image(self, image: Image.Image, progress: Optional[ProgressCallback] = None) -> Image.Image:
        """One RGB image → the painted image; ``info["painterly"]`` holds the options used, as
        :meth:`painterly.methods.feedforward.FastStylizer.stylize_image` does."""
        if self.config.size is not None:
            image = resize_long_side(image, self.config.size)
        result = array_to_image(self.stylize_array(image_to_array(image)))
        result.info["painterly"] = self.config.image_info()
        return result

    def stylize_frame(self, frame: torch.Tensor, guidance: Any = None) -> torch.Tensor:
        """``(1, 3, H, W)`` in ``[0, 1]`` → painted, same shape (frames come with torch already loaded)."""
        import torch

        painted = self.stylize_array(frame.detach().float().cpu().numpy())
        return torch.from_numpy(painted).to(frame.device)
