"""``GET /api/health``: whether the server and its workers are up, and its limits."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from painterly.web.jobs import QUEUED, RUNNING, VIDEO_OPTIMIZE_MAX_SIZE, VIDEO_OPTIMIZE_MAX_STEPS
from painterly.web.studio import Studio, get_studio

router = APIRouter(tags=["server"])


@router.get("/api/health")
def health(studio: Studio = Depends(get_studio)):
    """Whether the server and its workers are up, and how busy the queue is."""
    config = studio.config
    return {
        "status": "ok" if studio.queue.alive_workers == config.workers else "degraded",
        "workers": config.workers,
        "workers_alive": studio.queue.alive_workers,
        "queued": studio.store.count(QUEUED),
        "running": studio.store.count(RUNNING),
        "video": studio.runs_video,
        "limits": {"max_upload_mb": config.max_upload_mb, "max_pixels": config.max_pixels,
                   "max_size": config.max_size, "max_steps": config.max_steps,
                   "max_video_mb": config.max_video_mb, "max_video_seconds": config.max_video_seconds,
                   "max_video_size": config.max_video_size,
                   "video_optimize_max_size": VIDEO_OPTIMIZE_MAX_SIZE,
                   "video_optimize_max_steps": VIDEO_OPTIMIZE_MAX_STEPS,
                   "jobs_per_minute": config.rate_limit_per_minute, "burst": config.rate_limit_burst},
    }
