"""Inputs above every tiling threshold, at the precisions users get by default.

The tiled path once crashed in bf16 (the precision a CPU with native bf16 picks by default)
while every test ran fp32 or images smaller than a tile. Here each network that can tile runs
with a threshold lowered below the image size, at ``auto``, ``bf16`` and ``fp32`` (and under
onnxruntime), and each user-facing command runs on an input larger than the default tile size.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from conftest import make_gradient_image, make_random_vgg
from feedforward_helpers import tiny_model_file
from painterly.cli.main import cli
from painterly.methods.adain import AdaINConfig, AdaINStylizer
from painterly.methods.feedforward import FastConfig, FastStylizer
from painterly.models import list_model_names

pytestmark = pytest.mark.usefixtures("single_thread")

PRECISIONS = ["auto", "bf16", "fp32"]


def photo(height: int, width: int, seed: int = 0) -> Image.Image:
    return Image.fromarray(make_gradient_image(height, width, seed=seed))


def assert_painted(image: Image.Image, size: tuple[int, int]) -> np.ndarray:
    """The image has ``size`` (width, height) and is not blank (not one flat colour, not black)."""
    assert image.size == size
    pixels = np.asarray(image.convert("RGB"), dtype=float)
    assert pixels.std() > 3 and 5 < pixels.mean() < 250
    return pixels


@pytest.mark.parametrize("precision", PRECISIONS)
@pytest.mark.parametrize("model", ["tiny", *list_model_names()])
def test_every_feed_forward_model_tiles_at_every_precision(tmp_path, model, precision):
    name = str(tiny_model_file(tmp_path)) if model == "tiny" else model
    image = photo(200, 360)
    whole = FastStylizer(FastConfig(model=name, precision=precision))(image)
    tiled = FastStylizer(FastConfig(model=name, precision=precision, tile_size=160, tile_overlap=112))(image)
    difference = np.abs(assert_painted(tiled, (360, 200)) - assert_painted(whole, (360, 200)))
    # The tiles share the whole image's normalization statistics, so they agree with it closely
    # (at the scale of the defaults: tiles of 1024 px overlapping by more than the receptive radius).
    assert difference.mean() < 2.5


def test_bf16_tiles_match_fp32_tiles(tmp_path):
    """bf16 is an approximation of the same computation, not a different picture."""
    image = photo(45, 61)
    model = "starry-night"
    fp32 = FastStylizer(FastConfig(model=model, precision="fp32", tile_size=32, tile_overlap=16))(image)
    bf16 = FastStylizer(FastConfig(model=model, precision="bf16", tile_size=32, tile_overlap=16))(image)
    assert np.abs(np.asarray(fp32, dtype=float) - np.asarray(bf16, dtype=float)).mean() < 6


def test_onnx_runtime_tiles_like_pytorch(tmp_path):
    pytest.importorskip("onnxruntime")
    image = photo(200, 360)
    options = dict(model="starry-night", tile_size=160, tile_overlap=112)
    onnx = FastStylizer(FastConfig(runtime="onnx", **options))(image)
    torch_fp32 = FastStylizer(FastConfig(precision="fp32", **options))(image)
    # Large images tile with the whole image's statistics under either runtime: no seams, same picture.
    assert np.abs(assert_painted(onnx, (360, 200)) - np.asarray(torch_fp32, dtype=float)).mean() < 2.5


@pytest.fixture(scope="module")
def adain_parts(tmp_path_factory):
    from test_adain import tiny_decoder

    from painterly.models.adain_io import save_decoder

    encoder = make_random_vgg("relu4_1")
    path = save_decoder(tiny_decoder(encoder), tmp_path_factory.mktemp("decoder") / "tiny.safetensors", half=False)
    return encoder, str(path)


@pytest.mark.parametrize("precision", PRECISIONS)
def test_any_painting_tiles_at_every_precision(adain_parts, precision):
    encoder, decoder = adain_parts
    painting, image = photo(40, 40, seed=3), photo(128, 320, seed=1)
    options = dict(decoder=decoder, precision=precision, style_size=48)
    device = torch.device("cpu")
    whole = AdaINStylizer([(painting, 1.0)], AdaINConfig(**options), device, encoder)(image)
    tiled_config = AdaINConfig(**options, tile_size=128, tile_overlap=64)
    tiled = AdaINStylizer([(painting, 1.0)], tiled_config, device, encoder)(image)
    difference = np.abs(assert_painted(tiled, (320, 128)) - assert_painted(whole, (320, 128)))
    # One AdaIN target over the whole image's features: only the tiles' borders differ.
    assert difference.mean() < 2


def test_tiled_any_painting_takes_the_whole_images_statistics(adain_parts):
    """A tile restyled by its own statistics would give a dark half a painting's full brightness."""
    encoder, decoder = adain_parts
    painting = photo(40, 40, seed=3)
    pixels = make_gradient_image(64, 256, seed=1).astype(float)
    pixels[:, 128:] *= 0.3  # a dark right half: a tile restyled on its own would be brightened
    image = Image.fromarray(pixels.astype(np.uint8))
    config = dict(decoder=decoder, precision="fp32", style_size=48)
    device = torch.device("cpu")
    whole = np.asarray(AdaINStylizer([(painting, 1.0)], AdaINConfig(**config), device, encoder)(image), dtype=float)
    tiled = np.asarray(
        AdaINStylizer([(painting, 1.0)], AdaINConfig(**config, tile_size=96, tile_overlap=32), device, encoder)(image),
        dtype=float,
    )
    assert abs(whole[:, 160:].mean() - tiled[:, 160:].mean()) < 4


