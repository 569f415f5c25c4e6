"""Image I/O: every odd input loads as upright 8-bit RGB; saves are atomic, tagged, never over an input."""

from __future__ import annotations

import os
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageCms

from painterly.errors import PainterlyError
from painterly.io.images import (
    DEFAULT_MAX_PIXELS,
    IMAGE_SUFFIXES,
    find_images,
    image_to_tensor,
    load_image,
    read_metadata,
    resize_long_side,
    save_image,
    tensor_to_image,
)
from tests.conftest import make_gradient_image

RED, BLUE, WHITE = (255, 0, 0), (0, 0, 255), (255, 255, 255)


def smooth_image(height: int = 32, width: int = 48) -> Image.Image:
    """A noiseless colour gradient: what lossy formats keep well."""
    y, x = np.mgrid[0:height, 0:width] / max(height, width)
    return Image.fromarray((np.stack([x, y, 1 - x * y], axis=-1) * 255).astype(np.uint8))


def pixel(image: Image.Image, xy=(0, 0)) -> np.ndarray:
    return np.asarray(image, dtype=int)[xy[1], xy[0]]


def png_bytes(pixels: np.ndarray, bit_depth: int = 16, size: tuple[int, int] | None = None) -> bytes:
    """A hand-written PNG (Pillow cannot write 16-bit RGB); ``size`` overrides the header only."""
    height, width = pixels.shape[:2]
    width, height = size or (width, height)
    colour_type = {1: 0, 3: 2, 4: 6}[1 if pixels.ndim == 2 else pixels.shape[2]]
    rows = pixels.astype(">u2" if bit_depth == 16 else np.uint8).reshape(pixels.shape[0], -1)
    data = b"".join(b"\x00" + row.tobytes() for row in rows) if size is None else b""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(data)) + chunk(b"IEND", b"")


def assert_one_line_error(excinfo, *needles: str) -> None:
    message = str(excinfo.value)
    assert "\n" not in message
    for needle in needles:
        assert needle in message, message


# ----------------------------------------------------------------------------------- orientation


def test_exif_rotated_jpeg_comes_back_upright(tmp_path):
    stored = Image.new("RGB", (32, 16), BLUE)
    stored.paste(RED, (0, 0, 16, 16))  # left half red
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90° clockwise to display": the stored left edge becomes the top
    path = tmp_path / "phone.jpg"
    stored.save(path, quality=95, exif=exif)

    for source in (path, str(path), Image.open(path)):
        image = load_image(source)
        assert image.mode == "RGB" and image.size == (16, 32)
        assert np.abs(pixel(image, (8, 4)) - RED).max() < 12
        assert np.abs(pixel(image, (8, 28)) - BLUE).max() < 12


# ----------------------------------------------------------------------------------- pixel modes


def test_alpha_is_composited_over_white_or_kept(tmp_path):
    rgba = Image.new("RGBA", (3, 1))
    rgba.putdata([(255, 0, 0, 0), (0, 0, 255, 255), (0, 0, 0, 128)])
    path = tmp_path / "alpha.png"
    rgba.save(path)

    flat = load_image(path)
    assert flat.mode == "RGB"
    np.testing.assert_allclose(np.asarray(flat, dtype=int)[0], [WHITE, BLUE, (127, 127, 127)], atol=1)

    kept = load_image(path, keep_alpha=True)
    assert kept.mode == "RGBA" and np.array_equal(np.asarray(kept), np.asarray(rgba))
    assert load_image(Image.new("RGB", (2, 2)), keep_alpha=True).getpixel((0, 0)) == (0, 0, 0, 255)


def test_grey_and_grey_alpha(tmp_path):
    Image.new("L", (4, 4), 77).save(tmp_path / "grey.png")
    Image.new("LA", (4, 4), (77, 0)).save(tmp_path / "grey_alpha.png")
    assert load_image(tmp_path / "grey.png").getpixel((0, 0)) == (77, 77, 77)
    assert load_image(tmp_path / "grey_alpha.png").getpixel((0, 0)) == WHITE


