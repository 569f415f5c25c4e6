"""Painterly: deep-learning image and video style transfer.

>>> import painterly
>>> painterly.stylize("photo.jpg", "starry-night", size=512).save("painting.png")
"""

from importlib import import_module
from typing import Any

__version__ = "0.1.0"

# Imported on first use, so `painterly --help` does not wait for torch.
_LAZY = {
    "stylize": "painterly.api",
    "Stylizer": "painterly.api",
    "PainterlyError": "painterly.errors",
    "Cancelled": "painterly.progress",
    "ProgressEvent": "painterly.progress",
    "list_styles": "painterly.registry",
    "list_methods": "painterly.registry",
    "load_vgg19": "painterly.features.weights",
    "OptimizeConfig": "painterly.methods.optimize",
    "create_model": "painterly.models",
    "list_models": "painterly.registry",
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'painterly' has no attribute {name!r}")
