"""The studio's job queue: jobs persisted in SQLite, run by a fixed number of worker threads.

A job is created ``queued``, taken by a worker (``running``), and ends ``succeeded``, ``failed`` or
``cancelled``. Its ``kind`` is ``image`` (a photo painted into a PNG) or ``video`` (a clip stylized frame by
frame into an MP4, see :mod:`painterly.video`); both kinds share the queue, the progress columns and the
endpoints. Every change is written to ``jobs.sqlite3`` in the data dir at once, so queued and
finished jobs survive a restart. A job found ``running`` when the server starts was interrupted by a
stop: it is re-queued (from the start) until it has been interrupted ``max_interrupted_runs`` times,
then marked failed with a message saying so, so a job that kills the server cannot do it forever.
On a clean shutdown the running jobs are stopped through their progress callback and put back in
the queue.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
import uuid
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Callable, Optional, Protocol, Union

from PIL import Image

from painterly.errors import PainterlyError
from painterly.io.images import tensor_to_image
from painterly.progress import Cancelled, ProgressEvent
from painterly.web.catalog import MethodInfo, ModelInfo, registry_methods, registry_models
from painterly.web.storage import Storage

logger = logging.getLogger(__name__)

QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELLED = "queued", "running", "succeeded", "failed", "cancelled"
FINISHED = (SUCCEEDED, FAILED, CANCELLED)
STATUSES = (QUEUED, RUNNING) + FINISHED
IMAGE, VIDEO = "image", "video"
KINDS = (IMAGE, VIDEO)

#: How often a running job's progress is written to the database, at most (previews are always written).
PROGRESS_WRITE_INTERVAL_S = 0.25


#: Options only video jobs take; they go to :class:`painterly.video.VideoConfig`, not to the method.
VIDEO_OPTIONS = ("consistency", "start", "end")


@dataclass
class JobOptions:
    """What a job asks for; ``None`` leaves the choice to ``painterly.stylize``'s defaults.

    Attributes:
        method: registered method name (``optimize`` is the high-quality one).
        model: trained model name for model-based methods, else ``None``.
        size: long side of the result in pixels.
        steps: optimization steps (high-quality method).
        strength: 0 keeps the photo, 1 is fully stylized.
        style_scale: scale of the painting's brush strokes relative to the default.
        preserve_color: ``None``, ``"luminance"`` or ``"histogram"``: keep the photo's colours.
        seed: random seed, for results that repeat.
        preview_every: send a preview every N steps (set by the server for methods that preview).
        consistency: video jobs: temporal consistency in ``[0, 1]`` (see :class:`painterly.video.VideoConfig`).
        start: video jobs: first second of the clip to stylize.
        end: video jobs: second of the clip to stop at.
    """

    method: str = "optimize"
    model: Optional[str] = None
    size: Optional[int] = None
    steps: Optional[int] = None
    strength: Optional[float] = None
    style_scale: Optional[float] = None
    preserve_color: Optional[str] = None
    seed: Optional[int] = None
    preview_every: Optional[int] = None
    consistency: Optional[float] = None
    start: Optional[float] = None
    end: Optional[float] = None

    def stylize_options(self) -> dict[str, Any]:
        """The options to pass on to ``painterly.stylize`` (method, model and video options apart), unset ones
        left out."""
        skip = {"method", "model", *VIDEO_OPTIONS}
        values = {f.name: getattr(self, f.name) for f in fields(self) if f.name not in skip}
        return {name: value for name, value in values.items() if value is not None}

    def video_options(self) -> dict[str, Any]:
        """The video options (consistency, start, end) that are set."""
        return {name: getattr(self, name) for name in VIDEO_OPTIONS if getattr(self, name) is not None}

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "JobOptions":
        known = {f.name for f in fields(cls)}
        return cls(**{key: value for key, value in values.items() if key in known})


#: A style as the runner receives it: a built-in name, or the uploaded painting.
Style = Union[str, Image.Image, None]


class Runner(Protocol):
    """Runs one job: ``runner(content, style, options, progress) -> result image``.

    ``progress`` is a :data:`painterly.progress.ProgressCallback`; when it returns ``False`` the runner
    raises :class:`painterly.progress.Cancelled`. Errors a user caused are :class:`PainterlyError`.
    A runner may also have ``methods() -> list[MethodInfo]`` and ``models() -> list[ModelInfo]``: what it
    can run; the API then refuses other methods and models up front.

    A runner that runs video jobs also has ``video(source, style, options, progress, *, output, work_folder)``:
    stylize the clip ``source`` into the MP4 ``output`` (written atomically), keeping finished frames in
    ``work_folder`` so a job interrupted by a server stop continues there after the restart.
    """

    def __call__(self, content: Image.Image, style: Style, options: JobOptions, progress: Callable) -> Image.Image: ...


#: Largest size (long side) and step count a video job may ask of the optimization method: it
#: optimizes every frame, which takes about a second per frame at these settings on a CPU.
VIDEO_OPTIMIZE_MAX_SIZE = 128
VIDEO_OPTIMIZE_MAX_STEPS = 20


def video_config(options: JobOptions):
    """The :class:`painterly.video.VideoConfig` of a video job (sound kept, frames not kept)."""
    from painterly.video import VideoConfig

    values = {"size": options.size, **options.video_options()}
    return VideoConfig(**{key: value for key, value in values.items() if value is not None}).validate()


class StylizeRunner:
    """The default runner: the Python API (a ``painterly.api.Stylizer`` kept between jobs, so the
    feature network is loaded once) on ``device``."""

    def __init__(self, device: Any = None):
        from painterly.io.images import DEFAULT_MAX_PIXELS

        self.device = device
        self.max_pixels = DEFAULT_MAX_PIXELS
        self._stylizer = None
        self._lock = threading.Lock()

    def methods(self) -> list[MethodInfo]:
        return registry_methods()

    def models(self) -> list[ModelInfo]:
        return registry_models()

    def stylizer(self):
        with self._lock:
            if self._stylizer is None:
                from painterly.api import Stylizer

                self._stylizer = Stylizer(device=self.device)
            return self._stylizer

    def __call__(self, content: Image.Image, style: Style, options: JobOptions, progress: Callable) -> Image.Image:
        extra = {"model": options.model} if options.model else {}
        return self.stylizer().stylize(content, style, method=options.method, progress=progress,
                                       **options.stylize_options(), **extra)

    def video(self, source: Path, style: Style, options: JobOptions, progress: Callable, *, output: Path,
              work_folder: Path) -> None:
        """Stylize the clip ``source`` into ``output`` with :mod:`painterly.video`; the model (or the feature
        network) is loaded once for the whole clip."""
        from painterly.video import VideoJob
        from painterly.video.media import output_size, probe_video

        config = video_config(options)
        info = probe_video(source)  # a bad clip fails here, before a model loads
        frame_size = output_size(info.width, info.height, config.size)
        job = VideoJob(source, output, self.frame_stylizer(style, options, frame_size), config, device="cpu",
                       work_folder=work_folder)
        job.run(progress=progress, measure=config.consistency > 0)

    def frame_stylizer(self, style: Style, options: JobOptions, frame_size: Optional[tuple[int, int]] = None):
        """A video job's frame stylizer, chosen and built by the registry; with ``frame_size`` (``(width,
        height)``) the method's size limits and memory are checked for frames that large before it loads."""
        from painterly.registry import choose_method
        from painterly.styles.catalog import load_style_image
        from painterly.video.frames import frame_stylizer_for

        spec = choose_method(options.method or None, model=options.model, paintings=[style] if style is not None else [])
        method_options = {key: value for key, value in options.stylize_options().items()
                          if key not in ("size", "preview_every") and spec.takes(key)}  # fmt: skip
        if spec.takes("steps"):  # an optimization per frame: few steps, or a clip takes hours
            method_options.setdefault("steps", VIDEO_OPTIMIZE_MAX_STEPS)
        paintings = [(load_style_image(style, self.max_pixels), 1.0)] if style is not None and spec.needs_painting else []
        return frame_stylizer_for(spec.name, model=options.model, paintings=paintings, stylizer=self.stylizer(),
                                  image_size=frame_size, **method_options)  # fmt: skip