# The commands, on inputs above the default tiling threshold (1024² pixels), at default settings ----


def run_cli(*args) -> str:
    result = CliRunner().invoke(cli, [str(arg) for arg in args])
    assert result.exit_code == 0, result.output
    return result.output


def test_stylize_one_photo_larger_than_a_tile(tmp_path):
    source = tmp_path / "large.jpg"
    photo(1024, 1040).save(source, quality=95)
    run_cli("stylize", source, "--model", "starry-night", "-o", tmp_path / "out.jpg")
    assert_painted(Image.open(tmp_path / "out.jpg"), (1040, 1024))


def test_stylize_a_folder_of_photos_larger_than_a_tile(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    for index in range(2):
        photo(1024, 1040 + 8 * index, seed=index).save(folder / f"p{index}.jpg", quality=95)
    run_cli("stylize", folder, "--model", "the-scream", "-o", tmp_path / "out")
    for index in range(2):
        assert_painted(Image.open(tmp_path / "out" / f"p{index}-stylized.png"), (1040 + 8 * index, 1024))


def test_video_with_frames_larger_than_a_tile(tmp_path):
    av = pytest.importorskip("av")
    from test_video import write_clip

    frames = [make_gradient_image(1024, 1040, seed=index) for index in range(3)]
    source = write_clip(tmp_path / "wide.mp4", frames, audio=False)
    output = tmp_path / "out.mp4"
    run_cli("video", source, "--model", "starry-night", "-o", output)
    with av.open(str(output)) as container:
        decoded = [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]
    assert len(decoded) == 3
    for frame in decoded:
        assert_painted(Image.fromarray(frame), (1040, 1024))


def test_stylize_any_painting_on_a_photo_larger_than_a_tile(tmp_path, adain_parts, monkeypatch):
    """The any-painting method through the CLI at its default tile size (the real encoder is swapped for a tiny one)."""
    import painterly.features as features

    encoder, decoder = adain_parts
    monkeypatch.setattr(features, "load_vgg19", lambda **_: encoder)
    source, painting = tmp_path / "wide.png", tmp_path / "painting.png"
    photo(1024, 1040).save(source)
    photo(48, 48, seed=5).save(painting)
    run_cli("stylize", source, "--method", "adain", "--style", painting, "--decoder", decoder, "-o", tmp_path / "out.png")
    assert_painted(Image.open(tmp_path / "out.png"), (1040, 1024))


@pytest.mark.parametrize("height", [8, 24, 30])
def test_flow_on_frames_a_few_pixels_high(height):
    """OpenCV's DIS crashed the process on frames 20–30 px high (a wide clip shrunk for the flow)."""
    pytest.importorskip("cv2")
    from painterly.video.flow import estimate_flows

    frame = torch.from_numpy(make_gradient_image(height, 200, seed=2)).permute(2, 0, 1)[None].float() / 255
    moved = torch.roll(frame, shifts=2, dims=-1)
    backward, forward = estimate_flows(moved, frame)
    assert backward.shape == forward.shape == (1, 2, height, 200)
    assert torch.isfinite(backward).all()


def test_tiles_follow_the_pixel_count_not_the_long_side():
    from painterly.inference.tiling import fits_one_tile

    assert fits_one_tile(720, 1280, 1024)  # an HD video frame runs whole
    assert fits_one_tile(100, 8000, 1024)  # so does a thin panorama of the same area
    assert not fits_one_tile(1024, 1040, 1024)
    assert not fits_one_tile(3000, 4000, 1024)
