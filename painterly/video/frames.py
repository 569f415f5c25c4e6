"""Frame stylizers: one method, loaded once, applied to many frames.

A :class:`FrameStylizer` wraps a function ``(frame, guidance) -> stylized`` on ``(1, 3, H, W)``
tensors in ``[0, 1]``. ``guidance`` (a :class:`painterly.video.consistency.Guidance`, or ``None``
for the first frame or with consistency off) carries the previous output warped onto this frame.
Methods that use it themselves (optimization: start from it, plus a temporal loss) set
``uses_guidance``; for the others (feed-forward networks) the frame loop blends afterwards.
"""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

import torch

from painterly.errors import PainterlyError
from painterly.video.consistency import Guidance

#: ``(frame (1, 3, H, W) in [0, 1], guidance or None) -> stylized (1, 3, H, W) in [0, 1]``.
FrameFunction = Callable[[torch.Tensor, Optional[Guidance]], torch.Tensor]


@dataclass
class FrameStylizer:
    """How to stylize one frame of a video.

    Attributes:
        stylize: ``(frame, guidance) -> stylized`` (see :data:`FrameFunction`).
        settings: everything that decides how frames look (method, model, styles, options),
            JSON-serializable; a resumed run must have the same.
        uses_guidance: the function keeps frames consistent itself; the loop does not blend.
    """

    stylize: FrameFunction
    settings: dict[str, Any] = field(default_factory=dict)
    uses_guidance: bool = False


