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

from painterly.devices import autocast
from painterly.errors import PainterlyError
from painterly.features.vgg import VGG19, deepest_layer
from painterly.losses import gram_matrix, total_variation
from painterly.progress import Cancelled, ProgressCallback, ProgressEvent

PRESERVE_COLOR_MODES = ("luminance", "histogram")
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

    size: int = 512
    steps: Optional[int] = None
    min_size: int = 128
    fine_share: float = 1.0
    optimizer: str = "lbfgs"
    learning_rate: float = 0.02
    content_weight: float = 1.2
    style_weight: float = 10.0
    tv_weight: float = 0.05
    content_layers: tuple[str, ...] = ("relu4_2",)
    style_layers: tuple[str, ...] = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
    style_layer_weights: Optional[tuple[float, ...]] = None
    strength: float = 1.0
    style_scale: float = 1.0
    preserve_color: Optional[str] = None
    init: str = "content"
    seed: int = 0
    precision: str = "auto"
    channels_last: Optional[bool] = None
    pooling: str = "max"
    preview_every: int = 0
    detail_transfer: float = 1.0

    def validate(self) -> "OptimizeConfig":
        """Check every option; raise a PainterlyError naming the bad one."""
        if self.size < 16:
            raise PainterlyError(f"size {self.size} is too small: use at least 16 pixels")
        if self.steps is not None and self.steps < 1:
            raise PainterlyError(f"steps must be at least 1, got {self.steps}")
        if self.optimizer not in ("lbfgs", "adam"):
            raise PainterlyError(f"unknown optimizer {self.optimizer!r}: use lbfgs or adam")
        if self.strength < 0:
            raise PainterlyError(f"strength must be 0 or more, got {self.strength}")
        if not 0.1 <= self.style_scale <= 4:
            raise PainterlyError(f"style scale must be between 0.1 and 4, got {self.style_scale}")
        if self.preserve_color not in (None, *PRESERVE_COLOR_MODES):
            raise PainterlyError(f"unknown colour mode {self.preserve_color!r}: use luminance or histogram")
        if self.precision not in ("auto", "bf16", "fp32"):
            raise PainterlyError(f"unknown precision {self.precision!r}: use auto, bf16 or fp32")
        if self.style_layer_weights is not None and len(self.style_layer_weights) != len(self.style_layers):
            raise PainterlyError("give one style layer weight per style layer")
        if not 0 < self.fine_share <= 2:
            raise PainterlyError(f"fine_share must be in (0, 2], got {self.fine_share}")
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


def resize_to_long_side(image: torch.Tensor, long_side: int) -> torch.Tensor:
    """Resize ``(B, 3, H, W)`` so that ``max(H, W) == long_side``, keeping the aspect ratio.

    Downscaling uses antialiasing so small scales keep the look of the full image.
    """
    height, width = image.shape[-2:]
    scale = long_side / max(height, width)
    new_size = (max(1, round(height * scale)), max(1, round(width * scale)))
    if new_size == (height, width):
        return image
    return F.interpolate(image, size=new_size, mode="bicubic", align_corners=False, antialias=scale < 1).clamp(0, 1)


def pick_precision(precision: str, device: torch.device) -> torch.dtype:
    """The autocast dtype for ``precision`` on ``device``."""
    if precision == "fp32":
        return torch.float32
    if precision == "bf16":
        return torch.bfloat16
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float32
    if device.type == "cpu":
        # oneDNN runs bf16 convolutions fast only on CPUs with native bf16 (AVX512-BF16, AMX).
        supported = getattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", None)
        return torch.bfloat16 if supported is not None and supported() else torch.float32
    return torch.float32


@dataclass
class StyleTargets:
    """Weighted Gram matrices of the paintings at one scale: ``{layer: (1, C, C)}``."""

    grams: dict[str, torch.Tensor]
    energy: dict[str, torch.Tensor] = field(default_factory=dict)


def style_targets(
    vgg: VGG19,
    styles: Sequence[tuple[torch.Tensor, float]],
    layers: Sequence[str],
    dtype: torch.dtype,
) -> StyleTargets:
    """Blend the Gram matrices of several paintings by weight.

    Args:
        styles: ``(1, 3, H_i, W_i)`` images in ``[0, 1]`` with weights summing to 1.
    """
    grams: dict[str, torch.Tensor] = {}
    with torch.no_grad():
        for image, weight in styles:
            with autocast(image.device, dtype):
                features = vgg(image, layers)
            for layer in layers:
                gram = gram_matrix(features[layer]) * weight
                grams[layer] = grams[layer] + gram if layer in grams else gram
    energy = {layer: gram.pow(2).mean().clamp_min(1e-12) for layer, gram in grams.items()}
    return StyleTargets(grams, energy)


