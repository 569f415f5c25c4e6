"""Feed-forward style networks (Johnson et al. 2016, "Perceptual losses for real-time style transfer").

One module, :class:`TransformerNet`, configured by a :class:`TransformerConfig`: a strided
encoder, residual blocks at a quarter of the resolution and a decoder that upsamples with
nearest-neighbour + convolution (no transposed convolutions, so no checkerboard artefacts).
Reflection padding and instance normalization throughout (Ulyanov et al. 2016).

Variants are registered by name (:func:`variant_config`): ``"johnson"`` is the network of the
paper, ``"light"`` is made for CPUs (fewer channels, depthwise-separable convolutions).

With ``styles > 0`` the network is a multi-style one (conditional instance normalization,
Dumoulin et al. 2017): every convolution is shared and each norm layer holds one scale and
shift per style; ``net(image, style)`` picks (or blends) the styles, and
:meth:`TransformerNet.single_style` extracts one of them as a plain network.

Images go in and come out as RGB in ``[0, 1]``; any size works (the network pads to a multiple
of 4 by reflection and crops back). No training code lives here.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from typing import Any, Optional, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from painterly.errors import PainterlyError
from painterly.models.shapes import TRANSFORMER_SIZE_MULTIPLE as SIZE_MULTIPLE

#: How a multi-style network is told which style to paint: an index, indices, or blend weights.
StyleChoice = Optional[int | Sequence[int] | torch.Tensor]


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
        styles: 0 for a one-style network; otherwise the number of styles of a multi-style
            network (conditional instance norm: a scale and shift per style and channel).
    """

    variant: str = "johnson"
    channels: tuple[int, int, int] = (32, 64, 128)
    residual_blocks: int = 5
    separable: bool = False
    outer_kernel: int = 9
    decoder_channels: Optional[tuple[int, int]] = None
    styles: int = 0

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
        if self.styles < 0:
            raise PainterlyError(f"styles must be 0 (one-style network) or more, got {self.styles}")
        if self.outer_kernel < 1 or self.outer_kernel % 2 == 0:
            raise PainterlyError(f"outer_kernel must be an odd positive number, got {self.outer_kernel}")

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["channels"] = list(self.channels)
        if self.decoder_channels is not None:
            data["decoder_channels"] = list(self.decoder_channels)
        if not self.styles:
            del data["styles"]  # one-style model files stay as they were
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

    def __init__(
        self,
        stats: Optional[list[tuple[torch.Tensor, torch.Tensor]]] = None,
        style: Optional[torch.Tensor] = None,
    ):
        self.stats = stats
        #: For multi-style networks: ``(B, S)`` weights of each style per image (one-hot picks one).
        self.style = style
        self.recorded: list[tuple[torch.Tensor, torch.Tensor]] = []
        #: Whether norm layers record their statistics (off for a plain multi-style forward pass).
        self.recording = True


class InstanceNorm(nn.Module):
    """Instance normalization with a learned per-channel scale and shift.

    With ``styles > 0`` (conditional instance norm) the scale and shift are ``(styles, C)``
    tables and the context's ``style`` weights ``(B, S)`` pick each image's row (or a blend).

    ``forward(x, context)``: ``x`` is ``(B, C, H, W)``; returns the same shape.
    """

    def __init__(self, channels: int, eps: float = 1e-5, styles: int = 0):
        super().__init__()
        self.eps = eps
        shape = (styles, channels) if styles else (channels,)
        self.weight = nn.Parameter(torch.ones(shape))
        self.bias = nn.Parameter(torch.zeros(shape))

    def forward(self, x: torch.Tensor, context: Optional[NormContext] = None) -> torch.Tensor:
        if self.weight.dim() == 2:
            return self._conditional(x, context)
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

    def _conditional(self, x: torch.Tensor, context: Optional[NormContext]) -> torch.Tensor:
        if context is None or context.style is None:
            raise PainterlyError("a multi-style network needs a style: call it as net(image, style)")
        mix = context.style.to(self.weight.dtype)
        weight = (mix @ self.weight)[:, :, None, None]  # (B, C, 1, 1)
        bias = (mix @ self.bias)[:, :, None, None]
        if context.stats is None:
            normalized = F.instance_norm(x, eps=self.eps)
            if context.recording:
                context.recorded.append(
                    (x.float().mean(dim=(2, 3), keepdim=True), x.float().var(dim=(2, 3), unbiased=False, keepdim=True))
                )
        else:
            mean, var = context.stats[len(context.recorded)]
            context.recorded.append((mean, var))
            normalized = ((x - mean) * torch.rsqrt(var + self.eps)).to(x.dtype)
        return (normalized * weight + bias).to(x.dtype)


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
                 separable: bool = False, styles: int = 0):
        super().__init__()
        self.upsample = upsample
        self.conv = _conv(in_channels, out_channels, kernel, stride, separable)
        self.norm = InstanceNorm(out_channels, styles=styles)

    def forward(self, x: torch.Tensor, context: Optional[NormContext] = None) -> torch.Tensor:
        if self.upsample:
            x = F.interpolate(x, scale_factor=2.0, mode="nearest")
        return F.relu(self.norm(self.conv(x), context))


