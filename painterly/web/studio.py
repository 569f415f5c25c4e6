"""What one studio server holds (settings, file storage, job store and queue, rate limiter, runner) and the
JSON shape of a job. Routes get the :class:`Studio` through the :func:`get_studio` dependency."""

from __future__ import annotations

import math
import os
import re
from datetime import datetime, timezone

from fastapi import Request

from painterly.errors import PainterlyError
from painterly.web.catalog import MethodInfo, ModelInfo
from painterly.web.config import ServerConfig
from painterly.web.errors import ApiError, shown
from painterly.web.jobs import QUEUED, SUCCEEDED, Job, JobQueue, Runner
from painterly.web.policy import AccessConfig, RetentionConfig, read_tokens_file
from painterly.web.ratelimit import RateLimiter
from painterly.web.retention import Sweeper
from painterly.web.storage import Storage
from painterly.web.store import StudioStore

JOB_ID = re.compile(r"^[0-9a-f]{32}$")


def _iso(timestamp: float | None) -> str | None:
    if timestamp is None:
        return None
    return datetime.fromtimestamp(timestamp, timezone.utc).isoformat(timespec="milliseconds")


class Studio:
    """What one server holds: config, storage, job store and queue, rate limiter, runner catalogue, users.

    ``users`` (token → name) comes from the tokens file; with it, every job belongs to the user who made
    it and the others are told it does not exist.
    """

    def __init__(self, config: ServerConfig, runner: Runner, access: AccessConfig | None = None,
                 retention: RetentionConfig | None = None):
        self.config = config
        self.access = access or AccessConfig()
        self.retention = retention or RetentionConfig()
        if self.access.tokens is not None and config.token:
            raise PainterlyError("pass either --token (one token for everyone) or --tokens (a file of users), "
                                 "not both")
        self.users = read_tokens_file(self.access.tokens) if self.access.tokens is not None else None
        self.runner = runner
        self.storage = Storage(config.data_dir)
        self.store = StudioStore(self.storage.database_path)
        self.queue = JobQueue(self.store, self.storage, runner, workers=config.workers)
        self.limiter = RateLimiter(config.rate_limit_per_minute, config.rate_limit_burst)
        self.sweeper = Sweeper(self.sweep, self.retention.sweep_every_s) if self.retention.sweeps else None
        self._lock_file = None

    # -- life --------------------------------------------------------------------------------------
    def start(self) -> None:
        self.lock_data_dir()
        self.store.recover_interrupted(self.config.max_interrupted_runs)
        self.remove_orphans()
        for folder in self.storage.work_folders():  # frames of video jobs that will not run again
            job = self.store.get(folder.name) if JOB_ID.match(folder.name) else None
            if JOB_ID.match(folder.name) and (job is None or job.finished):
                self.storage.remove_work_folder(folder.name)
        self.queue.start()
        if self.sweeper is not None:
            self.sweeper.start()

    def stop(self) -> None:
        if self.sweeper is not None:
            self.sweeper.stop()
        self.queue.stop()
        # the jobs the stop interrupted count as interrupted, as after a crash: re-queued, or failed the 2nd time
        self.store.recover_interrupted(self.config.max_interrupted_runs)
        self.store.close()
        if self._lock_file is not None:
            self._lock_file.close()
            self._lock_file = None

    def remove_orphans(self) -> int:
        """Delete the files a killed server left that no job names: half-written temporary files, the upload of
        a job it did not get to store, a result it wrote before marking its job done (the job runs again).
        Runs at start, with the data dir locked and before any request; returns how many files went."""
        jobs = self.store.list(limit=self.store.count() + 1)
        named = {"uploads": {name for job in jobs for name in (job.content_file, job.style_file) if name},
                 "results": {job.result_file for job in jobs if job.result_file},
                 "previews": {job.preview_file for job in jobs if job.preview_file},
                 "thumbnails": {f"job-{job.id}.jpg" for job in jobs if job.result_file}}
        removed = 0
        for folder, keep in named.items():
            for path in (self.storage.root / folder).iterdir():
                style_thumbnail = folder == "thumbnails" and path.name.startswith("style-")
                if path.is_file() and path.name not in keep and not style_thumbnail:
                    path.unlink(missing_ok=True)
                    removed += 1
        return removed

    def lock_data_dir(self) -> None:
        """Refuse to share the data dir with another running server (it would re-queue our running jobs)."""
        if self._lock_file is not None:
            return
        try:
            import fcntl
        except ImportError:  # not on POSIX: no lock
            return
        lock_file = open(self.storage.root / "server.lock", "w")
        try:
            fcntl.flock(lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            lock_file.close()
            raise PainterlyError(
                f"another painterly server uses {self.storage.root}: stop it or pass another --data-dir") from None
        lock_file.write(str(os.getpid()))
        lock_file.flush()
        self._lock_file = lock_file

    # -- catalogue ---------------------------------------------------------------------------------
    def methods(self) -> list[MethodInfo] | None:
        """The methods the runner can run, or ``None`` when it does not say (then any name is passed on)."""
        list_methods = getattr(self.runner, "methods", None)
        return None if list_methods is None else list(list_methods())

    def models(self) -> list[ModelInfo]:
        list_models = getattr(self.runner, "models", None)
        return [] if list_models is None else list(list_models())

    @property
    def runs_video(self) -> bool:
        return callable(getattr(self.runner, "video", None))

    # -- jobs --------------------------------------------------------------------------------------
    def job_or_404(self, job_id: str, user: str | None = None) -> Job:
        """The job ``job_id`` when ``user`` may see it (with a tokens file: when it is theirs), else a 404."""
        job = self.store.get(job_id) if JOB_ID.match(job_id) else None
        if job is not None and self.users is not None and self.store.owner(job.id) != user:
            job = None  # someone else's job: as good as missing
        if job is None:
            raise ApiError(404, "unknown_job", f"there is no job {shown(job_id)}: list jobs with GET /api/jobs")
        return job

    def job_json(self, job: Job) -> dict:
        base = f"/api/jobs/{job.id}"
        fraction = min(1.0, job.step / job.total) if job.total else (1.0 if job.status == SUCCEEDED else 0.0)
        if job.status == SUCCEEDED:
            fraction = 1.0
        return {
            "id": job.id,
            "kind": job.kind,
            "status": job.status,
            "created_at": _iso(job.created_at),
            "started_at": _iso(job.started_at),
            "finished_at": _iso(job.finished_at),
            "method": job.options.method,
            "model": job.options.model,
            "style": {"name": job.style_name, "uploaded": job.style_file is not None},
            "options": {**job.options.stylize_options(), **job.options.video_options()},
            "progress": {"step": job.step, "total": job.total, "fraction": round(fraction, 4), "stage": job.stage,
                         "losses": job.losses},
            "queue_position": self.store.queue_position(job) if job.status == QUEUED else None,
            "cancel_requested": job.cancel_requested,
            "error": job.error,
            "original_url": f"{base}/original",
            "preview_url": f"{base}/preview?v={job.preview_version}" if job.preview_file else None,
            "result_url": f"{base}/result" if job.result_file else None,
            "thumbnail_url": f"{base}/thumbnail" if job.result_file else None,
        }

    def take_job_slot(self, client: str) -> None:
        """Count a new job against the client's rate limit; a 429 when it has none left."""
        wait = self.limiter.acquire(client)
        if wait > 0:
            raise ApiError(429, "rate_limited", f"too many jobs from this client: try again in {math.ceil(wait)} s",
                           {"Retry-After": str(math.ceil(wait))})

    def list_jobs(self, user: str | None, *, limit: int, offset: int, status: str | None,
                  kind: str | None) -> tuple[list[Job], int]:
        """A page of the jobs ``user`` may see, newest first, and how many there are in all."""
        if self.users is None:
            return (self.store.list(limit=limit, offset=offset, status=status, kind=kind),
                    self.store.count(status, kind))
        return (self.store.list_owned(user, limit=limit, offset=offset, status=status, kind=kind),
                self.store.count_owned(user, status, kind))

    def delete_job(self, job: Job) -> bool:
        """Forget a finished job and remove every file it left in the data dir; False when it is not finished."""
        if not job.finished or not self.store.delete(job.id):
            return False
        for folder, name in [("uploads", job.content_file), ("uploads", job.style_file), ("results", job.result_file),
                             ("previews", job.preview_file), ("thumbnails", f"job-{job.id}.jpg")]:
            self.storage.delete(folder, name)
        self.storage.remove_work_folder(job.id)
        return True

    def remove_expired(self, now: float) -> int:
        """Delete the jobs that finished more than ``keep_days`` before ``now`` (seconds since the epoch), with
        their files; returns how many. Nothing expires without ``keep_days``."""
        if self.retention.keep_days is None:
            return 0
        expired = self.store.finished_before(now - self.retention.keep_days * 86400.0)
        return sum(self.delete_job(job) for job in expired)


    def make_room(self) -> int:
        """Bring the data dir under ``max_disk_mb`` by deleting the oldest finished jobs; returns how many.
        Queued and running jobs are never removed, so the data dir may stay over the quota."""
        limit = self.retention.max_disk_bytes
        if limit is None:
            return 0
        used = self.storage.used_bytes()
        removed = 0
        if used > limit:
            for job in self.store.finished_before(math.inf):  # oldest first
                if self.delete_job(job):
                    removed += 1
                    used = self.storage.used_bytes()
                    if used <= limit:
                        break
        return removed

    def check_disk_quota(self) -> None:
        """Before a new job stores its upload: make room, and a 507 when the data dir is still over its quota."""
        limit = self.retention.max_disk_bytes
        if limit is None:
            return
        self.make_room()
        used = self.storage.used_bytes()
        if used > limit:
            raise ApiError(507, "disk_full",
                           f"the server's storage is full ({used / 2**20:.0f} of {limit / 2**20:g} MiB, held by "
                           "queued and running jobs): try again when they have finished, or delete finished jobs")

    def sweep(self, now: float) -> int:
        """The sweep thread's work: expired jobs, then the disk quota; returns how many jobs were removed."""
        return self.remove_expired(now) + self.make_room()


def client_key(request: Request) -> str:
    """Who a request comes from, for the rate limit: the peer address."""
    return request.client.host if request.client else "unknown"


def get_studio(request: Request) -> Studio:
    """The FastAPI dependency that gives a route the studio of the app serving it."""
    return request.app.state.studio


def get_user(request: Request) -> str | None:
    """The FastAPI dependency that gives a route the user the request's token names (``None`` without a
    tokens file); :class:`painterly.web.access.Gate` found it."""
    return getattr(request.state, "user", None)