@dataclass
class Job:
    """One row of the jobs table; ``content_file`` is the uploaded photo (image jobs) or clip (video jobs)."""

    id: str
    seq: int
    status: str
    created_at: float
    options: JobOptions
    content_file: str
    kind: str = IMAGE
    style_name: Optional[str] = None
    style_file: Optional[str] = None
    client: str = ""
    started_at: Optional[float] = None
    finished_at: Optional[float] = None
    step: int = 0
    total: int = 0
    stage: str = ""
    losses: dict[str, float] = field(default_factory=dict)
    preview_file: Optional[str] = None
    preview_version: int = 0
    result_file: Optional[str] = None
    error: Optional[str] = None
    interruptions: int = 0
    cancel_requested: bool = False

    @property
    def finished(self) -> bool:
        return self.status in FINISHED


_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    status TEXT NOT NULL,
    created_at REAL NOT NULL,
    options TEXT NOT NULL,
    content_file TEXT NOT NULL,
    style_name TEXT,
    style_file TEXT,
    client TEXT NOT NULL DEFAULT '',
    started_at REAL,
    finished_at REAL,
    step INTEGER NOT NULL DEFAULT 0,
    total INTEGER NOT NULL DEFAULT 0,
    stage TEXT NOT NULL DEFAULT '',
    losses TEXT NOT NULL DEFAULT '{}',
    preview_file TEXT,
    preview_version INTEGER NOT NULL DEFAULT 0,
    result_file TEXT,
    error TEXT,
    interruptions INTEGER NOT NULL DEFAULT 0,
    cancel_requested INTEGER NOT NULL DEFAULT 0,
    kind TEXT NOT NULL DEFAULT 'image'
);
CREATE INDEX IF NOT EXISTS jobs_status ON jobs (status, seq);
"""

#: Columns added after the first release, with their definitions: a database made before them gets
#: them on opening (``ALTER TABLE … ADD COLUMN``), its rows taking the default.
_ADDED_COLUMNS = {"kind": "TEXT NOT NULL DEFAULT 'image'"}


class JobStore:
    """The jobs table in SQLite. One connection shared by the threads, behind a lock."""

    def __init__(self, path):
        self._lock = threading.Lock()
        self._connection = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None, timeout=30)
        self._connection.row_factory = sqlite3.Row
        with self._lock:
            self._connection.execute("PRAGMA journal_mode=WAL")
            self._connection.executescript(_SCHEMA)
            self._add_missing_columns()

    def _add_missing_columns(self) -> None:
        """Bring a database written by an older version up to date (in one transaction)."""
        connection = self._connection
        connection.execute("BEGIN IMMEDIATE")
        try:
            present = {row["name"] for row in connection.execute("PRAGMA table_info(jobs)")}
            for column, definition in _ADDED_COLUMNS.items():
                if column not in present:
                    connection.execute(f"ALTER TABLE jobs ADD COLUMN {column} {definition}")
            connection.execute("COMMIT")
        except BaseException:
            connection.execute("ROLLBACK")
            raise

    def close(self) -> None:
        with self._lock:
            self._connection.close()

    def _row_to_job(self, row: sqlite3.Row | None) -> Job | None:
        if row is None:
            return None
        values = dict(row)
        values["options"] = JobOptions.from_dict(json.loads(values["options"]))
        values["losses"] = json.loads(values["losses"])
        values["cancel_requested"] = bool(values["cancel_requested"])
        return Job(**values)

    def _one(self, sql: str, parameters=()) -> Job | None:
        with self._lock:
            return self._row_to_job(self._connection.execute(sql, parameters).fetchone())

    def _update(self, job_id: str, where_status: tuple[str, ...] | None = None, **values) -> bool:
        """Set columns of one job (only while its status is one of ``where_status``); True if it changed."""
        assignments = ", ".join(f"{column} = ?" for column in values)
        sql = f"UPDATE jobs SET {assignments} WHERE id = ?"
        parameters = [*values.values(), job_id]
        if where_status:
            sql += f" AND status IN ({', '.join('?' for _ in where_status)})"
            parameters += list(where_status)
        with self._lock:
            return self._connection.execute(sql, parameters).rowcount == 1

    def create(self, options: JobOptions, content_file: str, style_name: str | None, style_file: str | None,
               client: str = "", *, kind: str = IMAGE) -> Job:
        if kind not in KINDS:
            raise ValueError(f"unknown job kind {kind!r}")
        job_id = uuid.uuid4().hex
        with self._lock:
            self._connection.execute(
                "INSERT INTO jobs (id, status, created_at, options, content_file, style_name, style_file, client, kind)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (job_id, QUEUED, time.time(), json.dumps(asdict(options)), content_file, style_name, style_file, client,
                 kind),
            )
        return self.get(job_id)

    def get(self, job_id: str) -> Job | None:
        return self._one("SELECT * FROM jobs WHERE id = ?", (job_id,))

    @staticmethod
    def _where(status: str | None, kind: str | None) -> tuple[str, list]:
        conditions = [(column, value) for column, value in (("status", status), ("kind", kind)) if value]
        if not conditions:
            return "", []
        return " WHERE " + " AND ".join(f"{column} = ?" for column, _ in conditions), [value for _, value in conditions]

    def list(self, *, limit: int = 50, offset: int = 0, status: str | None = None,
             kind: str | None = None) -> list[Job]:
        """Jobs newest first, optionally only those with ``status`` and of ``kind``."""
        where, parameters = self._where(status, kind)
        sql = f"SELECT * FROM jobs{where} ORDER BY seq DESC LIMIT ? OFFSET ?"
        with self._lock:
            rows = self._connection.execute(sql, [*parameters, limit, offset]).fetchall()
        return [self._row_to_job(row) for row in rows]

    def count(self, status: str | None = None, kind: str | None = None) -> int:
        where, parameters = self._where(status, kind)
        with self._lock:
            return self._connection.execute(f"SELECT COUNT(*) FROM jobs{where}", parameters).fetchone()[0]

    def queue_position(self, job: Job) -> int:
        """How many queued jobs are ahead of ``job`` (0 when it is next)."""
        with self._lock:
            return self._connection.execute(
                "SELECT COUNT(*) FROM jobs WHERE status = ? AND seq < ?", (QUEUED, job.seq)
            ).fetchone()[0]

    def claim_next(self) -> Job | None:
        """Move the oldest queued job to ``running`` and return it, or ``None`` when the queue is empty."""
        with self._lock:
            row = self._connection.execute(
                "UPDATE jobs SET status = ?, started_at = ?, step = 0, stage = ''"
                " WHERE seq = (SELECT seq FROM jobs WHERE status = ? ORDER BY seq LIMIT 1) RETURNING *",
                (RUNNING, time.time(), QUEUED),
            ).fetchone()
            return self._row_to_job(row)

    def set_progress(self, job_id: str, event: ProgressEvent, preview_file: str | None = None) -> None:
        values = dict(step=event.step, total=event.total, stage=event.stage,
                      losses=json.dumps({key: float(value) for key, value in event.losses.items()}))
        if preview_file is None:
            self._update(job_id, (RUNNING,), **values)
            return
        with self._lock:
            self._connection.execute(
                "UPDATE jobs SET step = ?, total = ?, stage = ?, losses = ?, preview_file = ?,"
                " preview_version = preview_version + 1 WHERE id = ? AND status = ?",
                (*values.values(), preview_file, job_id, RUNNING),
            )

    def finish(self, job_id: str, status: str, *, result_file: str | None = None, error: str | None = None) -> bool:
        return self._update(job_id, (RUNNING,), status=status, finished_at=time.time(), result_file=result_file,
                            error=error)

    def requeue(self, job_id: str) -> bool:
        return self._update(job_id, (RUNNING,), status=QUEUED, started_at=None, step=0, stage="")

    def cancel_queued(self, job_id: str) -> bool:
        return self._update(job_id, (QUEUED,), status=CANCELLED, finished_at=time.time(), error="cancelled before it ran")

    def request_cancel(self, job_id: str) -> bool:
        return self._update(job_id, (RUNNING,), cancel_requested=1)

    def delete(self, job_id: str) -> bool:
        """Remove a finished job's row; True if it was there and finished."""
        placeholders = ", ".join("?" for _ in FINISHED)
        with self._lock:
            return self._connection.execute(
                f"DELETE FROM jobs WHERE id = ? AND status IN ({placeholders})", (job_id, *FINISHED)
            ).rowcount == 1

    def recover_interrupted(self, max_interrupted_runs: int) -> tuple[int, int]:
        """Deal with jobs left ``running`` by a stopped server; returns (re-queued, failed) counts."""
        requeued = failed = 0
        with self._lock:
            rows = self._connection.execute("SELECT id, interruptions, cancel_requested FROM jobs WHERE status = ?",
                                            (RUNNING,)).fetchall()
            for row in rows:
                interruptions = row["interruptions"] + 1
                if row["cancel_requested"]:
                    status, error = CANCELLED, "cancelled while the server stopped"
                elif interruptions >= max_interrupted_runs:
                    status, error = FAILED, (f"the server stopped while this job ran ({interruptions} times): "
                                             "submit it again, perhaps smaller")
                else:
                    status, error = QUEUED, None
                self._connection.execute(
                    "UPDATE jobs SET status = ?, error = ?, interruptions = ?, step = 0, stage = '', started_at = NULL,"
                    " finished_at = ? WHERE id = ?",
                    (status, error, interruptions, None if status == QUEUED else time.time(), row["id"]),
                )
                requeued += status == QUEUED
                failed += status != QUEUED
        return requeued, failed


