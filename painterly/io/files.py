"""Writing files atomically, with the permissions any new file gets, and telling when a file changed.

Every file Painterly writes (images, models, decoders, exports, cached weights) goes through
:func:`atomic_write`: it is written to a hidden temporary file in the target's folder and renamed
over the target at the end, so a reader never sees half a file and a failure or an interrupt leaves
nothing behind. The temporary file is created with mode ``0o666`` less the umask, like ``open()``
creates files (``tempfile.mkstemp`` would make it ``0600``: readable by its owner only).
"""

from __future__ import annotations

import os
import stat
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Sequence


def temporary_path_for(path: Path) -> Path:
    """``dir/out.png`` → ``dir/.out.png.1a2b3c4d.tmp`` (hidden, unique, in the same folder)."""
    return path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")


@contextmanager
def atomic_write(path: str | os.PathLike) -> Iterator[Path]:
    """Give a temporary path to write ``path``'s content to; when the block ends without an
    error the file is synced to disk and renamed to ``path``, otherwise it is deleted.

    The temporary file exists (empty) when the block starts, with the mode a new file gets; a
    writer that replaces it rather than writing into it gets that mode back at the end.
    Missing parent folders are created.

    Example:
        >>> with atomic_write("model.safetensors") as temporary:   # doctest: +SKIP
        ...     save_file(state, temporary)
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = temporary_path_for(path)
    os.close(os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))  # the umask decides the mode
    try:
        normal_mode = stat.S_IMODE(temporary.stat().st_mode)
        yield temporary
        if stat.S_IMODE(temporary.stat().st_mode) != normal_mode:
            os.chmod(temporary, normal_mode)  # some writers (safetensors' save_file) put a 0600 file in its place
        descriptor = os.open(temporary, os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def write_bytes_atomically(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` through :func:`atomic_write`; returns ``path`` as a Path."""
    with atomic_write(path) as temporary:
        temporary.write_bytes(data)
    return Path(path)


def file_identity(path: str | os.PathLike) -> dict[str, Any]:
    """Name, size and modification time of a file: enough to notice that it changed."""
    path = Path(path).expanduser().resolve()
    info = path.stat()
    return {"path": str(path), "bytes": info.st_size, "mtime_ns": info.st_mtime_ns}


__all__ = ["atomic_write", "file_identity", "temporary_path_for", "write_bytes_atomically"]


def name_files(paths: Sequence[str | os.PathLike], shown: int = 3) -> str:
    """The first ``shown`` paths, then how many more: ``"a.jpg, b/c.png, d.jpg and 2 more"``."""
    names = [str(path) for path in paths]
    listed = ", ".join(names[:shown])
    return f"{listed} and {len(names) - shown} more" if len(names) > shown else listed


def cache_dir() -> Path:
    """Painterly's cache folder: ``$PAINTERLY_CACHE_DIR`` or the platform's user cache dir."""
    override = os.environ.get("PAINTERLY_CACHE_DIR")
    if override:
        return Path(override)
    import platformdirs

    return Path(platformdirs.user_cache_dir("painterly"))
