"""The Inception-v3 network of FID, up to its 2048-d pool3 features, with user-supplied weights.

FID and ArtFID are only comparable across tools when they use the same network: the TensorFlow
Inception graph of 2015-12-05 as ported to PyTorch by pytorch-fid
(``pt_inception-2015-12-05-6726825d.pth``). This module builds that architecture with the same
parameter names, so that file loads as it is; it cannot be downloaded from here, so the user
passes it (``--inception-weights FILE`` or ``PAINTERLY_INCEPTION_WEIGHTS``).

The FID variant differs from torchvision's Inception-v3 in its pooling: average pools ignore
the zero padding, and the last block max-pools its pooling branch.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from painterly.errors import PainterlyError

WEIGHTS_ENV = "PAINTERLY_INCEPTION_WEIGHTS"
WEIGHTS_FILENAME = "pt_inception-2015-12-05-6726825d.pth"
HOW_TO_GET_WEIGHTS = (
    f"download {WEIGHTS_FILENAME} from https://github.com/mseitzer/pytorch-fid/releases (tag fid_weights) "
    f"on a machine with internet, then pass --inception-weights FILE or set {WEIGHTS_ENV}"
)
#: Side the network sees; inputs are resized to it, as the reference FID code does.
INPUT_SIZE = 299
FEATURE_DIM = 2048


class ConvBN(nn.Module):
    """Convolution without bias, batch norm (eps 1e-3), ReLU: the unit every Inception branch is made of."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size, stride=stride, padding=padding, bias=False)
        self.bn = nn.BatchNorm2d(out_channels, eps=0.001)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.bn(self.conv(x)))


def _average_pool(x: torch.Tensor) -> torch.Tensor:
    # TensorFlow's average pool leaves the padded zeros out of the mean.
    return F.avg_pool2d(x, kernel_size=3, stride=1, padding=1, count_include_pad=False)


class MixedA(nn.Module):
    """35×35 block: 1×1, 5×5, double 3×3 and pooled branches."""

    def __init__(self, in_channels: int, pool_features: int):
        super().__init__()
        self.branch1x1 = ConvBN(in_channels, 64, 1)
        self.branch5x5_1 = ConvBN(in_channels, 48, 1)
        self.branch5x5_2 = ConvBN(48, 64, 5, padding=2)
        self.branch3x3dbl_1 = ConvBN(in_channels, 64, 1)
        self.branch3x3dbl_2 = ConvBN(64, 96, 3, padding=1)
        self.branch3x3dbl_3 = ConvBN(96, 96, 3, padding=1)
        self.branch_pool = ConvBN(in_channels, pool_features, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat(
            [
                self.branch1x1(x),
                self.branch5x5_2(self.branch5x5_1(x)),
                self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x))),
                self.branch_pool(_average_pool(x)),
            ],
            dim=1,
        )


class MixedB(nn.Module):
    """35×35 → 17×17 reduction."""

    def __init__(self, in_channels: int):
        super().__init__()
        self.branch3x3 = ConvBN(in_channels, 384, 3, stride=2)
        self.branch3x3dbl_1 = ConvBN(in_channels, 64, 1)
        self.branch3x3dbl_2 = ConvBN(64, 96, 3, padding=1)
        self.branch3x3dbl_3 = ConvBN(96, 96, 3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat(
            [
                self.branch3x3(x),
                self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x))),
                F.max_pool2d(x, kernel_size=3, stride=2),
            ],
            dim=1,
        )


