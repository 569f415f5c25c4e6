"""Files of the web studio: decoded uploads, results, previews and thumbnails under the data dir.

Every file name here is generated (a uuid or a job id the server made); no name or path that came
with a request ever reaches the file system. Uploaded images are checked by decoding them (not by
their file name or declared type) and stored re-encoded as PNG, so what is kept is pixels only.
Uploaded clips are checked by opening them with PyAV (FFmpeg) and decoding their first frame, and
stored as sent under a generated name whose suffix follows the container FFmpeg found.
"""

from __future__ import annotations

import io
import os
import shutil
import uuid
import warnings
from pathlib import Path
from typing import BinaryIO

from PIL import Image

from painterly.errors import PainterlyError
from painterly.io.files import write_bytes_atomically
from painterly.io.images import load_image

#: Image formats accepted from uploads, as PIL names them after decoding.
ACCEPTED_FORMATS = frozenset({"JPEG", "PNG", "WEBP", "BMP", "TIFF", "GIF"})
#: The same, as a refused upload's message lists them.
ACCEPTED_NAMES = "a JPEG, PNG, WebP, TIFF, BMP or GIF image"

THUMBNAIL_SIDE = 256

#: Media types of the stored files, by suffix.
MEDIA_TYPES = {".png": "image/png", ".jpg": "image/jpeg", ".mp4": "video/mp4", ".webm": "video/webm",
               ".mkv": "video/x-matroska", ".avi": "video/x-msvideo", ".gif": "image/gif"}
COPY_CHUNK = 1024 * 1024


def media_type(name: str) -> str:
    """The media type of a stored file, from its (generated) suffix."""
    return MEDIA_TYPES.get(Path(name).suffix.lower(), "application/octet-stream")


class ImageRejected(PainterlyError):
    """An upload that is not an image this server accepts (``reason`` is ``"type"`` or ``"pixels"``)."""

    def __init__(self, message: str, reason: str):
        super().__init__(message)
        self.reason = reason


def decode_image(data: bytes, *, max_pixels: int, what: str = "upload") -> Image.Image:
    """The RGB image encoded in ``data``, EXIF-rotated; rejects non-images and images over ``max_pixels``.

    The pixel count is read from the header before the pixels are decoded, so an image bomb is refused
    without allocating it.
    """
    try:
        with warnings.catch_warnings():  # PIL warns from about 89 megapixels; max_pixels decides here
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
        image_format = image.format
        width, height = image.size
    except Image.DecompressionBombError:  # PIL's own limit (about 179 megapixels) refused the header
        raise ImageRejected(f"the {what} has more pixels than the limit of {max_pixels}: send a smaller image",
                            "pixels") from None
    except Exception:  # PIL raises many types for garbage input
        message = f"the {what} is not an image that can be decoded: send {ACCEPTED_NAMES}"
        raise ImageRejected(message, "type") from None
    if image_format not in ACCEPTED_FORMATS:
        raise ImageRejected(f"the {what} is a {image_format} file: send {ACCEPTED_NAMES}", "type")
    if width * height > max_pixels:
        raise ImageRejected(
            f"the {what} has {width}x{height} pixels, more than the limit of {max_pixels}: send a smaller image", "pixels"
        )
    try:
        return load_image(image, max_pixels=max_pixels)  # decodes, turns by EXIF, converts to 8-bit sRGB
    except PainterlyError:
        raise ImageRejected(f"the {what} is damaged and cannot be decoded: send the image again", "type") from None


class VideoRejected(PainterlyError):
    """An upload that is not a clip this server accepts (``reason``: ``size``, ``empty``, ``type``, ``no_video``)."""

    def __init__(self, message: str, reason: str):
        super().__init__(message)
        self.reason = reason


def probe_clip(path: Path, what: str = "clip"):
    """Check with PyAV that ``path`` is a video whose first frame decodes; returns its
    :class:`painterly.video.VideoInfo` and the suffix to store it under.

    Raises:
        VideoRejected: not a media file FFmpeg reads, a still image, no video stream, or no decodable frame.
    """
    import av

    from painterly.video.media import probe_video

    try:
        with av.open(str(path), metadata_errors="ignore") as container:
            formats = set(container.format.name.split(","))
            codec = container.streams.video[0].codec_context.name if container.streams.video else None
    except Exception:  # PyAV raises many types for garbage input
        raise VideoRejected(f"the {what} is not a video that can be decoded: send an MP4, WebM, MOV, MKV or AVI file",
                            "type") from None
    if "image2" in formats or any(name.endswith("_pipe") for name in formats):
        raise VideoRejected(f"the {what} is a still image, not a video: send a video file, or use the Image tab",
                            "type")
    if codec is None:
        raise VideoRejected(f"the {what} has no video stream (sound only?): send a video file", "no_video")
    try:
        info = probe_video(path)
    except PainterlyError:
        raise VideoRejected(f"the {what} is damaged or uses a codec this server cannot decode: "
                            "send it again, or convert it to MP4 (H.264)", "type") from None
    if "mp4" in formats or "mov" in formats:
        suffix = ".mp4"
    elif "matroska" in formats or "webm" in formats:
        suffix = ".webm" if codec in ("vp8", "vp9", "av1") else ".mkv"
    elif "avi" in formats or "gif" in formats:
        suffix = "." + ("avi" if "avi" in formats else "gif")
    else:
        suffix = ".video"
    return info, suffix


