"""Optimization-based style transfer (Gatys et al. 2016), coarse to fine.

The image itself is optimized so that its VGG19 features match the content photo's (content
loss) and its Gram matrices match the paintings' (style loss). Most iterations run at low
resolution: the result of each scale, upsampled, starts the next one, so the full-size scale
only refines strokes. Losses are relative (each layer's error divided by its target's energy),
which keeps one set of default weights good for any image, size and weights file.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional, Sequence

import torch
import torch.nn.functional as F

from painterly.devices import autocast, pick_precision, release_free_memory
from painterly.errors import PainterlyError
from painterly.features.vgg import LAYER_NAMES, VGG19, deepest_layer, layer_channels, layer_index
from painterly.losses.gatys import StyleTargets, style_content_losses, style_targets, temporal_loss
from painterly.losses.perceptual import total_variation
from painterly.methods.optimize_spec import (
    INIT_MODES, PARAMETERIZATIONS, OptimizeConfig, ScaleStage, lbfgs_history, optimize_memory, plan_scales,
)  # fmt: skip
from painterly.ops.pyramid import collapse_laplacian_pyramid, laplacian_pyramid
from painterly.ops.resize import resize_to_long_side
from painterly.progress import Cancelled, ProgressCallback, ProgressEvent

__all__ = ["INIT_MODES", "PARAMETERIZATIONS", "OptimizeConfig", "ScaleStage", "TemporalTerm", "estimate_memory", "optimize",
           "plan_scales"]  # fmt: skip

#: Steps over which ``stop_tolerance`` measures a scale's relative loss change.
STOP_WINDOW = 5
#: Long side (px) of the coarsest band of the ``"laplacian"`` parameterization, at most.
PYRAMID_COARSEST = 32


@dataclass
class TemporalTerm:
    """A pull towards a target image where a mask is set, for video (Ruder et al. 2016): each
    frame stays close to the previous output warped along the optical flow.

    Attributes:
        target: ``(1, 3, H, W)`` in ``[0, 1]``, any size (resized to every scale).
        mask: ``(1, 1, H, W)`` in ``[0, 1]``, 1 where the target holds (not occluded).
        weight: weight of the loss, the mean squared pixel difference over the masked pixels.
    """

    target: torch.Tensor
    mask: torch.Tensor
    weight: float = 1000.0


def upsample_with_detail(image: torch.Tensor, content: torch.Tensor, detail: float) -> torch.Tensor:
    """Upsample a coarse result to ``content``'s size and add back ``detail`` × the photo's fine detail.

    Upsampling leaves the image blurred; the photo's high frequencies (the photo minus its own
    down-and-up-sampled copy) put its edges back where they belong, so the few full-size steps
    refine strokes instead of rebuilding the layout.

    Args:
        image: ``(1, 3, h, w)`` coarse result in ``[0, 1]``.
        content: ``(1, 3, H, W)`` photo at the new scale, in ``[0, 1]``.
        detail: 0 for plain bicubic upsampling, 1 for all of the photo's missing detail.

    Returns:
        ``(1, 3, H, W)`` in ``[0, 1]``.
    """
    size = content.shape[-2:]
    upsampled = F.interpolate(image, size=size, mode="bicubic", align_corners=False)
    if detail:
        coarse_content = F.interpolate(content, size=image.shape[-2:], mode="bicubic", align_corners=False, antialias=True)
        blurred_content = F.interpolate(coarse_content, size=size, mode="bicubic", align_corners=False)
        upsampled = upsampled + detail * (content - blurred_content)
    return upsampled.clamp(0, 1)


def _initial_image(config: OptimizeConfig, content: torch.Tensor, init_image: Optional[torch.Tensor]) -> torch.Tensor:
    if init_image is not None:
        return F.interpolate(init_image, size=content.shape[-2:], mode="bicubic", align_corners=False).clamp(0, 1)
    if config.init == "noise":
        generator = torch.Generator(device="cpu").manual_seed(config.seed)
        noise = torch.rand(content.shape, generator=generator).to(content.device)
        # Mostly noise, a little content: pure noise needs many more steps to find the layout.
        return (0.75 * noise + 0.25 * content).clamp(0, 1)
    return content.clone()


def _activation_bytes(layers: Sequence[str], height: int, width: int, dtype: torch.dtype, pooling: str,
                      style_layers: Sequence[str], half_gram: bool = False) -> int:  # fmt: skip
    """Bytes autograd keeps for one VGG19 pass up to the deepest of ``layers`` on an ``H × W`` image."""
    if not layers:
        return 0
    element = torch.tensor([], dtype=dtype).element_size()
    total = 3 * height * width * (4 + element)  # the preprocessed input, and its low-precision copy
    for name in LAYER_NAMES[: layer_index(deepest_layer(layers)) + 1]:
        block = int(name[4]) if not name.startswith("pool") else int(name[4]) + 1
        scale = 2 ** (block - 1)
        positions = math.ceil(height / scale) * math.ceil(width / scale)
        channels = layer_channels(name)
        if name.startswith("relu"):
            total += channels * positions * element  # kept for the backward pass
            if name in style_layers and element < 4 and not half_gram:
                total += channels * positions * 4  # the float32 copy the Gram matrix is summed in
        elif name.startswith("pool") and pooling == "max":
            total += channels * positions * 8  # the argmax indices
    return total


def estimate_memory(config: OptimizeConfig, height: int, width: int, device: torch.device = torch.device("cpu")) -> int:
    """Bytes the optimization needs above the loaded network, for an output of ``height × width``.

    Counts what the top scale holds at once: the activations autograd keeps for its VGG19 passes
    (the full-size one and, where the scale is split, the half-size one), the backward pass's largest
    gradients, and L-BFGS's history of image-sized vectors (one pair per step of that scale, at most
    :func:`lbfgs_history`). It is an estimate: the allocator and
    oneDNN's buffers add a few percent.
    """
    dtype = pick_precision(config.precision, device)
    plan = plan_scales(config.size, min(config.min_size, config.size), config.total_steps, config.fine_share)
    full_size, half_size = split_layers(config, split=len(plan) > 1)
    activations = _activation_bytes(full_size, height, width, dtype, config.pooling, config.style_layers, config.half_gram)
    activations += _activation_bytes(half_size, (height + 1) // 2, (width + 1) // 2, dtype, config.pooling,
                                    config.style_layers, config.half_gram)  # fmt: skip
    largest_gradient = 2 * 64 * height * width * 4  # relu1_x's gradient in float32, and the one before it
    pixels = 3 * height * width * 4
    pairs = min(lbfgs_history(3 * height * width), plan[-1].steps)  # at most one pair per step it ran
    optimizer = (2 * pairs + 6) * pixels if config.optimizer == "lbfgs" else 4 * pixels
    return activations + largest_gradient + optimizer


def normalized_weights(styles: Sequence[tuple[torch.Tensor, float]]) -> list[tuple[torch.Tensor, float]]:
    """The paintings with weights summing to 1; an error for none, or for weights adding up to 0."""
    if not styles:
        raise PainterlyError("no style given: pass at least one painting")
    total_weight = sum(weight for _, weight in styles)
    if total_weight <= 0:
        raise PainterlyError("style weights must add up to more than 0")
    return [(image, weight / total_weight) for image, weight in styles]


@dataclass
class LayerTargets:
    """What the image's features at some layers are compared with, measured at one size: the
    paintings' Gram targets and the photo's content features."""

    style: StyleTargets
    content: dict[str, torch.Tensor]


class TargetCache:
    """The paintings' and the photo's targets by (long side, layers), each measured once per run:
    a split scale reuses the deep targets of the scale below it."""

    def __init__(self, vgg: VGG19, content: torch.Tensor, styles: Sequence[tuple[torch.Tensor, float]],
                 config: OptimizeConfig, dtype: torch.dtype, memory_format: torch.memory_format):  # fmt: skip
        self.vgg, self.content, self.styles, self.config = vgg, content, styles, config
        self.dtype, self.memory_format = dtype, memory_format
        self._cache: dict[tuple[int, tuple[str, ...]], LayerTargets] = {}

    def at(self, long_side: int, layers: Sequence[str]) -> LayerTargets:
        """The targets of ``layers`` (style and content layers among them) at ``long_side``."""
        layers = tuple(layers)
        for (side, cached_layers), targets in self._cache.items():
            if side == long_side and set(layers) <= set(cached_layers):
                return targets
        config = self.config
        style_layers = [layer for layer in config.style_layers if layer in layers]
        content_layers = [layer for layer in config.content_layers if layer in layers]
        side = max(16, round(long_side * config.style_scale))
        paintings = [(resize_to_long_side(painting, side), weight) for painting, weight in self.styles]
        style = style_targets(self.vgg, paintings, style_layers, self.dtype) if style_layers else StyleTargets({})
        content: dict[str, torch.Tensor] = {}
        if content_layers:
            photo = resize_to_long_side(self.content, long_side).contiguous(memory_format=self.memory_format)
            with torch.no_grad(), autocast(photo.device, self.dtype):
                content = {layer: value.float() for layer, value in self.vgg(photo, content_layers).items()}
        self._cache[(long_side, layers)] = LayerTargets(style, content)
        return self._cache[(long_side, layers)]


def split_layers(config: OptimizeConfig, split: bool) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """``(full-size layers, half-size layers)`` of a scale: every layer at full size unless ``split``
    and some style layer is in ``config.full_size_layers``."""
    every = tuple(dict.fromkeys([*config.style_layers, *config.content_layers]))
    full_size = tuple(layer for layer in config.style_layers if layer in config.full_size_layers)
    if not split or not full_size:
        return every, ()
    return full_size, tuple(layer for layer in every if layer not in full_size)


def downsample(image: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """``(B, C, H, W)`` to ``(B, C, *size)``, antialiased bicubic as :func:`resize_to_long_side` but
    unclamped, so that gradients flow to every pixel."""
    if tuple(image.shape[-2:]) == tuple(size):
        return image
    return F.interpolate(image, size=size, mode="bicubic", align_corners=False, antialias=True)


def _parameters(start: torch.Tensor, config: OptimizeConfig) -> list[torch.Tensor]:
    """The tensors the optimizer changes, starting at the ``(1, 3, H, W)`` image ``start``."""
    if config.parameterization == "laplacian":
        levels = 1 + max(0, int(math.log2(max(start.shape[-2:]) / PYRAMID_COARSEST)))
        return [band.detach().contiguous().requires_grad_(True) for band in laplacian_pyramid(start.detach(), levels)]
    return [start.detach().contiguous().requires_grad_(True)]


def _image_of(parameters: list[torch.Tensor], config: OptimizeConfig) -> torch.Tensor:
    """The ``(1, 3, H, W)`` image that :func:`_parameters`' tensors stand for."""
    if config.parameterization == "laplacian":
        return collapse_laplacian_pyramid(parameters)
    return parameters[0]


