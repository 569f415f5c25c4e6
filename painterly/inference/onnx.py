"""Running exported style networks with onnxruntime (optional: ``pip install onnx onnxruntime``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from painterly.errors import PainterlyError


def require_onnxruntime() -> Any:
    try:
        import onnxruntime
    except ImportError:
        raise PainterlyError("onnxruntime is not installed: pip install onnx onnxruntime") from None
    return onnxruntime


def onnx_session(path: str | Path, threads: int | None = None) -> Any:
    """An onnxruntime inference session for the ONNX file ``path`` on the CPU."""
    onnxruntime = require_onnxruntime()
    options = onnxruntime.SessionOptions()
    if threads:
        options.intra_op_num_threads = threads
    return onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def run_onnx(session: Any, image: torch.Tensor) -> torch.Tensor:
    """Run an exported style network on ``image`` ``(B, 3, H, W)`` in ``[0, 1]``; same shape out."""
    pixels = np.ascontiguousarray(image.detach().float().cpu().numpy())
    return torch.from_numpy(session.run(None, {"image": pixels})[0])


def cached_onnx_session(model_path: Path, export: Callable[[Path, Path], Any]) -> Any:
    """An onnxruntime session for the model file ``model_path``, exported once (by ``export(model_path,
    onnx_path)``) into the cache folder under a name that changes with the file's contents."""
    import hashlib

    from painterly.features.weights import cache_dir

    require_onnxruntime()
    digest = hashlib.sha256(Path(model_path).read_bytes()).hexdigest()[:16]
    exported = cache_dir() / "onnx" / f"{Path(model_path).stem}-{digest}.onnx"
    if not exported.is_file():
        export(Path(model_path), exported)
    return onnx_session(exported)
