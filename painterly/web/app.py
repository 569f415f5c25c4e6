"""The studio's HTTP server: the REST API under ``/api``, the studio page at ``/``.

Build it with :func:`create_app`; ``painterly serve`` runs it with uvicorn. Every error is JSON,
``{"error": {"code": "...", "message": "..."}}``, with a status code that fits (400 bad option,
401 token, 404 unknown, 409 wrong state, 413 too large, 415 not an image or video, 422 invalid field,
429 rate limit, 501 no video support in this runner).

Image jobs come in through ``POST /api/jobs``, video jobs through ``POST /api/video-jobs``; both kinds
share the queue and every ``/api/jobs/{id}…`` endpoint (status, cancel, result, delete).
"""

from __future__ import annotations

import contextlib
import hmac
import inspect
import math
import os
import re
from datetime import datetime, timezone
from pathlib import Path
from typing import Optional

from fastapi import FastAPI, File, Form, Query, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from painterly.errors import PainterlyError
from painterly.registry import find_style, list_styles, style_names
from painterly.web.catalog import STUDIO_OPTIONS, MethodInfo, ModelInfo, check_range, describe_method
from painterly.web.config import ServerConfig
from painterly.web.jobs import (KINDS, QUEUED, RUNNING, STATUSES, SUCCEEDED, VIDEO, VIDEO_OPTIMIZE_MAX_SIZE,
                                VIDEO_OPTIMIZE_MAX_STEPS, Job, JobOptions, JobQueue, JobStore, Runner, StylizeRunner)
from painterly.web.ratelimit import RateLimiter
from painterly.web.storage import ImageRejected, Storage, VideoRejected, decode_image, media_type

STATIC_DIR = Path(__file__).parent / "static"
PREVIEWS_PER_JOB = 20  # intermediate images a previewing job shows, about
DEFAULT_PREVIEW_STEPS = 140  # steps assumed when a job leaves them to the method
STYLE_REQUIRED = "choose a built-in style (see GET /api/styles) or upload a painting"
NO_MODEL = "no trained model installed; train one with `painterly train`"
DEFAULT_VIDEO_SIZE = 480  # long side of a video job's output when it does not say
VIDEO_STATUS = {"size": (413, "upload_too_large"), "empty": (400, "empty_upload"), "type": (415, "not_a_video"),
                "no_video": (422, "no_video_stream")}
JOB_ID = re.compile(r"^[0-9a-f]{32}$")
PRESERVE_COLOR = {"": None, "none": None, "false": None, "0": None, "off": None,
                  "true": "luminance", "1": "luminance", "on": "luminance",
                  "luminance": "luminance", "histogram": "histogram"}
# The page is self-contained: nothing may load from elsewhere.
CONTENT_SECURITY_POLICY = ("default-src 'self'; img-src 'self' blob: data:; media-src 'self' blob:; "
                           "script-src 'self'; style-src 'self'; "
                           "connect-src 'self'; object-src 'none'; frame-ancestors 'none'; base-uri 'none'")


class ApiError(Exception):
    """An error answered as JSON: HTTP ``status``, a stable ``code`` and a message that says what to do."""

    def __init__(self, status: int, code: str, message: str, headers: dict | None = None):
        super().__init__(message)
        self.status, self.code, self.message, self.headers = status, code, message, headers


def error_response(status: int, code: str, message: str, headers: dict | None = None) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status, headers=headers)


def _iso(timestamp: float | None) -> str | None:
    if timestamp is None:
        return None
    return datetime.fromtimestamp(timestamp, timezone.utc).isoformat(timespec="milliseconds")


