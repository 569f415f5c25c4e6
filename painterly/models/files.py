"""Model files: one safetensors file that reloads itself, and where models are found by name.

A Painterly model file holds the network weights (fp16 by default, to keep files small), and in
its JSON metadata the network config, the training config and a training record (steps,
seconds, final losses). :func:`load_model` needs nothing else to rebuild the network.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import torch

from painterly.devices import resolve_device
from painterly.errors import PainterlyError
from painterly.io.files import atomic_write
from painterly.models.lookup import (METADATA_KEY, MODEL_SUFFIX, list_model_names, list_pretrained, model_dirs,
                                     resolve_model_path, user_models_dir)  # fmt: skip
from painterly.models.transformer import TransformerConfig, TransformerNet

FORMAT_VERSION = 1

__all__ = ["FORMAT_VERSION", "METADATA_KEY", "MODEL_SUFFIX", "ModelInfo", "create_model", "list_model_names", "list_pretrained",
           "load_model", "model_dirs", "model_file_kind", "model_header", "model_training_record", "read_model_file", "resolve_model_path",
           "save_model", "user_models_dir"]  # fmt: skip


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


def check_finite_weights(state: dict[str, torch.Tensor], path: str | Path, hint: str) -> None:
    """Refuse weights holding NaN or infinite values (they paint a black image): one line naming the file.

    ``hint`` says what to do (re-train or re-download).
    """
    for key, value in state.items():
        if value.is_floating_point() and not bool(torch.isfinite(value).all()):
            raise PainterlyError(f"the weights in {str(path)!r} are damaged (not finite numbers in {key}): {hint}")


def read_model_file(path: str | Path) -> tuple[ModelInfo, dict[str, torch.Tensor]]:
    """The description and the raw (possibly fp16) weights of a model file, checked finite.

    Reads the files ``painterly train`` writes: the model (``.safetensors``) and the checkpoints
    of its run folder (``RUN/checkpoints/step-NNNNNN.pt``, the network at that step). Exports
    (``painterly export``: ONNX, TorchScript) hold a traced graph, not the network, and are
    refused with a message naming the file to give instead.
    """
    path = Path(path)
    if not path.is_file():
        raise PainterlyError(f"model file {str(path)!r} does not exist: give a trained model's path or a built-in name")
    kind = model_file_kind(path)
    if kind == "checkpoint":
        return _read_checkpoint(path)
    if kind in ("torchscript", "onnx"):
        name = "TorchScript" if kind == "torchscript" else "ONNX"
        raise PainterlyError(
            f"{str(path)!r} is a {name} export (`painterly export`): it runs outside painterly and cannot be "
            "loaded as a model; give the .safetensors model file it was exported from, or an installed model name"
        )
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as handle:
            metadata = handle.metadata() or {}
            state = {key: handle.get_tensor(key) for key in handle.keys()}
        info = ModelInfo.from_json(metadata[METADATA_KEY])
    except PainterlyError:
        raise
    except Exception as error:  # safetensors raises several types for damaged files
        raise PainterlyError(
            f"{str(path)!r} is not a readable painterly model file ({type(error).__name__}): give a model file "
            "written by `painterly train` (.safetensors) or an installed model name (`painterly styles`)"
        ) from None
    check_finite_weights(state, path, "re-train the model or re-download it")
    return info, state


def model_file_kind(path: str | Path) -> str:
    """What a file holds, from its first bytes: ``"safetensors"``, ``"checkpoint"`` (a training
    checkpoint, ``torch.save``), ``"torchscript"``, ``"onnx"`` or ``"unknown"``."""
    import zipfile

    path = Path(path)
    with open(path, "rb") as handle:
        head = handle.read(16)
    if head[:4] == b"PK\x03\x04":  # torch.save and TorchScript both write zip archives
        try:
            with zipfile.ZipFile(path) as archive:
                names = archive.namelist()
        except (zipfile.BadZipFile, OSError):
            return "unknown"
        if any("/code/" in name or name.endswith("/constants.pkl") for name in names):
            return "torchscript"
        return "checkpoint" if any(name.endswith("/data.pkl") for name in names) else "unknown"
    if len(head) >= 9 and head[8:9] == b"{":  # an 8-byte header length, then the JSON header
        return "safetensors"
    return "onnx" if path.suffix.lower() == ".onnx" else "unknown"


def _read_checkpoint(path: Path) -> tuple[ModelInfo, dict[str, torch.Tensor]]:
    """The network of a training checkpoint (``painterly train``'s run folder), described by its run's config."""
    from painterly.models.transformer import variant_config

    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
        config, state = data.get("config") or {}, data["model"]
        network = config.get("network")
        network = TransformerConfig.from_dict(network) if network else variant_config(config["variant"])
    except PainterlyError:
        raise
    except Exception as error:  # torch.load and the lookups raise many types for other files
        raise PainterlyError(
            f"{str(path)!r} is not a readable painterly model file ({type(error).__name__}): give a model file "
            "written by `painterly train` (.safetensors) or a checkpoint of its run folder"
        ) from None
    state = {key.removeprefix("module."): value for key, value in state.items()}
    name = config.get("name") or Path(str(config.get("style", path.stem))).stem.replace("_", "-")
    record = {"steps": data.get("step"), "seconds": data.get("seconds"), "losses": data.get("losses", {}), "checkpoint": True}
    return ModelInfo(network=network, training=config, record=record, name=name), state


def model_header(name_or_path: str | Path) -> Optional[ModelInfo]:
    """What a model file says about itself, read from its header (weights not read); ``None`` when unreadable."""
    from safetensors import safe_open

    try:
        with safe_open(str(resolve_model_path(name_or_path)), framework="pt") as handle:
            return ModelInfo.from_json((handle.metadata() or {})[METADATA_KEY])
    except Exception:  # listed anyway; using the model gives the clear error
        return None


def model_training_record(name_or_path: str | Path) -> dict[str, Any]:
    """The training config stored in a model file's header (weights not read); ``{}`` when unreadable."""
    header = model_header(name_or_path)
    return header.training if header is not None else {}


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
            f"the weights in {str(path)!r} do not fit the network it describes: the file is damaged or not a style model: re-train it"
        ) from None
    model.requires_grad_(False)
    return model.eval().to(device=device, dtype=dtype), info


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
