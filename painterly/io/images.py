"""Reading and writing images so that nothing surprises: orientation, modes, sizes, overwrites.

Every image enters through :func:`load_image`, which returns an 8-bit sRGB ``RGB`` (or ``RGBA``)
PIL image the right way up, whatever the file held: EXIF rotation, alpha, grey, palette, CMYK,
16-bit or float pixels, an embedded colour profile. Every image leaves through :func:`save_image`,
which writes atomically, never over an input, and embeds the parameters used as JSON.
"""

from __future__ import annotations

import io
import json
import os
import struct
import warnings
import zlib
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Optional, Union

import numpy as np
from PIL import Image, ImageCms, ImageOps, PngImagePlugin, UnidentifiedImageError

from painterly.errors import PainterlyError
from painterly.io.files import atomic_write
from painterly.io.formats import DEFAULT_MAX_PIXELS, IMAGE_SUFFIXES

if TYPE_CHECKING:  # imported where tensors are made, so reading and writing images never loads torch
    import torch

#: Pillow formats :func:`load_image` decodes ("JPEG" covers camera MPO files too).
_READ_FORMATS = ("JPEG", "PNG", "WEBP", "TIFF", "BMP", "GIF")
_READ_FORMATS_TEXT = "JPEG, PNG, WebP, TIFF, BMP or GIF"

#: Output suffix → (Pillow format, save options).
_WRITE_FORMATS: dict[str, tuple[str, dict[str, Any]]] = {
    # 4:4:4 chroma: stylized images have fine colour detail that 4:2:0 subsampling smears.
    ".jpg": ("JPEG", {"quality": 95, "subsampling": 0}),
    ".jpeg": ("JPEG", {"quality": 95, "subsampling": 0}),
    ".png": ("PNG", {}),
    ".webp": ("WEBP", {"quality": 95}),
    ".tif": ("TIFF", {"compression": "tiff_lzw"}),
    ".tiff": ("TIFF", {"compression": "tiff_lzw"}),
}

_METADATA_KEY = "painterly"  # PNG tEXt keyword
_EXIF_IMAGE_DESCRIPTION = 0x010E
_EXIF_SOFTWARE = 0x0131
_EXIF_IFD = 0x8769
_EXIF_USER_COMMENT = 0x9286
_USER_COMMENT_ASCII = b"ASCII\x00\x00\x00"  # the EXIF character-code prefix of a UserComment

#: What a damaged file can make Pillow raise while decoding.
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, struct.error, zlib.error)

ImageSource = Union[str, os.PathLike, Image.Image, np.ndarray]


# --------------------------------------------------------------------------------------- reading


def load_image(
    source: ImageSource, *, max_pixels: int | None = DEFAULT_MAX_PIXELS, keep_alpha: bool = False
) -> Image.Image:
    """Read an image from a path, a PIL image or a numpy array, as 8-bit sRGB the right way up.

    Args:
        source: a file path (JPEG, PNG, WebP, TIFF, BMP, GIF: first frame), a PIL image, or a
            numpy array ``(H, W)``, ``(H, W, 3)`` or ``(H, W, 4)`` of ``uint8``, ``uint16`` or
            floats in ``[0, 1]``.
        max_pixels: refuse images with more pixels than this (``None``: no limit). For files it
            is checked from the header, before any pixel is decoded.
        keep_alpha: return ``RGBA`` (opaque where the image has no alpha) instead of compositing
            transparent pixels over white.

    Returns:
        A new ``RGB`` image (``RGBA`` with ``keep_alpha``); the caller's image is never changed.

    Raises:
        PainterlyError: missing file, a folder, an unsupported or damaged file, a bad array, or
            more pixels than ``max_pixels``.
    """
    if isinstance(source, Image.Image):
        _check_pixels(source.size, max_pixels, "the image")
        try:
            source.load()  # a lazily opened image may still be undecoded
        except _DECODE_ERRORS as error:
            raise _damaged("the image", error) from None
        return _normalize(source, keep_alpha)
    if isinstance(source, np.ndarray):
        image = _array_to_image(source)
        _check_pixels(image.size, max_pixels, "the array")
        return _normalize(image, keep_alpha)
    if not isinstance(source, (str, os.PathLike)):
        raise PainterlyError(
            f"cannot read an image from a {type(source).__name__}: give a file path, a PIL image or a numpy array"
        )
    path = Path(source).expanduser()
    with _open_image_file(path) as image:
        _check_pixels(image.size, max_pixels, str(path))
        try:
            image.load()
        except _DECODE_ERRORS as error:
            raise _damaged(path, error) from None
        return _normalize(image, keep_alpha)


