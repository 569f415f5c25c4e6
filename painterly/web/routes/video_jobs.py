"""``POST /api/video-jobs``: queue a video job (its status and files are served by the job routes)."""

from __future__ import annotations

from typing import Optional

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile

from painterly.registry import find_style
from painterly.web.errors import ApiError
from painterly.web.jobs import VIDEO, JobOptions
from painterly.web.storage import VideoRejected
from painterly.web.studio import Studio, client_key, get_studio, get_user
from painterly.web.validation import check_clip, check_video_options, decode_upload, rejected_clip, style_and_colour

router = APIRouter(tags=["jobs"])


@router.post("/api/video-jobs", status_code=202)
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
    studio: Studio = Depends(get_studio),
    user: Optional[str] = Depends(get_user),
):
    """Queue a video job: the clip is stylized frame by frame, kept steady by optical flow, into an MP4 with
    the clip's sound. Answers 202 with the job; poll ``GET /api/jobs/{id}`` (progress counts frames), then
    fetch ``GET /api/jobs/{id}/result`` (``video/mp4``)."""
    style, style_file, colour = style_and_colour(style, style_file, preserve_color)
    options = JobOptions(method=(method or "").strip(), model=(model or "").strip() or None, size=size,
                         steps=steps, strength=strength, preserve_color=colour, seed=seed,
                         consistency=consistency, start=start, end=end)
    if not studio.runs_video:
        raise ApiError(501, "video_unsupported", "this server does not run video jobs")
    check_video_options(options, has_style=style is not None or style_file is not None, config=studio.config,
                        methods=studio.methods(), models=studio.models())

    client = client_key(request)
    studio.take_job_slot(client)
    studio.check_disk_quota()
    style_image = decode_upload(style_file, "painting", studio.config) if style_file is not None else None
    try:
        clip_file, info = studio.storage.save_clip(video.file, studio.config.max_video_bytes)
    except VideoRejected as error:
        raise rejected_clip(error) from None
    try:
        check_clip(options, info, studio.config)
    except ApiError:
        studio.storage.delete("uploads", clip_file)
        raise
    style_file_name = studio.storage.save_upload(style_image) if style_image is not None else None
    job = studio.store.create(options, clip_file, find_style(style).name if style else None, style_file_name,
                              client, kind=VIDEO, owner=user)
    studio.queue.notify()
    return studio.job_json(job)
