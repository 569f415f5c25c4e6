"""The "adain" method: any painting in one pass, through VGG19, AdaIN and a trained decoder.

The decoder is the shipped one (``painterly/models/pretrained/adain-decoder.safetensors``) unless
``decoder`` names another (a file, or a name in the models folders). Several paintings blend by
weight; with a mask the first painting paints the masked region and the others (or, with one
painting, the photo itself) the rest. ``strength`` interpolates the features, not the pixels.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Optional, Union

import numpy as np
import torch
from PIL import Image

from painterly.devices import autocast, resolve_device
from painterly.errors import PainterlyError
from painterly.features.vgg import VGG19
from painterly.methods.feedforward import finish
from painterly.methods.optimize import PRESERVE_COLOR_MODES, pick_precision
from painterly.models.adain import ENCODER_LAYER, TRANSFORMS, ArbitraryStylizer
from painterly.progress import ProgressCallback, ProgressEvent
from painterly.registry import register_method

MaskSource = Union[str, Path, Image.Image, torch.Tensor]


@dataclass
class ArbitraryConfig:
    """Options of the adain method.

    Attributes:
        decoder: a decoder file or installed name (default: the shipped decoder).
        strength: 0 gives the photo, 1 the full style (interpolated in feature space).
        preserve_color: ``None``, ``"luminance"`` or ``"histogram"``, as for the fast method.
        size: long side of the output in pixels (``None``: the input's size).
        style_size: long side each painting is resized to before encoding; smaller gives
            larger strokes.
        mask: an image (path or PIL, white = 1) or a tensor ``(H, W)`` in ``[0, 1]``: the first
            style inside, the others (or the photo) outside.
        invert_mask: swap the inside and the outside of the mask.
        transform: ``adain`` (channel mean/std) or ``wct`` (whole covariance, slower).
        precision: ``auto`` (bf16 where the hardware runs it fast), ``bf16`` or ``fp32``.
    """

    decoder: Optional[str] = None
    strength: float = 1.0
    preserve_color: Optional[str] = None
    size: Optional[int] = None
    style_size: int = 512
    mask: Optional[MaskSource] = None
    invert_mask: bool = False
    transform: str = "adain"
    precision: str = "auto"

    def validate(self) -> "ArbitraryConfig":
        if not 0 <= self.strength <= 1:
            raise PainterlyError(f"strength must be between 0 and 1, got {self.strength}")
        if self.preserve_color not in (None, *PRESERVE_COLOR_MODES):
            raise PainterlyError(f"unknown colour mode {self.preserve_color!r}: use luminance or histogram")
        if self.size is not None and self.size < 16:
            raise PainterlyError(f"size {self.size} is too small: use at least 16 pixels")
        if self.style_size < 16:
            raise PainterlyError(f"style size must be at least 16 pixels, got {self.style_size}")
        if self.transform not in TRANSFORMS:
            raise PainterlyError(f"unknown feature transform {self.transform!r}: use adain or wct")
        if self.precision not in ("auto", "bf16", "fp32"):
            raise PainterlyError(f"unknown precision {self.precision!r}: use auto, bf16 or fp32")
        return self

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["mask"] = None if self.mask is None else str(self.mask) if isinstance(self.mask, (str, Path)) else "<image>"
        return data


def load_mask(mask: MaskSource, size: tuple[int, int], invert: bool = False) -> torch.Tensor:
    """A mask given as a file, a PIL image or a tensor, as ``(1, 1, H, W)`` in ``[0, 1]`` at ``size`` ``(H, W)``."""
    from painterly.ops.adain import resize_mask

    if isinstance(mask, torch.Tensor):
        tensor = mask.float()
    else:
        if isinstance(mask, (str, Path)):
            from painterly.io.images import load_image

            mask = load_image(Path(mask).expanduser())
        tensor = torch.from_numpy(np.asarray(mask.convert("L"), dtype=np.float32) / 255.0)
    if tensor.dim() == 4:
        tensor = tensor[:, :1]
    tensor = resize_mask(tensor, size)
    return 1 - tensor if invert else tensor


def load_stylizer(
    decoder: Optional[str | Path],
    *,
    device: torch.device,
    encoder: Optional[VGG19] = None,
    transform: str = "adain",
) -> ArbitraryStylizer:
    """The encoder and the decoder ``decoder`` (``None``: the shipped one), ready on ``device``."""
    from painterly.models.adain_io import load_decoder, resolve_decoder_path

    net, _ = load_decoder(resolve_decoder_path(decoder), device=device)
    if encoder is None:
        from painterly.features import load_vgg19

        encoder = load_vgg19(last_layer=ENCODER_LAYER, device=device)
    return ArbitraryStylizer(encoder, net, transform).eval()


class ArbitraryPainter:
    """The decoder loaded and the paintings encoded once, ready to paint many photos (video frames, a folder).

    Args:
        styles: ``[(PIL image, weight)]``.
        config: the options (``mask`` applies to every photo, resized to each).
        device: where to run.
        encoder: a loaded VGG19 up to relu4_1 to share (default: loaded here).

    Example:
        >>> painter = ArbitraryPainter([(load_image("a.jpg"), 1.0)], ArbitraryConfig(strength=0.8), device)  # doctest: +SKIP
        >>> painter(load_image("photo.jpg")).save("out.png")  # doctest: +SKIP
    """

    def __init__(self, styles: list[tuple[Image.Image, float]], config: ArbitraryConfig, device: torch.device,
                 encoder: Optional[VGG19] = None):  # fmt: skip
        from painterly.io.images import image_to_tensor
        from painterly.methods.optimize import resize_to_long_side

        self.config = config.validate()
        if not styles:
            raise PainterlyError("no style given: name a built-in style (painterly styles) or a painting file")
        self.device = resolve_device(device)
        self.dtype = pick_precision(config.precision, self.device)
        self.model = load_stylizer(config.decoder, device=self.device, encoder=encoder, transform=config.transform)
        self.weights = [weight for _, weight in styles]
        with torch.no_grad(), autocast(self.device, self.dtype):
            self.style_feats = [
                self.model.encode(resize_to_long_side(image_to_tensor(image, device=self.device), config.style_size))
                for image, _ in styles
            ]

    def stylize_tensor(self, photo: torch.Tensor) -> torch.Tensor:
        """``(B, 3, H, W)`` in ``[0, 1]`` → painted, same shape, float32 on this painter's device."""
        config = self.config
        photo = photo.to(self.device, torch.float32)
        mask = None
        if config.mask is not None:
            mask = load_mask(config.mask, tuple(photo.shape[-2:]), config.invert_mask).to(self.device)
        with torch.no_grad(), autocast(self.device, self.dtype):
            painted = self.model.paint(photo, self.style_feats, self.weights, config.strength, mask)
        return finish(painted.float(), photo, 1.0, config.preserve_color)

    def __call__(self, image: Image.Image) -> Image.Image:
        from painterly.io.images import image_to_tensor, resize_long_side, tensor_to_image

        if self.config.size is not None:
            image = resize_long_side(image, self.config.size)
        return tensor_to_image(self.stylize_tensor(image_to_tensor(image)))


@register_method("adain", "any painting in one pass through a trained AdaIN decoder (seconds on a CPU; --decoder FILE or the shipped one)", needs_features=True)
def run(
    content: Image.Image,
    styles: list[tuple[Image.Image, float]],
    *,
    device: torch.device,
    progress: Optional[ProgressCallback] = None,
    feature_network: Optional[Callable] = None,
    **options: Any,
) -> Image.Image:
    """Stylize ``content`` with the paintings ``styles`` (weighted) through the AdaIN decoder."""
    from painterly.api import config_from_options

    if options.get("model") is not None and options.get("decoder") is None:
        options["decoder"] = options.pop("model")  # `evaluate --method adain:DECODER` names it as a model
    options.pop("model", None)
    if options.get("decoder") is not None:
        options["decoder"] = str(options["decoder"])
    config: ArbitraryConfig = config_from_options(ArbitraryConfig, options)
    encoder = feature_network(ENCODER_LAYER, "max") if feature_network is not None else None
    result = ArbitraryPainter(styles, config, device, encoder)(content)
    if progress is not None:
        progress(ProgressEvent(step=1, total=1, stage="adain"))
    result.info["painterly"] = {key: value for key, value in config.to_dict().items() if value is not None}
    return result
