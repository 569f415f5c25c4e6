"""Feed-forward style networks, their files and the shipped pretrained models.

``create_model("starry-night")`` loads a shipped model by name; ``create_model("my.safetensors")``
loads a trained model file. Names are imported on first use, so finding a model file by name
(:mod:`painterly.models.lookup`) does not import torch.
"""

from importlib import import_module
from typing import Any

_LAZY = {
    "MODEL_SUFFIX": "painterly.models.lookup",
    "list_model_names": "painterly.models.lookup",
    "list_pretrained": "painterly.models.lookup",
    "model_dirs": "painterly.models.lookup",
    "resolve_model_path": "painterly.models.lookup",
    "user_models_dir": "painterly.models.lookup",
    "ModelInfo": "painterly.models.files",
    "create_model": "painterly.models.files",
    "load_model": "painterly.models.files",
    "save_model": "painterly.models.files",
    "VARIANTS": "painterly.models.transformer",
    "TransformerConfig": "painterly.models.transformer",
    "TransformerNet": "painterly.models.transformer",
    "variant_config": "painterly.models.transformer",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'painterly.models' has no attribute {name!r}")
