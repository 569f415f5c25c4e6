"""Model files: one safetensors file that reloads itself.

A Painterly model file holds the network weights (fp16 by default, to keep files small), and in
its JSON metadata the network config, the training config and a training record (steps,
seconds, final losses). :func:`load_model` needs nothing else to rebuild the network.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from painterly.errors import PainterlyError
from painterly.io.files import atomic_write
from painterly.models.transformer import TransformerConfig, TransformerNet

#: Metadata key under which the model description is stored.
METADATA_KEY = "painterly.model"
FORMAT_VERSION = 1
MODEL_SUFFIX = ".safetensors"


@dataclass
class ModelInfo:
    """What a model file says about itself besides its weights.

    Attributes:
        network: the network's shape.
        training: the training config as a plain dict (style, steps, weights, …), or ``{}``.
        record: the training record: ``steps``, ``seconds``, ``images_per_second`` and
            ``losses`` (final named loss values), or ``{}``.
        name: a short display name (e.g. the style's name).
        styles: a multi-style network's style table, one dict per style in index order
            (``name``, ``credit``, ``file``); empty for one-style networks.
    """

    network: TransformerConfig
    training: dict[str, Any] = field(default_factory=dict)
    record: dict[str, Any] = field(default_factory=dict)
    name: str = ""
    styles: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> str:
        data = {
            "format_version": FORMAT_VERSION,
            "name": self.name,
            "network": self.network.to_dict(),
            "training": self.training,
            "record": self.record,
        }
        if self.styles:
            data["styles"] = self.styles
        return json.dumps(data, default=str)

    @classmethod
    def from_json(cls, text: str) -> "ModelInfo":
        data = json.loads(text)
        if data.get("format_version", 0) > FORMAT_VERSION:
            raise PainterlyError("the model file is from a newer painterly: upgrade painterly to load it")
        return cls(
            network=TransformerConfig.from_dict(data["network"]),
            training=data.get("training", {}),
            record=data.get("record", {}),
            name=data.get("name", ""),
            styles=data.get("styles", []),
        )


def save_model(
    model: TransformerNet,
    path: str | Path,
    info: ModelInfo | None = None,
    *,
    half: bool = True,
) -> Path:
    """Write ``model`` and ``info`` to ``path`` atomically (a temporary file, then a rename).

    Args:
        half: store the weights as float16 (half the size; the output changes by < 1/255).
    """
    from safetensors.torch import save_file

    path = Path(path)
    info = info or ModelInfo(network=model.config)
    info.network = model.config
    if len(info.styles) != model.config.styles:
        raise PainterlyError(
            f"a network of {model.config.styles} styles needs a style table of as many entries, got {len(info.styles)}"
        )
    dtype = torch.float16 if half else torch.float32
    state = {name: tensor.detach().to("cpu", dtype).contiguous() for name, tensor in model.state_dict().items()}
    with atomic_write(path) as temporary:
        save_file(state, str(temporary), metadata={METADATA_KEY: info.to_json()})
    return path


def read_model_file(path: str | Path) -> tuple[ModelInfo, dict[str, torch.Tensor]]:
    """The description and the raw (possibly fp16) weights of a model file."""
    from safetensors import safe_open

    path = Path(path)
    if not path.is_file():
        raise PainterlyError(f"model file {str(path)!r} does not exist: give a trained model's path or a built-in name")
    try:
        with safe_open(str(path), framework="pt") as handle:
            metadata = handle.metadata() or {}
            state = {key: handle.get_tensor(key) for key in handle.keys()}
        info = ModelInfo.from_json(metadata[METADATA_KEY])
    except PainterlyError:
        raise
    except Exception as error:  # safetensors raises several types for damaged files
        raise PainterlyError(
            f"{str(path)!r} is not a readable painterly model file ({type(error).__name__}): "
            "train one with `painterly train` or re-download it"
        ) from None
    return info, state


def load_model(
    path: str | Path,
    *,
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float32,
) -> tuple[TransformerNet, ModelInfo]:
    """Rebuild the network saved in ``path``, in eval mode with gradients off, and its description."""
    info, state = read_model_file(path)
    model = TransformerNet(info.network)
    try:
        model.load_state_dict({key: value.float() for key, value in state.items()}, strict=True)
    except RuntimeError:
        raise PainterlyError(
            f"the weights in {str(path)!r} do not fit the network it describes: the file is damaged, re-train or re-download it"
        ) from None
    model.requires_grad_(False)
    return model.eval().to(device=device, dtype=dtype), info