def read_metadata(path: str | os.PathLike) -> dict | None:
    """The parameters :func:`save_image` embedded in ``path``, or ``None`` if it holds none."""
    path = Path(path).expanduser()
    with _open_image_file(path) as image:
        texts = [image.info.get(_METADATA_KEY)]
        exif = image.getexif()
        comment = exif.get_ifd(_EXIF_IFD).get(_EXIF_USER_COMMENT)
        if isinstance(comment, bytes) and comment.startswith(_USER_COMMENT_ASCII):
            texts.append(comment[len(_USER_COMMENT_ASCII) :].decode("ascii", "replace"))
        texts.append(exif.get(_EXIF_IMAGE_DESCRIPTION))
    for text in texts:
        if isinstance(text, str):
            try:
                value = json.loads(text)
            except ValueError:
                continue
            if isinstance(value, dict):
                return value
    return None


def find_images(folder: str | os.PathLike, recursive: bool = False) -> list[Path]:
    """The image files in ``folder`` (by suffix, any case), sorted; hidden files and folders skipped.

    Raises:
        PainterlyError: ``folder`` is not a folder.
    """
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise PainterlyError(f"{folder} is not a folder: give a folder of images")
    candidates = folder.rglob("*") if recursive else folder.iterdir()
    return sorted(
        path
        for path in candidates
        if path.suffix.lower() in IMAGE_SUFFIXES
        and path.is_file()
        and not any(part.startswith(".") for part in path.relative_to(folder).parts)
    )


def _open_image_file(path: Path) -> Image.Image:
    """Open ``path`` lazily (header only), turning every failure into a PainterlyError."""
    if not path.exists():
        raise PainterlyError(f"no such file: {path}; check the path")
    if path.is_dir():
        raise PainterlyError(f"{path} is a folder, not an image file; give an image file")
    try:
        # Our own pixel limit is checked after this; Pillow's warning would only repeat it.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            return Image.open(path, formats=_READ_FORMATS)
    except Image.DecompressionBombError:
        raise _too_large_for_pillow(path) from None
    except UnidentifiedImageError:
        raise PainterlyError(
            f"cannot read {path}: not a {_READ_FORMATS_TEXT} image, or the file is damaged; "
            "convert it to PNG or JPEG"
        ) from None
    except OSError as error:
        if error.strerror:  # the system refused (permissions, I/O error), not Pillow
            raise PainterlyError(f"cannot read {path}: {error.strerror}") from None
        raise _damaged(path, error) from None
    except _DECODE_ERRORS as error:
        raise _damaged(path, error) from None


def _damaged(name: str | Path, error: BaseException) -> PainterlyError:
    return PainterlyError(
        f"cannot decode {name}: the file is damaged or truncated ({_one_line(error)}); re-export or re-download it"
    )


def _check_pixels(size: tuple[int, int], max_pixels: int | None, name: str) -> None:
    width, height = size
    if max_pixels is not None and width * height > max_pixels:
        raise PainterlyError(
            f"{name} is {width}x{height} = {width * height / 1e6:.1f} megapixels, over the limit of "
            f"{max_pixels / 1e6:g} megapixels; shrink it first or raise the limit with "
            f"--max-pixels (max_pixels= in Python)"
        )


def _too_large_for_pillow(path: Path) -> PainterlyError:
    return PainterlyError(
        f"{path} is too large for Pillow to decode safely (over {2 * Image.MAX_IMAGE_PIXELS / 1e6:.0f} "
        "megapixels, its decompression-bomb guard); shrink it first"
    )


def _one_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def _array_to_image(array: np.ndarray) -> Image.Image:
    """``(H, W)``, ``(H, W, 1|3|4)`` uint8/uint16/float-in-[0, 1] array → an 8-bit PIL image."""
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    if not (array.ndim == 2 or (array.ndim == 3 and array.shape[2] in (3, 4))) or 0 in array.shape:
        raise PainterlyError(
            f"cannot use an array shaped {array.shape} as an image: give (H, W), (H, W, 3) or (H, W, 4)"
        )
    if array.dtype == np.uint8:
        pixels = array
    elif array.dtype == np.uint16:
        pixels = _scale_to_uint8(array, 65535)
    elif array.dtype == np.bool_:
        pixels = array.astype(np.uint8) * 255
    elif np.issubdtype(array.dtype, np.floating):
        if not np.all(np.isfinite(array)) or array.min() < 0 or array.max() > 1:
            raise PainterlyError("a float image array must hold finite values in [0, 1]; scale it first")
        pixels = _scale_to_uint8(array, 1)
    elif np.issubdtype(array.dtype, np.integer) and array.min() >= 0 and array.max() <= 255:
        pixels = array.astype(np.uint8)
    else:
        raise PainterlyError(
            f"cannot use a {array.dtype} array as an image: give uint8, uint16, or floats in [0, 1]"
        )
    mode = {2: "L", 3: "RGB", 4: "RGBA"}[pixels.ndim if pixels.ndim == 2 else pixels.shape[2]]
    return Image.fromarray(np.ascontiguousarray(pixels), mode)


