"""The Python API: ``painterly.stylize(content, style, **options) -> PIL.Image``.

A :class:`Stylizer` keeps the device and the loaded VGG19 network between calls (a folder, a web
server); the module-level :func:`stylize` makes a fresh one for a single call. torch is imported
when a method needs it, not here.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional, Sequence

from PIL import Image

from painterly.devices import is_plain_cpu, parse_memory, resolve_device
from painterly.io.images import DEFAULT_MAX_PIXELS, load_image, restore_alpha, split_alpha, tensor_to_image
from painterly.methods.spec import MethodStylizer
from painterly.options import as_number
from painterly.progress import ProgressCallback
from painterly.registry import create_stylizer
from painterly.styles.catalog import (ImageSource, StyleSource, describe_source, load_style_image, normalize_styles,
                                      parse_style_spec)  # fmt: skip

if TYPE_CHECKING:
    import torch

    from painterly.features.vgg import VGG19
    from painterly.features.weights import VGGWeights


class Stylizer:
    """Stylizes images on one device, keeping the feature network loaded between calls.

    Args:
        device: ``"auto"`` (CUDA when available), ``"cpu"``, ``"cuda"``, ``"cuda:1"`` …
        vgg_weights: a VGG19 weights file; ``None`` finds the default (see ``painterly.features``).
        max_pixels: largest input and output accepted, in pixels.
        max_memory: a memory budget (``"4G"``, ``"512M"`` or bytes): an image whose estimated peak
            memory exceeds it, or exceeds the memory available, is refused before the method starts.
    """

    def __init__(self, device: str | torch.device | None = None, vgg_weights: str | Path | None = None,
                 max_pixels: int = DEFAULT_MAX_PIXELS, max_memory: str | int | None = None):  # fmt: skip
        # A device that surely is the CPU is resolved when a method needs it (resolving imports torch);
        # any other is checked now, so a wrong one is said before any work.
        self._device_name = device
        self._device = None if is_plain_cpu(device) else resolve_device(device)
        self.vgg_weights = vgg_weights
        self.max_pixels = None if max_pixels is None else as_number("max_pixels", max_pixels, int)
        self.max_memory = parse_memory(max_memory)
        self._weights: Optional[VGGWeights] = None
        self._networks: dict[tuple[str, str], VGG19] = {}

    @property
    def device(self) -> torch.device:
        """The device methods run on, resolved (and torch imported) on first use."""
        if self._device is None:
            self._device = resolve_device(self._device_name)
        return self._device

    def feature_network(self, last_layer: str = "relu5_1", pooling: str = "max") -> VGG19:
        """The VGG19 network up to ``last_layer``, loaded once per (layer, pooling)."""
        from painterly.features.weights import find_weights, load_vgg19

        key = (last_layer, pooling)
        if key not in self._networks:
            if self._weights is None:
                self._weights = find_weights(self.vgg_weights)
            self._networks[key] = load_vgg19(last_layer=last_layer, device=self.device, weights=self._weights, pooling=pooling)
        return self._networks[key]

    def load_paintings(self, sources: Sequence[tuple[ImageSource, float]]) -> list[tuple[Image.Image, float]]:
        """``[(style source, weight)]`` (see :func:`normalize_styles`) as RGB images."""
        return [(load_style_image(source, self.max_pixels), weight) for source, weight in sources]

    def method(self, method: Optional[str], *, model: Any = None, paintings: Sequence[tuple[Image.Image, float]] = (),
               options: Optional[dict[str, Any]] = None, image_size: Optional[tuple[int, int]] = None,
               frames: bool = False, torch_free: bool = False) -> MethodStylizer:  # fmt: skip
        """The stylizer of ``method`` on this device, sharing this feature network (see
        :func:`painterly.registry.create_stylizer`): for a folder of images or a video's frames.
        With ``image_size`` (``(width, height)``; ``frames``: of video frames, painted at that size),
        the output size and memory are checked first. ``torch_free``: one image, painted without
        importing torch where the method can."""
        device = self._device if self._device is not None else self._device_name
        return create_stylizer(method, model=model, paintings=list(paintings), options=options, device=device,
                               feature_network=self.feature_network, image_size=image_size, max_pixels=self.max_pixels,
                               max_memory=self.max_memory, frames=frames, torch_free=torch_free)  # fmt: skip

    def stylize(
        self,
        content: ImageSource,
        style: StyleSource | Sequence[StyleSource] | None = None,
        *,
        method: Optional[str] = None,
        progress: Optional[ProgressCallback] = None,
        **options: Any,
    ) -> Image.Image:
        """Stylize one image; see :func:`painterly.stylize`."""
        loaded = self.load_content(content)
        return self.prepare(style, method=method, image_size=loaded[0].size, **options).paint(loaded, content, progress)

    def load_content(self, content: ImageSource) -> tuple[Image.Image, Optional[Image.Image]]:
        """The photo to paint and its alpha band (``None`` when opaque); safe to call from another thread."""
        # Transparent areas are painted as white paper and get their transparency back at the end.
        return split_alpha(load_image(content, max_pixels=self.max_pixels, keep_alpha=True))

    def prepare(self, style: StyleSource | Sequence[StyleSource] | None = None, *, method: Optional[str] = None,
                image_size: Optional[tuple[int, int]] = None, torch_free: bool = False,
                **options: Any) -> "PreparedStylizer":  # fmt: skip
        """The method with its model loaded and paintings read, once, for many photos (a folder).

        With ``image_size`` (``(width, height)`` of the largest photo), the output size and the
        memory estimate are checked first, before anything loads. ``torch_free``: for one photo of
        that size, painted without importing torch where the method can (see
        :func:`painterly.registry.create_stylizer`).
        """
        style_sources = normalize_styles(style) if style is not None else []
        stylizer = self.method(method, model=options.pop("model", None), paintings=self.load_paintings(style_sources),
                               options=options, image_size=image_size, torch_free=torch_free)  # fmt: skip
        return PreparedStylizer(stylizer, method, style_sources)


class PreparedStylizer:
    """A method ready to paint many photos (see :meth:`Stylizer.prepare`); ``stylizer`` is the method's own."""

    def __init__(self, stylizer: MethodStylizer, method: Optional[str], style_sources: list[tuple[Any, float]]):
        self.stylizer, self.method, self.style_sources = stylizer, method, style_sources

    def paint(self, loaded: tuple[Image.Image, Optional[Image.Image]], content: ImageSource,
              progress: Optional[ProgressCallback] = None) -> Image.Image:  # fmt: skip
        """Paint a photo from :meth:`Stylizer.load_content`; ``content`` is described in ``info["painterly"]``."""
        content_image, alpha = loaded
        result = restore_alpha(self.stylizer.stylize_image(content_image, progress), alpha)
        result.info["painterly"] = {
            "method": self.stylizer.settings.get("method", self.method),
            "content": describe_source(content),
            "styles": [[describe_source(source), weight] for source, weight in self.style_sources],
            **{key: value for key, value in result.info.get("painterly", {}).items()},
        }
        return result