def loss_settled(history: Sequence[float], tolerance: float, window: int = STOP_WINDOW) -> bool:
    """Whether the loss fell by less than ``tolerance`` (a fraction) over the last ``window`` steps.

    Example:
        >>> loss_settled([10.0, 9.0, 8.99, 8.98, 8.97, 8.96, 8.95], 0.01)
        True
    """
    if tolerance <= 0 or len(history) <= window:
        return False
    before, now = history[-1 - window], history[-1]
    return before - now < tolerance * abs(before)


def _optimizer_for(parameters: list[torch.Tensor], config: OptimizeConfig) -> torch.optim.Optimizer:
    if config.optimizer == "lbfgs":
        numel = sum(parameter.numel() for parameter in parameters)
        return torch.optim.LBFGS(parameters, lr=1.0, max_iter=1, history_size=lbfgs_history(numel))
    return torch.optim.Adam(parameters, lr=config.learning_rate)


def _step_event(config: OptimizeConfig, step: int, total: int, stage: str, losses: dict[str, float], pixels: torch.Tensor,
                work: float) -> ProgressEvent:  # fmt: skip
    """The progress event after ``step``, with a preview every ``config.preview_every`` steps and at the last."""
    wants_preview = config.preview_every > 0 and (step % config.preview_every == 0 or step == total)
    preview = pixels.detach().clamp(0, 1).float().cpu().contiguous() if wants_preview else None
    return ProgressEvent(step=step, total=total, stage=stage, losses=dict(losses), preview=preview, work=work)


