"""The studio's HTTP server: the REST API under ``/api``, the studio page at ``/``.

Build it with :func:`create_app`; ``painterly serve`` runs it with uvicorn. The routes live in
:mod:`painterly.web.routes`, one module per resource; they get the server's :class:`Studio` through a
dependency, check requests with :mod:`painterly.web.validation` and answer errors as JSON through
:mod:`painterly.web.errors`. Image jobs come in through ``POST /api/jobs``, video jobs through
``POST /api/video-jobs``; both kinds share the queue and every ``/api/jobs/{id}…`` endpoint.
"""

from __future__ import annotations

import contextlib
import inspect
from typing import Optional

from fastapi import FastAPI, Request
from fastapi.staticfiles import StaticFiles

from painterly.web.access import Gate
from painterly.web.config import ServerConfig
from painterly.web.errors import ApiError, error_response, install_error_handlers
from painterly.web.jobs import Runner, StylizeRunner
from painterly.web.routes import health, jobs, pages, styles, video_jobs
from painterly.web.policy import AccessConfig, RetentionConfig
from painterly.web.routes.pages import STATIC_DIR
from painterly.web.studio import Studio

# The page is self-contained: nothing may load from elsewhere.
CONTENT_SECURITY_POLICY = ("default-src 'self'; img-src 'self' blob: data:; media-src 'self' blob:; "
                           "script-src 'self'; style-src 'self'; "
                           "connect-src 'self'; object-src 'none'; frame-ancestors 'none'; base-uri 'none'")
FORM_FIELDS_BYTES = 65536  # room for a request's form fields besides its files


def create_app(config: ServerConfig | None = None, runner: Optional[Runner] = None, *,
               access: AccessConfig | None = None, retention: RetentionConfig | None = None) -> FastAPI:
    """The studio application for ``config``; ``runner`` runs the jobs (default: :class:`StylizeRunner`),
    ``access`` says who may reach it and by which names, ``retention`` how long finished jobs are kept."""
    config = config or ServerConfig()
    if runner is None and config.cluster:
        from painterly.web.cluster import ClusterRunner

        runner = ClusterRunner(config.cluster, device=config.device)
    if runner is None:
        from painterly.devices import resolve_device

        runner = StylizeRunner(device=resolve_device(config.device))
    studio = Studio(config, runner, access, retention)
    gate = Gate(config, studio.access, studio.users)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        studio.start()
        try:
            yield
        finally:
            studio.stop()

    # two files (photo or clip, and painting) and a few form fields
    most_body_bytes = 2 * config.max_upload_bytes + FORM_FIELDS_BYTES
    most_video_body_bytes = config.max_video_bytes + config.max_upload_bytes + FORM_FIELDS_BYTES
    limits, video_limits = {}, {}
    if "max_body_size" in inspect.signature(FastAPI.__init__).parameters:  # streaming limit, in newer FastAPI
        limits["max_body_size"] = most_body_bytes
        if "max_body_size" in inspect.signature(FastAPI.include_router).parameters:  # a router's own limit wins
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
    install_error_handlers(app, config)

    @app.middleware("http")
    async def _guard(request: Request, call_next):
        """The access checks, the body size before reading it, and the security headers of every answer."""
        path = request.url.path
        try:
            request.state.user = gate.check(request)
            if path == "/api" or path.startswith("/api/"):
                _check_declared_length(request, config, most_body_bytes, most_video_body_bytes)
        except ApiError as error:
            response = error_response(error.status, error.code, error.message, error.headers)
        else:
            response = await call_next(request)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        if path.startswith("/api/"):
            response.headers.setdefault("Cache-Control", "no-store")
        return response

    app.include_router(pages.router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.include_router(health.router)
    app.include_router(styles.router)
    app.include_router(jobs.router)
    app.include_router(video_jobs.router, **video_limits)
    return app


def _check_declared_length(request: Request, config: ServerConfig, most_body_bytes: int,
                           most_video_body_bytes: int) -> None:
    """Refuse an upload whose declared length is over the limit before reading any of it."""
    length = request.headers.get("content-length")
    video = request.url.path == "/api/video-jobs"
    most = most_video_body_bytes if video else most_body_bytes
    if request.method == "POST" and length and length.isdigit() and int(length) > most:
        largest = config.max_video_mb if video else config.max_upload_mb
        raise ApiError(413, "upload_too_large", f"the upload is larger than {largest:g} MiB: send a smaller file")