class Studio:
    """What one server holds: config, storage, job store and queue, rate limiter, runner catalogue."""

    def __init__(self, config: ServerConfig, runner: Runner):
        self.config = config
        self.runner = runner
        self.storage = Storage(config.data_dir)
        self.store = JobStore(self.storage.database_path)
        self.queue = JobQueue(self.store, self.storage, runner, workers=config.workers)
        self.limiter = RateLimiter(config.rate_limit_per_minute, config.rate_limit_burst)
        self._lock_file = None

    # -- life --------------------------------------------------------------------------------------
    def start(self) -> None:
        self.lock_data_dir()
        self.store.recover_interrupted(self.config.max_interrupted_runs)
        for folder in self.storage.work_folders():  # frames of video jobs that will not run again
            job = self.store.get(folder.name) if JOB_ID.match(folder.name) else None
            if JOB_ID.match(folder.name) and (job is None or job.finished):
                self.storage.remove_work_folder(folder.name)
        self.queue.start()

    def stop(self) -> None:
        self.queue.stop()
        self.store.close()
        if self._lock_file is not None:
            self._lock_file.close()
            self._lock_file = None

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
    def job_or_404(self, job_id: str) -> Job:
        job = self.store.get(job_id) if JOB_ID.match(job_id) else None
        if job is None:
            raise ApiError(404, "unknown_job", f"there is no job {job_id!r}: list jobs with GET /api/jobs")
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

    def read_upload(self, upload: UploadFile, what: str):
        """Decode an uploaded image within the size and pixel limits."""
        limit = self.config.max_upload_bytes
        data = upload.file.read(limit + 1)
        if len(data) > limit:
            raise ApiError(413, "upload_too_large",
                           f"the {what} is larger than {self.config.max_upload_mb:g} MiB: send a smaller file")
        if not data:
            raise ApiError(400, "empty_upload", f"the {what} is empty: choose an image file")
        try:
            return decode_image(data, max_pixels=self.config.max_pixels, what=what)
        except ImageRejected as error:
            if error.reason == "pixels":
                raise ApiError(413, "too_many_pixels", str(error)) from None
            raise ApiError(415, "not_an_image", str(error)) from None

    def check_options(self, options: JobOptions, has_style: bool) -> MethodInfo | None:
        """Refuse bad options with a 422; returns the method's description when the runner lists methods."""
        config = self.config
        methods = self.methods()
        method = None
        if methods is not None:
            by_name = {method.name: method for method in methods}
            method = by_name.get(options.method)
            if method is None:
                available = ", ".join(sorted(by_name)) or "none are installed"
                raise ApiError(422, "unknown_method", f"unknown method {options.method!r}: use one of {available}")
            if method.needs_model and not options.model:
                raise ApiError(422, "model_required", f"method {options.method!r} needs a model: see GET /api/models")
            if method.needs_style and not has_style:
                raise ApiError(422, "style_required", STYLE_REQUIRED)
        elif not has_style and not options.model:
            raise ApiError(422, "style_required", STYLE_REQUIRED)
        if method is not None:
            for name, value in options.stylize_options().items():
                if name in STUDIO_OPTIONS and name not in method.options:
                    raise ApiError(422, "bad_option", f"method {options.method!r} takes no {name}: leave it out")
        if method is not None and options.model:
            if not method.needs_model:
                raise ApiError(422, "bad_option", f"method {options.method!r} takes no model: leave model out")
            names = [model.name for model in self.models() if model.method == options.method]
            if options.model not in names:
                raise ApiError(422, "unknown_model", f"unknown model {options.model!r} for method {options.method!r}: "
                                                     f"use one of {', '.join(names) or 'none are installed'}")
        checks = [
            ("size", options.size, 16, config.max_size),
            ("steps", options.steps, 1, config.max_steps),
        ]
        for name, value, low, high in checks:
            if value is not None and (not math.isfinite(value) or not low <= value <= high):
                raise ApiError(422, "bad_option", f"{name} must be between {low:g} and {high:g}, not {value:g}")
        for name in ("strength", "style_scale"):  # each method's own range, from its spec
            problem = check_range(method or describe_method(options.method), name, getattr(options, name))
            if problem:
                raise ApiError(422, "bad_option", problem)
        return method

    def check_video_options(self, options: JobOptions, has_style: bool) -> None:
        """Refuse a video job's bad options with a 422 (or 501 when the runner runs no video), before its upload is
        looked at; fills in the method from the model and the optimization's small defaults."""
        if not self.runs_video:
            raise ApiError(501, "video_unsupported", "this server does not run video jobs")
        config = self.config
        methods = self.methods()
        models = self.models()
        if not options.method:
            chosen = [model for model in models if model.name == options.model]
            if options.model and not chosen:
                names = ", ".join(model.name for model in models) or "none are installed"
                raise ApiError(422, "unknown_model", f"unknown model {options.model!r}: use one of {names}")
            if not chosen:
                raise ApiError(422, "no_model" if not models else "model_required",
                               NO_MODEL if not models else "choose a trained model: see GET /api/models")
            options.method = chosen[0].method
        if methods is not None:
            method = next((method for method in methods if method.name == options.method), None)
            if method is None:
                available = ", ".join(sorted(method.name for method in methods)) or "none are installed"
                raise ApiError(422, "unknown_method", f"unknown method {options.method!r}: use one of {available}")
            if not method.needs_model and method.name != "optimize":
                raise ApiError(422, "method_not_for_video", f"method {method.name!r} does not run on video here: "
                                                            "use a trained model, or optimize on a small size")
            if method.needs_model:
                names = [model.name for model in models if model.method == method.name]
                if not names:
                    raise ApiError(422, "no_model", NO_MODEL)
                if not options.model:
                    raise ApiError(422, "model_required", f"method {method.name!r} needs a model: use one of "
                                                          f"{', '.join(names)}")
                if options.model not in names:
                    raise ApiError(422, "unknown_model", f"unknown model {options.model!r} for method "
                                                         f"{method.name!r}: use one of {', '.join(names)}")
                if has_style:
                    raise ApiError(422, "bad_option", f"method {method.name!r} paints in its model's style: "
                                                      "leave the style out")
            else:
                if options.model:
                    raise ApiError(422, "bad_option", f"method {method.name!r} takes no model: leave model out")
                if not has_style:
                    raise ApiError(422, "style_required", STYLE_REQUIRED)
                options.size = VIDEO_OPTIMIZE_MAX_SIZE if options.size is None else options.size
                options.steps = VIDEO_OPTIMIZE_MAX_STEPS if options.steps is None else options.steps
                if options.size > VIDEO_OPTIMIZE_MAX_SIZE or options.steps > VIDEO_OPTIMIZE_MAX_STEPS:
                    limits = f"size ≤ {VIDEO_OPTIMIZE_MAX_SIZE} and steps ≤ {VIDEO_OPTIMIZE_MAX_STEPS}"
                    raise ApiError(422, "bad_option", f"the optimize method is far too slow for video: use {limits}, "
                                                      "or a trained model")
            for name in options.stylize_options():
                if name in STUDIO_OPTIONS and name not in method.options:
                    raise ApiError(422, "bad_option", f"method {options.method!r} takes no {name}: leave it out")
        checks = [
            ("size", options.size, 16, config.max_video_size),
            ("steps", options.steps, 1, config.max_steps),
            ("consistency", options.consistency, 0.0, 1.0),
            ("start", options.start, 0.0, math.inf),
            ("end", options.end, 0.0, math.inf),
        ]
        for name, value, low, high in checks:
            if value is not None and (not math.isfinite(value) or not low <= value <= high):
                shown = f"{low:g} or more" if high == math.inf else f"between {low:g} and {high:g}"
                raise ApiError(422, "bad_option", f"{name} must be {shown}, not {value:g}")
        for name in ("strength", "style_scale"):  # each method's own range, from its spec
            chosen = next((item for item in methods or [] if item.name == options.method), None)
            problem = check_range(chosen or describe_method(options.method), name, getattr(options, name))
            if problem:
                raise ApiError(422, "bad_option", problem)
        if options.start is not None and options.end is not None and options.end <= options.start:
            raise ApiError(422, "bad_option", f"end ({options.end:g} s) must come after start ({options.start:g} s)")

    def check_clip(self, options: JobOptions, info) -> None:
        """Refuse a clip with frames over the pixel limit, or whose chosen stretch is empty or too long; fills in
        the size and, for a clip of unknown length, the end."""
        if info.width * info.height > self.config.max_pixels:
            raise ApiError(413, "too_many_pixels", f"the clip has {info.width}x{info.height} pixels a frame, more than "
                                                   f"the limit of {self.config.max_pixels}: send a smaller clip")
        limit = self.config.max_video_seconds
        start = options.start or 0.0
        if info.duration and start >= info.duration:
            raise ApiError(422, "bad_option", f"start {start:g} s is past the end of the clip ({info.duration:.2f} s)")
        if not info.duration and options.end is None:
            options.end = start + limit
        end = options.end if options.end is not None else info.duration
        if info.duration:
            end = min(end, info.duration)
        if end - start > limit + 1e-6:
            message = (f"the chosen part of the clip is {end - start:.1f} s long, more than the limit of {limit:g} s: "
                       f"choose at most {limit:g} s with start and end")
            raise ApiError(422, "clip_too_long", message)
        if options.size is None:
            options.size = min(max(info.width, info.height), DEFAULT_VIDEO_SIZE, self.config.max_video_size)


