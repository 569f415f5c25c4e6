"""The any-painting network: a style predictor setting a light style network's scales and shifts."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import make_gradient_image
from feedforward_helpers import TINY, photo_folder
from painterly.errors import PainterlyError
from painterly.ops.color import luminance
from painterly.models import ModelInfo, TransformerNet, load_model, save_model
from painterly.models.anystyle import (AnyStyleInfo, AnyStyleNet, PredictorConfig, load_anystyle, painting_statistics,
                                       save_anystyle)  # fmt: skip
from painterly.train.anystyle import AnyStyleConfig, painting_views, split_paintings, train_anystyle
from test_styles import painting_folder

pytestmark = pytest.mark.usefixtures("single_thread")

LAYERS = ("relu1_1", "relu2_1")
TINY_PREDICTOR = PredictorConfig(layers=LAYERS, hidden=8, styles=4)


def tiny_anystyle(seed: int = 0) -> AnyStyleNet:
    torch.manual_seed(seed)
    net = AnyStyleNet(replace(TINY, styles=4), TINY_PREDICTOR)
    with torch.no_grad():
        for parameter in net.parameters():
            parameter.add_(0.3 * torch.randn_like(parameter))
    return net.eval()


def test_statistics_are_per_channel_mean_and_spread():
    features = {"relu1_1": torch.rand(2, 64, 8, 8), "relu2_1": torch.zeros(2, 128, 4, 4)}
    stats = painting_statistics(features, LAYERS)
    assert stats.shape == (2, 2 * (64 + 128)) == (2, TINY_PREDICTOR.inputs)
    assert torch.allclose(stats[:, :64], features["relu1_1"].mean(dim=(2, 3)).log1p())
    assert torch.equal(stats[:, 128:], torch.zeros(2, 256))  # a flat layer: no mean, no spread


def test_a_painting_network_paints_as_the_predictor_sets_it(tmp_path):
    net = tiny_anystyle()
    photo, stats = torch.rand(1, 3, 28, 36), torch.rand(3, TINY_PREDICTOR.inputs)
    with torch.no_grad():
        painted = [net(photo, stats[i : i + 1]) for i in range(3)]
        assert (painted[0] - painted[1]).abs().max() > 1e-3  # another painting, another picture
        single = net.for_painting(stats[1:2])
        assert isinstance(single, TransformerNet) and single.config.styles == 0
        assert torch.allclose(single(photo), painted[1], atol=1e-5)
        # A blend mixes the embeddings, by weight.
        blend = net.for_painting(stats[:2], [3.0, 1.0])
        mixed = net.transformer(photo, 0.75 * net.predictor(stats[:1]) + 0.25 * net.predictor(stats[1:2]))
        assert torch.allclose(blend(photo), mixed, atol=1e-5)
    with pytest.raises(PainterlyError, match="one positive weight"):
        net.for_painting(stats[:2], [1.0])
    # The file round-trips (fp16 weights; the predictor's input statistics stay float32).
    net.predictor.set_input_statistics(stats * 1000)
    path = save_anystyle(net, tmp_path / "any.safetensors", AnyStyleInfo(net.transformer.config, TINY_PREDICTOR, {"steps": 1}))
    loaded, info = load_anystyle(path)
    assert info.predictor == TINY_PREDICTOR and info.training == {"steps": 1}
    assert torch.equal(loaded.predictor.input_mean, net.predictor.input_mean)
    with torch.no_grad():
        assert (loaded(photo, stats[:1]) - net(photo, stats[:1])).abs().max() < 5e-2  # fp16 weights
        exact, _ = load_anystyle(save_anystyle(net, tmp_path / "fp32.safetensors", info, half=False))
        assert torch.allclose(exact(photo, stats[:1]), net(photo, stats[:1]), atol=1e-6)
    with pytest.raises(PainterlyError, match="not an any-painting model"):
        load_anystyle(save_model(TransformerNet(TINY), tmp_path / "plain.safetensors"))
    with pytest.raises(PainterlyError, match="does not exist"):
        load_anystyle(tmp_path / "missing.safetensors")


def test_painting_views_keep_the_stroke_scale(tmp_path):
    path = tmp_path / "p.png"
    Image.fromarray(make_gradient_image(100, 200, seed=3)).save(path)
    views = painting_views(path, 128, 4, torch.Generator().manual_seed(0))
    assert views[0].shape == (1, 3, 64, 128) and torch.equal(views[2], views[2].flip(-1).flip(-1))
    for view in views[1:]:  # crops of half to 80 % of the sides, at the whole view's scale
        assert 32 <= view.shape[-2] <= 52 and 64 <= view.shape[-1] <= 103


def test_colour_views_recolour_the_views_and_keep_their_shapes(tmp_path):
    path = tmp_path / "p.png"
    Image.fromarray(make_gradient_image(100, 200, seed=3)).save(path)
    views = painting_views(path, 128, 2, torch.Generator().manual_seed(0), colour_views=3)
    assert len(views) == 5
    for index, recoloured in enumerate(views[2:]):
        source = views[index % 2]
        assert recoloured.shape == source.shape and 0 <= recoloured.min() and recoloured.max() <= 1
        assert (recoloured - source).abs().mean() > 0.01  # other colours ...
        assert torch.allclose(luminance(recoloured).mean(), luminance(source).mean(), atol=0.03)  # ... same light


def test_held_out_paintings_are_never_trained_on(tmp_path):
    folder = painting_folder(tmp_path / "paintings", count=4)
    training, held = split_paintings(folder, ["painting-1", "painting-3"])
    assert [p.name for p in training] == ["painting-0", "painting-2"] and [p.name for p in held] == ["painting-1", "painting-3"]
    with pytest.raises(PainterlyError, match="no training paintings"):
        split_paintings(folder, [f"painting-{i}" for i in range(4)])


@pytest.fixture
def start(tmp_path):
    """Photos, paintings and a tiny two-style shared network to start from."""
    photo_folder(tmp_path / "photos", count=12)
    painting_folder(tmp_path / "paintings", count=4)
    torch.manual_seed(0)
    shared = TransformerNet(replace(TINY, styles=2))
    table = [{"name": f"s{i}", "credit": "", "file": f"s{i}.png"} for i in range(2)]
    save_model(shared, tmp_path / "shared.safetensors", ModelInfo(shared.config, name="shared", styles=table), half=False)
    return tmp_path


def tiny_config(tmp_path: Path, **changes) -> AnyStyleConfig:
    values = dict(paintings=str(tmp_path / "paintings"), holdout=("painting-3",), data=str(tmp_path / "photos"),
                  out=str(tmp_path / "any.safetensors"), init=str(tmp_path / "shared.safetensors"), styles=4, hidden=8,
                  views=2, colour_views=0, steps=24, batch_size=2, crop_min=32, crop_max=48, style_size=48, device="cpu",
                  precision="fp32", learning_rate=3e-2, network_learning_rate=3e-3, log_every=4,
                  checkpoint_every=12, sample_every=0)  # fmt: skip
    values.update(changes)
    return AnyStyleConfig(**values)


def test_training_starts_at_the_shared_styles_average_and_lowers_the_style_loss(start, vgg):
    config = tiny_config(start)
    result = train_anystyle(config, vgg=vgg)
    net, info = load_anystyle(result.model_path)
    assert info.record["held_out"] == ["painting-3"] and info.record["paintings"] == 3
    assert net.transformer.config.styles == 4 and net.predictor.config.styles == 4
    rows = [line.split(",") for line in (start / "any.run" / "losses.csv").read_text().splitlines()[1:]]
    style = [float(row[3]) for row in rows]
    assert style[-1] < 0.8 * style[0], style
    # The shared network's two styles are the embedding's first rows; the start is their average.
    shared, _ = load_model(start / "shared.safetensors")
    untrained = train_anystyle(tiny_config(start, steps=1, learning_rate=1e-12, network_learning_rate=1e-12,
                                           out=str(start / "start.safetensors")), vgg=vgg)  # fmt: skip
    first, _ = load_anystyle(untrained.model_path)
    key = "encoder.0.norm.weight"
    assert torch.allclose(first.transformer.state_dict()[key][:2], shared.state_dict()[key], atol=1e-3)
    average = shared.single_style(torch.tensor([0.5, 0.5])).state_dict()[key]
    some_painting = first.for_painting(torch.rand(1, first.predictor.config.inputs))
    assert torch.allclose(some_painting.state_dict()[key], average, atol=2e-2)


def test_training_continues_from_an_any_painting_model_keeping_its_predictor(start, vgg):
    first = train_anystyle(tiny_config(start, steps=12), vgg=vgg)
    trained, _ = load_anystyle(first.model_path)
    further = train_anystyle(tiny_config(start, steps=1, init=str(first.model_path), colour_views=2, learning_rate=1e-12,
                                         network_learning_rate=1e-12, out=str(start / "further.safetensors")), vgg=vgg)  # fmt: skip
    again, _ = load_anystyle(further.model_path)
    for key, value in trained.state_dict().items():  # one step that moves nothing: the same network, same standardization
        assert torch.allclose(again.state_dict()[key], value, atol=1e-3), key


def test_training_resumes_exactly(start, vgg):
    whole = train_anystyle(tiny_config(start, steps=16, out=str(start / "whole.safetensors")), vgg=vgg)
    first = tiny_config(start, steps=8, out=str(start / "parts.safetensors"), checkpoint_every=8)
    train_anystyle(first, vgg=vgg)
    parts = train_anystyle(replace(first, steps=16, resume=True), vgg=vgg)
    a, _ = load_anystyle(whole.model_path)
    b, _ = load_anystyle(parts.model_path)
    for (key, left), right in zip(a.state_dict().items(), b.state_dict().values()):
        assert torch.allclose(left, right, atol=1e-3), key


def test_the_method_paints_any_painting_blends_and_masks(start, vgg, monkeypatch):
    from painterly.registry import create_stylizer

    result = train_anystyle(tiny_config(start, steps=2), vgg=vgg)
    painting = Image.fromarray(make_gradient_image(40, 48, seed=7))
    other = Image.fromarray(make_gradient_image(40, 48, seed=8)[:, ::-1].copy())
    photo = Image.fromarray(make_gradient_image(40, 56, seed=1))
    calls = []

    def network(last: str, pooling: str):
        calls.append(last)
        return vgg
    options = {"anystyle_model": str(result.model_path), "precision": "fp32"}
    one = create_stylizer("anystyle", paintings=[(painting, 1.0)], options=options, device="cpu", feature_network=network)
    painted = one.stylize_image(photo)
    assert painted.size == photo.size and painted.info["painterly"]["strength"] == 1.0
    assert calls == ["relu4_1"]
    again = create_stylizer("anystyle", paintings=[(painting, 1.0)], options=options, device="cpu", feature_network=network)
    assert again.inside.model_path == one.inside.model_path and calls == ["relu4_1"]  # cached: no VGG19 needed
    # Once the painting's network (and its graph) is cached, a photo is painted without torch, alike.
    from painterly.methods.anystyle_spec import AnyStyleMethodConfig, torch_needed

    assert torch_needed(AnyStyleMethodConfig(**options), "cpu", photo.size, [(painting, 1.0)]) is None
    free = create_stylizer("anystyle", paintings=[(painting, 1.0)], options=options, device="cpu",
                           image_size=photo.size, torch_free=True)  # fmt: skip
    assert type(free).__name__ == "OnnxFastStylizer" and free.settings == one.settings
    difference = np.abs(np.asarray(free.stylize_image(photo), np.int16) - np.asarray(painted, np.int16))
    assert difference.max() <= 2
    # Video frames paint at 0.8 of their size unless the caller says otherwise (the frame rate needs it).
    frames = create_stylizer("anystyle", paintings=[(painting, 1.0)], options=options, device="cpu", frames=True)
    full = create_stylizer("anystyle", paintings=[(painting, 1.0)], options={**options, "work_scale": 1.0}, device="cpu",
                           frames=True)  # fmt: skip
    assert (one.config.work_scale, frames.config.work_scale, full.config.work_scale) == (1.0, 0.8, 1.0)
    # Strength 0 gives the photo back; colour keeping gives the photo's colours with the painted light.
    kept = create_stylizer("anystyle", paintings=[(painting, 1.0)], options={**options, "strength": 0.0}, device="cpu",
                           feature_network=network).stylize_image(photo)  # fmt: skip
    assert np.abs(np.asarray(kept, np.int16) - np.asarray(photo, np.int16)).max() <= 1
    coloured = create_stylizer("anystyle", paintings=[(painting, 1.0)], options={**options, "preserve_color": "luminance"},
                               device="cpu", feature_network=network).stylize_image(photo)  # fmt: skip
    chroma = [np.asarray(image.convert("YCbCr"), np.float32)[..., 1:] for image in (coloured, photo, painted)]
    assert np.abs(chroma[0] - chroma[1]).mean() < 0.5 * np.abs(chroma[2] - chroma[1]).mean()
    # ONNX export of the painting's network (cached above, so no VGG19 here), checked against PyTorch by the command.
    from click.testing import CliRunner

    from painterly.cli.train import export_command

    painting.save(start / "painting.png")
    exported = CliRunner().invoke(export_command, [str(result.model_path), "--style", str(start / "painting.png"),
                                                   "-o", str(start / "painting.onnx")])  # fmt: skip
    assert exported.exit_code == 0, exported.output
    assert (start / "painting.onnx").stat().st_size > 10_000
    refused = CliRunner().invoke(export_command, [str(result.model_path), "-o", str(start / "x.onnx")])
    assert refused.exit_code == 2 and "add --style PAINTING" in refused.stderr and not (start / "x.onnx").exists()
    unseen = Image.fromarray(make_gradient_image(40, 48, seed=9))
    assert "not made yet" in torch_needed(AnyStyleMethodConfig(**options), "cpu", photo.size, [(unseen, 1.0)])
    blend = create_stylizer("anystyle", paintings=[(painting, 1.0), (other, 1.0)], options=options, device="cpu",
                            feature_network=network)  # fmt: skip
    assert blend.inside.model_path != one.inside.model_path
    # A mask: the painting inside, the photo outside.
    mask = torch.zeros(40, 56)
    mask[:, :28] = 1
    masked = create_stylizer("anystyle", paintings=[(painting, 1.0)], options={**options, "mask": mask}, device="cpu",
                             feature_network=network)  # fmt: skip
    out = np.asarray(masked.stylize_image(photo), dtype=np.int16)
    assert np.abs(out[:, 40:] - np.asarray(photo, dtype=np.int16)[:, 40:]).max() <= 1
    assert np.abs(out[:, :16] - np.asarray(painted, dtype=np.int16)[:, :16]).max() <= 1
    with pytest.raises(PainterlyError, match="mask 'nope.png' does not exist"):
        create_stylizer("anystyle", paintings=[(painting, 1.0)], options={**options, "mask": "nope.png"}, device="cpu",
                        feature_network=network)  # fmt: skip