def test_palette_with_transparency(tmp_path):
    palette = Image.new("P", (2, 1))
    palette.putpalette([0, 0, 0, 10, 200, 30] + [0] * 762)
    palette.putdata([0, 1])
    palette.save(tmp_path / "palette.png", transparency=0)
    palette.save(tmp_path / "palette.gif", transparency=0)
    for name in ("palette.png", "palette.gif"):
        assert np.asarray(load_image(tmp_path / name)).tolist() == [[list(WHITE), [10, 200, 30]]]


def test_gif_gives_its_first_frame(tmp_path):
    frames = [Image.new("RGB", (4, 4), colour) for colour in (RED, BLUE)]
    frames[0].save(tmp_path / "anim.gif", save_all=True, append_images=frames[1:])
    assert load_image(tmp_path / "anim.gif").getpixel((0, 0)) == RED


def test_cmyk_is_converted_to_rgb(tmp_path):
    cmyk = Image.new("CMYK", (4, 4), (50, 100, 150, 60))
    expected = [round((255 - c) * (255 - 60) / 255) for c in (50, 100, 150)]
    cmyk.save(tmp_path / "cmyk.tif")
    cmyk.save(tmp_path / "cmyk.jpg", quality=100)
    assert np.abs(pixel(load_image(tmp_path / "cmyk.tif")) - expected).max() <= 1
    assert np.abs(pixel(load_image(tmp_path / "cmyk.jpg")) - expected).max() <= 4


def test_16_bit_inputs_are_scaled_not_clipped(tmp_path):
    grey = np.array([[0, 32768, 65535, 257 * 10]], dtype=np.uint16)
    Image.fromarray(grey).save(tmp_path / "grey16.png")  # Pillow writes I;16 as a 16-bit PNG
    (tmp_path / "rgb16.png").write_bytes(png_bytes(np.array([[[65535, 32768, 0], [25700, 51400, 300]]])))
    Image.fromarray(grey).save(tmp_path / "grey16.tif")

    expected_grey = [0, 128, 255, 10]
    for name in ("grey16.png", "grey16.tif"):
        assert np.abs(np.asarray(load_image(tmp_path / name), dtype=int)[0, :, 0] - expected_grey).max() <= 1
    rgb = np.asarray(load_image(tmp_path / "rgb16.png"), dtype=int)[0]
    np.testing.assert_allclose(rgb, [[255, 128, 0], [100, 200, 1]], atol=1)


def test_bmp_and_32_bit_integer_grey(tmp_path):
    Image.new("RGB", (4, 4), (1, 2, 3)).save(tmp_path / "old.bmp")
    assert load_image(tmp_path / "old.bmp").getpixel((0, 0)) == (1, 2, 3)
    as_int = Image.fromarray(np.array([[0, 32768, 65535]], dtype=np.int32), "I")  # 16-bit data in mode "I"
    assert np.asarray(load_image(as_int), dtype=int)[0, :, 0].tolist() == [0, 128, 255]


def test_float_tiff_in_0_1(tmp_path):
    Image.fromarray(np.array([[0.0, 0.5, 1.0]], dtype=np.float32), "F").save(tmp_path / "float.tif")
    assert np.asarray(load_image(tmp_path / "float.tif"), dtype=int)[0, :, 0].tolist() == [0, 128, 255]


def test_embedded_colour_profiles(tmp_path, monkeypatch):
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    colour = (10, 120, 250)
    Image.new("RGB", (2, 2), colour).save(tmp_path / "srgb.png", icc_profile=srgb)
    Image.new("RGBA", (2, 2), colour + (255,)).save(tmp_path / "rgba.png", icc_profile=srgb)
    Image.new("RGB", (2, 2), colour).save(tmp_path / "broken.png", icc_profile=b"not a profile")
    loaded = load_image(tmp_path / "srgb.png")
    assert loaded.getpixel((0, 0)) == colour
    assert "icc_profile" not in loaded.info  # the pixels are sRGB now; no stale profile to re-save
    assert load_image(tmp_path / "broken.png").getpixel((0, 0)) == colour

    # Pretend the profile is not sRGB, so the conversion runs (sRGB → sRGB: colours unchanged).
    monkeypatch.setattr(ImageCms, "getProfileDescription", lambda profile: "Display P3")
    assert np.abs(pixel(load_image(tmp_path / "srgb.png")) - colour).max() <= 2
    kept = load_image(tmp_path / "rgba.png", keep_alpha=True)
    assert kept.mode == "RGBA" and np.abs(pixel(kept) - (colour + (255,))).max() <= 2


