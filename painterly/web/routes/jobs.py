"""Jobs: ``POST /api/jobs`` queues an image job; the list and every ``/api/jobs/{id}…`` endpoint (status,
cancel, delete, result, preview, original, thumbnail) serve image and video jobs alike."""

from __future__ import annotations

from typing import Optional

from fastapi import APIRouter, Depends, File, Form, Query, Request, UploadFile
from fastapi.responses import FileResponse, Response

from painterly.registry import find_style
from painterly.web.errors import ApiError
from painterly.web.jobs import VIDEO, JobOptions
from painterly.web.storage import media_type
from painterly.web.studio import Studio, client_key, get_studio, get_user
from painterly.web.validation import check_listing, check_options, decode_upload, method_for, style_and_colour

PREVIEWS_PER_JOB = 20  # intermediate images a previewing job shows, about
DEFAULT_PREVIEW_STEPS = 140  # steps assumed when a job leaves them to the method
MAX_OFFSET = 2**53  # far past any real history, and within SQLite's 64-bit integers

router = APIRouter(tags=["jobs"])


@router.post("/api/jobs", status_code=202)
def create_job(
    request: Request,
    content: UploadFile = File(..., description="the photo to paint (JPEG, PNG, WebP …)"),
    style: Optional[str] = Form(None, description="a built-in style name (see GET /api/styles)"),
    style_file: Optional[UploadFile] = File(None, description="or a painting to upload"),
    method: Optional[str] = Form(None, description="a method from GET /api/models; default: the model's method "
                                                    "with a model, else optimize"),
    model: Optional[str] = Form(None, description="a trained model, for model-based methods"),
    size: Optional[int] = Form(None, description="long side of the result, pixels"),
    steps: Optional[int] = Form(None, description="optimization steps (high quality)"),
    strength: Optional[float] = Form(None, description="0 = the photo, 1 = fully painted"),
    style_scale: Optional[float] = Form(None, description="size of the brush strokes, 1 = default"),
    preserve_color: Optional[str] = Form(None, description="none, luminance or histogram (or true/false)"),
    seed: Optional[int] = Form(None, description="random seed"),
    studio: Studio = Depends(get_studio),
    user: Optional[str] = Depends(get_user),
):
    """Queue a job. Answers 202 with the job; poll ``GET /api/jobs/{id}`` until it has finished."""
    style, style_file, colour = style_and_colour(style, style_file, preserve_color)
    model = (model or "").strip() or None
    options = JobOptions(method=method_for(method, model, studio.models()), model=model, size=size, steps=steps,
                         strength=strength, style_scale=style_scale, preserve_color=colour, seed=seed)
    method_info = check_options(options, has_style=style is not None or style_file is not None, config=studio.config,
                                methods=studio.methods(), models=studio.models())
    if method_info is not None and method_info.previews:
        options.preview_every = max(1, (options.steps or DEFAULT_PREVIEW_STEPS) // PREVIEWS_PER_JOB)

    client = client_key(request)
    studio.take_job_slot(client)  # before decoding, so a flood costs little
    content_image = decode_upload(content, "photo", studio.config)
    style_image = decode_upload(style_file, "painting", studio.config) if style_file is not None else None

    studio.check_disk_quota()  # after decoding, so a refused upload costs no sweep
    content_file = studio.storage.save_upload(content_image)
    style_file_name = studio.storage.save_upload(style_image) if style_image is not None else None
    job = studio.store.create(options, content_file, find_style(style).name if style else None, style_file_name,
                              client, owner=user)
    studio.queue.notify()
    return studio.job_json(job)


@router.get("/api/jobs")
def list_jobs(limit: int = Query(50, ge=1, le=500), offset: int = Query(0, ge=0, le=MAX_OFFSET),
              status: Optional[str] = Query(None, description="only jobs with this status"),
              kind: Optional[str] = Query(None, description="only image or only video jobs"),
              studio: Studio = Depends(get_studio), user: Optional[str] = Depends(get_user)):
    """Past and queued jobs, newest first (with a tokens file: the user's own)."""
    check_listing(status, kind)
    jobs, total = studio.list_jobs(user, limit=limit, offset=offset, status=status, kind=kind)
    return {"jobs": [studio.job_json(job) for job in jobs], "total": total}


@router.get("/api/jobs/{job_id}")
def get_job(job_id: str, studio: Studio = Depends(get_studio), user: Optional[str] = Depends(get_user)):
    """A job's status, progress and URLs of its preview and result."""
    return studio.job_json(studio.job_or_404(job_id, user))


@router.post("/api/jobs/{job_id}/cancel")
def cancel_job(job_id: str, studio: Studio = Depends(get_studio), user: Optional[str] = Depends(get_user)):
    """Cancel a queued job, or ask a running one to stop (it ends ``cancelled`` at its next step)."""
    job = studio.job_or_404(job_id, user)
    if job.finished:
        raise ApiError(409, "job_finished", f"job {job_id} has already {job.status}: nothing to cancel")
    return studio.job_json(studio.queue.cancel(job.id))


@router.delete("/api/jobs/{job_id}", status_code=204)
def delete_job(job_id: str, studio: Studio = Depends(get_studio), user: Optional[str] = Depends(get_user)):
    """Forget a finished job and delete its files (cancel a queued or running job first)."""
    job = studio.job_or_404(job_id, user)
    if not studio.delete_job(job):
        raise ApiError(409, "job_not_finished", f"job {job_id} is {job.status}: cancel it before deleting it")
    return Response(status_code=204)


def _job_file(studio: Studio, user: Optional[str], job_id: str, folder: str, attribute: str, missing: str,
              filename: str | None = None):
    job = studio.job_or_404(job_id, user)
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


@router.get("/api/jobs/{job_id}/result", response_class=FileResponse,
            responses={200: {"content": {"image/png": {}, "video/mp4": {}}}})
def job_result(job_id: str, studio: Studio = Depends(get_studio), user: Optional[str] = Depends(get_user)):
    """The painted image (PNG) of an image job, the stylized video (MP4) of a video job."""
    return _job_file(studio, user, job_id, "results", "result_file",
                     "the job is {status} and has no result: poll GET /api/jobs/{{id}} until it has succeeded",
                     filename=f"painterly-{job_id[:8]}")


@router.get("/api/jobs/{job_id}/preview", response_class=FileResponse,
            responses={200: {"content": {"image/jpeg": {}}}})
def job_preview(job_id: str, studio: Studio = Depends(get_studio), user: Optional[str] = Depends(get_user)):
    """The latest intermediate image (JPEG) of a running high-quality job."""
    return _job_file(studio, user, job_id, "previews", "preview_file", "the job ({status}) has no preview yet")


@router.get("/api/jobs/{job_id}/original", response_class=FileResponse,
            responses={200: {"content": {"image/png": {}}}})
def job_original(job_id: str, studio: Studio = Depends(get_studio), user: Optional[str] = Depends(get_user)):
    """The photo as uploaded (decoded and stored as PNG), or a video job's clip as uploaded."""
    return _job_file(studio, user, job_id, "uploads", "content_file", "the job has no photo")


@router.get("/api/jobs/{job_id}/thumbnail", response_class=FileResponse,
            responses={200: {"content": {"image/jpeg": {}}}})
def job_thumbnail(job_id: str, studio: Studio = Depends(get_studio), user: Optional[str] = Depends(get_user)):
    """A small JPEG of the result, for the history."""
    job = studio.job_or_404(job_id, user)
    if not job.result_file:
        raise ApiError(409 if not job.finished else 404, "not_ready" if not job.finished else "no_file",
                       f"the job is {job.status} and has no result")
    load = studio.storage.first_frame if job.kind == VIDEO else studio.storage.load
    path = studio.storage.cached_thumbnail(f"job-{job.id}", lambda: load("results", job.result_file))
    return FileResponse(path, media_type="image/jpeg")