class ResidualBlock(nn.Module):
    """``x + norm(conv(relu(norm(conv(x)))))`` at constant channels (He et al. 2016)."""

    def __init__(self, channels: int, separable: bool = False, styles: int = 0):
        super().__init__()
        self.conv1 = _conv(channels, channels, 3, separable=separable)
        self.norm1 = InstanceNorm(channels, styles=styles)
        self.conv2 = _conv(channels, channels, 3, separable=separable)
        self.norm2 = InstanceNorm(channels, styles=styles)

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
        k, s = config.outer_kernel, config.styles
        self.encoder = nn.ModuleList(
            [ConvBlock(3, c1, k, styles=s), ConvBlock(c1, c2, 3, stride=2, styles=s),
             ConvBlock(c2, c3, 3, stride=2, styles=s)]
        )  # fmt: skip
        self.residuals = nn.ModuleList(
            [ResidualBlock(c3, config.separable, styles=s) for _ in range(config.residual_blocks)]
        )
        self.decoder = nn.ModuleList(
            [
                ConvBlock(c3, d2, 3, upsample=True, separable=config.separable, styles=s),
                ConvBlock(d2, d1, 3, upsample=True, separable=config.separable, styles=s),
            ]
        )
        self.head = _conv(d1, 3, k)

    @property
    def receptive_radius(self) -> int:
        """Pixels of context on each side that an output pixel depends on (a safe upper bound)."""
        k = self.config.outer_kernel // 2
        # 9×9 at 1; 3×3 at 1 and 2 (strided); 2 per residual block at 4; upsampling convs at 2 and 1.
        return k + 1 + 2 + 2 * 4 * self.config.residual_blocks + 2 + 1 + k + SIZE_MULTIPLE

    def forward(self, image: torch.Tensor, style: StyleChoice = None) -> torch.Tensor:
        """Stylize ``image``; a multi-style network also takes ``style`` (see :meth:`style_weights`)."""
        if not self.config.styles:
            return self._run(image, None)
        context = NormContext(style=self.style_weights(style, image.shape[0], image.device))
        context.recording = False
        return self._run(image, context)

    def forward_with_stats(
        self, image: torch.Tensor, stats: list[tuple[torch.Tensor, torch.Tensor]], style: StyleChoice = None
    ) -> torch.Tensor:
        """Like ``forward`` but normalizing with ``stats`` from :meth:`norm_statistics` of a whole image."""
        return self._run(image, NormContext(stats, self._maybe_style(style, image)))

    def norm_statistics(
        self, image: torch.Tensor, style: StyleChoice = None
    ) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """The ``(mean, var)`` each instance-norm layer sees for ``image``, each ``(B, C, 1, 1)``."""
        context = NormContext(style=self._maybe_style(style, image))
        self._run(image, context)
        return context.recorded

    def style_weights(self, style: StyleChoice, batch: int, device: torch.device) -> torch.Tensor:
        """``(B, S)`` style weights of a multi-style network from ``style``.

        ``style`` is a style index (every image), ``(B,)`` indices (one per image), or ``(S,)`` /
        ``(B, S)`` weights that blend the styles (rows summing to 1 stay within the styles).
        """
        count = self.config.styles
        if style is None:
            raise PainterlyError(f"this network holds {count} styles: pick one by index (0 … {count - 1})")
        if isinstance(style, int):
            style = torch.tensor([style] * batch)
        style = torch.as_tensor(style, device=device)
        if style.dtype in (torch.int32, torch.int64) and style.dim() <= 1:
            index = style.reshape(-1).expand(batch) if style.numel() == 1 else style
            if index.shape[0] != batch or int(index.min()) < 0 or int(index.max()) >= count:
                raise PainterlyError(f"style indices must be 0 … {count - 1}, one per image, got {index.tolist()}")
            return F.one_hot(index, count).float()
        weights = style.float().reshape(-1, count) if style.shape[-1] == count else None
        if weights is None or weights.shape[0] not in (1, batch):
            raise PainterlyError(f"style weights must be ({count},) or ({batch}, {count}), got {tuple(style.shape)}")
        return weights.expand(batch, count)

    def single_style(self, style: StyleChoice) -> "TransformerNet":
        """A one-style network (``styles=0``) with the shared convolutions and ``style``'s scale and shift."""
        if not self.config.styles:
            raise PainterlyError("this network holds one style already")
        mix = self.style_weights(style, 1, self.encoder[0].norm.weight.device)[0]
        single = TransformerNet(replace(self.config, styles=0)).to(mix.device)
        state = {}
        for key, value in self.state_dict().items():
            # Only the norm tables are 2-D; convolution weights are 4-D and biases 1-D.
            state[key] = (mix.to(value.dtype) @ value) if value.dim() == 2 else value
        single.load_state_dict(state)
        return single.to(self.encoder[0].norm.weight.dtype)

    def _maybe_style(self, style: StyleChoice, image: torch.Tensor) -> Optional[torch.Tensor]:
        return self.style_weights(style, image.shape[0], image.device) if self.config.styles else None

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
