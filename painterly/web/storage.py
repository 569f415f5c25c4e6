"""Files of the web studio: decoded uploads, results, previews and thumbnails under the data dir.

Every file name here is generated (a uuid or a job id the server made); no name or path that came
with a request ever reaches the file system. Uploaded images are checked by decoding them (not by
their file name or declared type) and stored re-encoded as PNG, so what is kept is pixels only.
"""

from __future__ import annotations

import io
import os
import tempfile
import uuid
from pathlib import Path

from PIL import Image

from painterly.errors import PainterlyError
from painterly.io.images import load_image

#: Image formats accepted from uploads, as PIL names them after decoding.
ACCEPTED_FORMATS = frozenset({"JPEG", "PNG", "WEBP", "BMP", "TIFF", "GIF"})

THUMBNAIL_SIDE = 256


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
        image = Image.open(io.BytesIO(data))
        image_format = image.format
        width, height = image.size
    except Exception:  # PIL raises many types for garbage input
        message = f"the {what} is not an image that can be decoded: send a JPEG, PNG or WebP file"
        raise ImageRejected(message, "type") from None
    if image_format not in ACCEPTED_FORMATS:
        raise ImageRejected(f"the {what} is a {image_format} file: send a JPEG, PNG or WebP image", "type")
    if width * height > max_pixels:
        raise ImageRejected(
            f"the {what} has {width}x{height} pixels, more than the limit of {max_pixels}: send a smaller image", "pixels"
        )
    try:
        return load_image(image, max_pixels=max_pixels)  # decodes, turns by EXIF, converts to 8-bit sRGB
    except PainterlyError:
        raise ImageRejected(f"the {what} is damaged and cannot be decoded: send the image again", "type") from None


def write_atomically(path: Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` through a temporary file in the same folder, so readers never see half a file."""
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".part-")
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


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
    """The data dir's file layout: ``uploads/``, ``results/``, ``previews/``, ``thumbnails/``.

    Files are addressed by generated names only; :meth:`path` refuses anything but a plain stored name.
    """

    FOLDERS = ("uploads", "results", "previews", "thumbnails")

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
        write_atomically(self.path("uploads", name), encode_image(image))
        return name

    def load(self, folder: str, name: str) -> Image.Image:
        with Image.open(self.path(folder, name)) as image:
            return image.convert("RGB")

    def save_result(self, job_id: str, image: Image.Image) -> str:
        name = f"{job_id}.png"
        write_atomically(self.path("results", name), encode_image(image.convert("RGB")))
        return name

    def save_preview(self, job_id: str, image: Image.Image) -> str:
        name = f"{job_id}.jpg"
        write_atomically(self.path("previews", name), encode_image(image, "JPEG"))
        return name

    def cached_thumbnail(self, key: str, make_image) -> Path:
        """The JPEG thumbnail stored as ``thumbnails/<key>.jpg``, made from ``make_image()`` on first use."""
        path = self.path("thumbnails", f"{key}.jpg")
        if not path.exists():
            write_atomically(path, encode_image(thumbnail(make_image()), "JPEG"))
        return path

    def delete(self, folder: str, name: str | None) -> None:
        if name:
            self.path(folder, name).unlink(missing_ok=True)
