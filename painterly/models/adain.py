"""Arbitrary style transfer networks (Huang & Belongie 2017, "Arbitrary style transfer in real time
with adaptive instance normalization").

:class:`AdaINDecoder` mirrors VGG19 up to relu4_1: reflection-padded 3×3 convolutions and ReLUs,
nearest-neighbour upsampling where VGG pools, and a linear last layer that returns RGB roughly in
``[0, 1]``. A ``width`` below 1 narrows every layer (0.5 costs about a quarter of the compute)
for CPUs. :class:`AdaINNetwork` holds the frozen VGG19 encoder and a decoder and stylizes
any image with any painting: several paintings by weight, a mask, a strength. No file I/O here
(see :mod:`painterly.models.adain_io`), no training (see :mod:`painterly.train.arbitrary`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any, Optional, Sequence

import torch
from torch import nn

from painterly.errors import PainterlyError
from painterly.features.vgg import PREPROCESSINGS, VGG19
from painterly.models.transformer import pad_to_multiple
from painterly.ops.adain import adain, adain_to_statistics, apply_strength, blend_styles, masked_targets, resize_mask, wct
from painterly.models.shapes import ADAIN_ENCODER_LAYER as ENCODER_LAYER
from painterly.models.shapes import ADAIN_SIZE_MULTIPLE as SIZE_MULTIPLE
from painterly.models.shapes import ADAIN_TRANSFORMS as TRANSFORMS
from painterly.ops.stats import mean_std

#: The layers the style loss and the statistics come from.
STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1")
#: Channels of VGG19 at relu4_1, 1/4, 1/2 and full resolution: what the decoder mirrors.
_VGG_CHANNELS = (512, 256, 128, 64)


@dataclass(frozen=True)
class DecoderConfig:
    """Shape of an :class:`AdaINDecoder`.

    Attributes:
        width: channel multiplier of every hidden layer (1: the paper's decoder, 256/128/64
            channels; 0.5 for CPUs).
        convs: 3×3 convolutions at 1/8, 1/4, 1/2 and full resolution (the paper's, mirroring
            VGG19, is ``(1, 4, 2, 2)``); the last of each level changes the channel count.
        preprocessing: the input convention of the VGG19 weights the decoder was trained
            against (``caffe`` or ``torch``); a decoder only works with that encoder.
    """

    width: float = 1.0
    convs: tuple[int, int, int, int] = (1, 4, 2, 2)
    preprocessing: str = "caffe"

    def __post_init__(self) -> None:
        object.__setattr__(self, "convs", tuple(int(count) for count in self.convs))
        if not 0 < self.width <= 4:
            raise PainterlyError(f"decoder width must be above 0 and at most 4, got {self.width}")
        if len(self.convs) != 4 or min(self.convs) < 1:
            raise PainterlyError(f"decoder convs must be four counts of at least 1, got {self.convs}")
        if self.preprocessing not in PREPROCESSINGS:
            raise PainterlyError(f"unknown preprocessing {self.preprocessing!r}: use caffe or torch")

    def channels(self) -> tuple[int, int, int, int]:
        """Input channels (512, from the encoder) and hidden channels at 1/4, 1/2 and full size."""
        return (_VGG_CHANNELS[0], *(max(4, round(count * self.width)) for count in _VGG_CHANNELS[1:]))  # type: ignore[return-value]

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["convs"] = list(self.convs)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "DecoderConfig":
        unknown = set(data) - {item.name for item in fields(cls)}
        if unknown:
            raise PainterlyError(f"unknown decoder settings {sorted(unknown)}: the decoder file is from a newer painterly")
        return cls(**data)


def _conv_relu(in_channels: int, out_channels: int) -> list[nn.Module]:
    return [nn.ReflectionPad2d(1), nn.Conv2d(in_channels, out_channels, 3), nn.ReLU()]


class AdaINDecoder(nn.Module):
    """relu4_1 features ``(B, 512, H/8, W/8)`` → RGB image ``(B, 3, H, W)``, roughly in ``[0, 1]``.

    Example:
        >>> decoder = AdaINDecoder(DecoderConfig(width=0.25))
        >>> decoder(torch.rand(1, 512, 5, 7)).shape
        torch.Size([1, 3, 40, 56])
    """

    def __init__(self, config: DecoderConfig = DecoderConfig()):
        super().__init__()
        self.config = config
        channels = config.channels()
        layers: list[nn.Module] = []
        in_channels = channels[0]
        for level, count in enumerate(config.convs):
            for index in range(count):
                last_of_level = index == count - 1
                if level == len(config.convs) - 1 and last_of_level:
                    layers += [nn.ReflectionPad2d(1), nn.Conv2d(in_channels, 3, 3)]
                    break
                out_channels = channels[level + 1] if last_of_level else in_channels
                layers += _conv_relu(in_channels, out_channels)
                in_channels = out_channels
            if level < len(config.convs) - 1:
                layers.append(nn.Upsample(scale_factor=2, mode="nearest"))
        self.layers = nn.Sequential(*layers)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        if features.dim() != 4 or features.shape[1] != _VGG_CHANNELS[0]:
            raise PainterlyError(f"the decoder expects relu4_1 features (B, 512, h, w), got shape {tuple(features.shape)}")
        return self.layers(features)


class AdaINNetwork(nn.Module):
    """A frozen VGG19 encoder (up to relu4_1) and a decoder: any photo, any painting.

    Args:
        encoder: :class:`VGG19` built at least up to relu4_1 (``load_vgg19(last_layer="relu4_1")``).
        decoder: a trained :class:`AdaINDecoder`.
        transform: ``"adain"`` (channel mean/std) or ``"wct"`` (full covariance, slower).

    Example:
        >>> model = AdaINNetwork(load_vgg19(last_layer="relu4_1"), decoder)   # doctest: +SKIP
        >>> model.stylize(photo, [painting_a, painting_b], [0.7, 0.3], strength=0.8)  # doctest: +SKIP
    """

    def __init__(self, encoder: VGG19, decoder: AdaINDecoder, transform: str = "adain"):
        super().__init__()
        if ENCODER_LAYER not in encoder.layer_names:
            raise PainterlyError(f"the encoder stops at {encoder.last_layer}; build it up to {ENCODER_LAYER}")
        if encoder.preprocessing != decoder.config.preprocessing:
            raise PainterlyError(
                f"the decoder was trained with {decoder.config.preprocessing} VGG19 weights but the encoder has "
                f"{encoder.preprocessing} ones: pass the matching --vgg-weights or retrain the decoder"
            )
        if transform not in TRANSFORMS:
            raise PainterlyError(f"unknown feature transform {transform!r}: use adain or wct")
        self.encoder = encoder
        self.decoder = decoder
        self.transform = transform

    def encode(self, image: torch.Tensor) -> torch.Tensor:
        """``(B, 3, H, W)`` RGB in ``[0, 1]`` → relu4_1 features ``(B, 512, H/8, W/8)``."""
        return self.encoder(image, [ENCODER_LAYER])[ENCODER_LAYER]

    def restyle(self, content_feats: torch.Tensor, style_feats: torch.Tensor, mask: Optional[torch.Tensor] = None) -> torch.Tensor:
        """The transform's target for one style, taking content statistics where ``mask`` is set."""
        if self.transform == "wct":
            return wct(content_feats, style_feats)
        return adain(content_feats, style_feats, content_mask=mask)

    def target(
        self,
        content_feats: torch.Tensor,
        style_feats: Sequence[torch.Tensor],
        weights: Optional[Sequence[float]] = None,
        strength: float = 1.0,
        mask: Optional[torch.Tensor] = None,
    ) -> torch.Tensor:
        """The decoder's input: styles blended by weight, or chosen by ``mask``, then ``strength``.

        Args:
            content_feats: ``(B, 512, h, w)``.
            style_feats: ``K`` tensors ``(1 or B, 512, h_k, w_k)``.
            weights: ``K`` weights (``None``: equal).
            strength: 0 keeps the content features, 1 the full style.
            mask: ``(B or 1, 1, H, W)`` in ``[0, 1]`` at any resolution: the first style paints
                where it is set, the other styles (blended by their weights) elsewhere; with a
                single style the rest keeps the content.

        Returns:
            ``(B, 512, h, w)``.
        """
        weights = [1.0] * len(style_feats) if weights is None else list(weights)
        if len(weights) != len(style_feats):
            raise PainterlyError(f"{len(style_feats)} styles but {len(weights)} weights: give one weight per style")
        if mask is None:
            target = blend_styles([self.restyle(content_feats, style) for style in style_feats], weights)
        else:
            small = resize_mask(mask, tuple(content_feats.shape[-2:])).to(content_feats.device)
            inside = self.restyle(content_feats, style_feats[0], small) if style_feats else content_feats
            outside = content_feats
            if len(style_feats) > 1:
                outside = blend_styles([self.restyle(content_feats, style, 1 - small) for style in style_feats[1:]], weights[1:])
            target = masked_targets(inside, outside, small)
        return apply_strength(content_feats, target, strength)

    def stylize(
        self,
        content: torch.Tensor,
        styles: Sequence[torch.Tensor],
        weights: Optional[Sequence[float]] = None,
        strength: float = 1.0,
        mask: Optional[torch.Tensor] = None,
    ) -> torch.Tensor:
        """Paint ``content`` ``(B, 3, H, W)`` in ``[0, 1]`` (any size) in the style of ``styles``.

        Args:
            styles: ``K`` paintings ``(1, 3, H_k, W_k)`` in ``[0, 1]``.
            weights, strength, mask: as for :meth:`target` (``mask`` at the content's size).

        Returns:
            ``(B, 3, H, W)`` in ``[0, 1]``.
        """
        return self.paint(content, [self.encode(style) for style in styles], weights, strength, mask)

    def paint(
        self,
        content: torch.Tensor,
        style_feats: Sequence[torch.Tensor],
        weights: Optional[Sequence[float]] = None,
        strength: float = 1.0,
        mask: Optional[torch.Tensor] = None,
    ) -> torch.Tensor:
        """:meth:`stylize` with the paintings already encoded (:meth:`encode`), for many photos in a row.

        Args:
            content: ``(B, 3, H, W)`` in ``[0, 1]``, any size.
            style_feats: ``K`` relu4_1 features ``(1, 512, h_k, w_k)``.

        Returns:
            ``(B, 3, H, W)`` in ``[0, 1]``.
        """
        if content.dim() != 4 or content.shape[1] != 3:
            raise PainterlyError(f"the stylizer expects a (B, 3, H, W) RGB tensor, got shape {tuple(content.shape)}")
        if not style_feats:
            raise PainterlyError("no style given: pass at least one painting")
        height, width = content.shape[-2:]
        if mask is not None:
            mask = pad_to_multiple(resize_mask(mask, (height, width)), SIZE_MULTIPLE)
        content_feats = self.encode(pad_to_multiple(content, SIZE_MULTIPLE))
        target = self.target(content_feats, style_feats, weights, strength, mask)
        output = self.decoder(target.to(content_feats.dtype))  # masks and WCT work in float32
        return output[..., :height, :width].clamp(0, 1)


