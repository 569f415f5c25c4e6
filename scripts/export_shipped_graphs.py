#!/usr/bin/env python3
"""Export every shipped style model's graph next to it (``<name>-<content hash>.onnx``), for onnxruntime.

The fast method finds these instead of exporting into the user cache on a model's first run. Run
after retraining a shipped model; the previous graph (another hash) is removed.

Usage:
    python scripts/export_shipped_graphs.py
"""

from __future__ import annotations

from painterly.export.exporters import export_model
from painterly.inference.onnx import exported_name
from painterly.models.files import list_pretrained, resolve_model_path


def main() -> None:
    for name in list_pretrained():
        path = resolve_model_path(name)
        out = path.parent / exported_name(path)
        for stale in path.parent.glob(f"{path.stem}-*.onnx"):
            if stale != out:
                stale.unlink()
        if not out.is_file():
            export_model(path, out, format="onnx", check=True)
        print(out.name)


if __name__ == "__main__":
    main()
