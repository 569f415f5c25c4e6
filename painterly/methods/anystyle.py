"""The "anystyle" method: any painting in one pass of a light style network whose scales and shifts
are predicted from the painting (:mod:`painterly.models.anystyle`).

Each painting is described once (VGG19 statistics at 256 px), the predictor gives its embedding
(several paintings blend by weight), and the embedding becomes a plain one-style network, written
to the user cache as a model file (see :func:`painterly.methods.anystyle_spec.painting_networks`);
a photo painted with a cached network then needs no torch at all.
That network is then painted with as the fast method paints (tiles, colour keeping, strength, the
onnxruntime graph, cached too), so a painting used again starts at once. With a mask the first
painting paints inside and the blend of the others (or, with one painting, the photo) outside.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import torch
from PIL import Image

from painterly.devices import resolve_device
from painterly.errors import PainterlyError
from painterly.io.images import image_to_tensor, resize_long_side, tensor_to_image
from painterly.methods.adain import load_mask
from painterly.methods.anystyle_spec import SPEC, AnyStyleMethodConfig, anystyle_memory, anystyle_settings, painting_networks
from painterly.methods.feedforward import FastStylizer
from painterly.methods.spec import FeatureNetwork, Paintings
from painterly.models.anystyle import PAINTING_SIZE, AnyStyleNet, load_anystyle, painting_statistics
from painterly.models.files import ModelInfo, save_model
from painterly.ops.resize import resize_to_long_side
from painterly.progress import ProgressCallback

__all__ = ["SPEC", "AnyStyleMethodConfig", "AnyStyleStylizer", "anystyle_memory", "describe_paintings", "export_anystyle"]


def describe_paintings(net: AnyStyleNet, paintings: list[torch.Tensor], vgg: Any, style_scale: float = 1.0) -> torch.Tensor:
    """``(P, D)`` predictor statistics of ``paintings`` (each ``(1, 3, H, W)`` in ``[0, 1]``), each
    described at :data:`PAINTING_SIZE` / ``style_scale`` px (the strokes' scale the network learned)."""
    side = max(32, round(PAINTING_SIZE / style_scale))
    layers = list(net.predictor.config.layers)
    with torch.no_grad():
        rows = [painting_statistics(vgg(resize_to_long_side(p, side), layers), layers) for p in paintings]
    return torch.cat(rows)


class AnyStyleStylizer:
    """The any-painting network set for these paintings once, ready to paint many photos.

    Args:
        styles: ``[(PIL image, weight)]``.
        config: the options.
        device: where to run.
        feature_network: ``(last_layer, pooling) -> VGG19`` (default: loaded here), called only
            when a painting's network is not cached yet; only paintings go through it.
    """

    uses_guidance = False

    def __init__(self, styles: Paintings, config: AnyStyleMethodConfig, device: torch.device | str | None,
                 feature_network: Optional[FeatureNetwork] = None):  # fmt: skip
        self.config = config.validate()
        if not styles:
            raise PainterlyError("no style given: name a built-in style (painterly styles) or a painting file")
        if isinstance(config.mask, (str, Path)) and not Path(config.mask).expanduser().is_file():
            raise PainterlyError(f"mask {str(config.mask)!r} does not exist: give an image file (white = the first painting)")
        self.device = resolve_device(device)
        source = config.source()
        if not source.is_file():
            raise PainterlyError(f"any-painting model {str(source)!r} does not exist: give a file written by `painterly train-anystyle`")
        images = [image for image, _ in styles]
        self.weights = [float(weight) for _, weight in styles]
        described: list[tuple[AnyStyleNet, torch.Tensor]] = []

        def stylizer(path: Path, first: int, last: int, name: str) -> FastStylizer:
            if not path.is_file():  # made once; the painting goes through VGG19 only then
                if not described:
                    net, _ = load_anystyle(source)
                    vgg = feature_network("relu4_1", "max") if feature_network is not None else _load_vgg()
                    paintings = [image_to_tensor(image).to(next(vgg.parameters()).device) for image in images]
                    described.append((net, describe_paintings(net, paintings, vgg, config.style_scale).cpu()))
                net, stats = described[0]
                single = net.for_painting(stats[first:last], self.weights[first:last])
                info = ModelInfo(network=single.config, name=name,
                                 record={"anystyle_model": str(source), "weights": self.weights[first:last]})  # fmt: skip
                path.parent.mkdir(parents=True, exist_ok=True)
                save_model(single, path, info, half=False)
            return FastStylizer(config.fast_config(str(path)), self.device)

        networks, count = painting_networks(config, styles), len(styles)
        if config.mask is not None:
            self.inside = stylizer(networks["inside"], 0, 1, "painting inside the mask")
            self.outside = stylizer(networks["outside"], 1, count, "paintings outside the mask") if count > 1 else None
        else:
            self.inside = stylizer(networks["all"], 0, count, "painting blend" if count > 1 else "painting")
            self.outside = None
        self.settings = anystyle_settings(config, styles)

    def stylize_tensor(self, photo: torch.Tensor, progress: Optional[ProgressCallback] = None) -> torch.Tensor:
        """``(B, 3, H, W)`` in ``[0, 1]`` → painted, same shape, float32 on this stylizer's device."""
        photo = photo.to(self.device, torch.float32)
        painted = self.inside.stylize_tensor(photo, progress)
        if self.config.mask is None:
            return painted
        mask = load_mask(self.config.mask, tuple(photo.shape[-2:]), self.config.invert_mask).to(self.device)
        mask = mask.reshape(1, 1, *photo.shape[-2:])
        outside = self.outside.stylize_tensor(photo) if self.outside is not None else photo
        return painted * mask + outside * (1 - mask)

    def __call__(self, image: Image.Image, progress: Optional[ProgressCallback] = None) -> Image.Image:
        if self.config.size is not None:
            image = resize_long_side(image, self.config.size)
        return tensor_to_image(self.stylize_tensor(image_to_tensor(image), progress))

    def stylize_image(self, image: Image.Image, progress: Optional[ProgressCallback] = None) -> Image.Image:
        result = self(image, progress)
        result.info["painterly"] = {k: v for k, v in self.config.to_dict().items() if v is not None}
        return result

    def stylize_frame(self, frame: torch.Tensor, guidance: Any = None) -> torch.Tensor:
        return self.stylize_tensor(frame)

    def concurrent_images(self, workers: int, height: int, width: int) -> int:
        """As the fast method's (see :meth:`FastStylizer.concurrent_images`); one at a time with a mask."""
        if self.config.mask is not None:
            return 1
        return self.inside.concurrent_images(workers, height, width)


def export_anystyle(
    style: str | Path | Any,
    out: str | Path,
    *,
    anystyle_model: str | Path | None = None,
    style_scale: float = 1.0,
    format: str = "onnx",
    check: bool = True,
) -> Path:
    """Write the any-painting network set for one painting (a plain style network, as the
    ``anystyle`` method makes and caches it) as an ONNX or TorchScript file, like :func:`painterly.export.export_model`.

    Args:
        style: the painting: a built-in style name, an image path or a PIL image.
        anystyle_model: the any-painting model file (default: the shipped one).
        style_scale: stroke size, as the method's option.
    """
    from painterly.export import export_model
    from painterly.styles.catalog import load_style_image

    painting = style if hasattr(style, "convert") else load_style_image(style, max_pixels=10**9)
    paintings = [(painting.convert("RGB"), 1.0)]
    config = AnyStyleMethodConfig(anystyle_model=None if anystyle_model is None else str(anystyle_model), style_scale=style_scale)
    AnyStyleStylizer(paintings, config, "cpu")  # makes the painting's network (cached)
    return export_model(painting_networks(config, paintings)["all"], out, format=format, check=check)


def _load_vgg() -> Any:
    from painterly.features import load_vgg19

    return load_vgg19(last_layer="relu4_1")


def build_stylizer(config: AnyStyleMethodConfig, *, paintings: Paintings, device: Any,
                   feature_network: Optional[FeatureNetwork] = None, **_: Any) -> AnyStyleStylizer:  # fmt: skip
    """The anystyle method's stylizer (the spec's builder)."""
    return AnyStyleStylizer(paintings, config, device, feature_network)
