"""Tiled inference and the "fast" method."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import make_gradient_image
import functools

from feedforward_helpers import run_method, tiny_model_file, tiny_net
from painterly.errors import PainterlyError
from painterly.inference import blend_weights, stylize_tiled, tile_ranges
from painterly.methods import feedforward
from painterly.methods.feedforward import FastConfig, FastStylizer, stylize_batch
from painterly.progress import Cancelled

pytestmark = pytest.mark.usefixtures("single_thread")

run = functools.partial(run_method, "fast")


@pytest.mark.parametrize("length,tile,overlap", [(100, 48, 16), (4000, 1024, 64), (1030, 1024, 64), (97, 40, 8)])
def test_tiles_cover_everything_with_enough_overlap(length, tile, overlap):
    ranges = tile_ranges(length, tile, overlap)
    assert ranges[0][0] == 0 and ranges[-1][1] == length
    assert all(start % 4 == 0 for start, _ in ranges)
    for (_, end), (start, _) in zip(ranges, ranges[1:]):
        assert end - start >= overlap
    assert all(end - start <= tile + 3 for start, end in ranges)


def test_bad_tiles_are_errors():
    with pytest.raises(PainterlyError, match="tile size"):
        tile_ranges(100, 32, 32)


def test_blend_weights_are_positive_ramps():
    weights = blend_weights(20, 8, 4)
    assert weights.min() > 0 and weights[8:16].eq(1).all()
    assert (weights[:8].diff() > 0).all() and (weights[16:].diff() < 0).all()


def test_tiling_an_identity_gives_the_image_back():
    image = torch.rand(1, 3, 70, 90)
    torch.testing.assert_close(stylize_tiled(lambda tile: tile, image, tile_size=32, tile_overlap=12), image)


def test_tiled_equals_untiled_away_from_seams():
    net = tiny_net()
    image = torch.rand(1, 3, 96, 120)
    with torch.no_grad():
        whole = net(image)
        stats = net.norm_statistics(image)
        tiled = stylize_tiled(lambda tile: net.forward_with_stats(tile, stats), image, tile_size=64, tile_overlap=32)
    rows, columns = tile_ranges(96, 64, 32), tile_ranges(120, 64, 32)
    # Pixels further than the receptive field from every inner tile edge match exactly.
    edges_y = {edge for start, end in rows for edge in (start, end) if 0 < edge < 96}
    edges_x = {edge for start, end in columns for edge in (start, end) if 0 < edge < 120}
    radius = net.receptive_radius
    far_y = [y for y in range(96) if all(abs(y - edge) > radius for edge in edges_y)]
    far_x = [x for x in range(120) if all(abs(x - edge) > radius for edge in edges_x)]
    assert far_y and far_x
    difference = (whole - tiled).abs()
    assert difference[..., far_y, :][..., far_x].max() < 1e-5
    assert difference.max() < 0.25  # near seams the blend stays close too


def test_tiles_report_progress_and_can_be_cancelled():
    events = []
    stylize_tiled(lambda tile: tile, torch.rand(1, 3, 40, 40), tile_size=24, tile_overlap=8, progress=events.append)
    assert [e.step for e in events] == [1, 2, 3, 4] and events[0].total == 4
    with pytest.raises(Cancelled):
        stylize_tiled(lambda tile: tile, torch.rand(1, 3, 40, 40), tile_size=24, tile_overlap=8, progress=lambda e: False)


@pytest.fixture
def photo():
    return Image.fromarray(make_gradient_image(45, 61))


def test_fast_method_tiles_large_images_seamlessly(tmp_path, photo):
    model = str(tiny_model_file(tmp_path))
    whole = np.asarray(FastStylizer(FastConfig(model=model, precision="fp32"))(photo), dtype=float)
    tiled = np.asarray(FastStylizer(FastConfig(model=model, precision="fp32", tile_size=32, tile_overlap=16))(photo), dtype=float)
    assert whole.shape == tiled.shape == (45, 61, 3)
    assert np.abs(whole - tiled).mean() < 4  # out of 255: the tiles share the whole image's statistics


def test_fast_method_options(tmp_path, photo):
    from painterly.registry import get_method

    model = tiny_model_file(tmp_path)
    cpu = torch.device("cpu")
    assert get_method("fast") is feedforward.SPEC
    plain = run(photo, [], device=cpu, model=model, precision="fp32")
    assert plain.size == photo.size
    unchanged = run(photo, [], device=cpu, model=model, strength=0.0)
    assert np.abs(np.asarray(unchanged, dtype=int) - np.asarray(photo, dtype=int)).max() <= 1
    half = np.asarray(run(photo, [], device=cpu, model=model, strength=0.5, precision="fp32"), dtype=float)
    expected = (np.asarray(plain, dtype=float) + np.asarray(photo, dtype=float)) / 2
    assert np.abs(half - expected).max() <= 1.5
    for mode in ("luminance", "histogram"):
        assert run(photo, [], device=cpu, model=model, preserve_color=mode).size == photo.size
    assert run(photo, [], device=cpu, model=model, size=30).size == (30, 22)
    assert run(photo, [], device=cpu, model=model, precision="bf16").size == photo.size


def test_work_scale_paints_small_and_upsamples(tmp_path, photo):
    from painterly.ops.resize import scale_image

    model = str(tiny_model_file(tmp_path))
    full_size = FastStylizer(FastConfig(model=model, precision="fp32"))
    image = torch.from_numpy(np.array(photo)).permute(2, 0, 1)[None].float() / 255
    result = FastStylizer(FastConfig(model=model, precision="fp32", work_scale=0.5)).stylize_tensor(image)
    assert result.shape == image.shape and 0 <= result.min() and result.max() <= 1
    # The network saw the half-size photo: the result, shrunk again, is the half-size stylization.
    small = full_size.stylize_tensor(scale_image(image, 0.5))
    assert small.shape[-2:] == (22, 30)
    painted_at_full_size = full_size.stylize_tensor(image)
    assert (scale_image(result, 0.5) - small).abs().mean() < 0.4 * (scale_image(painted_at_full_size, 0.5) - small).abs().mean()
    with pytest.raises(PainterlyError, match="work scale"):
        FastConfig(model="x", work_scale=0).validate()


def test_bf16_runs_the_whole_network_in_bf16(tmp_path, photo):
    model = str(tiny_model_file(tmp_path))
    bf16 = FastStylizer(FastConfig(model=model, precision="bf16"))
    assert bf16.net_dtype == torch.bfloat16
    fp32 = FastStylizer(FastConfig(model=model, precision="fp32"))
    difference = np.abs(np.asarray(bf16(photo), dtype=float) - np.asarray(fp32(photo), dtype=float))
    assert difference.mean() < 3 and bf16(photo).size == photo.size


def test_fast_method_errors(tmp_path, photo):
    cpu = torch.device("cpu")
    with pytest.raises(PainterlyError, match="needs a trained model"):
        run(photo, [], device=cpu)
    with pytest.raises(PainterlyError, match="no option"):
        run(photo, [], device=cpu, model="x", steps=3)
    with pytest.raises(PainterlyError, match="strength"):
        run(photo, [], device=cpu, model="x", strength=2)
    with pytest.raises(PainterlyError, match="neither a file nor an installed model"):
        run(photo, [], device=cpu, model="no-such-model")


def test_stylize_batch_matches_single_images(tmp_path, photo):
    model = tiny_model_file(tmp_path)
    other = Image.fromarray(make_gradient_image(30, 20, seed=3))
    images = [photo, other, photo.transpose(Image.Transpose.FLIP_LEFT_RIGHT)]
    batched = stylize_batch(model, images, precision="fp32")
    single = FastStylizer(FastConfig(model=str(model), precision="fp32"))
    assert [image.size for image in batched] == [image.size for image in images]
    for got, image in zip(batched, images):
        assert np.abs(np.asarray(got, dtype=int) - np.asarray(single(image), dtype=int)).max() <= 1


def test_models_in_the_user_folder_are_usable_by_name_everywhere(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from painterly.cli.main import cli
    from painterly.registry import list_models

    folder = tmp_path / "models"
    folder.mkdir()
    tiny_model_file(tmp_path).rename(folder / "my-style.safetensors")
    monkeypatch.setenv("PAINTERLY_MODELS_DIR", str(folder))
    assert ("my-style", "fast") in [(entry.name, entry.method) for entry in list_models()]
    photo_path = tmp_path / "photo.png"
    Image.fromarray(make_gradient_image(20, 28)).save(photo_path)
    result = CliRunner().invoke(cli, ["stylize", str(photo_path), "--model", "my-style", "-o", str(tmp_path / "out.png")])
    assert result.exit_code == 0, result.output
    assert Image.open(tmp_path / "out.png").size == (28, 20)
