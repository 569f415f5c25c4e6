"""Facts about files that decide whether saved work is still valid."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def file_identity(path: str | Path) -> dict[str, Any]:
    """Name, size and modification time of a file: enough to notice that it changed."""
    path = Path(path).expanduser().resolve()
    stat = path.stat()
    return {"path": str(path), "bytes": stat.st_size, "mtime_ns": stat.st_mtime_ns}
