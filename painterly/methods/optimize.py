"""Optimization-based style transfer (Gatys et al. 2016), coarse to fine.

The image itself is optimized so that its VGG19 features match the content photo's (content
loss) and its Gram matrices match the paintings' (style loss). Most iterations run at low
resolution: the result of each scale, upsampled, starts the next one, so the full-size scale
only refines strokes. Losses are relative (each layer's error divided by its target's energy),
which keeps one set of default weights good for any image, size and weights file.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Optional, Sequence

import torch
import torch.nn.functional as F

from painterly.devices import PRECISIONS, autocast, pick_precision
from painterly.errors import PainterlyError
from painterly.features.vgg import VGG19, deepest_layer
from painterly.losses.gatys import StyleTargets, style_content_losses, style_targets, temporal_loss
from painterly.losses.perceptual import total_variation
from painterly.ops.color import PRESERVE_COLOR_MODES
from painterly.ops.resize import resize_to_long_side
from painterly.options import check_limits, limits
from painterly.progress import Cancelled, ProgressCallback, ProgressEvent

INIT_MODES = ("content", "noise")


@dataclass
class OptimizeConfig:
    """Options of the optimization method; the defaults give a good result on any painting.

    Attributes:
        size: long side of the output in pixels (a photo smaller than the default keeps its own size).
        steps: optimizer iterations over all scales together (default: 140, or 100 above 512 px
            so that a 1024 px image takes under 4 minutes on a 2-core CPU).
        min_size: long side of the coarsest scale; scales double from there up to ``size``.
        fine_share: steps at each scale relative to the scale below it (1: as many at every
            scale; 0.5: half as many at twice the size, faster but less refined).
        optimizer: ``"lbfgs"`` (best quality per step) or ``"adam"``.
        learning_rate: Adam's step size in ``[0, 1]`` pixel units (L-BFGS uses 1).
        content_weight: weight of the content loss (keeping the photo's layout).
        style_weight: weight of the style loss (taking the painting's textures).
        tv_weight: weight of the total-variation loss (smoothing pixel noise).
        content_layers: VGG19 layers whose activations the output keeps from the photo.
        style_layers: VGG19 layers whose Gram matrices the output takes from the painting.
        style_layer_weights: one weight per style layer, comma-separated (default: equal).
        strength: multiplies the style weight; 0 returns the photo, 2 paints harder.
        style_scale: size of the painting's brush strokes relative to the default.
        preserve_color: keep the photo's colours: ``"luminance"`` (transfer brightness only) or
            ``"histogram"`` (recolour the painting to the photo's palette first); default off.
        init: ``"content"``, ``"noise"``, or a path to an image to start from.
        seed: seed of the noise initialization and of anything random.
        precision: ``"auto"`` (bf16 where the hardware runs it fast), ``"bf16"`` or ``"fp32"``.
        channels_last: channels-last memory layout for the convolutions (default: on with bf16,
            where it is faster).
        pooling: VGG19 pooling, ``"max"`` or ``"avg"``.
        preview_every: send a preview image with the progress event every N steps (0: never).
        detail_transfer: how much of the photo's fine detail to add back when moving up a scale
            (0: plain upsampling).
    """

    size: int = field(default=512, metadata=limits(16))
    steps: Optional[int] = field(default=None, metadata=limits(1))
    min_size: int = field(default=128, metadata=limits(1))
    fine_share: float = field(default=1.0, metadata=limits(0.01, 2))
    optimizer: str = field(default="lbfgs", metadata=limits(choices=("lbfgs", "adam")))
    learning_rate: float = field(default=0.02, metadata=limits(0))
    content_weight: float = field(default=1.2, metadata=limits(0))
    style_weight: float = field(default=10.0, metadata=limits(0))
    tv_weight: float = field(default=0.05, metadata=limits(0))
    content_layers: tuple[str, ...] = ("relu4_2",)
    style_layers: tuple[str, ...] = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
    style_layer_weights: Optional[tuple[float, ...]] = None
    strength: float = field(default=1.0, metadata=limits(0, 2))
    style_scale: float = field(default=1.0, metadata=limits(0.1, 4))
    preserve_color: Optional[str] = field(default=None, metadata=limits(choices=PRESERVE_COLOR_MODES, label="colour mode"))
    init: str = "content"
    seed: int = 0
    precision: str = field(default="auto", metadata=limits(choices=PRECISIONS))
    channels_last: Optional[bool] = None
    pooling: str = field(default="max", metadata=limits(choices=("max", "avg")))
    preview_every: int = field(default=0, metadata=limits(0))
    detail_transfer: float = field(default=1.0, metadata=limits(0))

    def validate(self) -> "OptimizeConfig":
        """Check every option; raise a PainterlyError naming the bad one."""
        check_limits(self, "the optimize method")
        if self.style_layer_weights is not None and len(self.style_layer_weights) != len(self.style_layers):
            raise PainterlyError("give one style layer weight per style layer")
        return self

    @property
    def total_steps(self) -> int:
        """``steps``, or its default for ``size`` when it is not set."""
        if self.steps is not None:
            return self.steps
        return 140 if self.size <= 512 else 100

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class ScaleStage:
    """One rung of the coarse-to-fine ladder."""

    long_side: int
    steps: int


def plan_scales(size: int, min_size: int, steps: int, fine_share: float) -> list[ScaleStage]:
    """Split ``steps`` over sizes ``size / 2^k ≥ min_size``, coarsest first.

    Each scale gets ``fine_share`` times the steps of the one below it, and at least one step.

    Example:
        >>> [(s.long_side, s.steps) for s in plan_scales(512, 128, 70, 0.5)]
        [(128, 40), (256, 20), (512, 10)]
    """
    sides = [size]
    while sides[-1] // 2 >= min_size:
        sides.append(sides[-1] // 2)
    sides.reverse()
    shares = [fine_share**index for index in range(len(sides))]
    raw = [steps * share / sum(shares) for share in shares]
    counts = [max(1, int(round(value))) for value in raw]
    counts[0] += steps - sum(counts)  # rounding leftovers go to the cheapest scale
    if counts[0] < 1:
        counts = [max(1, steps // len(sides))] * len(sides)
    return [ScaleStage(side, count) for side, count in zip(sides, counts)]


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


def normalized_weights(styles: Sequence[tuple[torch.Tensor, float]]) -> list[tuple[torch.Tensor, float]]:
    """The paintings with weights summing to 1; an error for none, or for weights adding up to 0."""
    if not styles:
        raise PainterlyError("no style given: pass at least one painting")
    total_weight = sum(weight for _, weight in styles)
    if total_weight <= 0:
        raise PainterlyError("style weights must add up to more than 0")
    return [(image, weight / total_weight) for image, weight in styles]


def _targets_at_scale(vgg: VGG19, content: torch.Tensor, styles: Sequence[tuple[torch.Tensor, float]],
                      config: OptimizeConfig, long_side: int, dtype: torch.dtype,
                      memory_format: torch.memory_format) -> tuple[StyleTargets, dict[str, torch.Tensor]]:  # fmt: skip
    """The paintings' Gram targets (seen at ``long_side × style_scale``) and the photo's content features at one scale."""
    side = max(16, round(long_side * config.style_scale))
    targets = style_targets(vgg, [(resize_to_long_side(painting, side), weight) for painting, weight in styles],
                            config.style_layers, dtype)  # fmt: skip
    with torch.no_grad(), autocast(content.device, dtype):
        content_features = vgg(content.contiguous(memory_format=memory_format), config.content_layers)
    return targets, {layer: value.float() for layer, value in content_features.items()}


def _optimizer_for(pixels: torch.Tensor, config: OptimizeConfig) -> torch.optim.Optimizer:
    if config.optimizer == "lbfgs":
        return torch.optim.LBFGS([pixels], lr=1.0, max_iter=1, history_size=50)
    return torch.optim.Adam([pixels], lr=config.learning_rate)


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
    channels_last = config.channels_last if config.channels_last is not None else dtype == torch.bfloat16
    memory_format = torch.channels_last if channels_last else torch.contiguous_format
    vgg = vgg.to(memory_format=memory_format)
    deepest = deepest_layer([*config.content_layers, *config.style_layers])
    if deepest not in vgg.layer_names:
        raise PainterlyError(f"the VGG19 network stops at {vgg.last_layer}; build it up to {deepest}")
    layer_weights = config.style_layer_weights or tuple(1.0 for _ in config.style_layers)
    style_layer_weights = {layer: w / sum(layer_weights) for layer, w in zip(config.style_layers, layer_weights)}
    layers = sorted(set(config.content_layers) | set(config.style_layers), key=vgg.layer_names.index)
    style_weight = config.style_weight * config.strength

    plan = plan_scales(config.size, min(config.min_size, config.size), config.total_steps, config.fine_share)
    total_steps = sum(stage.steps for stage in plan)
    costs = [stage.steps * stage.long_side**2 for stage in plan]
    step = 0
    image: Optional[torch.Tensor] = None
    # Step 0: inputs are read and checked; say so before the first (slowest) step starts.
    if progress is not None and progress(ProgressEvent(step=0, total=total_steps, stage="preparing", work=0.0)) is False:
        raise Cancelled("cancelled before the first step")
    for index, stage in enumerate(plan):
        content_at_scale = resize_to_long_side(content, stage.long_side)
        targets, content_targets = _targets_at_scale(vgg, content_at_scale, styles, config, stage.long_side, dtype,
                                                     memory_format)  # fmt: skip
        if temporal is not None:
            temporal_target = F.interpolate(temporal.target, size=content_at_scale.shape[-2:], mode="bilinear", align_corners=False)
            temporal_mask = F.interpolate(temporal.mask, size=content_at_scale.shape[-2:], mode="bilinear", align_corners=False)
        if image is None:
            start = _initial_image(config, content_at_scale, init_image)
        else:
            start = upsample_with_detail(image, content_at_scale, config.detail_transfer)
        # The parameter stays in NCHW: L-BFGS flattens gradients with view(); only VGG's input is channels_last.
        pixels = start.detach().contiguous().requires_grad_(True)
        optimizer = _optimizer_for(pixels, config)
        last: dict[str, float] = {}

        def closure() -> torch.Tensor:
            optimizer.zero_grad(set_to_none=True)
            with autocast(device, dtype):
                features = vgg(pixels.contiguous(memory_format=memory_format), layers)
            losses = {"content": config.content_weight, "style": style_weight, "tv": config.tv_weight}
            content_value, style_value = style_content_losses(features, content_targets, targets, style_layer_weights)
            values = {"content": content_value, "style": style_value}
            values["tv"] = total_variation(pixels)
            if temporal is not None:
                losses["temporal"] = temporal.weight
                values["temporal"] = temporal_loss(pixels, temporal_target, temporal_mask)
            loss: torch.Tensor = sum(weight * values[name] for name, weight in losses.items())  # type: ignore[assignment]
            loss.backward()
            last.update(total=loss.item(), **{name: value.item() for name, value in values.items()})
            return loss

        stage_name = f"scale {index + 1}/{len(plan)} ({stage.long_side} px)"
        for stage_step in range(stage.steps):
            optimizer.step(closure)
            if config.optimizer == "adam":
                with torch.no_grad():
                    pixels.clamp_(0, 1)
            step += 1
            if not math.isfinite(last.get("total", 0.0)):
                raise PainterlyError("the loss became NaN or infinite: lower the style weight or use --precision fp32")
            if progress is not None:
                done = (sum(costs[:index]) + costs[index] * (stage_step + 1) / stage.steps) / sum(costs)
                if progress(_step_event(config, step, total_steps, stage_name, last, pixels, done)) is False:
                    raise Cancelled(f"cancelled at step {step} of {total_steps}")
        image = pixels.detach().clamp(0, 1)
    assert image is not None
    return image.float().contiguous()
