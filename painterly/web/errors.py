"""The studio's error answers: every error is JSON, ``{"error": {"code": "...", "message": "..."}}``.

Status codes: 400 bad request or host, 401 token, 403 another site, 404 unknown, 409 wrong state, 413 too
large, 415 not an image or video or a body of the wrong type, 422 invalid field, 429 rate limit, 500 a
failure of the server, 501 no video support in this runner (``docs/web.md`` lists the codes). A route raises
:class:`ApiError`; :func:`install_error_handlers` turns it, project errors, FastAPI's validation errors and
Starlette's HTTP errors into that shape.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from painterly.errors import PainterlyError
from painterly.web.config import ServerConfig

logger = logging.getLogger(__name__)


#: Longest error message answered; anything a request sent is quoted at most :data:`MAX_QUOTED_CHARS` long.
MAX_MESSAGE_CHARS = 400
MAX_QUOTED_CHARS = 60


def shown(value: object, limit: int = MAX_QUOTED_CHARS) -> str:
    """``value`` quoted for an error message, cut to ``limit`` characters (a request may send megabytes)."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


class ApiError(Exception):
    """An error answered as JSON: HTTP ``status``, a stable ``code`` and a message that says what to do."""

    def __init__(self, status: int, code: str, message: str, headers: dict | None = None):
        super().__init__(message)
        self.status, self.code, self.message, self.headers = status, code, message, headers


def error_response(status: int, code: str, message: str, headers: dict | None = None) -> JSONResponse:
    """The JSON answer of an error; a message longer than :data:`MAX_MESSAGE_CHARS` is cut."""
    message = " ".join(str(message).split())
    if len(message) > MAX_MESSAGE_CHARS:
        message = message[: MAX_MESSAGE_CHARS - 1] + "…"
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status, headers=headers)


def install_error_handlers(app: FastAPI, config: ServerConfig) -> None:
    """Answer every error of ``app`` as JSON."""

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
        codes = {400: "bad_request", 404: "not_found", 405: "method_not_allowed", 413: "upload_too_large"}
        messages = {404: "no such page or API endpoint: see /openapi.json",
                    413: f"the upload is larger than {config.max_upload_mb:g} MiB: send a smaller file"}
        message = messages.get(error.status_code, str(error.detail))
        return error_response(error.status_code, codes.get(error.status_code, "http_error"), message,
                              getattr(error, "headers", None))

    @app.exception_handler(Exception)
    async def _unexpected_error(request: Request, error: Exception):
        logger.error("%s %s failed", request.method, request.url.path, exc_info=error)
        return error_response(500, "internal_error", "the server failed on this request: see its log")