class MixedC(nn.Module):
    """17×17 block with factorized 7×7 convolutions."""

    def __init__(self, in_channels: int, channels_7x7: int):
        super().__init__()
        c7 = channels_7x7
        self.branch1x1 = ConvBN(in_channels, 192, 1)
        self.branch7x7_1 = ConvBN(in_channels, c7, 1)
        self.branch7x7_2 = ConvBN(c7, c7, (1, 7), padding=(0, 3))
        self.branch7x7_3 = ConvBN(c7, 192, (7, 1), padding=(3, 0))
        self.branch7x7dbl_1 = ConvBN(in_channels, c7, 1)
        self.branch7x7dbl_2 = ConvBN(c7, c7, (7, 1), padding=(3, 0))
        self.branch7x7dbl_3 = ConvBN(c7, c7, (1, 7), padding=(0, 3))
        self.branch7x7dbl_4 = ConvBN(c7, c7, (7, 1), padding=(3, 0))
        self.branch7x7dbl_5 = ConvBN(c7, 192, (1, 7), padding=(0, 3))
        self.branch_pool = ConvBN(in_channels, 192, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        double = x
        for index in range(1, 6):
            double = getattr(self, f"branch7x7dbl_{index}")(double)
        return torch.cat(
            [
                self.branch1x1(x),
                self.branch7x7_3(self.branch7x7_2(self.branch7x7_1(x))),
                double,
                self.branch_pool(_average_pool(x)),
            ],
            dim=1,
        )


class MixedD(nn.Module):
    """17×17 → 8×8 reduction."""

    def __init__(self, in_channels: int):
        super().__init__()
        self.branch3x3_1 = ConvBN(in_channels, 192, 1)
        self.branch3x3_2 = ConvBN(192, 320, 3, stride=2)
        self.branch7x7x3_1 = ConvBN(in_channels, 192, 1)
        self.branch7x7x3_2 = ConvBN(192, 192, (1, 7), padding=(0, 3))
        self.branch7x7x3_3 = ConvBN(192, 192, (7, 1), padding=(3, 0))
        self.branch7x7x3_4 = ConvBN(192, 192, 3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        seven = x
        for index in range(1, 5):
            seven = getattr(self, f"branch7x7x3_{index}")(seven)
        return torch.cat(
            [self.branch3x3_2(self.branch3x3_1(x)), seven, F.max_pool2d(x, kernel_size=3, stride=2)], dim=1
        )


class MixedE(nn.Module):
    """8×8 block with split 1×3 / 3×1 convolutions; ``max_pool`` for the FID graph's last block."""

    def __init__(self, in_channels: int, max_pool: bool = False):
        super().__init__()
        self.max_pool = max_pool
        self.branch1x1 = ConvBN(in_channels, 320, 1)
        self.branch3x3_1 = ConvBN(in_channels, 384, 1)
        self.branch3x3_2a = ConvBN(384, 384, (1, 3), padding=(0, 1))
        self.branch3x3_2b = ConvBN(384, 384, (3, 1), padding=(1, 0))
        self.branch3x3dbl_1 = ConvBN(in_channels, 448, 1)
        self.branch3x3dbl_2 = ConvBN(448, 384, 3, padding=1)
        self.branch3x3dbl_3a = ConvBN(384, 384, (1, 3), padding=(0, 1))
        self.branch3x3dbl_3b = ConvBN(384, 384, (3, 1), padding=(1, 0))
        self.branch_pool = ConvBN(in_channels, 192, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        single = self.branch3x3_1(x)
        double = self.branch3x3dbl_2(self.branch3x3dbl_1(x))
        pooled = F.max_pool2d(x, kernel_size=3, stride=1, padding=1) if self.max_pool else _average_pool(x)
        return torch.cat(
            [
                self.branch1x1(x),
                self.branch3x3_2a(single),
                self.branch3x3_2b(single),
                self.branch3x3dbl_3a(double),
                self.branch3x3dbl_3b(double),
                self.branch_pool(pooled),
            ],
            dim=1,
        )


class InceptionV3Features(nn.Module):
    """FID's Inception-v3 up to the global average pool: ``(B, 3, H, W)`` RGB ``[0, 1]`` → ``(B, 2048)``.

    Inputs are resized to ``input_size`` squared (bilinear; 299 as FID does, 75 at the least) and
    scaled to ``[-1, 1]`` inside. Parameter names match pytorch-fid's weights file; the file's
    classifier (``fc.*``) is not used.
    """

    def __init__(self, input_size: int = INPUT_SIZE):
        super().__init__()
        if input_size < 75:
            raise PainterlyError(f"Inception needs inputs of 75 pixels or more, got {input_size}")
        self.input_size = input_size
        self.Conv2d_1a_3x3 = ConvBN(3, 32, 3, stride=2)
        self.Conv2d_2a_3x3 = ConvBN(32, 32, 3)
        self.Conv2d_2b_3x3 = ConvBN(32, 64, 3, padding=1)
        self.Conv2d_3b_1x1 = ConvBN(64, 80, 1)
        self.Conv2d_4a_3x3 = ConvBN(80, 192, 3)
        self.Mixed_5b = MixedA(192, pool_features=32)
        self.Mixed_5c = MixedA(256, pool_features=64)
        self.Mixed_5d = MixedA(288, pool_features=64)
        self.Mixed_6a = MixedB(288)
        self.Mixed_6b = MixedC(768, channels_7x7=128)
        self.Mixed_6c = MixedC(768, channels_7x7=160)
        self.Mixed_6d = MixedC(768, channels_7x7=160)
        self.Mixed_6e = MixedC(768, channels_7x7=192)
        self.Mixed_7a = MixedD(768)
        self.Mixed_7b = MixedE(1280)
        self.Mixed_7c = MixedE(2048, max_pool=True)
        self.requires_grad_(False)
        self.eval()

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        if image.dim() != 4 or image.shape[1] != 3:
            raise PainterlyError(f"Inception expects a (B, 3, H, W) RGB tensor, got shape {tuple(image.shape)}")
        x = F.interpolate(image, size=(self.input_size, self.input_size), mode="bilinear", align_corners=False)
        x = 2 * x - 1
        x = self.Conv2d_2b_3x3(self.Conv2d_2a_3x3(self.Conv2d_1a_3x3(x)))
        x = F.max_pool2d(x, kernel_size=3, stride=2)
        x = self.Conv2d_4a_3x3(self.Conv2d_3b_1x1(x))
        x = F.max_pool2d(x, kernel_size=3, stride=2)
        for name in ("5b", "5c", "5d", "6a", "6b", "6c", "6d", "6e", "7a", "7b", "7c"):
            x = getattr(self, f"Mixed_{name}")(x)
        return x.mean(dim=(2, 3))


def inception_from_state_dict(
    state: dict[str, torch.Tensor], source: str = "the weights", input_size: int = INPUT_SIZE
) -> InceptionV3Features:
    """An :class:`InceptionV3Features` filled from pytorch-fid's state dict (classifier keys ignored)."""
    model = InceptionV3Features(input_size)
    expected = model.state_dict()
    feature_state = {key: value for key, value in state.items() if key in expected}
    missing = [key for key in expected if key not in feature_state and not key.endswith("num_batches_tracked")]
    if missing:
        raise PainterlyError(
            f"{source} is not the FID Inception network ({len(missing)} parameters missing, e.g. {missing[0]}): "
            f"{HOW_TO_GET_WEIGHTS}"
        )
    for key, value in feature_state.items():
        if value.shape != expected[key].shape:
            raise PainterlyError(
                f"{source} does not match the FID Inception network ({key}: {tuple(value.shape)} instead of "
                f"{tuple(expected[key].shape)}): {HOW_TO_GET_WEIGHTS}"
            )
    model.load_state_dict(feature_state, strict=False)
    return model


def find_inception_weights(weights: str | Path | None = None) -> Path:
    """The weights file given, else ``$PAINTERLY_INCEPTION_WEIGHTS``; a clear error when neither exists."""
    given = weights or os.environ.get(WEIGHTS_ENV)
    if not given:
        raise PainterlyError(f"FID needs the Inception weights file: {HOW_TO_GET_WEIGHTS}")
    path = Path(given).expanduser()
    if not path.is_file():
        raise PainterlyError(f"Inception weights file {str(path)!r} does not exist: {HOW_TO_GET_WEIGHTS}")
    return path


def load_inception(
    weights: str | Path | None = None, *, device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32
) -> InceptionV3Features:
    """The FID Inception network from pytorch-fid's ``.pth`` file (or a ``.safetensors`` of the same tensors).

    Args:
        weights: the file; ``None`` reads ``$PAINTERLY_INCEPTION_WEIGHTS``.
    """
    path = find_inception_weights(weights)
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(path))
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # any unreadable file gets the same advice
        raise PainterlyError(f"cannot read Inception weights {str(path)!r} ({error}): {HOW_TO_GET_WEIGHTS}") from None
    if not isinstance(state, dict):
        raise PainterlyError(f"{str(path)!r} holds no state dict: {HOW_TO_GET_WEIGHTS}")
    return inception_from_state_dict(state, source=repr(str(path))).to(device=device, dtype=dtype)