def stylize(
    content: ImageSource,
    style: StyleSource | Sequence[StyleSource] | None = None,
    *,
    method: Optional[str] = None,
    progress: Optional[ProgressCallback] = None,
    device: str | torch.device | None = None,
    vgg_weights: str | Path | None = None,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    max_memory: str | int | None = None,
    **options: Any,
) -> Image.Image:
    """Stylize ``content`` with ``style`` and return the result as a PIL image.

    Args:
        content: a path, a PIL image or an ``(H, W, 3)`` array.
        style: a built-in style name (``"starry-night"``), a path, a PIL image, an array, a
            ``(source, weight)`` pair, ``"path:weight"``, or a list of these to blend.
        method: a registered method (``"optimize"`` …; see ``painterly.registry.list_methods``); default
            ``"fast"`` when a ``model`` is given, else ``"optimize"``.
        progress: called with :class:`painterly.progress.ProgressEvent`s; return ``False`` to cancel.
        device: ``"auto"``, ``"cpu"``, ``"cuda"`` …
        max_pixels: largest input and output accepted, in pixels.
        max_memory: a memory budget (``"4G"``, ``"512M"`` or bytes); an image whose estimated peak
            memory exceeds it, or the memory available, is refused in one line before the method starts.
        options: the method's options, e.g. for ``"optimize"`` the fields of
            :class:`painterly.methods.optimize.OptimizeConfig` (``size``, ``steps``, ``strength``,
            ``style_scale``, ``preserve_color``, ``seed`` …). Numbers may be given as numeric text
            (``size="512"``); anything else of the wrong type raises a ``PainterlyError`` naming the option.

    Example:
        >>> painterly.stylize("photo.jpg", "starry-night", size=256).save("out.png")
    """
    stylizer = Stylizer(device=device, vgg_weights=vgg_weights, max_pixels=max_pixels, max_memory=max_memory)
    return stylizer.stylize(content, style, method=method, progress=progress, **options)


__all__ = ["PreparedStylizer", "Stylizer", "describe_source", "load_style_image", "normalize_styles", "parse_style_spec", "stylize",
           "tensor_to_image"]