# ----------------------------------------------------------------------------------- arrays


@pytest.mark.parametrize(
    "array, expected",
    [
        (np.full((2, 3), 40, np.uint8), (40, 40, 40)),
        (np.full((2, 3, 1), 40, np.uint8), (40, 40, 40)),
        (np.full((2, 3, 3), [1, 2, 3], np.uint8), (1, 2, 3)),
        (np.full((2, 3, 4), [1, 2, 3, 255], np.uint8), (1, 2, 3)),
        (np.full((2, 3, 4), [1, 2, 3, 0], np.uint8), WHITE),
        (np.full((2, 3, 3), [0.0, 0.5, 1.0], np.float32), (0, 128, 255)),
        (np.full((2, 3, 3), [0, 32768, 65535], np.uint16), (0, 128, 255)),
    ],
)
def test_arrays(array, expected):
    image = load_image(array)
    assert image.mode == "RGB" and image.size == (3, 2) and image.getpixel((0, 0)) == expected


@pytest.mark.parametrize(
    "array, needle",
    [
        (np.zeros((3, 4, 5), np.uint8), "(H, W, 3)"),
        (np.zeros((3, 4, 3), np.float32) + 2.0, "[0, 1]"),
        (np.full((3, 4, 3), np.nan, np.float32), "[0, 1]"),
        (np.zeros((3, 4, 3), np.complex64), "uint8"),
    ],
)
def test_bad_arrays(array, needle):
    with pytest.raises(PainterlyError) as excinfo:
        load_image(array)
    assert_one_line_error(excinfo, needle)


def test_load_does_not_change_the_callers_image():
    original = Image.new("RGBA", (2, 2), (1, 2, 3, 0))
    load_image(original)
    assert original.mode == "RGBA" and original.getpixel((0, 0)) == (1, 2, 3, 0)


# ----------------------------------------------------------------------------------- errors


def test_too_large_image_names_the_limit(tmp_path):
    Image.new("RGB", (20, 10)).save(tmp_path / "big.png")
    with pytest.raises(PainterlyError) as excinfo:
        load_image(tmp_path / "big.png", max_pixels=150)
    assert_one_line_error(excinfo, "20x10", "0.00015 megapixels", "--max-pixels")
    with pytest.raises(PainterlyError):
        load_image(np.zeros((20, 10), np.uint8), max_pixels=150)
    assert load_image(tmp_path / "big.png", max_pixels=None).size == (20, 10)


def test_pixel_limit_is_checked_from_the_header_before_decoding(tmp_path):
    # Headers claiming huge sizes with no pixel data: decoding would fail (or eat memory) first.
    (tmp_path / "huge.png").write_bytes(png_bytes(np.zeros((1, 1, 3)), 8, size=(10_000, 10_000)))
    (tmp_path / "bomb.png").write_bytes(png_bytes(np.zeros((1, 1, 3)), 8, size=(30_000, 30_000)))
    with pytest.raises(PainterlyError) as excinfo:
        load_image(tmp_path / "huge.png")
    assert_one_line_error(excinfo, "10000x10000", f"{DEFAULT_MAX_PIXELS / 1e6:g} megapixels", "--max-pixels")
    with pytest.raises(PainterlyError) as excinfo:  # Pillow's own decompression-bomb guard
        load_image(tmp_path / "bomb.png", max_pixels=None)
    assert_one_line_error(excinfo, "too large")