class JobQueue:
    """Worker threads taking jobs from a :class:`JobStore` and running them with a :class:`Runner`."""

    def __init__(self, store: JobStore, storage: Storage, runner: Runner, *, workers: int = 1):
        if workers < 1:
            raise PainterlyError(f"--workers must be at least 1, not {workers}")
        self.store = store
        self.storage = storage
        self.runner = runner
        self.worker_count = workers
        self._wake = threading.Condition()
        self._stopping = threading.Event()
        self._cancelled: set[str] = set()
        self._threads: list[threading.Thread] = []

    # -- control ---------------------------------------------------------------------------------
    def start(self) -> None:
        self._stopping.clear()
        for index in range(self.worker_count):
            thread = threading.Thread(target=self._work, name=f"painterly-worker-{index}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self, timeout: float = 30.0) -> None:
        """Stop the workers; a running job is interrupted at its next progress step and re-queued."""
        self._stopping.set()
        with self._wake:
            self._wake.notify_all()
        for thread in self._threads:
            thread.join(timeout)
        self._threads.clear()

    def notify(self) -> None:
        """Wake a worker: a job was queued."""
        with self._wake:
            self._wake.notify()

    def cancel(self, job_id: str) -> Job | None:
        """Cancel a queued job at once, or ask a running one to stop; returns the job as it now is."""
        if not self.store.cancel_queued(job_id) and self.store.request_cancel(job_id):
            self._cancelled.add(job_id)
        return self.store.get(job_id)

    @property
    def alive_workers(self) -> int:
        return sum(thread.is_alive() for thread in self._threads)

    # -- work ------------------------------------------------------------------------------------
    def _work(self) -> None:
        while not self._stopping.is_set():
            with self._wake:  # claim and wait under the condition, so no notify falls between them
                job = self.store.claim_next()
                if job is None:
                    self._wake.wait(timeout=1.0)
                    continue
            try:
                self._run(job)
            except Exception:  # a bug here must not kill the worker; the job is marked failed
                logger.exception("job %s failed in the worker", job.id)
                self.store.finish(job.id, FAILED, error="internal error in the server: see its log")

    def _should_stop(self, job_id: str) -> bool:
        return job_id in self._cancelled or self._stopping.is_set()

    def _progress_callback(self, job_id: str) -> Callable[[ProgressEvent], bool]:
        last_write = 0.0

        def progress(event: ProgressEvent) -> bool:
            nonlocal last_write
            now = time.monotonic()
            if event.preview is not None:
                name = self.storage.save_preview(job_id, tensor_to_image(event.preview))
                self.store.set_progress(job_id, event, preview_file=name)
                last_write = now
            elif now - last_write >= PROGRESS_WRITE_INTERVAL_S or event.step >= event.total:
                self.store.set_progress(job_id, event)
                last_write = now
            return not self._should_stop(job_id)

        return progress

    def _run(self, job: Job) -> None:
        progress = self._progress_callback(job.id)
        try:
            style: Style = self.storage.load("uploads", job.style_file) if job.style_file else job.style_name
            if job.kind == VIDEO:
                name = self._run_video(job, style, progress)
            else:
                content = self.storage.load("uploads", job.content_file)
                result = self.runner(content, style, job.options, progress)
                name = None
            if job.id in self._cancelled:  # asked to cancel, but the runner finished without asking progress
                raise Cancelled()
        except Cancelled:
            self._end_stopped(job)
            return
        except PainterlyError as error:
            self._finish(job, FAILED, error=str(error))
            return
        except Exception as error:
            logger.exception("job %s failed", job.id)
            self._finish(job, FAILED, error=f"the job failed unexpectedly ({type(error).__name__}: {error})")
            return
        if name is None:
            name = self.storage.save_result(job.id, result)
        self._finish(job, SUCCEEDED, result_file=name)
        self._cancelled.discard(job.id)  # a cancel that came too late

    def _run_video(self, job: Job, style: Style, progress: Callable) -> str:
        """Run a video job into ``results/<id>.mp4``; returns that name."""
        run_video = getattr(self.runner, "video", None)
        if run_video is None:
            raise PainterlyError("this server does not run video jobs")
        name = self.storage.video_result_name(job.id)
        run_video(self.storage.path("uploads", job.content_file), style, job.options, progress,
                  output=self.storage.path("results", name), work_folder=self.storage.work_folder(job.id))
        return name

    def _finish(self, job: Job, status: str, **values) -> None:
        self.store.finish(job.id, status, **values)
        if job.kind == VIDEO:  # the frames kept for resuming are not needed any more
            self.storage.remove_work_folder(job.id)

    def _end_stopped(self, job: Job) -> None:
        if job.id in self._cancelled:
            self._cancelled.discard(job.id)
            self._finish(job, CANCELLED, error="cancelled while running")
        else:  # the server is shutting down: run it again after the restart (a video continues from its frames)
            self.store.requeue(job.id)