def style_content_losses(
    features: dict[str, torch.Tensor],
    content_targets: dict[str, torch.Tensor],
    targets: StyleTargets,
    style_layer_weights: dict[str, float],
) -> tuple[torch.Tensor, torch.Tensor]:
    """Relative content and style losses of one forward pass.

    Content: ``Σ ‖F − F_t‖² / ‖F_t‖²`` averaged over content layers. Style: per layer
    ``‖G − G_t‖² / ‖G_t‖²``, weighted by ``style_layer_weights`` (which sum to 1).

    Returns:
        ``(content, style)`` scalars.
    """
    content = sum(
        (features[layer].float() - target).pow(2).mean() / target.pow(2).mean().clamp_min(1e-12)
        for layer, target in content_targets.items()
    ) / max(1, len(content_targets))
    style = sum(
        weight * (gram_matrix(features[layer]) - targets.grams[layer]).pow(2).mean() / targets.energy[layer]
        for layer, weight in style_layer_weights.items()
    )
    return content, style  # type: ignore[return-value]


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


def temporal_loss(image: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean squared difference of ``(1, 3, H, W)`` images over the pixels where the ``(1, 1, H, W)`` mask is set."""
    return ((image - target).pow(2) * mask).sum() / (mask.sum() * image.shape[1]).clamp_min(1.0)


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
    if not styles:
        raise PainterlyError("no style given: pass at least one painting")
    total_weight = sum(weight for _, weight in styles)
    if total_weight <= 0:
        raise PainterlyError("style weights must add up to more than 0")
    styles = [(image, weight / total_weight) for image, weight in styles]
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
        side = stage.long_side * config.style_scale
        scaled_styles = [(resize_to_long_side(painting, max(16, round(side))), weight) for painting, weight in styles]
        targets = style_targets(vgg, scaled_styles, config.style_layers, dtype)
        with torch.no_grad(), autocast(device, dtype):
            content_features = vgg(content_at_scale.contiguous(memory_format=memory_format), config.content_layers)
        content_targets = {layer: value.float() for layer, value in content_features.items()}
        if temporal is not None:
            temporal_target = F.interpolate(temporal.target, size=content_at_scale.shape[-2:], mode="bilinear", align_corners=False)
            temporal_mask = F.interpolate(temporal.mask, size=content_at_scale.shape[-2:], mode="bilinear", align_corners=False)
        if image is None:
            start = _initial_image(config, content_at_scale, init_image)
        else:
            start = upsample_with_detail(image, content_at_scale, config.detail_transfer)
        # The parameter stays in NCHW: L-BFGS flattens gradients with view(); only VGG's input is channels_last.
        pixels = start.detach().contiguous().requires_grad_(True)
        if config.optimizer == "lbfgs":
            optimizer: torch.optim.Optimizer = torch.optim.LBFGS([pixels], lr=1.0, max_iter=1, history_size=50)
        else:
            optimizer = torch.optim.Adam([pixels], lr=config.learning_rate)
        last: dict[str, float] = {}

        def closure() -> torch.Tensor:
            optimizer.zero_grad(set_to_none=True)
            with autocast(device, dtype):
                features = vgg(pixels.contiguous(memory_format=memory_format), layers)
            content_value, style_value = style_content_losses(features, content_targets, targets, style_layer_weights)
            tv_value = total_variation(pixels)
            loss = config.content_weight * content_value + style_weight * style_value + config.tv_weight * tv_value
            if temporal is not None:
                temporal_value = temporal_loss(pixels, temporal_target, temporal_mask)
                loss = loss + temporal.weight * temporal_value
                last["temporal"] = temporal_value.item()
            loss.backward()
            last.update(total=loss.item(), content=content_value.item(), style=style_value.item(), tv=tv_value.item())
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
                done = sum(costs[:index]) + costs[index] * (stage_step + 1) / stage.steps
                wants_preview = config.preview_every > 0 and (step % config.preview_every == 0 or step == total_steps)
                event = ProgressEvent(
                    step=step,
                    total=total_steps,
                    stage=stage_name,
                    losses=dict(last),
                    preview=pixels.detach().clamp(0, 1).float().cpu().contiguous() if wants_preview else None,
                    work=done / sum(costs),
                )
                if progress(event) is False:
                    raise Cancelled(f"cancelled at step {step} of {total_steps}")
        image = pixels.detach().clamp(0, 1)
    assert image is not None
    return image.float().contiguous()