def _scale_to_uint8(values: np.ndarray, full_scale: float) -> np.ndarray:
    return np.clip(np.rint(values.astype(np.float64) * (255.0 / full_scale)), 0, 255).astype(np.uint8)


def _normalize(image: Image.Image, keep_alpha: bool) -> Image.Image:
    """Any Pillow image → a new 8-bit sRGB ``RGB``/``RGBA`` image, EXIF orientation applied.

    The result's ``info`` is emptied: orientation, profile and transparency are now in the
    pixels, and a stale ICC profile would otherwise be written into PNG outputs.
    """
    try:
        image = ImageOps.exif_transpose(image)  # always a new image
    except _DECODE_ERRORS:
        pass  # unreadable EXIF: the pixels are still good, use them as stored
    image = _to_srgb(_to_8bit(image))
    try:
        if keep_alpha:
            result = image.convert("RGBA")
        elif _has_alpha(image):
            white = Image.new("RGBA", image.size, (255, 255, 255, 255))
            result = Image.alpha_composite(white, image.convert("RGBA")).convert("RGB")
        else:
            result = image.convert("RGB")
    except ValueError:
        raise PainterlyError(f"colour mode {image.mode} is not supported; convert the image to RGB first") from None
    result.info = {}
    return result


def split_alpha(image: Image.Image) -> tuple[Image.Image, Image.Image | None]:
    """An image from :func:`load_image` (``RGB`` or ``RGBA``) → its colour to paint, and its alpha
    band (``L``) where some pixel is not fully opaque, else ``None``.

    The colour is composited over white, as :func:`load_image` does without ``keep_alpha``, so a
    method sees plain paper where the image is transparent; :func:`restore_alpha` puts the
    transparency back on the painted result.
    """
    if image.mode != "RGBA":
        return image.convert("RGB"), None
    alpha = image.getchannel("A")
    if alpha.getextrema()[0] == 255:
        return image.convert("RGB"), None
    white = Image.new("RGBA", image.size, (255, 255, 255, 255))
    return Image.alpha_composite(white, image).convert("RGB"), alpha


def restore_alpha(result: Image.Image, alpha: Image.Image | None) -> Image.Image:
    """Give a painted ``RGB`` result the transparency of its source (:func:`split_alpha`), scaled
    to the result's size; ``result`` unchanged when ``alpha`` is ``None``. Keeps ``result.info``.

    Formats with alpha (PNG, WebP, TIFF) store it; JPEG gets the result over white.
    """
    if alpha is None:
        return result
    if alpha.size != result.size:
        resample = Image.Resampling.LANCZOS if alpha.width > result.width else Image.Resampling.BICUBIC
        alpha = alpha.resize(result.size, resample)
    painted = result.convert("RGBA")
    painted.putalpha(alpha)
    painted.info = dict(result.info)
    return painted


def _has_alpha(image: Image.Image) -> bool:
    """An alpha band, or a transparent palette entry / colour (PNG tRNS, GIF)."""
    return image.mode in ("RGBA", "RGBa", "LA", "La", "PA") or "transparency" in image.info


def _to_8bit(image: Image.Image) -> Image.Image:
    """16-bit and 32-bit grey (``I;16``, ``I``, ``F``) scaled, not clipped, to 8-bit ``L``.

    Pillow's own ``convert("L")`` clips these at 255, which turns most 16-bit images white.
    """
    if image.mode not in ("I", "F") and not image.mode.startswith("I;16"):
        return image
    values = np.nan_to_num(np.asarray(image))
    if image.mode == "F":
        full_scale = 1.0 if values.max() <= 1.0 else 255.0
    else:  # 16-bit PNG/TIFF open as "I;16*" or, in some Pillow versions, "I"
        full_scale = 65535.0 if image.mode != "I" or values.max() > 255 else 255.0
    return Image.fromarray(_scale_to_uint8(values, full_scale), "L")