def optimize(
    vgg: VGG19,
    content: torch.Tensor,
    styles: Sequence[tuple[torch.Tensor, float]],
    config: OptimizeConfig = OptimizeConfig(),
    *,
    init_image: Optional[torch.Tensor] = None,
    progress: Optional[ProgressCallback] = None,
    temporal: Optional[TemporalTerm] = None,
) -> torch.Tensor:
    """Stylize ``content`` with the weighted ``styles``, coarse to fine.

    Args:
        vgg: the feature network, on the device to compute on.
        content: ``(1, 3, H, W)`` photo in ``[0, 1]``, any size (resized to ``config.size``).
        styles: ``[(image (1, 3, H_i, W_i) in [0, 1], weight)]``; weights are normalized.
            For colour preservation, pass them already prepared (see ``painterly.api``).
        config: the options.
        init_image: an image to start from instead of ``config.init``.
        progress: called after every step; returning ``False`` cancels (raises ``Cancelled``).
        temporal: an optional temporal loss (video frames), added to the total at every scale.

    Returns:
        ``(1, 3, H', W')`` in ``[0, 1]`` with ``max(H', W') == config.size``.
    """
    config.validate()
    styles = normalized_weights(styles)
    device = content.device
    dtype = pick_precision(config.precision, device)
    # oneDNN's CPU convolutions prefer channels-last in float32 too (1.86 s against 2.85 s a 512 px step).
    default_layout = dtype == torch.bfloat16 or device.type == "cpu"
    channels_last = config.channels_last if config.channels_last is not None else default_layout
    memory_format = torch.channels_last if channels_last else torch.contiguous_format
    vgg = vgg.to(memory_format=memory_format)
    deepest = deepest_layer([*config.content_layers, *config.style_layers])
    if deepest not in vgg.layer_names:
        raise PainterlyError(f"the VGG19 network stops at {vgg.last_layer}; build it up to {deepest}")
    layer_weights = config.style_layer_weights or tuple(1.0 for _ in config.style_layers)
    style_layer_weights = {layer: w / sum(layer_weights) for layer, w in zip(config.style_layers, layer_weights)}
    style_weight = config.style_weight * config.strength

    plan = plan_scales(config.size, min(config.min_size, config.size), config.total_steps, config.fine_share)
    total_steps = sum(stage.steps for stage in plan)
    costs = [stage.steps * stage.long_side**2 for stage in plan]
    step = 0
    image: Optional[torch.Tensor] = None
    # Step 0: inputs are read and checked; say so before the first (slowest) step starts.
    if progress is not None:
        scale = config.size / max(content.shape[-2:])
        out_height, out_width = (max(1, round(side * scale)) for side in content.shape[-2:])
        memory = optimize_memory(config, out_width, out_height, dtype)
        if progress(ProgressEvent(step=0, total=total_steps, stage="preparing", work=0.0, memory=memory)) is False:
            raise Cancelled("cancelled before the first step")
    targets_at = TargetCache(vgg, content, styles, config, dtype, memory_format)
    for index, stage in enumerate(plan):
        content_at_scale = resize_to_long_side(content, stage.long_side)
        full_size_layers, half_size_layers = split_layers(config, split=index > 0)
        full = targets_at.at(stage.long_side, full_size_layers)
        half = targets_at.at(plan[index - 1].long_side, half_size_layers) if half_size_layers else LayerTargets(StyleTargets({}), {})
        half_shape = resize_to_long_side(content, plan[index - 1].long_side).shape[-2:] if half_size_layers else None
        targets = StyleTargets({**half.style.grams, **full.style.grams}, {**half.style.energy, **full.style.energy})
        content_targets = {**half.content, **full.content}
        if temporal is not None:
            temporal_target = F.interpolate(temporal.target, size=content_at_scale.shape[-2:], mode="bilinear", align_corners=False)
            temporal_mask = F.interpolate(temporal.mask, size=content_at_scale.shape[-2:], mode="bilinear", align_corners=False)
        if image is None:
            start = _initial_image(config, content_at_scale, init_image)
        else:
            start = upsample_with_detail(image, content_at_scale, config.detail_transfer)
        # The parameters stay in NCHW: L-BFGS flattens gradients with view(); only VGG's input is channels_last.
        parameters = _parameters(start, config)
        optimizer = _optimizer_for(parameters, config)
        last: dict[str, float] = {}

        def closure() -> torch.Tensor:
            optimizer.zero_grad(set_to_none=True)
            current = _image_of(parameters, config)
            with autocast(device, dtype):
                features = vgg(current.contiguous(memory_format=memory_format), full_size_layers)
                if half_shape is not None:
                    features.update(vgg(downsample(current, half_shape).contiguous(memory_format=memory_format), half_size_layers))
            losses = {"content": config.content_weight, "style": style_weight, "tv": config.tv_weight}
            content_value, style_value = style_content_losses(features, content_targets, targets, style_layer_weights,
                                                              half_products=config.half_gram)  # fmt: skip
            values = {"content": content_value, "style": style_value}
            values["tv"] = total_variation(current)
            if temporal is not None:
                losses["temporal"] = temporal.weight
                values["temporal"] = temporal_loss(current, temporal_target, temporal_mask)
            loss: torch.Tensor = sum(weight * values[name] for name, weight in losses.items())  # type: ignore[assignment]
            loss.backward()
            last.update(total=loss.item(), **{name: value.item() for name, value in values.items()})
            return loss

        stage_name = f"scale {index + 1}/{len(plan)} ({stage.long_side} px)"
        history: list[float] = []
        stage_end = step + stage.steps
        for stage_step in range(stage.steps):
            optimizer.step(closure)
            if config.optimizer == "adam" and config.parameterization == "pixels":
                with torch.no_grad():
                    parameters[0].clamp_(0, 1)
            step += 1
            if not math.isfinite(last.get("total", 0.0)):
                raise PainterlyError("the loss became NaN or infinite: lower the style weight or use --precision fp32")
            history.append(last["total"])
            stopping = stage_step + 1 < stage.steps and loss_settled(history, config.stop_tolerance)
            if stopping:
                step = stage_end  # the steps left at this scale are skipped, the progress bar jumps over them
            if progress is not None:
                done = (sum(costs[:index]) + costs[index] * (1 if stopping else (stage_step + 1) / stage.steps)) / sum(costs)
                if progress(_step_event(config, step, total_steps, stage_name, last, _image_of(parameters, config), done)) is False:
                    raise Cancelled(f"cancelled at step {step} of {total_steps}")
            if stopping:
                break
        image = _image_of(parameters, config).detach().clamp(0, 1)
        optimizer.state.clear()  # L-BFGS's history: image-sized vectors, freed before the next scale
        release_free_memory()
    assert image is not None
    return image.float().contiguous()
