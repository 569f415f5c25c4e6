"""Choosing the device and the compute precision, explicitly and once, at the edge."""

from __future__ import annotations

import contextlib

import torch

from painterly.errors import PainterlyError

#: Compute precisions a method may be asked for.
PRECISIONS = ("auto", "bf16", "fp32")


def resolve_device(name: str | torch.device | None = None) -> torch.device:
    """``None``/``"auto"`` → CUDA when available, else CPU; otherwise the named device, checked."""
    if isinstance(name, torch.device):
        return name
    if name in (None, "", "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise PainterlyError(f"unknown device {name!r}: use auto, cpu, cuda or cuda:N") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise PainterlyError(f"device {name!r} asked for but CUDA is not available here: use --device cpu")
    return device


def autocast(device: torch.device, dtype: torch.dtype | None):
    """A bf16/fp16 autocast context on ``device``, or a no-op when ``dtype`` is None or float32."""
    if dtype is None or dtype == torch.float32:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


def pick_precision(precision: str, device: torch.device) -> torch.dtype:
    """The autocast dtype for ``precision`` on ``device``."""
    if precision == "fp32":
        return torch.float32
    if precision == "bf16":
        return torch.bfloat16
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float32
    if device.type == "cpu":
        # oneDNN runs bf16 convolutions fast only on CPUs with native bf16 (AVX512-BF16, AMX).
        supported = getattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", None)
        return torch.bfloat16 if supported is not None and supported() else torch.float32
    return torch.float32