def encode_image(image: Image.Image, image_format: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    if image_format == "JPEG":
        image.convert("RGB").save(buffer, format="JPEG", quality=85)
    else:
        image.save(buffer, format=image_format)
    return buffer.getvalue()


def thumbnail(image: Image.Image, side: int = THUMBNAIL_SIDE) -> Image.Image:
    """A copy of ``image`` whose long side is at most ``side`` pixels."""
    small = image.copy()
    small.thumbnail((side, side), Image.Resampling.LANCZOS)
    return small


class Storage:
    """The data dir's file layout: ``uploads/``, ``results/``, ``previews/``, ``thumbnails/``, and ``work/``
    (one folder per running video job, its finished frames, so a job stopped with the server resumes).

    Files are addressed by generated names only; :meth:`path` refuses anything but a plain stored name.
    """

    FOLDERS = ("uploads", "results", "previews", "thumbnails", "work")

    def __init__(self, data_dir: Path):
        self.root = Path(data_dir).expanduser().resolve()
        try:
            for folder in self.FOLDERS:
                (self.root / folder).mkdir(parents=True, exist_ok=True)
        except OSError as error:
            message = f"cannot create the data dir {self.root}: {error.strerror}; pass a writable --data-dir"
            raise PainterlyError(message) from None

    @property
    def database_path(self) -> Path:
        return self.root / "jobs.sqlite3"

    def path(self, folder: str, name: str) -> Path:
        """The path of a stored file; ``name`` must be one this class generated."""
        if folder not in self.FOLDERS or not name or Path(name).name != name or name.startswith("."):
            raise ValueError(f"not a stored file name: {folder}/{name}")
        return self.root / folder / name

    def save_upload(self, image: Image.Image) -> str:
        """Store a decoded upload as PNG under a new uuid name; returns the name."""
        name = f"{uuid.uuid4().hex}.png"
        write_bytes_atomically(self.path("uploads", name), encode_image(image))
        return name

    def save_clip(self, stream: BinaryIO, limit: int, what: str = "clip"):
        """Copy an uploaded clip of at most ``limit`` bytes into ``uploads/`` and check it with :func:`probe_clip`;
        returns its stored name and :class:`painterly.video.VideoInfo`.

        Raises:
            VideoRejected: too large (``size``), empty, or not a video; nothing is kept then.
        """
        partial = self.path("uploads", f"{uuid.uuid4().hex}.part")
        try:
            copied = 0
            with open(partial, "wb") as target:
                while chunk := stream.read(COPY_CHUNK):
                    copied += len(chunk)
                    if copied > limit:
                        raise VideoRejected(f"the {what} is larger than {limit / 1024 / 1024:g} MiB: "
                                            "send a shorter or smaller clip", "size")
                    target.write(chunk)
            if copied == 0:
                raise VideoRejected(f"the {what} is empty: choose a video file", "empty")
            info, suffix = probe_clip(partial, what)
            name = partial.with_suffix(suffix).name
            os.replace(partial, self.path("uploads", name))
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
        return name, info

    def load(self, folder: str, name: str) -> Image.Image:
        with Image.open(self.path(folder, name)) as image:
            return image.convert("RGB")

    def first_frame(self, folder: str, name: str) -> Image.Image:
        """The first frame of a stored clip, as an RGB image (for thumbnails)."""
        from painterly.video.media import read_frames

        frames = read_frames(self.path(folder, name))
        try:
            return Image.fromarray(next(frames))
        finally:
            frames.close()

    @staticmethod
    def video_result_name(job_id: str) -> str:
        return f"{job_id}.mp4"

    def work_folder(self, job_id: str) -> Path:
        """Where a video job keeps its finished frames while it runs (made by the video loop)."""
        return self.path("work", job_id)

    def remove_work_folder(self, job_id: str) -> None:
        shutil.rmtree(self.work_folder(job_id), ignore_errors=True)

    def work_folders(self) -> list[Path]:
        return [path for path in (self.root / "work").iterdir() if path.is_dir()]

    def save_result(self, job_id: str, image: Image.Image) -> str:
        name = f"{job_id}.png"
        write_bytes_atomically(self.path("results", name), encode_image(image.convert("RGB")))
        return name

    def save_preview(self, job_id: str, image: Image.Image) -> str:
        name = f"{job_id}.jpg"
        write_bytes_atomically(self.path("previews", name), encode_image(image, "JPEG"))
        return name

    def cached_thumbnail(self, key: str, make_image) -> Path:
        """The JPEG thumbnail stored as ``thumbnails/<key>.jpg``, made from ``make_image()`` on first use."""
        path = self.path("thumbnails", f"{key}.jpg")
        if not path.exists():
            write_bytes_atomically(path, encode_image(thumbnail(make_image()), "JPEG"))
        return path

    def used_bytes(self) -> int:
        """Bytes of the jobs' files: uploads, results, previews, thumbnails and work folders. The job database
        is left out: it is small, and removing jobs makes it grow for a while (its write-ahead log)."""
        total = 0
        for folder, _, names in (entry for top in self.FOLDERS for entry in os.walk(self.root / top)):
            for name in names:
                try:
                    total += os.stat(os.path.join(folder, name)).st_size
                except OSError:  # removed while counting
                    pass
        return total

    def delete(self, folder: str, name: str | None) -> None:
        if name:
            self.path(folder, name).unlink(missing_ok=True)
