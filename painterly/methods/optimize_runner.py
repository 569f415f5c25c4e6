"""The ``optimize`` method as the registry runs it: PIL images in, PIL image out."""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Optional

import torch
from PIL import Image

from painterly.api import config_from_options, load_style_image
from painterly.errors import PainterlyError
from painterly.features.vgg import deepest_layer
from painterly.io.images import image_to_tensor, tensor_to_image
from painterly.methods.optimize import OptimizeConfig, optimize, resize_to_long_side
from painterly.ops.color import luminance, match_color, match_luminance, transfer_luminance
from painterly.preload import import_in_background
from painterly.progress import ProgressCallback
from painterly.registry import register_method


def grey(image: torch.Tensor) -> torch.Tensor:
    """``(B, 3, H, W)`` RGB → the same shape with every channel set to the luminance."""
    return luminance(image).expand_as(image).contiguous()


@register_method("optimize", "Gatys et al. optimization, coarse to fine: best quality, any painting, about a minute", needs_features=True)
def run_optimize(
    content: Image.Image,
    styles: list[tuple[Image.Image, float]],
    *,
    device: torch.device,
    feature_network: Callable,
    progress: Optional[ProgressCallback] = None,
    **options: Any,
) -> Image.Image:
    config: OptimizeConfig = config_from_options(OptimizeConfig, options).validate()
    if "size" not in options and max(content.size) < config.size:  # the default never enlarges a small photo
        config = dataclasses.replace(config, size=max(16, max(content.size)))
    if not styles:
        raise PainterlyError("no style given: name a built-in style (painterly styles) or a painting file")
    # torch.optim imports torch._dynamo (about 2 s) on the first optimizer it builds; importing it
    # now, beside the loading of weights and images, takes that off the time to the first step.
    import_in_background("torch._dynamo")
    vgg = feature_network(deepest_layer([*config.content_layers, *config.style_layers]), config.pooling)
    content_tensor = resize_to_long_side(image_to_tensor(content, device=device), config.size)
    style_tensors = [(image_to_tensor(image, device=device), weight) for image, weight in styles]
    if config.preserve_color == "histogram":
        style_tensors = [(match_color(image, content_tensor), weight) for image, weight in style_tensors]
    target = content_tensor
    if config.preserve_color == "luminance":
        target = grey(content_tensor)
        style_tensors = [(match_luminance(grey(image), target), weight) for image, weight in style_tensors]
    init_image = None
    if config.init not in ("content", "noise"):
        init_image = image_to_tensor(load_style_image(config.init, max_pixels=10**9), device=device)
    result = optimize(vgg, target, style_tensors, config, init_image=init_image, progress=progress)
    if config.preserve_color == "luminance":
        result = transfer_luminance(result, content_tensor)
    image = tensor_to_image(result)
    image.info["painterly"] = {"options": config.to_dict()}
    return image
