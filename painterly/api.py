"""The Python API: ``painterly.stylize(content, style, **options) -> PIL.Image``.

A :class:`Stylizer` keeps the device and the loaded VGG19 network between calls (a folder, a web
server); the module-level :func:`stylize` makes a fresh one for a single call.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Optional, Sequence, Union

import numpy as np
import torch
from PIL import Image

from painterly.devices import resolve_device
from painterly.errors import PainterlyError
from painterly.features.vgg import VGG19
from painterly.features.weights import VGGWeights, find_weights, load_vgg19
from painterly.io.images import DEFAULT_MAX_PIXELS, load_image, restore_alpha, split_alpha, tensor_to_image
from painterly.progress import ProgressCallback
from painterly.registry import find_style, get_method, resolve_style_path

ImageSource = Union[str, Path, Image.Image, np.ndarray]
StyleSource = Union[ImageSource, tuple]


def parse_style_spec(spec: str) -> tuple[str, float]:
    """``"starry-night"`` → ``("starry-night", 1.0)``; ``"a.jpg:0.3"`` → ``("a.jpg", 0.3)``."""
    head, separator, tail = spec.rpartition(":")
    if separator and head:
        try:
            weight = float(tail)
        except ValueError:
            return spec, 1.0  # a ':' inside a path, not a weight
        if weight < 0:
            raise PainterlyError(f"style weight in {spec!r} is negative: use a weight of 0 or more")
        return head, weight
    return spec, 1.0


def normalize_styles(style: StyleSource | Sequence[StyleSource]) -> list[tuple[ImageSource, float]]:
    """Any accepted way to give styles → ``[(source, weight)]``.

    Accepts a built-in name or path (optionally ``"path:weight"``), a PIL image, an array, a
    ``(source, weight)`` pair, or a list of these.
    """
    items = style if isinstance(style, list) else [style]
    normalized: list[tuple[ImageSource, float]] = []
    for item in items:
        if isinstance(item, tuple):
            source, weight = item
            normalized.append((source, float(weight)))
        elif isinstance(item, str):
            normalized.append(parse_style_spec(item))
        else:
            normalized.append((item, 1.0))
    return normalized


def load_style_image(source: ImageSource, max_pixels: int) -> Image.Image:
    """A style given as a built-in name, a path, a PIL image or an array, as an RGB image."""
    if isinstance(source, (str, Path)):
        return load_image(resolve_style_path(source), max_pixels=max_pixels)
    return load_image(source, max_pixels=max_pixels)


def describe_source(source: Any) -> str:
    """A short text naming an input, for metadata and reports."""
    if isinstance(source, (str, Path)):
        entry = find_style(str(source)) if isinstance(source, str) else None
        return entry.name if entry else Path(source).name
    if isinstance(source, Image.Image):
        return f"<image {source.width}x{source.height}>"
    return f"<array {tuple(np.shape(source))}>"


class Stylizer:
    """Stylizes images on one device, keeping the feature network loaded between calls.

    Args:
        device: ``"auto"`` (CUDA when available), ``"cpu"``, ``"cuda"``, ``"cuda:1"`` …
        vgg_weights: a VGG19 weights file; ``None`` finds the default (see ``painterly.features``).
        max_pixels: largest input accepted, in pixels.
    """

    def __init__(self, device: str | torch.device | None = None, vgg_weights: str | Path | None = None, max_pixels: int = DEFAULT_MAX_PIXELS):
        self.device = resolve_device(device)
        self.vgg_weights = vgg_weights
        self.max_pixels = max_pixels
        self._weights: Optional[VGGWeights] = None
        self._networks: dict[tuple[str, str], VGG19] = {}

    def feature_network(self, last_layer: str = "relu5_1", pooling: str = "max") -> VGG19:
        """The VGG19 network up to ``last_layer``, loaded once per (layer, pooling)."""
        key = (last_layer, pooling)
        if key not in self._networks:
            if self._weights is None:
                self._weights = find_weights(self.vgg_weights)
            self._networks[key] = load_vgg19(last_layer=last_layer, device=self.device, weights=self._weights, pooling=pooling)
        return self._networks[key]

    def stylize(
        self,
        content: ImageSource,
        style: StyleSource | Sequence[StyleSource] | None = None,
        *,
        method: str = "optimize",
        progress: Optional[ProgressCallback] = None,
        **options: Any,
    ) -> Image.Image:
        """Stylize one image; see :func:`painterly.stylize`."""
        entry = get_method(method)
        # Transparent areas are painted as white paper and get their transparency back at the end.
        content_image, alpha = split_alpha(load_image(content, max_pixels=self.max_pixels, keep_alpha=True))
        style_sources = normalize_styles(style) if style is not None else []
        styles = [(load_style_image(source, self.max_pixels), weight) for source, weight in style_sources]
        if entry.needs_features:
            options["feature_network"] = self.feature_network
        result = restore_alpha(entry.run(content_image, styles, device=self.device, progress=progress, **options), alpha)
        result.info["painterly"] = {
            "method": method,
            "content": describe_source(content),
            "styles": [[describe_source(source), weight] for source, weight in style_sources],
            **{key: value for key, value in result.info.get("painterly", {}).items()},
        }
        return result


def stylize(
    content: ImageSource,
    style: StyleSource | Sequence[StyleSource] | None = None,
    *,
    method: str = "optimize",
    progress: Optional[ProgressCallback] = None,
    device: str | torch.device | None = None,
    vgg_weights: str | Path | None = None,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    **options: Any,
) -> Image.Image:
    """Stylize ``content`` with ``style`` and return the result as a PIL image.

    Args:
        content: a path, a PIL image or an ``(H, W, 3)`` array.
        style: a built-in style name (``"starry-night"``), a path, a PIL image, an array, a
            ``(source, weight)`` pair, ``"path:weight"``, or a list of these to blend.
        method: a registered method (``"optimize"`` …; see ``painterly.registry.list_methods``).
        progress: called with :class:`painterly.progress.ProgressEvent`s; return ``False`` to cancel.
        device: ``"auto"``, ``"cpu"``, ``"cuda"`` …
        options: the method's options, e.g. for ``"optimize"`` the fields of
            :class:`painterly.methods.optimize.OptimizeConfig` (``size``, ``steps``, ``strength``,
            ``style_scale``, ``preserve_color``, ``seed`` …).

    Example:
        >>> painterly.stylize("photo.jpg", "starry-night", size=256).save("out.png")
    """
    stylizer = Stylizer(device=device, vgg_weights=vgg_weights, max_pixels=max_pixels)
    return stylizer.stylize(content, style, method=method, progress=progress, **options)


def config_from_options(config_type: type, options: dict[str, Any]):
    """Build a config dataclass from keyword options, rejecting unknown names clearly."""
    names = {item.name for item in dataclasses.fields(config_type)}
    unknown = sorted(set(options) - names)
    if unknown:
        raise PainterlyError(f"unknown option(s) {', '.join(unknown)}: valid options are {', '.join(sorted(names))}")
    values = {key: tuple(value) if isinstance(value, list) else value for key, value in options.items()}
    return config_type(**values)


__all__ = ["Stylizer", "config_from_options", "normalize_styles", "parse_style_spec", "stylize", "tensor_to_image"]
