"""VGG19 convolutional feature extractor returning named activations.

The network is the conv part of VGG19 (Simonyan & Zisserman 2014). It holds no weights of its
own making: :func:`painterly.features.weights.load_vgg19` fills it from a weights file. It is
frozen, truncated after the deepest layer a caller needs, and preprocesses its input itself, so
callers always pass RGB images in ``[0, 1]``.
"""

from __future__ import annotations

from typing import Iterable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from painterly.errors import PainterlyError

#: Convolutions per block of VGG19.
_BLOCK_DEPTHS = (2, 2, 4, 4, 4)
_BLOCK_CHANNELS = (64, 128, 256, 512, 512)


def _layer_names() -> tuple[str, ...]:
    names: list[str] = []
    for block, depth in enumerate(_BLOCK_DEPTHS, start=1):
        for index in range(1, depth + 1):
            names += [f"conv{block}_{index}", f"relu{block}_{index}"]
        names.append(f"pool{block}")
    return tuple(names)


#: Every layer whose activation can be asked for, in network order.
LAYER_NAMES: tuple[str, ...] = _layer_names()
CONV_NAMES: tuple[str, ...] = tuple(name for name in LAYER_NAMES if name.startswith("conv"))

#: ImageNet mean pixel of the original Caffe model, in BGR order and 0-255 scale.
CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)
#: torchvision's normalization, in RGB order and 0-1 scale.
TORCH_MEAN_RGB = (0.485, 0.456, 0.406)
TORCH_STD_RGB = (0.229, 0.224, 0.225)

PREPROCESSINGS = ("caffe", "torch")


def caffe_preprocess(image: torch.Tensor) -> torch.Tensor:
    """RGB ``[0, 1]`` to the Caffe VGG input: BGR, ``[0, 255]``, ImageNet mean subtracted.

    Args:
        image: ``(B, 3, H, W)`` RGB in ``[0, 1]``.

    Returns:
        ``(B, 3, H, W)`` BGR, roughly in ``[-124, 152]``.
    """
    mean = torch.tensor(CAFFE_MEAN_BGR, device=image.device, dtype=image.dtype).view(1, 3, 1, 1)
    return image.flip(1) * 255.0 - mean


def torch_preprocess(image: torch.Tensor) -> torch.Tensor:
    """RGB ``[0, 1]`` to torchvision's VGG input: RGB normalized by ImageNet mean and std.

    Args:
        image: ``(B, 3, H, W)`` RGB in ``[0, 1]``.

    Returns:
        ``(B, 3, H, W)``, roughly in ``[-2.2, 2.7]``.
    """
    mean = torch.tensor(TORCH_MEAN_RGB, device=image.device, dtype=image.dtype).view(1, 3, 1, 1)
    std = torch.tensor(TORCH_STD_RGB, device=image.device, dtype=image.dtype).view(1, 3, 1, 1)
    return (image - mean) / std


def layer_channels(name: str) -> int:
    """Channels of a layer's activation, e.g. ``layer_channels("relu3_1") == 256``."""
    return _BLOCK_CHANNELS[int(name[4]) - 1]


def layer_index(name: str) -> int:
    """Position of a layer in :data:`LAYER_NAMES`; a clear error for unknown names."""
    try:
        return LAYER_NAMES.index(name)
    except ValueError:
        raise PainterlyError(
            f"unknown VGG19 layer {name!r}: use one of conv1_1 … conv5_4, relu1_1 … relu5_4, pool1 … pool5"
        ) from None


def deepest_layer(names: Iterable[str]) -> str:
    """The layer, among ``names``, that comes last in the network."""
    names = list(names)
    if not names:
        raise PainterlyError("no VGG19 layer was asked for: name at least one, e.g. relu4_1")
    return max(names, key=layer_index)


