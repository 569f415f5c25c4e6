"""Checks of what a request asks for, before anything is stored or queued.

Every check raises :class:`painterly.web.errors.ApiError` (mostly 422) with a message that says what to
send instead. The functions take what they check against (server settings, the runner's methods and
models) as arguments; the routes pass in the studio's.
"""

from __future__ import annotations

import math
from typing import Optional

from fastapi import UploadFile
from PIL import Image

from painterly.registry import find_style, style_names
from painterly.web.catalog import STUDIO_OPTIONS, MethodInfo, ModelInfo, check_range, describe_method
from painterly.web.config import ServerConfig
from painterly.web.errors import ApiError, shown
from painterly.web.jobs import KINDS, STATUSES, VIDEO_OPTIMIZE_MAX_SIZE, VIDEO_OPTIMIZE_MAX_STEPS, JobOptions
from painterly.web.storage import ImageRejected, VideoRejected, decode_image

STYLE_REQUIRED = "choose a built-in style (see GET /api/styles) or upload a painting"
NO_MODEL = "no trained model installed; train one with `painterly train`"
DEFAULT_METHOD = "optimize"  # an image job's method when it names neither a method nor a model
DEFAULT_VIDEO_SIZE = 480  # long side of a video job's output when it does not say
PRESERVE_COLOR = {"": None, "none": None, "false": None, "0": None, "off": None,
                  "true": "luminance", "1": "luminance", "on": "luminance",
                  "luminance": "luminance", "histogram": "histogram"}
#: HTTP status and error code of each reason a clip is rejected for.
CLIP_REJECTED = {"size": (413, "upload_too_large"), "empty": (400, "empty_upload"), "type": (415, "not_a_video"),
                 "no_video": (422, "no_video_stream")}


def style_and_colour(
    style: Optional[str], style_file: Optional[UploadFile], preserve_color: Optional[str]
) -> tuple[Optional[str], Optional[UploadFile], Optional[str]]:
    """The job's style (a built-in name or an uploaded file, not both) and colour mode, checked."""
    style = (style or "").strip() or None
    if style_file is not None and not style_file.filename and style_file.size == 0:
        style_file = None  # an empty file field from a browser form
    if style is not None and style_file is not None:
        raise ApiError(422, "two_styles", "send either a style name or a style file, not both")
    if style is not None and find_style(style) is None:
        raise ApiError(422, "unknown_style",
                       f"unknown style {shown(style)}: use one of {', '.join(style_names())}")
    colour = PRESERVE_COLOR.get((preserve_color or "").strip().lower(), "bad")
    if colour == "bad":
        raise ApiError(422, "bad_option", "preserve_color must be none, luminance or histogram")
    return style, style_file, colour


def decode_upload(upload: UploadFile, what: str, config: ServerConfig) -> Image.Image:
    """Decode an uploaded image within the size and pixel limits of ``config``."""
    limit = config.max_upload_bytes
    data = upload.file.read(limit + 1)
    if len(data) > limit:
        raise ApiError(413, "upload_too_large", f"the {what} is larger than {config.max_upload_mb:g} MiB: "
                                                "send a smaller file")
    if not data:
        raise ApiError(400, "empty_upload", f"the {what} is empty: choose an image file")
    try:
        return decode_image(data, max_pixels=config.max_pixels, what=what)
    except ImageRejected as error:
        if error.reason == "pixels":
            raise ApiError(413, "too_many_pixels", str(error)) from None
        raise ApiError(415, "not_an_image", str(error)) from None


def rejected_clip(error: VideoRejected) -> ApiError:
    """The answer to a clip :meth:`painterly.web.storage.Storage.save_clip` refused."""
    status, code = CLIP_REJECTED[error.reason]
    return ApiError(status, code, str(error))


def _check_ranges(checks) -> None:
    for name, value, low, high in checks:
        if value is not None and (not math.isfinite(value) or not low <= value <= high):
            allowed = f"{low:g} or more" if high == math.inf else f"between {low:g} and {high:g}"
            raise ApiError(422, "bad_option", f"{name} must be {allowed}, not {value:g}")


def _check_method_takes(options: JobOptions, method: MethodInfo) -> None:
    for name in options.stylize_options():
        if name in STUDIO_OPTIONS and name not in method.options:
            raise ApiError(422, "bad_option", f"method {shown(options.method)} takes no {name}: leave it out")


def method_for(method: Optional[str], model: Optional[str], models: list[ModelInfo]) -> str:
    """The method an image job runs: the one it names; else, like the CLI's ``--model``, the method of the
    model it names (a model the runner does not list is refused here, with the models it has); else the
    optimization."""
    method = (method or "").strip()
    if method:
        return method
    if not model:
        return DEFAULT_METHOD
    chosen = [info for info in models if info.name == model]
    if not chosen:
        names = ", ".join(info.name for info in models) or "none are installed"
        raise ApiError(422, "unknown_model", f"unknown model {shown(model)}: use one of {names}")
    return chosen[0].method


