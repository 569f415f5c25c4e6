"""The "adain" method: any painting in one pass, through VGG19, AdaIN and a trained decoder.

The decoder is the shipped one (``painterly/models/pretrained/adain-decoder.safetensors``) unless
``decoder`` names another (a file, or a name in the models folders). Several paintings blend by
weight; with a mask the first painting paints the masked region and the others (or, with one
painting, the photo itself) the rest. ``strength`` interpolates the features, not the pixels.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, Optional

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from painterly.devices import pick_precision, resolve_device
from painterly.errors import PainterlyError
from painterly.features.vgg import VGG19
from painterly.inference.tiling import fits_one_tile, stylize_tiled
from painterly.io.images import image_to_tensor, load_image, pixels_digest, resize_long_side, tensor_to_image
from painterly.methods.adain_spec import (ADAIN_BASE_BYTES, ADAIN_IMAGE_BYTES, ADAIN_NETWORK_BYTES, SPEC, STYLE_WORKING_SIZE,
                                          AdaINConfig, MaskSource, adain_memory, painting_size)  # fmt: skip
from painterly.methods.spec import FeatureNetwork, Paintings
from painterly.models.adain import ENCODER_LAYER, AdaINNetwork
from painterly.ops.adain import check_mask_proportions, resize_mask
from painterly.ops.color import finish_stylized
from painterly.ops.resize import resize_to_long_side, scale_image
from painterly.progress import ProgressCallback, ProgressEvent

__all__ = ["ADAIN_BASE_BYTES", "ADAIN_IMAGE_BYTES", "ADAIN_NETWORK_BYTES", "SPEC", "STYLE_WORKING_SIZE", "AdaINConfig",
           "AdaINStylizer", "MaskSource", "adain_memory", "load_adain_network", "load_mask", "painting_size"]  # fmt: skip


def load_mask(mask: MaskSource, size: tuple[int, int], invert: bool = False) -> torch.Tensor:
    """A mask given as a file, a PIL image or a tensor, as ``(1, 1, H, W)`` in ``[0, 1]`` at ``size`` ``(H, W)``."""
    if isinstance(mask, torch.Tensor):
        tensor = mask.float()
    else:
        if isinstance(mask, (str, Path)):
            mask = load_image(Path(mask).expanduser())
        tensor = torch.from_numpy(np.asarray(mask.convert("L"), dtype=np.float32) / 255.0)
    if tensor.dim() == 4:
        tensor = tensor[:, :1]
    check_mask_proportions(tuple(tensor.shape[-2:]), size)
    tensor = resize_mask(tensor, size)
    return 1 - tensor if invert else tensor


def load_adain_network(
    decoder: Optional[str | Path],
    *,
    device: torch.device,
    encoder: Optional[VGG19] = None,
    transform: str = "adain",
) -> AdaINNetwork:
    """The encoder and the decoder ``decoder`` (``None``: the shipped one), ready on ``device``."""
    from painterly.models.adain_io import load_decoder, resolve_decoder_path

    net, _ = load_decoder(resolve_decoder_path(decoder), device=device)
    if encoder is None:
        from painterly.features import load_vgg19

        encoder = load_vgg19(last_layer=ENCODER_LAYER, device=device)
    return AdaINNetwork(encoder, net, transform).eval()


class AdaINStylizer:
    """The decoder loaded and the paintings encoded once, ready to paint many photos (video frames, a folder).

    Args:
        styles: ``[(PIL image, weight)]``.
        config: the options (``mask`` applies to every photo, resized to each).
        device: where to run.
        encoder: a loaded VGG19 up to relu4_1 to share (default: loaded here).

    Example:
        >>> painter = AdaINStylizer([(load_image("a.jpg"), 1.0)], AdaINConfig(strength=0.8), device)  # doctest: +SKIP
        >>> painter(load_image("photo.jpg")).save("out.png")  # doctest: +SKIP
    """

    def __init__(self, styles: list[tuple[Image.Image, float]], config: AdaINConfig, device: torch.device,
                 encoder: Optional[VGG19] = None):  # fmt: skip
        self.config = config.validate()
        if not styles:
            raise PainterlyError("no style given: name a built-in style (painterly styles) or a painting file")
        self.device = resolve_device(device)
        self.dtype = pick_precision(config.precision, self.device)
        if encoder is not None and self.dtype != torch.float32:
            encoder = copy.deepcopy(encoder)  # a shared network stays float32 for the other methods
        model = load_adain_network(config.decoder, device=self.device, encoder=encoder, transform=config.transform)
        # Weights in the compute dtype rather than autocast, which re-casts every activation; the
        # AdaIN statistics are still taken in float32 (ops.adain).
        self.memory_format = torch.channels_last if config.channels_last else torch.contiguous_format
        self.model = model.to(dtype=self.dtype, memory_format=self.memory_format)
        self.weights = [weight for _, weight in styles]
        self.paintings = [image_to_tensor(image, device=self.device) for image, _ in styles]
        self._style_feats: dict[tuple[int, ...], list[torch.Tensor]] = {}
        self.settings = {
            "method": "adain",
            "options": {key: str(value) for key, value in config.to_dict().items() if value is not None},
            "styles": {"weights": self.weights, "pixels_sha256": pixels_digest([image for image, _ in styles])},
        }

    uses_guidance = False

    def _prepare(self, image: torch.Tensor) -> torch.Tensor:
        return image.to(self.dtype).contiguous(memory_format=self.memory_format)

    def painting_sizes(self, long_side: int) -> tuple[int, ...]:
        """The long side each painting is encoded at for an image of long side ``long_side``."""
        config = self.config
        if config.style_size:
            return (config.style_size,) * len(self.paintings)
        return tuple(painting_size(long_side, max(painting.shape[-2:]), config.style_scale) for painting in self.paintings)

    def style_features(self, long_side: int) -> list[torch.Tensor]:
        """The paintings' relu4_1 features, encoded for an image of long side ``long_side`` (cached)."""
        sizes = self.painting_sizes(long_side)
        if sizes not in self._style_feats:
            with torch.no_grad():
                self._style_feats[sizes] = [self.model.encode(self._prepare(resize_to_long_side(painting, size)))
                                            for painting, size in zip(self.paintings, sizes)]  # fmt: skip
        return self._style_feats[sizes]

    def stylize_tensor(self, photo: torch.Tensor) -> torch.Tensor:
        """``(B, 3, H, W)`` in ``[0, 1]`` → painted, same shape, float32 on this painter's device."""
        config = self.config
        photo = photo.to(self.device, torch.float32)
        small = scale_image(photo, config.work_scale)
        mask = None
        if config.mask is not None:
            mask = load_mask(config.mask, tuple(small.shape[-2:]), config.invert_mask).to(self.device)
        with torch.no_grad():
            style_feats = self.style_features(max(small.shape[-2:]))
            if not fits_one_tile(*small.shape[-2:], config.tile_size):
                painted = self._paint_tiled(small, style_feats, mask)
            else:
                painted = self.model.paint(self._prepare(small), style_feats, self.weights, config.strength, mask).float()
            if painted.shape[-2:] != photo.shape[-2:]:
                painted = F.interpolate(painted, size=photo.shape[-2:], mode="bicubic", align_corners=False)
        return finish_stylized(painted.contiguous(), photo, 1.0, config.preserve_color)

    def _paint_tiled(self, photo: torch.Tensor, style_feats: list[torch.Tensor], mask: Optional[torch.Tensor]) -> torch.Tensor:
        """:meth:`ArbitraryStylizer.paint` in tiles: ``(B, 3, H, W)`` → ``(B, 3, H, W)`` float32.

        The encoder runs tile by tile into one relu4_1 map of the whole image (1/64 of its
        pixels), the AdaIN target is taken on that map, so every tile gets the whole image's
        statistics and no tile is restyled on its own, and the decoder runs tile by tile again.
        """
        from painterly.models.adain import SIZE_MULTIPLE
        from painterly.models.transformer import pad_to_multiple

        config, height, width = self.config, photo.shape[-2], photo.shape[-1]
        overlap = max(SIZE_MULTIPLE, config.tile_overlap // SIZE_MULTIPLE * SIZE_MULTIPLE)
        features = stylize_tiled(
            lambda tile: self.model.encode(self._prepare(tile)), pad_to_multiple(photo, SIZE_MULTIPLE),
            tile_size=config.tile_size, tile_overlap=overlap, multiple=SIZE_MULTIPLE, scale=1 / SIZE_MULTIPLE,
            dtype=self.dtype,  # the whole image's relu4_1 map: 192 MB in bf16 for 12 MP
        )
        if mask is not None:
            mask = pad_to_multiple(mask, SIZE_MULTIPLE)
        target = self.model.target(features, style_feats, self.weights, config.strength, mask).to(self.dtype)
        del features
        painted = stylize_tiled(
            lambda tile: self.model.decoder(self._prepare(tile)), target,
            tile_size=config.tile_size // SIZE_MULTIPLE, tile_overlap=overlap // SIZE_MULTIPLE, multiple=1,
            scale=SIZE_MULTIPLE,
        )
        return painted[..., :height, :width].clamp(0, 1)

    def __call__(self, image: Image.Image) -> Image.Image:
        if self.config.size is not None:
            image = resize_long_side(image, self.config.size)
        return tensor_to_image(self.stylize_tensor(image_to_tensor(image)))

    def stylize_image(self, image: Image.Image, progress: Optional[ProgressCallback] = None) -> Image.Image:
        result = self(image)
        if progress is not None:
            progress(ProgressEvent(step=1, total=1, stage="adain"))
        result.info["painterly"] = {key: value for key, value in self.config.to_dict().items() if value is not None}
        return result

    def stylize_frame(self, frame: torch.Tensor, guidance: Any = None) -> torch.Tensor:
        return self.stylize_tensor(frame)


def build_stylizer(config: AdaINConfig, *, paintings: Paintings, device: Any,
                   feature_network: Optional[FeatureNetwork] = None, **_: Any) -> "AdaINStylizer":  # fmt: skip
    """The adain method's stylizer (:class:`painterly.methods.adain.AdaINStylizer`), paintings encoded."""
    encoder = feature_network(ENCODER_LAYER, "max") if feature_network is not None else None
    return AdaINStylizer(paintings, config, device, encoder)
