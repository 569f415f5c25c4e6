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
from painterly.methods.optimize import INIT_MODES, OptimizeConfig, TemporalTerm, optimize, plan_scales
from painterly.methods.optimize_spec import (OPTIMIZE_BASE_BYTES, OPTIMIZE_PAINTING_BYTES, OPTIMIZE_PIXEL_BYTES,
                                             OPTIMIZER_STEP_BYTES, SPEC, optimize_memory)  # fmt: skip
from painterly.methods.spec import FeatureNetwork, Paintings
from painterly.ops.color import grey, match_color, match_luminance, transfer_luminance
from painterly.ops.resize import resize_to_long_side
from painterly.preload import import_in_background
from painterly.progress import ProgressCallback
from painterly.styles.catalog import load_style_image

#: Temporal loss weight at consistency 1 (the loss is a mean squared pixel difference, ~1e-3 where
#: frames flicker, against relative content and style losses of order 1).
TEMPORAL_WEIGHT = 2000.0

__all__ = ["OPTIMIZE_BASE_BYTES", "OPTIMIZE_PAINTING_BYTES", "OPTIMIZE_PIXEL_BYTES", "OPTIMIZER_STEP_BYTES", "SPEC",
           "TEMPORAL_WEIGHT", "OptimizeStylizer", "anystyle_plan", "anystyle_start", "optimize_memory", "top_scale_only"]  # fmt: skip


def anystyle_start(content: torch.Tensor, paintings: list[tuple[torch.Tensor, float]], style_scale: float,
                   device: torch.device, feature_network: Optional[FeatureNetwork] = None) -> torch.Tensor:  # fmt: skip
    """The any-painting network's painting of ``content`` ``(1, 3, H, W)`` with ``paintings``
    (``[(image (1, 3, h, w), weight)]``): a start as close to the painting's textures as the lower
    scales bring the photo, in a fraction of their time. Returns ``(1, 3, H, W)`` in ``[0, 1]``."""
    from painterly.methods.anystyle import AnyStyleStylizer  # only this start needs it
    from painterly.methods.anystyle_spec import AnyStyleMethodConfig

    styles = [(tensor_to_image(image), weight) for image, weight in paintings]
    network = AnyStyleStylizer(styles, AnyStyleMethodConfig(style_scale=style_scale), device, feature_network)
    return network.stylize_tensor(content).clamp(0, 1)


def top_scale_only(config: OptimizeConfig) -> OptimizeConfig:
    """``config`` run at its full size only, for the steps its top scale would get (a learned start
    stands in for the lower scales)."""
    top = plan_scales(config.size, min(config.min_size, config.size), config.total_steps, config.fine_share)[-1]
    return dataclasses.replace(config, steps=top.steps, min_size=config.size)


def anystyle_plan(content: torch.Tensor, paintings: list[tuple[torch.Tensor, float]], config: OptimizeConfig,
                  device: torch.device, feature_network: Optional[FeatureNetwork] = None) -> tuple[torch.Tensor, OptimizeConfig]:  # fmt: skip
    """What ``init="anystyle"`` runs: ``(start, config)``, the any-painting network's painting of
    ``content`` and ``config`` cut to its top scale's steps (see :func:`anystyle_start`)."""
    return anystyle_start(content, paintings, config.style_scale, device, feature_network), top_scale_only(config)


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
        self.feature_network = feature_network
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
        if self.config.init in INIT_MODES:  # not a file: made in optimize() or, for anystyle, in stylize_image
            return None
        what = f"init (one of {', '.join(INIT_MODES)}, or an image)"
        return image_to_tensor(load_style_image(self.config.init, max_pixels=10**9, what=what), device=self.device)

    def stylize_image(self, image: Image.Image, progress: Optional[ProgressCallback] = None) -> Image.Image:
        config = self.config
        if not self.size_given and max(image.size) < config.size:
            config = dataclasses.replace(config, size=max(16, max(image.size)))
        content = resize_to_long_side(image_to_tensor(image, device=self.device), config.size)
        target = grey(content) if config.preserve_color == "luminance" else content
        paintings, init_image, run = self._prepared(target), self._init_image(), config
        if config.init == "anystyle":
            init_image, run = anystyle_plan(target, paintings, config, self.device, self.feature_network)
        result = optimize(self.vgg, target, paintings, run, init_image=init_image, progress=progress)
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


def build_stylizer(config: OptimizeConfig, *, paintings: Paintings, device: Any, feature_network: FeatureNetwork,
                   given_options: frozenset = frozenset(), **_: Any) -> "OptimizeStylizer":  # fmt: skip
    """The optimize method's stylizer (:class:`painterly.methods.optimize_stylizer.OptimizeStylizer`)."""
    return OptimizeStylizer(config, paintings, device, feature_network, size_given="size" in given_options)