def test_missing_folder_corrupt_truncated_and_unsupported_files(tmp_path):
    (tmp_path / "noise.png").write_bytes(os.urandom(200))
    (tmp_path / "notes.txt").write_text("hello")
    Image.fromarray(make_gradient_image()).save(tmp_path / "whole.jpg")
    data = (tmp_path / "whole.jpg").read_bytes()
    (tmp_path / "truncated.jpg").write_bytes(data[: len(data) // 2])
    Image.new("RGB", (4, 4)).save(tmp_path / "image.ppm")
    cases = {
        "missing.png": "no such file",
        ".": "folder",
        "noise.png": "not a JPEG, PNG, WebP, TIFF, BMP or GIF image",
        "notes.txt": "not a JPEG",
        "truncated.jpg": "damaged or truncated",
        "image.ppm": "convert it to PNG or JPEG",
    }
    for name, needle in cases.items():
        with pytest.raises(PainterlyError) as excinfo:
            load_image(tmp_path / name)
        assert_one_line_error(excinfo, needle)
    with pytest.raises(PainterlyError):
        load_image(42)  # type: ignore[arg-type]


# ----------------------------------------------------------------------------------- saving


@pytest.mark.parametrize("suffix, tolerance", [(".png", 0), (".tif", 0), (".jpg", 1), (".webp", 2)])
def test_round_trip_with_metadata(tmp_path, suffix, tolerance):
    image = smooth_image()
    metadata = {"method": "optimize", "style": ["starry-night", 0.7], "steps": 30, "path": Path("a b.jpg")}
    written = save_image(image, tmp_path / "sub" / "dir" / f"out{suffix}", metadata=metadata)

    assert written == tmp_path / "sub" / "dir" / f"out{suffix}"
    assert read_metadata(written) == {**metadata, "path": "a b.jpg", "style": ["starry-night", 0.7]}
    loaded = load_image(written)
    assert loaded.size == image.size
    assert np.abs(np.asarray(loaded, dtype=int) - np.asarray(image, dtype=int)).mean() <= tolerance
    assert sorted(p.name for p in written.parent.iterdir()) == [written.name]  # no temp files left


def test_read_metadata_of_a_foreign_image_is_none(tmp_path):
    Image.new("RGB", (4, 4)).save(tmp_path / "plain.png")
    Image.new("RGB", (4, 4)).save(tmp_path / "plain.jpg")
    assert read_metadata(tmp_path / "plain.png") is None
    assert read_metadata(tmp_path / "plain.jpg") is None


def test_rgba_keeps_alpha_in_png_and_is_composited_for_jpeg(tmp_path):
    image = Image.new("RGBA", (4, 4), (0, 0, 0, 0))
    save_image(image, tmp_path / "a.png")
    save_image(image, tmp_path / "a.jpg")
    assert Image.open(tmp_path / "a.png").mode == "RGBA"
    assert np.abs(pixel(Image.open(tmp_path / "a.jpg")) - WHITE).max() <= 1


def rgba_photo(height: int = 32, width: int = 48) -> Image.Image:
    """A gradient photo, opaque on the left, fading out to fully transparent on the right."""
    image = Image.fromarray(make_gradient_image(height, width)).convert("RGBA")
    image.putalpha(Image.fromarray(np.tile(np.linspace(255, 0, width).round().astype(np.uint8), (height, 1))))
    return image


def test_split_and_restore_alpha():
    from painterly.io.images import restore_alpha, split_alpha

    image = rgba_photo()
    colour, alpha = split_alpha(image)
    assert colour.mode == "RGB" and alpha is not None and alpha.mode == "L"
    assert colour.getpixel((47, 0)) == WHITE  # fully transparent: white paper to paint
    assert colour.getpixel((0, 0)) == image.getpixel((0, 0))[:3]
    painted = Image.new("RGB", (24, 16), RED)
    painted.info["painterly"] = {"method": "test"}
    restored = restore_alpha(painted, alpha)
    assert restored.mode == "RGBA" and restored.size == (24, 16) and restored.info == {"painterly": {"method": "test"}}
    assert restored.getpixel((0, 8))[:3] == RED and restored.getpixel((0, 8))[3] >= 245 and restored.getpixel((23, 8))[3] <= 10
    assert split_alpha(Image.new("RGBA", (4, 4), (1, 2, 3, 255)))[1] is None  # opaque: nothing to keep
    assert restore_alpha(painted, None) is painted


@pytest.mark.parametrize("suffix, keeps_alpha", [(".png", True), (".webp", True), (".jpg", False)])
def test_stylizing_a_transparent_image_keeps_its_alpha(tmp_path, suffix, keeps_alpha):
    from click.testing import CliRunner

    from painterly.cli.main import cli

    source = tmp_path / "cut-out.png"
    rgba_photo().save(source)
    out = tmp_path / f"out{suffix}"
    result = CliRunner().invoke(cli, ["stylize", str(source), "--model", "starry-night", "-o", str(out)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    with Image.open(out) as written:
        assert written.size == (48, 32)
        if keeps_alpha:
            assert written.mode == "RGBA"
            alpha = np.asarray(written.getchannel("A"), dtype=np.int16)
            assert np.abs(alpha - np.asarray(rgba_photo().getchannel("A"), dtype=np.int16)).max() <= 1
        else:
            assert written.mode == "RGB"
            assert np.abs(np.asarray(written)[:, -1].astype(int) - 255).max() <= 6  # transparent edge over white (JPEG noise)


def test_unknown_suffix_lists_the_supported_ones(tmp_path):
    with pytest.raises(PainterlyError) as excinfo:
        save_image(Image.new("RGB", (4, 4)), tmp_path / "out.bmp")
    assert_one_line_error(excinfo, ".bmp", ".png", ".jpg", ".webp", ".tiff")
    assert not list(tmp_path.iterdir())


def test_never_writes_over_a_protected_input(tmp_path):
    original = tmp_path / "photo.png"
    Image.fromarray(make_gradient_image()).save(original)
    before = original.read_bytes()
    (tmp_path / "sub").mkdir()
    os.link(original, tmp_path / "hardlink.png")
    os.symlink(original, tmp_path / "symlink.png")
    black = Image.new("RGB", (4, 4))
    spellings = [str(original), tmp_path / "sub" / ".." / "photo.png", tmp_path / "hardlink.png", tmp_path / "symlink.png"]
    for target in [original, *spellings]:
        with pytest.raises(PainterlyError) as excinfo:
            save_image(black, target, protect=[tmp_path / "x.jpg", str(original)])
        assert_one_line_error(excinfo, "input image")
    assert original.read_bytes() == before
    assert save_image(black, tmp_path / "other.png", protect=[original]).is_file()


def test_failed_write_leaves_no_partial_file_and_keeps_the_old_one(tmp_path, monkeypatch):
    target = tmp_path / "out.png"
    save_image(Image.new("RGB", (4, 4), RED), target)
    before = target.read_bytes()

    def broken_save(self, fp, *args, **kwargs):
        fp.write(b"partial")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Image.Image, "save", broken_save)
    with pytest.raises(PainterlyError) as excinfo:
        save_image(Image.new("RGB", (4, 4), BLUE), target)
    assert_one_line_error(excinfo, "No space left on device")
    assert target.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["out.png"]


def test_saving_to_a_folder_is_refused(tmp_path):
    (tmp_path / "taken.png").mkdir()
    with pytest.raises(PainterlyError) as excinfo:
        save_image(Image.new("RGB", (4, 4)), tmp_path / "taken.png")
    assert_one_line_error(excinfo, "folder")


# ----------------------------------------------------------------------------------- helpers


def test_find_images(tmp_path):
    for name in ("b.PNG", "a.jpg", "c.JpEg", "d.webp", "notes.txt", ".hidden.png", "e.tiff"):
        (tmp_path / name).write_bytes(b"")
    (tmp_path / "folder.png").mkdir()
    (tmp_path / "nested").mkdir()
    (tmp_path / "nested" / "f.gif").write_bytes(b"")
    (tmp_path / ".cache").mkdir()
    (tmp_path / ".cache" / "g.png").write_bytes(b"")

    assert [p.name for p in find_images(tmp_path)] == ["a.jpg", "b.PNG", "c.JpEg", "d.webp", "e.tiff"]
    assert [p.name for p in find_images(tmp_path, recursive=True)][-1] == "f.gif"
    assert len(find_images(tmp_path, recursive=True)) == 6
    assert ".png" in IMAGE_SUFFIXES and ".bmp" in IMAGE_SUFFIXES
    with pytest.raises(PainterlyError):
        find_images(tmp_path / "a.jpg")


def test_tensor_round_trip():
    image = Image.fromarray(make_gradient_image())
    tensor = image_to_tensor(image)
    assert tensor.shape == (1, 3, 32, 48) and tensor.dtype == torch.float32
    assert 0 <= tensor.min() and tensor.max() <= 1
    assert np.array_equal(np.asarray(tensor_to_image(tensor)), np.asarray(image))
    assert image_to_tensor(image, dtype=torch.bfloat16).dtype == torch.bfloat16

    wild = torch.tensor([-1.0, 0.5, 2.0, float("nan")]).reshape(1, 1, 1, 4).expand(1, 3, 1, 4)
    assert np.asarray(tensor_to_image(wild))[0, :, 0].tolist() == [0, 128, 255, 0]
    with pytest.raises(ValueError):
        tensor_to_image(torch.zeros(2, 3, 4, 4))


def test_resize_long_side():
    landscape = Image.new("RGB", (64, 40))
    assert resize_long_side(landscape, 32).size == (32, 20)
    assert resize_long_side(landscape.transpose(Image.Transpose.ROTATE_90), 32).size == (20, 32)
    assert resize_long_side(landscape, 128).size == (128, 80)
    assert resize_long_side(landscape, 64).size == (64, 40)
    with pytest.raises(PainterlyError):
        resize_long_side(landscape, 0)


def test_measured_row_captions_each_result_with_its_style_distance(capsys):
    from conftest import make_gradient_image, make_random_vgg
    from painterly.evaluate.sheets import measured_row

    vgg = make_random_vgg("relu5_1")
    photo = Image.fromarray(make_gradient_image(32, 40, seed=0))
    painting = Image.fromarray(make_gradient_image(32, 40, seed=5))
    calls = []

    def painter(image):
        calls.append(image)
        return image

    row = measured_row(vgg, photo, painting, "test painting", {"copy": lambda: painter(painting), "photo": lambda: painter(photo)})
    assert [caption.split(":")[0] for _, caption in row] == ["test painting", "copy", "photo"] and len(calls) == 2
    assert row[0][0] is painting and row[1][0].size == photo.size
    assert row[1][1].startswith("copy: style 0.00") and row[2][1].startswith("photo: style 1.00")  # 0 = painting, 1 = photo
    assert "content" in capsys.readouterr().out


def test_captioned_sheet_lays_out_rows_of_fitted_images():
    from painterly.io.sheets import CAPTION_HEIGHT, captioned_sheet

    red, wide = Image.new("RGB", (40, 40), "red"), Image.new("RGB", (80, 20), "blue")
    sheet = captioned_sheet([[(red, "a"), (wide, "b")], [(red, "c")]], cell=32)
    assert sheet.size == (64, 2 * (32 + CAPTION_HEIGHT))
    assert sheet.getpixel((16, 16)) == (255, 0, 0)  # fitted into its cell, centred
    assert sheet.getpixel((48, 16))[2] > 200 and sheet.getpixel((48, 2)) == (255, 255, 255)  # 32×8 strip in the middle
    assert sheet.getpixel((48, 32 + CAPTION_HEIGHT + 16)) == (255, 255, 255)  # the short row leaves its cell blank
    assert captioned_sheet([[(wide, "landscape")]], cell=32, cell_height=8).size == (32, 8 + CAPTION_HEIGHT)