class FixedStyleAdaIN(nn.Module):
    """Encoder, AdaIN to one painting's stored statistics, decoder: an exportable ``image → image`` module.

    Args:
        model: the stylizer whose encoder and decoder to use.
        style: the painting ``(1, 3, H, W)`` in ``[0, 1]``; only its relu4_1 mean and std are kept.
        strength: feature interpolation, 0 to 1.

    ``forward(image)``: ``(B, 3, H, W)`` in ``[0, 1]`` → ``(B, 3, H, W)`` in ``[0, 1]``.
    """

    def __init__(self, model: AdaINNetwork, style: torch.Tensor, strength: float = 1.0):
        super().__init__()
        self.encoder = model.encoder
        self.decoder = model.decoder
        self.strength = float(strength)
        with torch.no_grad():
            style_mean, style_std = mean_std(model.encode(style))
        self.register_buffer("style_mean", style_mean)
        self.register_buffer("style_std", style_std)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        height, width = image.shape[-2:]
        features = self.encoder(pad_to_multiple(image, SIZE_MULTIPLE), [ENCODER_LAYER])[ENCODER_LAYER]
        target = apply_strength(features, adain_to_statistics(features, self.style_mean, self.style_std), self.strength)
        return self.decoder(target)[..., :height, :width].clamp(0, 1)