def _to_srgb(image: Image.Image) -> Image.Image:
    """Convert pixels with an embedded ICC profile (Display P3, Adobe RGB, CMYK SWOP…) to sRGB.

    Without a profile, or when it cannot be used, the pixels are taken as sRGB (CMYK through
    Pillow's plain formula) rather than failing: a slightly off colour beats no image.
    """
    icc = image.info.get("icc_profile")
    if not icc or image.mode not in ("RGB", "RGBA", "CMYK"):
        return image
    try:
        profile = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        if image.mode != "CMYK" and "sRGB" in ImageCms.getProfileDescription(profile):
            return image
        colour = image.convert("RGB") if image.mode == "RGBA" else image
        converted = ImageCms.profileToProfile(colour, profile, ImageCms.createProfile("sRGB"), outputMode="RGB")
    except (ImageCms.PyCMSError, OSError, ValueError, TypeError):
        return image
    if image.mode == "RGBA":
        converted.putalpha(image.getchannel("A"))
    return converted


# --------------------------------------------------------------------------------------- tensors


def image_to_tensor(
    image: Image.Image, *, device: str | torch.device = "cpu", dtype: Optional[torch.dtype] = None
) -> torch.Tensor:
    """A PIL image → ``(1, 3, H, W)`` RGB tensor in ``[0, 1]`` on ``device``, in ``dtype`` (default float32)."""
    import torch

    pixels = np.array(image.convert("RGB"), dtype=np.uint8)
    tensor = torch.from_numpy(pixels).permute(2, 0, 1).unsqueeze(0).float().div_(255)
    return tensor.contiguous().to(device=device, dtype=dtype or torch.float32)


def image_to_array(image: Image.Image) -> np.ndarray:
    """A PIL image → ``(1, 3, H, W)`` float32 RGB array in ``[0, 1]``: :func:`image_to_tensor`'s values, without torch."""
    pixels = np.array(image.convert("RGB"), dtype=np.uint8)
    return np.ascontiguousarray(pixels.transpose(2, 0, 1)[None], dtype=np.float32) / np.float32(255)


def tensor_to_image(tensor: torch.Tensor) -> Image.Image:
    """A ``(1, 3, H, W)`` or ``(3, H, W)`` tensor in ``[0, 1]`` → an 8-bit RGB PIL image.

    Values are clamped to ``[0, 1]`` (NaN → 0) and rounded to the nearest level.
    """
    if tensor.dim() == 4 and tensor.shape[0] == 1:
        tensor = tensor[0]
    if tensor.dim() != 3 or tensor.shape[0] != 3:
        raise ValueError(f"expected a (1, 3, H, W) or (3, H, W) tensor, got {tuple(tensor.shape)}")
    import torch

    pixels = torch.nan_to_num(tensor.detach().float().cpu(), nan=0.0).clamp(0, 1).mul(255).round()
    return Image.fromarray(pixels.to(torch.uint8).permute(1, 2, 0).numpy(), "RGB")


def array_to_image(array: np.ndarray) -> Image.Image:
    """A ``(1, 3, H, W)`` or ``(3, H, W)`` float array in ``[0, 1]`` → an 8-bit RGB PIL image, rounded
    as :func:`tensor_to_image` does (clamped, NaN → 0, to the nearest level, ties to even)."""
    if array.ndim == 4 and array.shape[0] == 1:
        array = array[0]
    if array.ndim != 3 or array.shape[0] != 3:
        raise ValueError(f"expected a (1, 3, H, W) or (3, H, W) array, got {array.shape}")
    pixels = np.rint(np.clip(np.nan_to_num(array.astype(np.float32), nan=0.0), 0, 1) * np.float32(255))
    return Image.fromarray(np.ascontiguousarray(pixels.astype(np.uint8).transpose(1, 2, 0)), "RGB")


def resize_long_side(image: Image.Image, long_side: int) -> Image.Image:
    """Scale ``image`` so its longer side is ``long_side`` pixels, keeping the aspect ratio.

    Downscaling uses Lanczos (sharp, no aliasing), upscaling bicubic (no Lanczos ringing).
    """
    if long_side < 1:
        raise PainterlyError(f"an image size must be at least 1 pixel, got {long_side}")
    width, height = image.size
    scale = long_side / max(width, height)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    if size == image.size:
        return image.copy()
    resample = Image.Resampling.LANCZOS if scale < 1 else Image.Resampling.BICUBIC
    return image.resize(size, resample)


