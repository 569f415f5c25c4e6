"""Feed-forward style networks, their files and the shipped pretrained models.

``create_model("starry-night")`` loads a shipped model by name; ``create_model("my.safetensors")``
loads a trained model file.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import torch

from painterly.devices import resolve_device
from painterly.errors import PainterlyError
from painterly.models.io import MODEL_SUFFIX, ModelInfo, load_model, save_model
from painterly.models.transformer import VARIANTS, TransformerConfig, TransformerNet, variant_config

__all__ = [
    "VARIANTS",
    "ModelInfo",
    "TransformerConfig",
    "TransformerNet",
    "create_model",
    "list_pretrained",
    "load_model",
    "resolve_model_path",
    "save_model",
    "variant_config",
]


def _pretrained_dir() -> Path:
    return Path(str(resources.files("painterly.models") / "pretrained"))


def list_pretrained() -> list[str]:
    """Names of the shipped models, sorted."""
    folder = _pretrained_dir()
    return sorted(path.name[: -len(MODEL_SUFFIX)] for path in folder.glob(f"*{MODEL_SUFFIX}")) if folder.is_dir() else []


def resolve_model_path(name_or_path: str | Path) -> Path:
    """A shipped model's name (case, ``_`` and spaces ignored) or a file path, as a path to a model file."""
    if isinstance(name_or_path, str):
        key = name_or_path.strip().lower().replace("_", "-").replace(" ", "-")
        shipped = _pretrained_dir() / f"{key}{MODEL_SUFFIX}"
        if shipped.is_file():
            return shipped
    path = Path(name_or_path).expanduser()
    if path.is_file():
        return path
    names = ", ".join(list_pretrained()) or "none shipped yet"
    raise PainterlyError(
        f"model {str(name_or_path)!r} is neither a file nor a built-in model (built-in: {names}); "
        "train one with `painterly train`"
    )


def create_model(
    name_or_path: str | Path,
    *,
    device: torch.device | str | None = "cpu",
    dtype: torch.dtype = torch.float32,
) -> TransformerNet:
    """A trained feed-forward style network, ready for inference (eval mode, no gradients).

    Example:
        >>> net = create_model("starry-night")          # doctest: +SKIP
        >>> net(torch.rand(1, 3, 256, 256)).shape        # doctest: +SKIP
        torch.Size([1, 3, 256, 256])
    """
    model, _ = load_model(resolve_model_path(name_or_path), device=resolve_device(device), dtype=dtype)
    return model
