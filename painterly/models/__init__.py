"""Feed-forward style networks, their files and the shipped pretrained models.

``create_model("starry-night")`` loads a shipped model by name; ``create_model("my.safetensors")``
loads a trained model file.
"""

from painterly.models.files import (
    MODEL_SUFFIX,
    ModelInfo,
    create_model,
    list_model_names,
    list_pretrained,
    load_model,
    model_dirs,
    resolve_model_path,
    save_model,
    user_models_dir,
)
from painterly.models.transformer import VARIANTS, TransformerConfig, TransformerNet, variant_config

__all__ = [
    "MODEL_SUFFIX",
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