def check_options(options: JobOptions, *, has_style: bool, config: ServerConfig,
                  methods: list[MethodInfo] | None, models: list[ModelInfo]) -> MethodInfo | None:
    """Refuse an image job's bad options with a 422; returns the method's description when the runner lists
    methods (``methods`` is ``None`` when it does not: then any method name is passed on)."""
    method = None
    if methods is not None:
        by_name = {method.name: method for method in methods}
        method = by_name.get(options.method)
        if method is None:
            available = ", ".join(sorted(by_name)) or "none are installed"
            raise ApiError(422, "unknown_method", f"unknown method {shown(options.method)}: use one of {available}")
        if method.needs_model and not options.model:
            raise ApiError(422, "model_required",
                           f"method {shown(options.method)} needs a model: see GET /api/models")
        if method.needs_style and not has_style:
            raise ApiError(422, "style_required", STYLE_REQUIRED)
    elif not has_style and not options.model:
        raise ApiError(422, "style_required", STYLE_REQUIRED)
    if method is not None:
        _check_method_takes(options, method)
    if method is not None and options.model:
        if not method.needs_model:
            raise ApiError(422, "bad_option", f"method {shown(options.method)} takes no model: leave model out")
        if has_style and not method.needs_style:
            raise ApiError(422, "bad_option",
                           f"method {shown(options.method)} paints in its model's style: leave the style out")
        names = [model.name for model in models if model.method == options.method]
        if options.model not in names:
            raise ApiError(422, "unknown_model",
                           f"unknown model {shown(options.model)} for method {shown(options.method)}: "
                           f"use one of {', '.join(names) or 'none are installed'}")
    _check_ranges([
        ("size", options.size, 16, config.max_size),
        ("steps", options.steps, 1, config.max_steps),
    ])
    _check_method_ranges(options, method or describe_method(options.method))
    return method


def _check_method_ranges(options: JobOptions, method: MethodInfo) -> None:
    """Strength and stroke scale within the method's own ranges, from its spec."""
    for name in ("strength", "style_scale"):
        problem = check_range(method, name, getattr(options, name))
        if problem:
            raise ApiError(422, "bad_option", problem)


def check_video_options(options: JobOptions, *, has_style: bool, config: ServerConfig,
                        methods: list[MethodInfo] | None, models: list[ModelInfo]) -> None:
    """Refuse a video job's bad options with a 422, before its upload is looked at; fills in the method from
    the model and the optimization's small defaults."""
    if not options.method:
        chosen = [model for model in models if model.name == options.model]
        if options.model and not chosen:
            names = ", ".join(model.name for model in models) or "none are installed"
            raise ApiError(422, "unknown_model", f"unknown model {shown(options.model)}: use one of {names}")
        if not chosen:
            raise ApiError(422, "no_model" if not models else "model_required",
                           NO_MODEL if not models else "choose a trained model: see GET /api/models")
        options.method = chosen[0].method
    if methods is not None:
        method = next((method for method in methods if method.name == options.method), None)
        if method is None:
            available = ", ".join(sorted(method.name for method in methods)) or "none are installed"
            raise ApiError(422, "unknown_method", f"unknown method {shown(options.method)}: use one of {available}")
        if not method.needs_model and method.name != "optimize":
            raise ApiError(422, "method_not_for_video", f"method {method.name!r} does not run on video here: "
                                                        "use a trained model, or optimize on a small size")
        if method.needs_model:
            _check_model_for_video(options, method, has_style, models)
        else:
            _check_optimize_for_video(options, method, has_style)
        _check_method_takes(options, method)
    _check_ranges([
        ("size", options.size, 16, config.max_video_size),
        ("steps", options.steps, 1, config.max_steps),
        ("consistency", options.consistency, 0.0, 1.0),
        ("start", options.start, 0.0, math.inf),
        ("end", options.end, 0.0, math.inf),
    ])
    chosen = next((item for item in methods or [] if item.name == options.method), None)
    _check_method_ranges(options, chosen or describe_method(options.method))
    if options.start is not None and options.end is not None and options.end <= options.start:
        raise ApiError(422, "bad_option", f"end ({options.end:g} s) must come after start ({options.start:g} s)")


def _check_model_for_video(options: JobOptions, method: MethodInfo, has_style: bool, models: list[ModelInfo]) -> None:
    names = [model.name for model in models if model.method == method.name]
    if not names:
        raise ApiError(422, "no_model", NO_MODEL)
    if not options.model:
        raise ApiError(422, "model_required", f"method {method.name!r} needs a model: use one of {', '.join(names)}")
    if options.model not in names:
        raise ApiError(422, "unknown_model", f"unknown model {shown(options.model)} for method {method.name!r}: "
                                             f"use one of {', '.join(names)}")
    if has_style:
        raise ApiError(422, "bad_option", f"method {method.name!r} paints in its model's style: leave the style out")


def _check_optimize_for_video(options: JobOptions, method: MethodInfo, has_style: bool) -> None:
    """The optimization on video: a painting, and small frames with few steps (filled in when not given)."""
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


def check_clip(options: JobOptions, info, config: ServerConfig) -> None:
    """Refuse a clip (its :class:`painterly.video.VideoInfo`) with frames over the pixel limit, or whose chosen
    stretch is empty or too long; fills in the size and, for a clip of unknown length, the end."""
    if info.width * info.height > config.max_pixels:
        raise ApiError(413, "too_many_pixels", f"the clip has {info.width}x{info.height} pixels a frame, more than "
                                               f"the limit of {config.max_pixels}: send a smaller clip")
    limit = config.max_video_seconds
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
        options.size = min(max(info.width, info.height), DEFAULT_VIDEO_SIZE, config.max_video_size)


def check_listing(status: Optional[str], kind: Optional[str]) -> None:
    """Refuse an unknown status or kind filter of the job list."""
    if status is not None and status not in STATUSES:
        raise ApiError(422, "bad_option", f"status must be one of {', '.join(STATUSES)}")
    if kind is not None and kind not in KINDS:
        raise ApiError(422, "bad_option", f"kind must be one of {', '.join(KINDS)}")
