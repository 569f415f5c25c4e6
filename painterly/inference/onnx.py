"""Running exported style networks with onnxruntime (``pip install onnx onnxruntime``).

Exported graphs are cached in the user cache folder (``<cache>/onnx``) under a name that changes
with the model file's contents, so a model is exported once and a changed file is exported again.
"""

from __future__ import annotations

import hashlib
import importlib.util
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Optional

import numpy as np

from painterly.errors import PainterlyError
from painterly.io.files import cache_dir

if TYPE_CHECKING:
    import torch


def onnxruntime_installed() -> bool:
    """Whether onnxruntime can be imported (checked without importing it)."""
    try:
        return importlib.util.find_spec("onnxruntime") is not None
    except (ImportError, ValueError):  # a module entry of None (blocked) or without a spec
        return False


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
    import torch

    return torch.from_numpy(run_onnx_array(session, image.detach().float().cpu().numpy()))


def run_onnx_array(session: Any, image: np.ndarray) -> np.ndarray:
    """:func:`run_onnx` on arrays: ``(B, 3, H, W)`` float32 in ``[0, 1]`` → the network's output, same shape."""
    return session.run(None, {"image": np.ascontiguousarray(image, dtype=np.float32)})[0]


def exported_name(model_path: Path, kind: str = "onnx") -> str:
    """``<stem>-<hash of the file's contents>.<kind>``: the name of the graph exported from ``model_path``."""
    digest = hashlib.sha256(Path(model_path).read_bytes()).hexdigest()[:16]
    return f"{Path(model_path).stem}-{digest}.{kind}"


def exported_path(model_path: Path, kind: str = "onnx") -> Path:
    """Where the graph exported from ``model_path`` is: next to the model file when it ships with it
    (the shipped models do), else in the cache, ``<cache>/onnx/<stem>-<content hash>.<kind>``."""
    name = exported_name(model_path, kind)
    shipped = Path(model_path).parent / name
    return shipped if shipped.is_file() else cache_dir() / "onnx" / name


def cached_onnx_session(model_path: Path, export: Callable[[Path, Path], Any], threads: Optional[int] = None,
                        kind: str = "onnx") -> Any:  # fmt: skip
    """An onnxruntime session for the model file ``model_path``, exported once (by ``export(model_path,
    onnx_path)``) into the cache folder under a name that changes with the file's contents."""
    require_onnxruntime()
    exported = exported_path(model_path, kind)
    if not exported.is_file():
        export(Path(model_path), exported)
    return onnx_session(exported, threads)