# --------------------------------------------------------------------------------------- writing


def save_image(
    image: Image.Image,
    path: str | os.PathLike,
    *,
    metadata: dict | None = None,
    protect: Iterable[str | os.PathLike] = (),
) -> Path:
    """Write ``image`` to ``path`` atomically, in the format its suffix names.

    The image goes to a hidden temporary file in the same folder, which then replaces ``path``
    in one step, so a reader never sees a partial file and a failure leaves nothing behind.
    Missing parent folders are created.

    Args:
        image: the PIL image; ``RGBA`` is composited over white for JPEG.
        path: the output, ending in .jpg, .jpeg, .png, .webp, .tif or .tiff.
        metadata: JSON-serializable parameters to embed (PNG text chunk ``painterly``; EXIF
            UserComment for JPEG/WebP; ImageDescription for TIFF); read back by :func:`read_metadata`.
        protect: paths that must not be written over (the inputs).

    Returns:
        ``path`` as a :class:`Path`.

    Raises:
        PainterlyError: unknown suffix, ``path`` is a protected input or a folder, or the write fails.
    """
    path = check_output_path(path, protect)
    fmt, options = _WRITE_FORMATS[path.suffix.lower()]
    image = _writable(image, fmt)
    options = {**options, **_metadata_options(fmt, metadata)}

    try:
        with atomic_write(path) as temporary, open(temporary, "wb") as handle:
            image.save(handle, fmt, **options)
    except OSError as error:
        raise PainterlyError(f"cannot write {path}: {error.strerror or _one_line(error)}") from None
    return path


def check_output_path(path: str | os.PathLike, protect: Iterable[str | os.PathLike] = ()) -> Path:
    """Check, before any work, that :func:`save_image` can write ``path``; returns it as a Path.

    Raises:
        PainterlyError: unknown suffix, ``path`` is a protected input, or it is a folder.
    """
    path = Path(path).expanduser()
    suffix = path.suffix.lower()
    if suffix not in _WRITE_FORMATS:
        raise PainterlyError(
            f"cannot save {path.name}: unknown image type {suffix or '(no suffix)'!r}; "
            f"use one of {', '.join(_WRITE_FORMATS)}"
        )
    for protected in protect:
        if _same_file(path, Path(protected).expanduser()):
            raise PainterlyError(f"refusing to write {path}: it is an input image; choose another output path")
    if path.is_dir():
        raise PainterlyError(f"cannot save to {path}: it is a folder; give a file name such as out.png")
    return path


def _same_file(a: Path, b: Path) -> bool:
    """Whether two paths name one file: same resolved path, or the same inode (links, case)."""
    if a.resolve() == b.resolve():
        return True
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def _writable(image: Image.Image, fmt: str) -> Image.Image:
    """``image`` as ``RGB``, or ``RGBA`` where it has alpha and ``fmt`` can store it (not JPEG)."""
    keep_alpha = fmt != "JPEG" and _has_alpha(image)
    if image.mode == ("RGBA" if keep_alpha else "RGB"):
        return image
    return _normalize(image, keep_alpha)


def _metadata_options(fmt: str, metadata: dict | None) -> dict[str, Any]:
    """Pillow save options that embed ``metadata`` as JSON in the place ``fmt`` has for it."""
    if metadata is None:
        return {}
    text = json.dumps(metadata, ensure_ascii=True, default=str)  # Paths, dtypes… as strings
    if fmt == "PNG":
        info = PngImagePlugin.PngInfo()
        info.add_text(_METADATA_KEY, text)
        return {"pnginfo": info}
    exif = Image.Exif()
    exif[_EXIF_SOFTWARE] = "painterly"
    if fmt == "TIFF":  # Pillow writes no EXIF sub-IFD in TIFF; the description tag is TIFF's own
        exif[_EXIF_IMAGE_DESCRIPTION] = text
    else:
        exif.get_ifd(_EXIF_IFD)[_EXIF_USER_COMMENT] = _USER_COMMENT_ASCII + text.encode("ascii")
    return {"exif": exif}


def pixels_digest(images: list[Any]) -> str:
    """A short SHA-256 of the pixels of tensors or PIL images: tells whether the paintings changed."""
    import hashlib

    digest = hashlib.sha256()
    for image in images:
        is_tensor = hasattr(image, "detach")  # a torch tensor (a PIL image has no ``detach``)
        data = image.detach().cpu().float().numpy().tobytes() if is_tensor else image.tobytes()
        digest.update(data)
    return digest.hexdigest()[:16]