def file_identity(path: str | Path) -> dict[str, Any]:
    """Name, size and modification time of a file: enough to notice that it changed."""
    path = Path(path).expanduser().resolve()
    stat = path.stat()
    return {"path": str(path), "bytes": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def pixels_digest(images: Sequence[Any]) -> str:
    """A short SHA-256 of the pixels of tensors or PIL images: tells whether the styles changed."""
    digest = hashlib.sha256()
    for image in images:
        data = image.detach().cpu().float().numpy().tobytes() if isinstance(image, torch.Tensor) else image.tobytes()
        digest.update(data)
    return digest.hexdigest()[:16]


def fast_frame_stylizer(model: str | Path, *, device: torch.device, **options: Any) -> FrameStylizer:
    """The feed-forward network ``model`` (a built-in name or a file), loaded once.

    Args:
        options: options of the fast method (``strength``, ``preserve_color``, ``precision`` …;
            see :class:`painterly.methods.feedforward.FastConfig`); ``size`` is the video's.
    """
    from painterly.methods.feedforward import FastConfig, FastStylizer
    from painterly.models import resolve_model_path

    if "size" in options:
        raise PainterlyError("the video's size is set with --size, not as a method option")
    config = FastConfig.from_options({**options, "model": str(model)})
    stylizer = FastStylizer(config, device)

    def stylize(frame: torch.Tensor, guidance: Optional[Guidance]) -> torch.Tensor:
        return stylizer.stylize_tensor(frame)

    settings = {"method": "fast", "model": file_identity(resolve_model_path(str(model))), "options": config.to_dict()}
    settings["options"].pop("model")
    return FrameStylizer(stylize, settings)


#: Temporal loss weight at consistency 1 (the loss is a mean squared pixel difference, ~1e-3 where
#: frames flicker, against relative content and style losses of order 1).
TEMPORAL_WEIGHT = 2000.0


def optimize_frame_stylizer(
    styles: Sequence[tuple[torch.Tensor, float]],
    *,
    feature_network: Callable,
    later_steps: Optional[int] = None,
    **options: Any,
) -> FrameStylizer:
    """Gatys et al. optimization per frame; later frames start from the warped previous output
    and add a temporal loss (Ruder et al. 2016) of weight ``guidance.strength × TEMPORAL_WEIGHT``,
    at full size only.

    Args:
        styles: ``[(painting (1, 3, H, W) in [0, 1] on the device, weight)]``.
        feature_network: ``(last_layer, pooling) -> VGG19`` on the device
            (:meth:`painterly.api.Stylizer.feature_network`).
        later_steps: optimizer steps for frames after the first (default: half of ``steps``).
        options: fields of :class:`painterly.methods.optimize.OptimizeConfig`; ``size`` is the video's.
    """
    from painterly.api import config_from_options
    from painterly.features.vgg import deepest_layer
    from painterly.methods.optimize import OptimizeConfig, TemporalTerm, optimize
    from painterly.methods.optimize_runner import grey
    from painterly.ops.color import match_color, match_luminance, transfer_luminance
    from painterly.preload import import_in_background

    if "size" in options:
        raise PainterlyError("the video's size is set with --size, not as a method option")
    if not styles:
        raise PainterlyError("no style given: add --style NAME (see `painterly styles`) or --style painting.jpg")
    config: OptimizeConfig = config_from_options(OptimizeConfig, options).validate()
    import_in_background("torch._dynamo")  # torch.optim needs it (about 2 s): import it while VGG19 loads
    vgg = feature_network(deepest_layer([*config.content_layers, *config.style_layers]), config.pooling)
    steps_later = later_steps if later_steps is not None else max(1, config.steps // 2)
    prepared: list[tuple[torch.Tensor, float]] = []
    device = styles[0][0].device

    def stylize(frame: torch.Tensor, guidance: Optional[Guidance]) -> torch.Tensor:
        frame = frame.to(device)
        if guidance is not None:
            guidance = Guidance(guidance.warped.to(device), guidance.mask.to(device), guidance.strength)
        frame_config = dataclasses.replace(config, size=max(frame.shape[-2:]))
        target = grey(frame) if config.preserve_color == "luminance" else frame
        if not prepared:  # recoloured once, from the first frame, so the palette stays put
            for image, weight in styles:
                if config.preserve_color == "histogram":
                    image = match_color(image, frame)
                elif config.preserve_color == "luminance":
                    image = match_luminance(grey(image), target)
                prepared.append((image, weight))
        if guidance is None or guidance.strength == 0:
            result = optimize(vgg, target, prepared, frame_config)
        else:
            warped = grey(guidance.warped) if config.preserve_color == "luminance" else guidance.warped
            start = torch.lerp(target, warped, guidance.mask)
            temporal = TemporalTerm(warped, guidance.mask, guidance.strength * TEMPORAL_WEIGHT)
            # One scale only: coarse scales would blur the carried-over strokes away.
            refine = dataclasses.replace(frame_config, steps=steps_later, min_size=frame_config.size)
            result = optimize(vgg, target, prepared, refine, init_image=start, temporal=temporal)
        if config.preserve_color == "luminance":
            result = transfer_luminance(result, frame)
        return result

    settings = {
        "method": "optimize",
        "styles": {"weights": [weight for _, weight in styles], "pixels_sha256": pixels_digest([image for image, _ in styles])},
        "options": config.to_dict(),
        "later_steps": steps_later,
        "temporal_weight": TEMPORAL_WEIGHT,
    }
    settings["options"].pop("size")
    return FrameStylizer(stylize, settings, uses_guidance=True)


def method_frame_stylizer(method: str, styles: list, *, device: torch.device, feature_network: Optional[Callable] = None, **options: Any) -> FrameStylizer:
    """Any other registered method, run frame by frame through its PIL interface (no guidance).

    Args:
        styles: ``[(PIL image, weight)]`` as the method takes them.
    """
    from painterly.io.images import image_to_tensor, tensor_to_image
    from painterly.registry import get_method

    entry = get_method(method)
    if entry.needs_features:
        options["feature_network"] = feature_network

    def stylize(frame: torch.Tensor, guidance: Optional[Guidance]) -> torch.Tensor:
        result = entry.run(tensor_to_image(frame), styles, device=device, **options)
        return image_to_tensor(result.resize((frame.shape[-1], frame.shape[-2])), device=frame.device)

    shown = {key: value for key, value in options.items() if key != "feature_network"}
    styles_shown = {"weights": [weight for _, weight in styles], "pixels_sha256": pixels_digest([image for image, _ in styles])}
    return FrameStylizer(stylize, {"method": method, "options": shown, "styles": styles_shown})


def adain_frame_stylizer(paintings: Sequence[tuple[Any, float]], *, device: torch.device, feature_network: Callable,
                         **options: Any) -> FrameStylizer:  # fmt: skip
    """Arbitrary style (AdaIN): the decoder loaded and the paintings encoded once for all frames."""
    from painterly.methods.arbitrary import ArbitraryConfig, ArbitraryPainter
    from painterly.models.adain import ENCODER_LAYER

    if "size" in options:
        raise PainterlyError("the video's size is set with --size, not as a method option")
    config = ArbitraryConfig(**options)
    painter = ArbitraryPainter(list(paintings), config, device, feature_network(ENCODER_LAYER, "max"))

    def stylize(frame: torch.Tensor, guidance: Optional[Guidance]) -> torch.Tensor:
        return painter.stylize_tensor(frame)

    styles_shown = {"weights": [weight for _, weight in paintings], "pixels_sha256": pixels_digest([image for image, _ in paintings])}
    return FrameStylizer(stylize, {"method": "adain", "options": {k: str(v) for k, v in config.to_dict().items() if v is not None},
                                   "styles": styles_shown})  # fmt: skip


def frame_stylizer_for(method: str, *, model: Optional[str], paintings: Sequence[tuple[Any, float]], stylizer,
                       **options: Any) -> FrameStylizer:  # fmt: skip
    """The frame stylizer of any registered method, its model or feature network loaded once.

    Args:
        method: ``fast`` (needs ``model``; paints in the model's style), ``optimize`` or another
            registered method.
        paintings: ``[(PIL image, weight)]``, the styles of methods that take one.
        stylizer: a :class:`painterly.api.Stylizer` whose device and VGG19 the methods use.
        options: the method's options (``size`` is the video's, not allowed here).
    """
    from painterly.io.images import image_to_tensor

    if method == "fast" and model is None and paintings:
        method = "adain"  # any painting, through the arbitrary-style decoder
    if method == "fast":
        if model is None:
            raise PainterlyError("the fast method needs a trained model: give --model NAME (see painterly styles)")
        return fast_frame_stylizer(model, device=stylizer.device, **options)
    if method == "adain":
        return adain_frame_stylizer(paintings, device=stylizer.device, feature_network=stylizer.feature_network, **options)
    if method == "optimize":
        tensors = [(image_to_tensor(image, device=stylizer.device), weight) for image, weight in paintings]
        return optimize_frame_stylizer(tensors, feature_network=stylizer.feature_network, **options)
    if model is not None:
        options["model"] = model
    return method_frame_stylizer(method, list(paintings), device=stylizer.device, feature_network=stylizer.feature_network, **options)