def _client_key(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _style_and_colour(
    style: Optional[str], style_file: Optional[UploadFile], preserve_color: Optional[str]
) -> tuple[Optional[str], Optional[UploadFile], Optional[str]]:
    """The job's style (a built-in name or an uploaded file, not both) and colour mode, checked."""
    style = (style or "").strip() or None
    if style_file is not None and not style_file.filename and style_file.size == 0:
        style_file = None  # an empty file field from a browser form
    if style is not None and style_file is not None:
        raise ApiError(422, "two_styles", "send either a style name or a style file, not both")
    if style is not None and find_style(style) is None:
        raise ApiError(422, "unknown_style", f"unknown style {style!r}: use one of {', '.join(style_names())}")
    colour = PRESERVE_COLOR.get((preserve_color or "").strip().lower(), "bad")
    if colour == "bad":
        raise ApiError(422, "bad_option", "preserve_color must be none, luminance or histogram")
    return style, style_file, colour


def create_app(config: ServerConfig | None = None, runner: Optional[Runner] = None) -> FastAPI:
    """The studio application for ``config``; ``runner`` runs the jobs (default: :class:`StylizeRunner`)."""
    config = config or ServerConfig()
    if runner is None:
        from painterly.devices import resolve_device

        runner = StylizeRunner(device=resolve_device(config.device))
    studio = Studio(config, runner)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        studio.start()
        try:
            yield
        finally:
            studio.stop()

    # two files (photo or clip, and painting) and a few form fields
    most_body_bytes = 2 * config.max_upload_bytes + 65536
    most_video_body_bytes = config.max_video_bytes + config.max_upload_bytes + 65536
    limits, video_limits = {}, {}
    if "max_body_size" in inspect.signature(FastAPI.__init__).parameters:  # streaming limit, in newer FastAPI
        limits["max_body_size"] = most_body_bytes
        if "max_body_size" in inspect.signature(FastAPI.post).parameters:  # a route's own limit overrides the app's
            video_limits["max_body_size"] = most_video_body_bytes
    app = FastAPI(
        **limits,
        title="Painterly studio",
        summary="Style transfer jobs: upload a photo, pick a painting, fetch the painted result.",
        version="1",
        docs_url=None,  # the Swagger page loads scripts from a CDN; the schema is at /openapi.json
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.studio = studio

    # -- errors ----------------------------------------------------------------------------------------
    @app.exception_handler(ApiError)
    async def _api_error(request: Request, error: ApiError):
        return error_response(error.status, error.code, error.message, error.headers)

    @app.exception_handler(PainterlyError)
    async def _painterly_error(request: Request, error: PainterlyError):
        return error_response(400, "bad_request", str(error))

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, error: RequestValidationError):
        problems = []
        for item in error.errors():
            where = ".".join(str(part) for part in item.get("loc", ())[1:]) or "request"
            problems.append(f"{where}: {item.get('msg', 'invalid')}")
        return error_response(422, "invalid_request", "; ".join(problems) or "the request is invalid")

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, error: StarletteHTTPException):
        codes = {404: "not_found", 405: "method_not_allowed", 413: "upload_too_large"}
        messages = {404: "no such page or API endpoint: see /openapi.json",
                    413: f"the upload is larger than {config.max_upload_mb:g} MiB: send a smaller file"}
        message = messages.get(error.status_code, str(error.detail))
        return error_response(error.status_code, codes.get(error.status_code, "http_error"), message,
                              getattr(error, "headers", None))

    # -- token, size limit, headers ---------------------------------------------------------------------
    @app.middleware("http")
    async def _guard(request: Request, call_next):
        path = request.url.path
        if path == "/api" or path.startswith("/api/"):
            if config.token and not _token_ok(request, config.token):
                return error_response(401, "unauthorized",
                                      "this server needs a token: send 'Authorization: Bearer TOKEN' or 'X-Token: TOKEN'",
                                      {"WWW-Authenticate": "Bearer"})
            length = request.headers.get("content-length")
            video = path == "/api/video-jobs"
            most = most_video_body_bytes if video else most_body_bytes
            if request.method == "POST" and length and length.isdigit() and int(length) > most:
                largest = config.max_video_mb if video else config.max_upload_mb
                return error_response(413, "upload_too_large",
                                      f"the upload is larger than {largest:g} MiB: send a smaller file")
        response = await call_next(request)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        if path.startswith("/api/"):
            response.headers.setdefault("Cache-Control", "no-store")
        return response

    # -- page --------------------------------------------------------------------------------------------
    @app.get("/", include_in_schema=False)
    def page():
        return FileResponse(STATIC_DIR / "index.html", media_type="text/html")

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    # -- API ---------------------------------------------------------------------------------------------
    @app.get("/api/health", tags=["server"])
    def health():
        """Whether the server and its workers are up, and how busy the queue is."""
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

    @app.get("/api/styles", tags=["catalogue"])
    def styles():
        """The built-in paintings, with thumbnail URLs."""
        return {"styles": [
            {"name": entry.name, "title": entry.title, "artist": entry.artist, "year": entry.year,
             "licence": entry.licence, "thumbnail_url": f"/api/styles/{entry.name}/thumbnail"}
            for entry in list_styles()
        ]}

    @app.get("/api/styles/{name}/thumbnail", tags=["catalogue"], response_class=FileResponse,
             responses={200: {"content": {"image/jpeg": {}}}})
    def style_thumbnail(name: str):
        """A small JPEG of a built-in painting."""
        entry = find_style(name)
        if entry is None:
            raise ApiError(404, "unknown_style", f"unknown style {name!r}: use one of {', '.join(style_names())}")

        def make():
            with open(entry.path, "rb") as stream:
                return decode_image(stream.read(), max_pixels=config.max_pixels * 4, what="style")

        path = studio.storage.cached_thumbnail(f"style-{entry.name}", make)
        return FileResponse(path, media_type="image/jpeg")

    @app.get("/api/models", tags=["catalogue"])
    def models():
        """The stylization methods this server runs and the trained models it has."""
        methods = studio.methods()
        return {"methods": [method.to_json() for method in methods or []],
                "models": [model.to_json() for model in studio.models()]}

    @app.post("/api/jobs", status_code=202, tags=["jobs"])
    def create_job(
        request: Request,
        content: UploadFile = File(..., description="the photo to paint (JPEG, PNG, WebP …)"),
        style: Optional[str] = Form(None, description="a built-in style name (see GET /api/styles)"),
        style_file: Optional[UploadFile] = File(None, description="or a painting to upload"),
        method: str = Form("optimize", description="a method from GET /api/models"),
        model: Optional[str] = Form(None, description="a trained model, for model-based methods"),
        size: Optional[int] = Form(None, description="long side of the result, pixels"),
        steps: Optional[int] = Form(None, description="optimization steps (high quality)"),
        strength: Optional[float] = Form(None, description="0 = the photo, 1 = fully painted"),
        style_scale: Optional[float] = Form(None, description="size of the brush strokes, 1 = default"),
        preserve_color: Optional[str] = Form(None, description="none, luminance or histogram (or true/false)"),
        seed: Optional[int] = Form(None, description="random seed"),
    ):
        """Queue a job. Answers 202 with the job; poll ``GET /api/jobs/{id}`` until it has finished."""
        style, style_file, colour = _style_and_colour(style, style_file, preserve_color)
        options = JobOptions(method=method.strip(), model=(model or "").strip() or None, size=size, steps=steps,
                             strength=strength, style_scale=style_scale, preserve_color=colour, seed=seed)
        method_info = studio.check_options(options, has_style=style is not None or style_file is not None)
        if method_info is not None and method_info.previews:
            options.preview_every = max(1, (options.steps or DEFAULT_PREVIEW_STEPS) // PREVIEWS_PER_JOB)

        client = _client_key(request)
        wait = studio.limiter.acquire(client)  # before decoding, so a flood costs little
        if wait > 0:
            raise ApiError(429, "rate_limited", f"too many jobs from this client: try again in {math.ceil(wait)} s",
                           {"Retry-After": str(math.ceil(wait))})

        content_image = studio.read_upload(content, "photo")
        style_image = studio.read_upload(style_file, "painting") if style_file is not None else None

        content_file = studio.storage.save_upload(content_image)
        style_file_name = studio.storage.save_upload(style_image) if style_image is not None else None
        job = studio.store.create(options, content_file, find_style(style).name if style else None, style_file_name,
                                  client)
        studio.queue.notify()
        return studio.job_json(job)

    @app.post("/api/video-jobs", status_code=202, tags=["jobs"], **video_limits)
    def create_video_job(
        request: Request,
        video: UploadFile = File(..., description="the clip to stylize (MP4, WebM, MOV, MKV, AVI …)"),
        model: Optional[str] = Form(None, description="a trained model (see GET /api/models)"),
        method: Optional[str] = Form(None, description="default: the model's method; or optimize (small and slow)"),
        style: Optional[str] = Form(None, description="optimize only: a built-in style name"),
        style_file: Optional[UploadFile] = File(None, description="optimize only: or a painting to upload"),
        size: Optional[int] = Form(None, description="long side of the output video, pixels"),
        consistency: Optional[float] = Form(None, description="temporal consistency, 0 (none) to 1 (steadiest)"),
        start: Optional[float] = Form(None, description="first second of the clip to stylize"),
        end: Optional[float] = Form(None, description="second of the clip to stop at"),
        strength: Optional[float] = Form(None, description="0 = the clip, 1 = fully stylized"),
        preserve_color: Optional[str] = Form(None, description="none, luminance or histogram (or true/false)"),
        steps: Optional[int] = Form(None, description="optimize only: steps for the first frame"),
        seed: Optional[int] = Form(None, description="optimize only: random seed"),
    ):
        """Queue a video job: the clip is stylized frame by frame, kept steady by optical flow, into an MP4 with
        the clip's sound. Answers 202 with the job; poll ``GET /api/jobs/{id}`` (progress counts frames), then
        fetch ``GET /api/jobs/{id}/result`` (``video/mp4``)."""
        style, style_file, colour = _style_and_colour(style, style_file, preserve_color)
        options = JobOptions(method=(method or "").strip(), model=(model or "").strip() or None, size=size,
                             steps=steps, strength=strength, preserve_color=colour, seed=seed,
                             consistency=consistency, start=start, end=end)
        studio.check_video_options(options, has_style=style is not None or style_file is not None)

        wait = studio.limiter.acquire(_client_key(request))
        if wait > 0:
            raise ApiError(429, "rate_limited", f"too many jobs from this client: try again in {math.ceil(wait)} s",
                           {"Retry-After": str(math.ceil(wait))})
        style_image = studio.read_upload(style_file, "painting") if style_file is not None else None
        try:
            clip_file, info = studio.storage.save_clip(video.file, config.max_video_bytes)
        except VideoRejected as error:
            status, code = VIDEO_STATUS[error.reason]
            raise ApiError(status, code, str(error)) from None
        try:
            studio.check_clip(options, info)
        except ApiError:
            studio.storage.delete("uploads", clip_file)
            raise
        style_file_name = studio.storage.save_upload(style_image) if style_image is not None else None
        job = studio.store.create(options, clip_file, find_style(style).name if style else None, style_file_name,
                                  _client_key(request), kind=VIDEO)
        studio.queue.notify()
        return studio.job_json(job)

    @app.get("/api/jobs", tags=["jobs"])
    def list_jobs(limit: int = Query(50, ge=1, le=500), offset: int = Query(0, ge=0),
                  status: Optional[str] = Query(None, description="only jobs with this status"),
                  kind: Optional[str] = Query(None, description="only image or only video jobs")):
        """Past and queued jobs, newest first."""
        if status is not None and status not in STATUSES:
            raise ApiError(422, "bad_option", f"status must be one of {', '.join(STATUSES)}")
        if kind is not None and kind not in KINDS:
            raise ApiError(422, "bad_option", f"kind must be one of {', '.join(KINDS)}")
        jobs = studio.store.list(limit=limit, offset=offset, status=status, kind=kind)
        return {"jobs": [studio.job_json(job) for job in jobs], "total": studio.store.count(status, kind)}

    @app.get("/api/jobs/{job_id}", tags=["jobs"])
    def get_job(job_id: str):
        """A job's status, progress and URLs of its preview and result."""
        return studio.job_json(studio.job_or_404(job_id))

    @app.post("/api/jobs/{job_id}/cancel", tags=["jobs"])
    def cancel_job(job_id: str):
        """Cancel a queued job, or ask a running one to stop (it ends ``cancelled`` at its next step)."""
        job = studio.job_or_404(job_id)
        if job.finished:
            raise ApiError(409, "job_finished", f"job {job_id} has already {job.status}: nothing to cancel")
        return studio.job_json(studio.queue.cancel(job.id))

    @app.delete("/api/jobs/{job_id}", status_code=204, tags=["jobs"])
    def delete_job(job_id: str):
        """Forget a finished job and delete its files (cancel a queued or running job first)."""
        job = studio.job_or_404(job_id)
        if not job.finished or not studio.store.delete(job.id):
            raise ApiError(409, "job_not_finished", f"job {job_id} is {job.status}: cancel it before deleting it")
        for folder, name in [("uploads", job.content_file), ("uploads", job.style_file), ("results", job.result_file),
                             ("previews", job.preview_file), ("thumbnails", f"job-{job.id}.jpg")]:
            studio.storage.delete(folder, name)
        studio.storage.remove_work_folder(job.id)
        return Response(status_code=204)

    def _job_file(job_id: str, folder: str, attribute: str, missing: str, filename: str | None = None):
        job = studio.job_or_404(job_id)
        name = getattr(job, attribute)
        if not name:
            raise ApiError(409 if not job.finished else 404, "not_ready" if not job.finished else "no_file",
                           missing.format(status=job.status))
        path = studio.storage.path(folder, name)
        if not path.exists():
            raise ApiError(404, "no_file", f"the file of job {job_id} is gone from the data dir")
        if filename is not None:
            filename += path.suffix
        return FileResponse(path, media_type=media_type(name), filename=filename, content_disposition_type="inline")

    image_response = {200: {"content": {"image/png": {}}}}

    @app.get("/api/jobs/{job_id}/result", tags=["jobs"], response_class=FileResponse,
             responses={200: {"content": {"image/png": {}, "video/mp4": {}}}})
    def job_result(job_id: str):
        """The painted image (PNG) of an image job, the stylized video (MP4) of a video job."""
        return _job_file(job_id, "results", "result_file",
                         "the job is {status} and has no result: poll GET /api/jobs/{{id}} until it has succeeded",
                         filename=f"painterly-{job_id[:8]}")

    @app.get("/api/jobs/{job_id}/preview", tags=["jobs"], response_class=FileResponse,
             responses={200: {"content": {"image/jpeg": {}}}})
    def job_preview(job_id: str):
        """The latest intermediate image (JPEG) of a running high-quality job."""
        return _job_file(job_id, "previews", "preview_file", "the job ({status}) has no preview yet")

    @app.get("/api/jobs/{job_id}/original", tags=["jobs"], response_class=FileResponse, responses=image_response)
    def job_original(job_id: str):
        """The photo as uploaded (decoded and stored as PNG), or a video job's clip as uploaded."""
        return _job_file(job_id, "uploads", "content_file", "the job has no photo")

    @app.get("/api/jobs/{job_id}/thumbnail", tags=["jobs"], response_class=FileResponse,
             responses={200: {"content": {"image/jpeg": {}}}})
    def job_thumbnail(job_id: str):
        """A small JPEG of the result, for the history."""
        job = studio.job_or_404(job_id)
        if not job.result_file:
            raise ApiError(409 if not job.finished else 404, "not_ready" if not job.finished else "no_file",
                           f"the job is {job.status} and has no result")
        load = studio.storage.first_frame if job.kind == VIDEO else studio.storage.load
        path = studio.storage.cached_thumbnail(f"job-{job.id}", lambda: load("results", job.result_file))
        return FileResponse(path, media_type="image/jpeg")

    return app


def _token_ok(request: Request, token: str) -> bool:
    given = request.headers.get("x-token")
    authorization = request.headers.get("authorization", "")
    if given is None and authorization.lower().startswith("bearer "):
        given = authorization[7:].strip()
    return given is not None and hmac.compare_digest(given.encode(), token.encode())
