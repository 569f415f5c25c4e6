"""Where model files are found by name, without importing torch: the user's models folder, then the
shipped ones (:mod:`painterly.models.files` reads and writes the files themselves)."""

from __future__ import annotations

import json
import os
from pathlib import Path

from painterly.errors import PainterlyError

#: Metadata key under which the model description is stored.
METADATA_KEY = "painterly.model"
MODEL_SUFFIX = ".safetensors"
#: The shipped any-painting network (a style predictor and a style network; not a model to paint by name).
SHIPPED_ANYSTYLE = Path(__file__).resolve().parent / "shared" / "anystyle.safetensors"


def _pretrained_dir() -> Path:
    # Next to this file rather than through importlib.resources, which would import the package's
    # __init__ (and torch) to find it.
    return Path(__file__).resolve().parent / "pretrained"


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


def _not_a_style_model(path: Path) -> bool:
    """Whether ``path`` holds no one-style model that paints by name: an AdaIN decoder or a
    multi-style network (same folders and suffix; a multi-style network is a start for training)."""
    from safetensors import safe_open

    try:
        with safe_open(str(path), "pt") as handle:
            metadata = handle.metadata() or {}
    except Exception:  # an unreadable file is listed; using it then gives the clear error
        return False
    return "painterly.decoder" in metadata or _style_count(metadata) > 1


def _style_count(metadata: dict[str, str]) -> int:
    """How many styles the model file with this metadata paints (0 when it is no painterly model)."""
    try:
        return max(1, len(json.loads(metadata[METADATA_KEY]).get("styles", [])))
    except (KeyError, ValueError, AttributeError):
        return 0


def _names_in(folder: Path) -> list[str]:
    if not folder.is_dir():
        return []
    return [path.name[: -len(MODEL_SUFFIX)] for path in folder.glob(f"*{MODEL_SUFFIX}") if not _not_a_style_model(path)]


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
