"""AdaIN decoder files: one safetensors file with the weights and, in its metadata, the decoder's
shape, training config and training record.

The metadata key differs from the feed-forward models' (``painterly.model``), so a decoder given
where a style model is expected, or the reverse, is refused with a message that says which is which.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Optional

import torch

from painterly.errors import PainterlyError
from painterly.io.files import write_bytes_atomically
from painterly.models.adain import AdaINDecoder, DecoderConfig

DECODER_METADATA_KEY = "painterly.decoder"
DECODER_FORMAT_VERSION = 1
#: Name of the shipped decoder in ``painterly/models/pretrained``.
DEFAULT_DECODER_NAME = "adain-decoder"
_TRAIN_HINT = "train one with `painterly train-arbitrary --data PHOTOS --styles PAINTINGS --out DECODER` or pass --decoder FILE"


@dataclass
class DecoderInfo:
    """What a decoder file says about itself besides its weights.

    Attributes:
        decoder: the decoder's shape.
        training: the training config as a plain dict, or ``{}``.
        record: steps, seconds, images per second, final losses, held-out paintings …, or ``{}``.
    """

    decoder: DecoderConfig
    training: dict[str, Any] = field(default_factory=dict)
    record: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        data = {"format_version": DECODER_FORMAT_VERSION, "decoder": self.decoder.to_dict(),
                "training": self.training, "record": self.record}  # fmt: skip
        return json.dumps(data, default=str)


def default_decoder_path() -> Path:
    """Where the shipped decoder lives (it may not exist yet)."""
    return Path(str(resources.files("painterly.models") / "pretrained")) / f"{DEFAULT_DECODER_NAME}.safetensors"


def resolve_decoder_path(name_or_path: Optional[str | Path] = None) -> Path:
    """A decoder file from a path, a name in the models folders, or (``None``) the shipped one."""
    from painterly.models.files import model_dirs

    if name_or_path is None:
        path = default_decoder_path()
        if path.is_file():
            return path
        raise PainterlyError(f"no AdaIN decoder is installed with painterly yet: {_TRAIN_HINT}")
    path = Path(name_or_path).expanduser()
    if path.is_file():
        return path
    key = str(name_or_path).strip().lower().replace("_", "-").replace(" ", "-")
    for folder in model_dirs():
        candidate = folder / f"{key}.safetensors"
        if candidate.is_file():
            return candidate
    raise PainterlyError(f"decoder {str(name_or_path)!r} is neither a file nor an installed decoder: {_TRAIN_HINT}")


def save_decoder(decoder: AdaINDecoder, path: str | Path, info: Optional[DecoderInfo] = None, *, half: bool = True) -> Path:
    """Write ``decoder`` and ``info`` to ``path`` atomically; ``half`` stores float16 weights."""
    from safetensors.torch import save

    path = Path(path).expanduser()
    info = info or DecoderInfo(decoder.config)
    info.decoder = decoder.config
    dtype = torch.float16 if half else torch.float32
    state = {name: value.detach().to("cpu", dtype).contiguous() for name, value in decoder.state_dict().items()}
    payload = save(state, metadata={DECODER_METADATA_KEY: info.to_json()})
    return write_bytes_atomically(path, payload)


def load_decoder(
    path: str | Path, *, device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32
) -> tuple[AdaINDecoder, DecoderInfo]:
    """Rebuild the decoder saved in ``path`` (eval mode, gradients off) and its description."""
    from safetensors import safe_open

    path = Path(path).expanduser()
    if not path.is_file():
        raise PainterlyError(f"decoder file {str(path)!r} does not exist: {_TRAIN_HINT}")
    try:
        with safe_open(str(path), framework="pt") as handle:
            metadata = handle.metadata() or {}
            weights = {key: handle.get_tensor(key).float() for key in handle.keys()}
    except Exception as error:  # safetensors raises several types for damaged files
        raise PainterlyError(f"{str(path)!r} is not a readable decoder file ({type(error).__name__}): {_TRAIN_HINT}") from None
    from painterly.models.files import check_finite_weights

    check_finite_weights(weights, path, _TRAIN_HINT)
    if DECODER_METADATA_KEY not in metadata:
        kind = "a feed-forward style model (use it with --model)" if "painterly.model" in metadata else "no painterly decoder"
        raise PainterlyError(f"{str(path)!r} is {kind}, not an AdaIN decoder: {_TRAIN_HINT}")
    data = json.loads(metadata[DECODER_METADATA_KEY])
    if data.get("format_version", 0) > DECODER_FORMAT_VERSION:
        raise PainterlyError("the decoder file is from a newer painterly: upgrade painterly to load it")
    info = DecoderInfo(DecoderConfig.from_dict(data["decoder"]), data.get("training", {}), data.get("record", {}))
    decoder = AdaINDecoder(info.decoder)
    try:
        decoder.load_state_dict(weights, strict=True)
    except RuntimeError:
        raise PainterlyError(f"the weights in {str(path)!r} do not fit the decoder it describes: the file is damaged, {_TRAIN_HINT}") from None
    decoder.requires_grad_(False)
    return decoder.eval().to(device=device, dtype=dtype), info
