"""PatchGAN discriminators (Isola et al. 2017) with spectral norm (Miyato et al. 2018).

A fully convolutional network that scores every overlapping patch of its input as real or
fake: ``(B, C, H, W)`` → ``(B, 1, h, w)`` logits. With three downsampling layers each logit
sees a 70×70 pixel patch, which is the scale of brush strokes rather than of whole objects.
It judges pixels (RGB in ``[0, 1]``), or VGG19 feature maps of one layer (Li & Wand 2016, MGAN),
which the caller computes; the network does not know which. No training code lives here.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from painterly.errors import PainterlyError

#: Channels of VGG19's activations per block (``relu3_1`` → block 3 → 256).
_VGG_BLOCK_CHANNELS = (64, 128, 256, 512, 512)
NORMS = ("none", "instance")


def input_channels(features: str) -> int:
    """Channels of what a discriminator judges: 3 for ``"pixels"``, else those of the VGG19 layer."""
    if features == "pixels":
        return 3
    from painterly.features.vgg import layer_index

    layer_index(features)  # a clear error for unknown names
    return _VGG_BLOCK_CHANNELS[int(features[4]) - 1]  # conv3_1, relu3_1 and pool3 are all block 3


@dataclass(frozen=True)
class DiscriminatorConfig:
    """Shape of a :class:`PatchDiscriminator`.

    Attributes:
        features: what it judges: ``"pixels"`` (RGB in ``[0, 1]``) or a VGG19 layer name such as
            ``"relu3_1"`` (the feature maps of the output and of the painting at that layer).
        channels: channels of the first layer; doubled at each downsampling, up to 8×.
        layers: strided (÷2) layers; 3 gives 70×70 px patches on pixels.
        spectral_norm: spectral normalization of every convolution (keeps the judge Lipschitz,
            the main stabilizer of short GAN runs).
        norm: ``"none"`` or ``"instance"`` normalization after the inner convolutions.
    """

    features: str = "pixels"
    channels: int = 64
    layers: int = 3
    spectral_norm: bool = True
    norm: str = "none"

    def __post_init__(self) -> None:
        if self.channels < 1 or self.layers < 1:
            raise PainterlyError(
                f"discriminator channels and layers must be at least 1, got {self.channels} and {self.layers}"
            )
        if self.norm not in NORMS:
            raise PainterlyError(f"unknown discriminator norm {self.norm!r}: use none or instance")
        input_channels(self.features)

    @property
    def in_channels(self) -> int:
        return input_channels(self.features)

    @property
    def patch_size(self) -> int:
        """Side, in input pixels (or feature positions), of the patch each output logit judges."""
        size = 1
        # Backwards from the output: two stride-1 4×4 convolutions, then the strided ones.
        for stride in [1, 1] + [2] * self.layers:
            size = (size - 1) * stride + 4
        return size

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "DiscriminatorConfig":
        known = {item.name for item in fields(cls)}
        return cls(**{key: value for key, value in data.items() if key in known})


class PatchDiscriminator(nn.Module):
    """``(B, C, H, W)`` → ``(B, 1, h, w)`` patch logits (unbounded; positive = judged real).

    Pixel inputs are RGB in ``[0, 1]`` and mapped to ``[-1, 1]`` inside. Inputs should be at least
    ``2 ** (layers + 2)`` pixels on a side.

    Example:
        >>> disc = PatchDiscriminator(DiscriminatorConfig(channels=8))
        >>> disc(torch.rand(2, 3, 64, 64)).shape
        torch.Size([2, 1, 6, 6])
    """

    def __init__(self, config: DiscriminatorConfig = DiscriminatorConfig()):
        super().__init__()
        self.config = config
        widths = [config.channels * min(2**index, 8) for index in range(config.layers + 1)]
        convs = [nn.Conv2d(config.in_channels, widths[0], 4, 2, 1)]
        for index in range(1, config.layers):
            convs.append(nn.Conv2d(widths[index - 1], widths[index], 4, 2, 1))
        convs.append(nn.Conv2d(widths[config.layers - 1], widths[config.layers], 4, 1, 1))
        convs.append(nn.Conv2d(widths[config.layers], 1, 4, 1, 1))
        for conv in convs:
            # As in pix2pix and CycleGAN: small normal weights, zero biases.
            nn.init.normal_(conv.weight, 0.0, 0.02)
            nn.init.zeros_(conv.bias)
        if config.spectral_norm:
            convs = [nn.utils.parametrizations.spectral_norm(conv) for conv in convs]
        self.convs = nn.ModuleList(convs)
        # The first and the last layer are never normalized.
        inner = range(1, len(convs) - 1) if config.norm == "instance" else range(0)
        self.norms = nn.ModuleDict({str(i): nn.InstanceNorm2d(convs[i].out_channels, affine=True) for i in inner})

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4 or x.shape[1] != self.config.in_channels:
            raise PainterlyError(
                f"the discriminator expects (B, {self.config.in_channels}, H, W) inputs, got shape {tuple(x.shape)}"
            )
        if self.config.features == "pixels":
            x = x * 2.0 - 1.0
        last = len(self.convs) - 1
        for index, conv in enumerate(self.convs):
            x = conv(x)
            if index < last:
                if str(index) in self.norms:
                    x = self.norms[str(index)](x)
                x = F.leaky_relu(x, 0.2)
        return x