class _MaxPoolRecomputed(torch.autograd.Function):
    """2×2 max pooling that keeps no argmax indices for the backward pass: it finds them again there.

    PyTorch's max pooling keeps an int64 index per output value, 190 MB for VGG19 on a 1024×768
    image (four times the bf16 outputs). The pooled input is kept anyway (it is a ReLU's output,
    which the ReLU's own backward needs), so finding the maxima again costs one cheap pooling pass.
    """

    @staticmethod
    def forward(ctx, features: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        ctx.save_for_backward(features)
        return F.max_pool2d(features, 2, 2)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        (features,) = ctx.saved_tensors
        _, indices = F.max_pool2d_with_indices(features, 2, 2)
        return torch.ops.aten.max_pool2d_with_indices_backward(grad, features, [2, 2], [2, 2], [0, 0], [1, 1], False, indices)


class LeanMaxPool2d(nn.Module):
    """``nn.MaxPool2d(2, 2)`` whose backward pass needs no stored indices (see :class:`_MaxPoolRecomputed`)."""

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        if torch.is_grad_enabled() and features.requires_grad:
            return _MaxPoolRecomputed.apply(features)
        return F.max_pool2d(features, 2, 2)


class VGG19(nn.Module):
    """VGG19 conv layers up to ``last_layer``, frozen, returning named activations.

    Args:
        last_layer: deepest layer to build; later layers are not created at all.
        pooling: ``"max"`` (as trained) or ``"avg"`` (smoother gradients, Gatys et al. 2016).
        preprocessing: ``"caffe"`` for the original Caffe/Keras weights, ``"torch"`` for
            torchvision's.

    ``forward(image, layers)`` takes ``(B, 3, H, W)`` RGB in ``[0, 1]`` and returns
    ``{name: (B, C, H / 2**k, W / 2**k)}`` for each name in ``layers``.
    """

    def __init__(self, last_layer: str = "relu5_4", pooling: str = "max", preprocessing: str = "caffe"):
        super().__init__()
        if pooling not in ("max", "avg"):
            raise PainterlyError(f"unknown pooling {pooling!r}: use 'max' or 'avg'")
        if preprocessing not in PREPROCESSINGS:
            raise PainterlyError(f"unknown preprocessing {preprocessing!r}: use 'caffe' or 'torch'")
        self.preprocessing = preprocessing
        self.pooling = pooling
        self.layer_names = LAYER_NAMES[: layer_index(last_layer) + 1]
        layers: dict[str, nn.Module] = {}
        in_channels = 3
        for name in self.layer_names:
            if name.startswith("conv"):
                out_channels = _BLOCK_CHANNELS[int(name[4]) - 1]
                layers[name] = nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1)
                in_channels = out_channels
            elif name.startswith("relu"):
                # Not in place: a caller may ask for the conv output right before this ReLU.
                layers[name] = nn.ReLU(inplace=False)
            else:
                layers[name] = LeanMaxPool2d() if pooling == "max" else nn.AvgPool2d(kernel_size=2, stride=2)
        self.layers = nn.ModuleDict(layers)
        self.requires_grad_(False)
        self.eval()

    @property
    def last_layer(self) -> str:
        return self.layer_names[-1]

    def preprocess(self, image: torch.Tensor) -> torch.Tensor:
        """RGB ``[0, 1]`` ``(B, 3, H, W)`` to what the weights expect."""
        return caffe_preprocess(image) if self.preprocessing == "caffe" else torch_preprocess(image)

    def forward(self, image: torch.Tensor, layers: Sequence[str]) -> dict[str, torch.Tensor]:
        wanted = set(layers)
        last = deepest_layer(wanted)
        if layer_index(last) >= len(self.layer_names):
            raise PainterlyError(
                f"layer {last} is deeper than this network was built for ({self.last_layer}); "
                f"load it with last_layer={last!r}"
            )
        if image.dim() != 4 or image.shape[1] != 3:
            raise PainterlyError(f"VGG19 expects a (B, 3, H, W) RGB tensor, got shape {tuple(image.shape)}")
        features: dict[str, torch.Tensor] = {}
        x = self.preprocess(image)
        for name in self.layer_names:
            x = self.layers[name](x)
            if name in wanted:
                features[name] = x
            if name == last:
                break
        return features
