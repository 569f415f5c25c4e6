"""Any painting in real time: a style network whose scales and shifts are predicted from the painting.

Ghiasi et al. 2017 ("Exploring the structure of a real-time, arbitrary neural artistic
stylization network"): a conditional-instance-norm network (:class:`TransformerNet` with
``styles = E`` rows per norm table) paints a photo in the style given by an ``E``-dimensional
embedding, and a small *style predictor* computes that embedding from the painting. Here the
predictor reads the painting's VGG19 feature statistics (per channel mean and standard deviation
at relu1_1 … relu4_1, computed once per painting), so the photo never goes through VGG19: at
inference a painting costs one VGG19 pass at 256 px, and every photo only the light style network.

The embedding mixes the rows of the norm tables (``mix @ table``), exactly as a multi-style
network blends its styles, so :meth:`AnyStyleNet.for_painting` returns a plain one-style
:class:`TransformerNet` for a painting: the fast method's tiling, colour keeping, masks, ONNX
export and onnxruntime path then work unchanged. Blends of paintings mix their embeddings.

No training code lives here (:mod:`painterly.train.anystyle`).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from painterly.errors import PainterlyError
from painterly.io.files import atomic_write
from painterly.models.lookup import SHIPPED_ANYSTYLE
from painterly.models.transformer import TransformerConfig, TransformerNet

#: Metadata key of an any-painting model file (the network, the predictor and how they were trained).
ANYSTYLE_KEY = "painterly.anystyle"
FORMAT_VERSION = 1
#: VGG19 layers whose statistics describe a painting to the predictor.
PREDICTOR_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1")
#: Channels of those layers.
LAYER_CHANNELS = {"relu1_1": 64, "relu2_1": 128, "relu3_1": 256, "relu4_1": 512}
#: Long side a painting is described at (the size the style network's strokes were trained for).
PAINTING_SIZE = 256


def painting_statistics(features: dict[str, torch.Tensor], layers: Sequence[str] = PREDICTOR_LAYERS) -> torch.Tensor:
    """What the predictor reads of a painting: ``(B, D)``, per layer the channels' ``log1p`` mean
    and ``log1p`` standard deviation of ``{layer: (B, C, H, W)}`` features; ``D = 2 · ΣC``."""
    parts = []
    for layer in layers:
        flat = features[layer].float().flatten(2)
        parts += [flat.mean(dim=2).clamp_min(0).log1p(), flat.std(dim=2, unbiased=False).log1p()]
    return torch.cat(parts, dim=1)


@dataclass(frozen=True)
class PredictorConfig:
    """Shape of a :class:`StylePredictor`.

    Attributes:
        layers: VGG19 layers it reads (see :func:`painting_statistics`).
        hidden: width of its hidden layer.
        styles: size of the embedding = rows of the style network's norm tables.
        bound: each embedding entry is kept within ``±bound`` (softly, by ``tanh``): unbounded, one
            run's scales grew until the network's output saturated, and it never came back.
    """

    layers: tuple[str, ...] = PREDICTOR_LAYERS
    hidden: int = 256
    styles: int = 64
    bound: float = 2.0

    @property
    def inputs(self) -> int:
        return 2 * sum(LAYER_CHANNELS[layer] for layer in self.layers)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["layers"] = list(self.layers)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "PredictorConfig":
        return cls(layers=tuple(data["layers"]), hidden=int(data["hidden"]), styles=int(data["styles"]),
                   bound=float(data.get("bound", 2.0)))


class StylePredictor(nn.Module):
    """Painting statistics ``(B, D)`` → style embedding ``(B, E)``: standardized (with statistics
    of the training paintings, kept as buffers), a two-layer perceptron, then ``bound · tanh(· / bound)``."""

    def __init__(self, config: PredictorConfig = PredictorConfig()):
        super().__init__()
        self.config = config
        self.register_buffer("input_mean", torch.zeros(config.inputs))
        self.register_buffer("input_std", torch.ones(config.inputs))
        self.hidden = nn.Linear(config.inputs, config.hidden)
        self.out = nn.Linear(config.hidden, config.styles)

    def set_input_statistics(self, stats: torch.Tensor) -> None:
        """Standardize inputs like ``stats`` ``(N, D)`` (the training paintings')."""
        self.input_mean.copy_(stats.mean(dim=0))
        self.input_std.copy_(stats.std(dim=0).clamp_min(1e-3))

    def forward(self, stats: torch.Tensor) -> torch.Tensor:
        x = (stats.float() - self.input_mean) / self.input_std
        bound = self.config.bound
        return bound * torch.tanh(self.out(F.relu(self.hidden(x))) / bound)


class AnyStyleNet(nn.Module):
    """A style network of ``E`` style rows and the predictor of its embedding.

    ``forward(photos (B, 3, H, W), stats (B, D)) -> (B, 3, H, W)`` in ``[0, 1]``.

    Example:
        >>> net = AnyStyleNet(TransformerConfig(channels=(4, 8, 8), residual_blocks=1, styles=6),
        ...                   PredictorConfig(hidden=8, styles=6))
        >>> net(torch.rand(2, 3, 32, 32), torch.rand(2, net.predictor.config.inputs)).shape
        torch.Size([2, 3, 32, 32])
    """

    def __init__(self, network: TransformerConfig, predictor: PredictorConfig):
        super().__init__()
        if network.styles != predictor.styles:
            raise PainterlyError(f"the predictor's embedding ({predictor.styles}) must match the network's style rows ({network.styles})")
        self.transformer = TransformerNet(network)
        self.predictor = StylePredictor(predictor)

    def forward(self, photos: torch.Tensor, stats: torch.Tensor) -> torch.Tensor:
        return self.transformer(photos, self.predictor(stats))

    def embedding(self, stats: torch.Tensor, weights: Sequence[float] | None = None) -> torch.Tensor:
        """``(E,)``: the embedding of one painting's ``(1, D)`` statistics, or the ``weights``-blend of
        several paintings' ``(P, D)`` (weights normalized to sum 1)."""
        mixes = self.predictor(stats)
        if weights is None:
            weights = [1.0] * mixes.shape[0]
        w = torch.tensor(list(weights), dtype=mixes.dtype, device=mixes.device)
        if w.numel() != mixes.shape[0] or float(w.sum()) <= 0:
            raise PainterlyError("give one positive weight per painting")
        return (w[:, None] * mixes).sum(dim=0) / w.sum()

    def for_painting(self, stats: torch.Tensor, weights: Sequence[float] | None = None) -> TransformerNet:
        """A one-style network painting like the painting(s) whose statistics are ``stats`` (see :meth:`embedding`)."""
        with torch.no_grad():
            return self.transformer.single_style(self.embedding(stats, weights))


@dataclass
class AnyStyleInfo:
    """What an any-painting model file says besides its weights."""

    network: TransformerConfig
    predictor: PredictorConfig
    training: dict[str, Any] = field(default_factory=dict)
    record: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps({"format_version": FORMAT_VERSION, "network": self.network.to_dict(),
                           "predictor": self.predictor.to_dict(), "training": self.training,
                           "record": self.record}, default=str)  # fmt: skip

    @classmethod
    def from_json(cls, text: str) -> "AnyStyleInfo":
        data = json.loads(text)
        if data.get("format_version", 0) > FORMAT_VERSION:
            raise PainterlyError("the any-painting model is from a newer painterly: upgrade painterly to load it")
        return cls(TransformerConfig.from_dict(data["network"]), PredictorConfig.from_dict(data["predictor"]),
                   data.get("training", {}), data.get("record", {}))  # fmt: skip


def save_anystyle(net: AnyStyleNet, path: str | Path, info: AnyStyleInfo, *, half: bool = True) -> Path:
    """Write ``net`` (fp16 by default) and ``info`` to ``path`` atomically."""
    from safetensors.torch import save_file

    dtype = torch.float16 if half else torch.float32
    # The predictor's input statistics stay float32: they standardize values of very different scales.
    state = {key: value.detach().to("cpu", torch.float32 if "input_" in key else dtype).contiguous()
             for key, value in net.state_dict().items()}  # fmt: skip
    with atomic_write(Path(path)) as temporary:
        save_file(state, str(temporary), metadata={ANYSTYLE_KEY: info.to_json()})
    return Path(path)


def is_anystyle_file(path: str | Path) -> bool:
    """Whether ``path`` is an any-painting model file (not a style network's)."""
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as handle:
            return ANYSTYLE_KEY in (handle.metadata() or {})
    except Exception:  # not a safetensors file: the loaders say what is wrong with it
        return False


def load_anystyle(path: str | Path | None = None, *, device: torch.device | str = "cpu") -> tuple[AnyStyleNet, AnyStyleInfo]:
    """The any-painting model in ``path`` (default: the shipped one), in eval mode, float32, no gradients."""
    from safetensors import safe_open

    from painterly.models.files import check_finite_weights

    path = Path(path).expanduser() if path is not None else SHIPPED_ANYSTYLE
    if not path.is_file():
        raise PainterlyError(f"any-painting model {str(path)!r} does not exist: give a file written by `painterly train-anystyle`")
    try:
        with safe_open(str(path), framework="pt") as handle:
            metadata = handle.metadata() or {}
            state = {key: handle.get_tensor(key).float() for key in handle.keys()}
        info = AnyStyleInfo.from_json(metadata[ANYSTYLE_KEY])
    except PainterlyError:
        raise
    except Exception as error:  # safetensors and json raise several types for other files
        raise PainterlyError(
            f"{str(path)!r} is not an any-painting model file ({type(error).__name__}): give a file written by `painterly train-anystyle`"
        ) from None
    check_finite_weights(state, path, "re-train it")
    net = AnyStyleNet(info.network, info.predictor)
    net.load_state_dict(state, strict=True)
    net.requires_grad_(False)
    return net.eval().to(device), info
