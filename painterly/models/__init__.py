"""Feed-forward style networks, their files and the shipped pretrained models.

``create_model("starry-night")`` loads a shipped model by name; ``create_model("my.safetensors")``
loads a trained model file.
"""

from __future__ import annotations

import os
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
    "list_model_names",
    "list_pretrained",
    "model_dirs",
    "user_models_dir",
    "load_model",
    "resolve_model_path",
    "save_model",
    "variant_config",
]


def _pretrained_dir() -> Path:
    return Path(str(resources.files("painterly.models") / "pretrained"))


def user_models_dir() -> Path:
    """Where a user's own models are found by name: ``$PAINTERLY_MODELS_DIR`` or the user data dir."""
    override = os.environ.get("PAINTERLY_MODELS_DIR")
    if override:
        return Path(override).expanduser()
    import platformdirs

    return Path(platformdirs.user_data_dir("painterly")) / "models"


def model_dirs() -> list[Path]:
    """Folders searched for models by name, first wins: the user's models, then the shipped ones."""
    return [user_models_dir(), _pretrained_dir()]


def _is_decoder(path: Path) -> bool:
    """Whether ``path`` holds an AdaIN decoder (same folders and suffix, but not a style model)."""
    from safetensors import safe_open

    try:
        with safe_open(str(path), "pt") as handle:
            return "painterly.decoder" in (handle.metadata() or {})
    except Exception:  # an unreadable file is listed; using it then gives the clear error
        return False


def _names_in(folder: Path) -> list[str]:
    if not folder.is_dir():
        return []
    return [path.name[: -len(MODEL_SUFFIX)] for path in folder.glob(f"*{MODEL_SUFFIX}") if not _is_decoder(path)]


def list_pretrained() -> list[str]:
    """Names of the shipped models, sorted."""
    return sorted(_names_in(_pretrained_dir()))


def list_model_names() -> list[str]:
    """Names of every model usable by name (the user's and the shipped ones), sorted."""
    return sorted({name for folder in model_dirs() for name in _names_in(folder)})


def resolve_model_path(name_or_path: str | Path) -> Path:
    """A shipped model's name (case, ``_`` and spaces ignored) or a file path, as a path to a model file."""
    if isinstance(name_or_path, str):
        key = name_or_path.strip().lower().replace("_", "-").replace(" ", "-")
        for folder in model_dirs():
            candidate = folder / f"{key}{MODEL_SUFFIX}"
            if candidate.is_file():
                return candidate
    path = Path(name_or_path).expanduser()
    if path.is_file():
        return path
    names = ", ".join(list_model_names()) or "none installed yet"
    raise PainterlyError(
        f"model {str(name_or_path)!r} is neither a file nor an installed model (installed: {names}); "
        f"train one with `painterly train`, or copy a model file into {user_models_dir()}"
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
