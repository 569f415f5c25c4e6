"""Feed-forward style networks (Johnson et al. 2016, "Perceptual losses for real-time style transfer").

One module, :class:`TransformerNet`, configured by a :class:`TransformerConfig`: a strided
encoder, residual blocks at a quarter of the resolution and a decoder that upsamples with
nearest-neighbour + convolution (no transposed convolutions, so no checkerboard artefacts).
Reflection padding and instance normalization throughout (Ulyanov et al. 2016).

Variants are registered by name (:func:`variant_config`): ``"johnson"`` is the network of the
paper, ``"light"`` is made for CPUs (fewer channels, depthwise-separable convolutions).

Images go in and come out as RGB in ``[0, 1]``; any size works (the network pads to a multiple
of 4 by reflection and crops back). No training code lives here.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from typing import Any, Optional

import torch
import torch.nn.functional as F
from torch import nn

from painterly.errors import PainterlyError

#: The encoder downsamples twice by 2, so inputs are padded to a multiple of this.
SIZE_MULTIPLE = 4


@dataclass(frozen=True)
class TransformerConfig:
    """Shape of a :class:`TransformerNet`.

    Attributes:
        variant: name of the variant this config came from (informational once built).
        channels: feature channels at full, half and quarter resolution.
        residual_blocks: residual blocks at quarter resolution.
        separable: depthwise-separable convolutions (depthwise 3×3 + pointwise 1×1) in the
            residual blocks and the upsampling layers instead of full 3×3 convolutions.
        outer_kernel: kernel size of the first and the last convolution (9 in the paper).
        decoder_channels: channels of the decoder at half and full resolution (``None``: the
            encoder's, mirrored). Narrow decoders save most of the full-resolution work.
    """

    variant: str = "johnson"
    channels: tuple[int, int, int] = (32, 64, 128)
    residual_blocks: int = 5
    separable: bool = False
    outer_kernel: int = 9
    decoder_channels: Optional[tuple[int, int]] = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "channels", tuple(int(c) for c in self.channels))
        if self.decoder_channels is not None:
            object.__setattr__(self, "decoder_channels", tuple(int(c) for c in self.decoder_channels))
            if len(self.decoder_channels) != 2 or min(self.decoder_channels) < 1:
                raise PainterlyError(f"decoder channels must be two positive numbers, got {self.decoder_channels}")
        if len(self.channels) != 3 or min(self.channels) < 1:
            raise PainterlyError(f"network channels must be three positive numbers, got {self.channels}")
        if self.residual_blocks < 0:
            raise PainterlyError(f"residual_blocks must be 0 or more, got {self.residual_blocks}")
        if self.outer_kernel < 1 or self.outer_kernel % 2 == 0:
            raise PainterlyError(f"outer_kernel must be an odd positive number, got {self.outer_kernel}")

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["channels"] = list(self.channels)
        if self.decoder_channels is not None:
            data["decoder_channels"] = list(self.decoder_channels)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "TransformerConfig":
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise PainterlyError(f"unknown network settings {sorted(unknown)}: the model file is from a newer painterly")
        return cls(**data)


#: Built-in variants by name. Frozen dataclasses, so sharing them is safe.
VARIANTS: dict[str, TransformerConfig] = {
    "johnson": TransformerConfig(variant="johnson", channels=(32, 64, 128), residual_blocks=5),
    # 5×5 outer kernels: the 9×9 ones of the paper were 35 % of a CPU forward pass at full resolution.
    "light": TransformerConfig(variant="light", channels=(16, 32, 64), residual_blocks=5, separable=True, outer_kernel=5),
}


def variant_config(name: str, **overrides: Any) -> TransformerConfig:
    """The config of the built-in variant ``name``, with ``overrides`` applied."""
    key = name.strip().lower()
    if key not in VARIANTS:
        raise PainterlyError(f"unknown network variant {name!r}: use one of {', '.join(VARIANTS)}")
    return replace(VARIANTS[key], **overrides)


class NormContext:
    """Instance-norm statistics for one forward pass.

    With ``stats`` given, each norm layer uses the next ``(mean, var)`` pair instead of the
    statistics of its own input: tiles of a large image are then normalized like the whole
    image. Every pair actually used is appended to ``recorded``.
    """

    def __init__(self, stats: Optional[list[tuple[torch.Tensor, torch.Tensor]]] = None):
        self.stats = stats
        self.recorded: list[tuple[torch.Tensor, torch.Tensor]] = []


class InstanceNorm(nn.Module):
    """Instance normalization with a learned per-channel scale and shift.

    ``forward(x, context)``: ``x`` is ``(B, C, H, W)``; returns the same shape.
    """

    def __init__(self, channels: int, eps: float = 1e-5):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor, context: Optional[NormContext] = None) -> torch.Tensor:
        if context is None:
            return F.instance_norm(x, weight=self.weight, bias=self.bias, eps=self.eps)
        if context.stats is None:
            # In float32 whatever the compute dtype, as F.instance_norm does internally.
            mean = x.float().mean(dim=(2, 3), keepdim=True)
            var = x.float().var(dim=(2, 3), unbiased=False, keepdim=True)
        else:
            mean, var = context.stats[len(context.recorded)]
            if mean.shape[0] == 1:
                context.recorded.append((mean, var))
                # One fused pass (inference-mode batch norm with the given statistics) instead of three.
                # Its CPU kernel takes a bf16 input only with fp32 statistics *and* fp32 scale and
                # shift, so the (tiny) affine parameters are cast too.
                return F.batch_norm(
                    x, mean.flatten().float(), var.flatten().float(), self.weight.float(), self.bias.float(),
                    False, 0.0, self.eps,
                )
        context.recorded.append((mean, var))
        scale = self.weight.view(1, -1, 1, 1) * torch.rsqrt(var + self.eps)
        return ((x - mean) * scale + self.bias.view(1, -1, 1, 1)).to(x.dtype)


def _conv(in_channels: int, out_channels: int, kernel: int, stride: int = 1, separable: bool = False) -> nn.Sequential:
    """Reflection padding + a convolution (or a depthwise + pointwise pair)."""
    pad = nn.ReflectionPad2d(kernel // 2)
    if not separable:
        return nn.Sequential(pad, nn.Conv2d(in_channels, out_channels, kernel, stride))
    return nn.Sequential(
        pad,
        nn.Conv2d(in_channels, in_channels, kernel, stride, groups=in_channels),
        nn.Conv2d(in_channels, out_channels, 1),
    )


class ConvBlock(nn.Module):
    """(optional ×2 nearest upsampling) → padded convolution → instance norm → ReLU."""

    def __init__(self, in_channels: int, out_channels: int, kernel: int, stride: int = 1, upsample: bool = False,
                 separable: bool = False):
        super().__init__()
        self.upsample = upsample
        self.conv = _conv(in_channels, out_channels, kernel, stride, separable)
        self.norm = InstanceNorm(out_channels)

    def forward(self, x: torch.Tensor, context: Optional[NormContext] = None) -> torch.Tensor:
        if self.upsample:
            x = F.interpolate(x, scale_factor=2.0, mode="nearest")
        return F.relu(self.norm(self.conv(x), context))


class ResidualBlock(nn.Module):
    """``x + norm(conv(relu(norm(conv(x)))))`` at constant channels (He et al. 2016)."""

    def __init__(self, channels: int, separable: bool = False):
        super().__init__()
        self.conv1 = _conv(channels, channels, 3, separable=separable)
        self.norm1 = InstanceNorm(channels)
        self.conv2 = _conv(channels, channels, 3, separable=separable)
        self.norm2 = InstanceNorm(channels)

    def forward(self, x: torch.Tensor, context: Optional[NormContext] = None) -> torch.Tensor:
        y = F.relu(self.norm1(self.conv1(x), context))
        return x + self.norm2(self.conv2(y), context)


class TransformerNet(nn.Module):
    """Image transformation network: RGB ``[0, 1]`` ``(B, 3, H, W)`` → stylized ``(B, 3, H, W)`` in ``[0, 1]``.

    Example:
        >>> net = TransformerNet(variant_config("light"))
        >>> net(torch.rand(1, 3, 37, 50)).shape
        torch.Size([1, 3, 37, 50])
    """

    def __init__(self, config: TransformerConfig = TransformerConfig()):
        super().__init__()
        self.config = config
        c1, c2, c3 = config.channels
        d2, d1 = config.decoder_channels or (c2, c1)
        k = config.outer_kernel
        self.encoder = nn.ModuleList(
            [ConvBlock(3, c1, k), ConvBlock(c1, c2, 3, stride=2), ConvBlock(c2, c3, 3, stride=2)]
        )
        self.residuals = nn.ModuleList([ResidualBlock(c3, config.separable) for _ in range(config.residual_blocks)])
        self.decoder = nn.ModuleList(
            [
                ConvBlock(c3, d2, 3, upsample=True, separable=config.separable),
                ConvBlock(d2, d1, 3, upsample=True, separable=config.separable),
            ]
        )
        self.head = _conv(d1, 3, k)

    @property
    def receptive_radius(self) -> int:
        """Pixels of context on each side that an output pixel depends on (a safe upper bound)."""
        k = self.config.outer_kernel // 2
        # 9×9 at 1; 3×3 at 1 and 2 (strided); 2 per residual block at 4; upsampling convs at 2 and 1.
        return k + 1 + 2 + 2 * 4 * self.config.residual_blocks + 2 + 1 + k + SIZE_MULTIPLE

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self._run(image, None)

    def forward_with_stats(
        self, image: torch.Tensor, stats: list[tuple[torch.Tensor, torch.Tensor]]
    ) -> torch.Tensor:
        """Like ``forward`` but normalizing with ``stats`` from :meth:`norm_statistics` of a whole image."""
        return self._run(image, NormContext(stats))

    def norm_statistics(self, image: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """The ``(mean, var)`` each instance-norm layer sees for ``image``, each ``(B, C, 1, 1)``."""
        context = NormContext()
        self._run(image, context)
        return context.recorded

    def _run(self, image: torch.Tensor, context: Optional[NormContext]) -> torch.Tensor:
        if image.dim() != 4 or image.shape[1] != 3:
            raise PainterlyError(f"the network expects a (B, 3, H, W) RGB tensor, got shape {tuple(image.shape)}")
        height, width = image.shape[-2:]
        x = pad_to_multiple(image, SIZE_MULTIPLE)
        for block in self.encoder:
            x = block(x, context)
        for block in self.residuals:
            x = block(x, context)
        for block in self.decoder:
            x = block(x, context)
        x = torch.sigmoid(self.head(x))
        return x[..., :height, :width]


def pad_to_multiple(image: torch.Tensor, multiple: int) -> torch.Tensor:
    """Reflection-pad ``(B, C, H, W)`` at the bottom and right up to a multiple of ``multiple``.

    Images smaller than twice ``multiple`` are padded further (by replication) to ``2 · multiple``,
    the least the strided encoder can work on.
    """
    height, width = image.shape[-2:]
    if min(height, width) < 2:
        raise PainterlyError(f"image of {width}×{height} px is too small to stylize: use at least 2×2")
    pad_h = (multiple - height % multiple) % multiple
    pad_w = (multiple - width % multiple) % multiple
    if pad_h < height and pad_w < width:
        image = F.pad(image, (0, pad_w, 0, pad_h), mode="reflect") if pad_h or pad_w else image
    else:
        image = F.pad(image, (0, pad_w, 0, pad_h), mode="replicate")
    minimum = 2 * multiple
    if image.shape[-2] < minimum or image.shape[-1] < minimum:
        grow_h = max(0, minimum - image.shape[-2])
        grow_w = max(0, minimum - image.shape[-1])
        image = F.pad(image, (0, grow_w, 0, grow_h), mode="replicate")
    return image
