"""Settings of the web studio, as one dataclass that ``painterly serve`` fills from its options."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import platformdirs


def default_data_dir() -> Path:
    """Where the studio keeps its job database, uploads and results when ``--data-dir`` is not given."""
    return Path(platformdirs.user_data_dir("painterly")) / "studio"


@dataclass
class ServerConfig:
    """How the studio server runs and what it accepts.

    Attributes:
        host: address to bind; loopback by default so nothing outside this machine can reach it.
        port: TCP port.
        data_dir: folder for ``jobs.sqlite3`` and the ``uploads/``, ``results/``, ``previews/`` folders.
        workers: number of worker threads running jobs at once.
        token: when set, every ``/api`` call must send ``Authorization: Bearer TOKEN`` or ``X-Token: TOKEN``.
        max_upload_mb: largest accepted upload (one file), in MiB.
        max_pixels: largest accepted image, in pixels (width × height), checked before decoding.
        max_size: largest output long side a job may ask for, in pixels.
        max_steps: most optimization steps a job may ask for.
        max_video_mb: largest accepted video upload, in MiB.
        max_video_seconds: longest stretch of a clip one video job may stylize (pick it with start/end).
        max_video_size: largest output long side a video job may ask for, in pixels.
        rate_limit_per_minute: jobs one client may create per minute, on average (0 turns the limit off).
        rate_limit_burst: jobs one client may create at once before the per-minute rate applies.
        device: device the default runner computes on (``auto``, ``cpu``, ``cuda``, ``cuda:N``).
        cluster: a Ray cluster address (``auto``, ``local:N``, ``ray://HOST:PORT``): jobs run there
            (image jobs on a worker each, video jobs in segments across the workers) instead of in
            this process; needs ``pip install 'painterly[cluster]'``.
        max_interrupted_runs: a job found ``running`` at start-up (the server stopped mid-job) is re-queued
            until it has been interrupted this many times, then marked failed, so a job that crashes the
            server cannot crash it forever.
    """

    host: str = "127.0.0.1"
    port: int = 8000
    data_dir: Path = field(default_factory=default_data_dir)
    workers: int = 1
    token: Optional[str] = None
    max_upload_mb: float = 25.0
    max_pixels: int = 40_000_000
    max_size: int = 1024
    max_steps: int = 2000
    max_video_mb: float = 100.0
    max_video_seconds: float = 30.0
    max_video_size: int = 720
    rate_limit_per_minute: float = 30.0
    rate_limit_burst: int = 10
    device: str = "auto"
    cluster: Optional[str] = None
    max_interrupted_runs: int = 2

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 1024 * 1024)

    @property
    def max_video_bytes(self) -> int:
        return int(self.max_video_mb * 1024 * 1024)
