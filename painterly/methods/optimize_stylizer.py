"""The ``optimize`` method as every interface runs it: PIL images (or video frames) in and out,
colour preservation around :func:`painterly.methods.optimize.optimize`."""

from __future__ import annotations

import dataclasses
from typing import Any, Optional

import torch
from PIL import Image

from painterly.errors import PainterlyError
from painterly.features.vgg import deepest_layer
from painterly.io.images import image_to_tensor, pixels_digest, tensor_to_image
from painterly.methods.optimize import OptimizeConfig, TemporalTerm, optimize, plan_scales
from painterly.methods.spec import FeatureNetwork, MethodSpec, Paintings
from painterly.ops.color import grey, match_color, match_luminance, transfer_luminance
from painterly.ops.resize import resize_to_long_side
from painterly.preload import import_in_background
from painterly.progress import ProgressCallback
from painterly.styles.catalog import load_style_image

#: Temporal loss weight at consistency 1 (the loss is a mean squared pixel difference, ~1e-3 where
#: frames flicker, against relative content and style losses of order 1).
TEMPORAL_WEIGHT = 2000.0


class OptimizeStylizer:
    """Gatys et al. optimization with the paintings loaded once, for images and video frames.

    Video frames after the first start from the previous output warped onto them and add a
    temporal loss (Ruder et al. 2016) of weight ``guidance.strength × TEMPORAL_WEIGHT``, at full
    size only, in half the first frame's steps.
    """

    uses_guidance = True

    def __init__(self, config: OptimizeConfig, paintings: Paintings, device: torch.device, feature_network: FeatureNetwork,
                 size_given: bool = True):  # fmt: skip
        if not paintings:
            raise PainterlyError("no style given: name a built-in style (painterly styles) or a painting file")
        self.config = config.validate()
        self.device = device
        self.size_given = size_given  # without an explicit size, a photo smaller than the default keeps its own
        # torch.optim imports torch._dynamo (about 2 s) on the first optimizer it builds; importing it
        # now, beside the loading of weights and images, takes that off the time to the first step.
        import_in_background("torch._dynamo")
        self.vgg = feature_network(deepest_layer([*config.content_layers, *config.style_layers]), config.pooling)
        self.paintings = [(image_to_tensor(image, device=device), weight) for image, weight in paintings]
        self.later_steps = max(1, config.total_steps // 2)
        self._frame_paintings: list[tuple[torch.Tensor, float]] = []
        self.settings = {
            "method": "optimize",
            "styles": {"weights": [weight for _, weight in paintings], "pixels_sha256": pixels_digest([image for image, _ in paintings])},
            "options": {key: value for key, value in config.to_dict().items() if key != "size"},
            "later_steps": self.later_steps,
            "temporal_weight": TEMPORAL_WEIGHT,
        }

    def _prepared(self, target: torch.Tensor) -> list[tuple[torch.Tensor, float]]:
        """The paintings recoloured for the colour-preservation mode, against ``target``."""
        mode = self.config.preserve_color
        if mode == "histogram":
            return [(match_color(image, target), weight) for image, weight in self.paintings]
        if mode == "luminance":
            return [(match_luminance(grey(image), target), weight) for image, weight in self.paintings]
        return list(self.paintings)

    def _init_image(self) -> Optional[torch.Tensor]:
        if self.config.init in ("content", "noise"):
            return None
        return image_to_tensor(load_style_image(self.config.init, max_pixels=10**9), device=self.device)

    def stylize_image(self, image: Image.Image, progress: Optional[ProgressCallback] = None) -> Image.Image:
        config = self.config
        if not self.size_given and max(image.size) < config.size:
            config = dataclasses.replace(config, size=max(16, max(image.size)))
        content = resize_to_long_side(image_to_tensor(image, device=self.device), config.size)
        target = grey(content) if config.preserve_color == "luminance" else content
        result = optimize(self.vgg, target, self._prepared(target), config, init_image=self._init_image(), progress=progress)
        if config.preserve_color == "luminance":
            result = transfer_luminance(result, content)
        painted = tensor_to_image(result)
        painted.info["painterly"] = {"options": config.to_dict()}
        return painted

    def stylize_frame(self, frame: torch.Tensor, guidance: Any = None) -> torch.Tensor:
        config = self.config
        frame = frame.to(self.device)
        frame_config = dataclasses.replace(config, size=max(frame.shape[-2:]))
        target = grey(frame) if config.preserve_color == "luminance" else frame
        if not self._frame_paintings:  # recoloured once, from the first frame, so the palette stays put
            self._frame_paintings = self._prepared(target)
        if guidance is None or guidance.strength == 0:
            result = optimize(self.vgg, target, self._frame_paintings, frame_config)
        else:
            warped, mask = guidance.warped.to(self.device), guidance.mask.to(self.device)
            warped = grey(warped) if config.preserve_color == "luminance" else warped
            start = torch.lerp(target, warped, mask)
            temporal = TemporalTerm(warped, mask, guidance.strength * TEMPORAL_WEIGHT)
            # One scale only: coarse scales would blur the carried-over strokes away.
            refine = dataclasses.replace(frame_config, steps=self.later_steps, min_size=frame_config.size)
            result = optimize(self.vgg, target, self._frame_paintings, refine, init_image=start, temporal=temporal)
        if config.preserve_color == "luminance":
            result = transfer_luminance(result, frame)
        return result


#: Peak memory of the optimize method, measured with ``/usr/bin/time -v`` (see docs/methods.md): the
#: process with PyTorch and VGG19 loaded (489 MB painting 64 px; about 610 MB where the line through the
#: 512 px and 1024 px runs meets 0 pixels).
OPTIMIZE_BASE_BYTES = 620 * 2**20
#: Per pixel of the finest scale, VGG19's activations kept for the backward pass and its gradients,
#: by compute dtype size (bf16: 971 MB at 512×384 and 2.03 GB at 1024×768 measured; fp32: 1.01 GB
#: at 512×384; bf16 autocast keeps float32 copies, so it saves little here).
OPTIMIZE_PIXEL_BYTES = {4: 2200, 2: 2050}
#: Per pixel of a painting passed through VGG19 without gradients (its Gram targets).
OPTIMIZE_PAINTING_BYTES = {4: 600, 2: 350}
#: Per pixel and per step kept by the optimizer: L-BFGS keeps two float32 vectors of the image per
#: step (up to 50 steps), 24 bytes, measured 39 with the allocator's overhead (512×384: 971 MB after
#: 2 steps at the finest scale, 1.27 GB after 47); Adam two moments.
OPTIMIZER_STEP_BYTES = 40


def optimize_memory(config: OptimizeConfig, width: int, height: int, dtype: torch.dtype, batch: int = 1) -> int:
    """Estimated peak memory in bytes of the optimize method painting a ``width × height`` result.

    Its finest scale decides: VGG19 forward and backward on the whole image (no tiles: the
    style loss needs the whole image at once), the optimizer's history over that scale's steps, and
    the painting seen at ``style_scale`` times the size.

    Example:
        >>> round(optimize_memory(OptimizeConfig(size=1024), 1024, 768, torch.bfloat16) / 2**30, 1)
        2.8
    """
    pixels = batch * width * height
    size = 4 if dtype == torch.float32 else 2
    finest_steps = plan_scales(max(width, height), min(config.min_size, max(width, height)), config.total_steps,
                               config.fine_share)[-1].steps  # fmt: skip
    kept_steps = min(50, finest_steps) if config.optimizer == "lbfgs" else 1
    painting_side = round(max(width, height) * config.style_scale)
    painting_pixels = painting_side * painting_side * 3 // 4  # a painting of 4:3 proportions
    network = max(OPTIMIZE_PIXEL_BYTES[size] * pixels, OPTIMIZE_PAINTING_BYTES[size] * painting_pixels)
    return OPTIMIZE_BASE_BYTES + network + OPTIMIZER_STEP_BYTES * kept_steps * pixels


def build(config: OptimizeConfig, *, paintings: Paintings, device: torch.device, feature_network: FeatureNetwork,
          given_options: frozenset = frozenset(), **_: Any) -> OptimizeStylizer:  # fmt: skip
    return OptimizeStylizer(config, paintings, device, feature_network, size_given="size" in given_options)


SPEC = MethodSpec(
    name="optimize",
    summary="Gatys et al. optimization, coarse to fine: best quality, any painting, about a minute",
    config=OptimizeConfig,
    build=build,
    options=("size", "steps", "strength", "style_scale", "preserve_color", "seed", "init", "optimizer", "precision",
             "content_weight", "style_weight", "tv_weight", "content_layers", "style_layers", "style_layer_weights",
             "min_size", "fine_share", "full_size_layers", "stop_tolerance", "parameterization", "learning_rate", "pooling",
             "channels_last", "preview_every"),
    needs_painting=True,
    needs_features=True,
    previews=True,
    label="High quality",
    kind="high-quality",
    memory=optimize_memory,
)
