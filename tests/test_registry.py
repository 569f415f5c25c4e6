"""One spec per method, one conversion of options, one resolver; every interface built from them."""

from __future__ import annotations

import dataclasses
import json

import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from conftest import make_gradient_image, make_random_vgg
from painterly.errors import PainterlyError
from painterly.registry import choose_method, create_stylizer, get_method, list_methods, methods_taking

SMALL = dict(content_layers=("relu2_1",), style_layers=("relu1_1", "relu2_1"), precision="fp32", optimizer="adam",
             min_size=16)  # fmt: skip


def photo(height: int = 16, width: int = 20, seed: int = 0) -> Image.Image:
    return Image.fromarray(make_gradient_image(height, width, seed))


@pytest.mark.parametrize("spec", list_methods(), ids=lambda spec: spec.name)
def test_every_spec_is_complete(spec):
    """The options users set are fields of the config, with help; the defaults are valid; limits hold."""
    names = {item.name for item in dataclasses.fields(spec.config)}
    assert set(spec.options) <= names, set(spec.options) - names
    assert spec.summary and spec.label and all(spec.help(option) for option in spec.options)
    if spec.needs_model:
        with pytest.raises(PainterlyError, match="needs a trained model"):
            spec.make_config({})
    else:
        assert spec.make_config({}) == spec.config()
    with pytest.raises(PainterlyError, match=f"unknown option.*{spec.owner} has no option 'colour'"):
        spec.make_config({"colour": True})
    for option in spec.options:
        low, high = spec.limits(option)["low"], spec.limits(option)["high"]
        if low is not None:
            with pytest.raises(PainterlyError, match=option.replace("_", " ")):
                spec.make_config({"model": "x", option: low - 1} if spec.needs_model else {option: low - 1})
        if high is not None:
            with pytest.raises(PainterlyError, match=option.replace("_", " ")):
                spec.make_config({"model": "x", option: high + 1} if spec.needs_model else {option: high + 1})


def test_one_strength_range_per_method():
    ranges = {spec.name: (spec.limits("strength")["low"], spec.limits("strength")["high"]) for spec in list_methods()}
    assert ranges == {"optimize": (0, 2), "fast": (0, 1), "adain": (0, 1), "anystyle": (0, 1)}
    from painterly.web.catalog import registry_methods

    studio = {method.name: tuple(method.ranges["strength"]) for method in registry_methods()}
    assert all(studio[name] == ranges[name] for name in studio)


def test_options_are_converted_once():
    config = get_method("optimize").make_config({"style_layers": "relu1_1, relu2_1", "style_layer_weights": [1, 2],
                                                 "seed": None})  # fmt: skip
    assert config.style_layers == ("relu1_1", "relu2_1") and config.style_layer_weights == (1, 2) and config.seed == 0
    with pytest.raises(PainterlyError, match="one style layer weight per style layer"):
        get_method("optimize").make_config({"style_layer_weights": (1.0,)})
    with pytest.raises(PainterlyError, match="unknown optimizer 'sgd': use lbfgs or adam"):
        get_method("optimize").make_config({"optimizer": "sgd"})


def test_the_method_is_chosen_in_one_place(tmp_path, monkeypatch):
    import painterly.models.lookup as lookup

    assert choose_method(None).name == "optimize"
    assert choose_method(None, model="starry-night").name == "fast"
    # fast without a model: any painting, by the any-painting network where installed, else AdaIN
    monkeypatch.setattr(lookup, "SHIPPED_ANYSTYLE", tmp_path / "anystyle.safetensors")
    assert choose_method("fast", paintings=["a painting"]).name == "adain"
    (tmp_path / "anystyle.safetensors").write_bytes(b"weights")
    assert choose_method("fast", paintings=["a painting"]).name == "anystyle"
    assert choose_method("fast", model="m", paintings=["a painting"]).name == "fast"
    assert choose_method("arbitrary").name == "adain" and get_method("ADAIN").name == "adain"
    assert methods_taking("steps") == ["optimize"] and methods_taking("work_scale") == ["adain", "anystyle", "fast"]
    with pytest.raises(PainterlyError, match="unknown method 'alchemy': use one of adain, anystyle, fast, optimize"):
        choose_method("alchemy")


def test_the_resolver_refuses_what_does_not_fit():
    painting = [(photo(seed=1), 1.0)]
    with pytest.raises(PainterlyError, match="the optimize method takes no model"):
        create_stylizer("optimize", model="starry-night", paintings=painting, device="cpu")
    with pytest.raises(PainterlyError, match="no style given: the optimize method needs a painting"):
        create_stylizer(None, device="cpu")
    with pytest.raises(PainterlyError, match="has no option 'steps'"):
        create_stylizer(None, model="starry-night", options={"steps": 3}, device="cpu")


def test_one_stylizer_for_images_and_frames():
    """The optimize stylizer paints an image and video frames; without --steps, later frames take half the default."""
    vgg = make_random_vgg("relu2_1")
    painting = [(photo(24, 24, seed=1), 1.0)]
    stylizer = create_stylizer("optimize", paintings=painting, options={**SMALL, "size": 16}, device="cpu",
                               feature_network=lambda *_: vgg)  # fmt: skip
    assert stylizer.later_steps == 70 and stylizer.settings["later_steps"] == 70  # steps unset: 140 // 2
    image = stylizer.stylize_image(photo())
    assert image.size == (16, 13) and image.info["painterly"]["options"]["steps"] is None
    frame = torch.rand(1, 3, 12, 16)
    from painterly.video.consistency import Guidance

    guided = stylizer.stylize_frame(frame, Guidance(frame.clone(), torch.ones(1, 1, 12, 16), 1.0))
    assert guided.shape == frame.shape and torch.isfinite(guided).all()
    chosen = create_stylizer("optimize", paintings=painting, options={**SMALL, "steps": 10}, device="cpu",
                             feature_network=lambda *_: vgg)  # fmt: skip
    assert chosen.later_steps == 5


def test_video_frames_of_optimize_without_steps():
    """`painterly video … --method optimize` without --steps builds its frame stylizer (it computed None // 2)."""
    from painterly.api import Stylizer
    from painterly.video.frames import frame_stylizer_for

    vgg = make_random_vgg("relu2_1")
    stylizer = Stylizer(device="cpu")
    stylizer.feature_network = lambda *_: vgg  # type: ignore[method-assign]
    frames = frame_stylizer_for("optimize", paintings=[(photo(seed=2), 1.0)], stylizer=stylizer, **SMALL)
    assert frames.uses_guidance and frames.settings["later_steps"] == 70
    with pytest.raises(PainterlyError, match="the video's size is set with --size"):
        frame_stylizer_for("optimize", paintings=[(photo(seed=2), 1.0)], stylizer=stylizer, size=32)


def one_line_error(result) -> str:
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.exit_code == 2 and len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


def test_cli_refuses_an_option_of_another_method(tmp_path):
    from painterly.cli.main import cli

    source = tmp_path / "photo.png"
    photo().save(source)
    runner = CliRunner()
    base = ["stylize", str(source), "-o", str(tmp_path / "out.png")]
    assert one_line_error(runner.invoke(cli, [*base, "--method", "fast", "--steps", "5"])) == "error: --steps applies to optimize only"
    assert one_line_error(runner.invoke(cli, [*base, "--model", "starry-night", "--seed", "1"])) == "error: --seed applies to optimize only"
    assert one_line_error(runner.invoke(cli, [*base, "-s", "starry-night", "--work-scale", "0.5"])) == (
        "error: --work-scale applies to adain, anystyle and fast only")
    assert one_line_error(runner.invoke(cli, [*base, "--model", "starry-night", "--decoder", "d"])) == (
        "error: --decoder applies to adain only")
    assert one_line_error(runner.invoke(cli, [*base, "--model", "starry-night", "--save-every", "2"])) == (
        "error: --save-every applies to optimize only")
    assert one_line_error(runner.invoke(cli, [*base, "--model", "starry-night", "-s", "the-scream"])) == (
        "error: the fast method paints in its model's style: drop --style, or drop --model for any painting (anystyle)")
    assert not (tmp_path / "out.png").exists()


def test_cli_help_shows_each_methods_default_and_range():
    from painterly.cli.main import cli

    text = " ".join(CliRunner().invoke(cli, ["stylize", "--help"], terminal_width=400).output.split())
    assert "[default: 512 (optimize), not set (anystyle, adain, fast); range: 16 or more]" in text
    assert "range: 0 to 2 (optimize), 0 to 1 (anystyle, adain, fast)" in text
    assert "--steps INTEGER optimize:" in text


def test_styles_lists_the_registry_and_says_what_each_model_is():
    from painterly.cli.main import cli

    result = CliRunner().invoke(cli, ["styles", "--json"])
    assert result.exit_code == 0, result.output
    listing = json.loads(result.output)
    assert [method["name"] for method in listing["methods"]] == [spec.name for spec in list_methods()]
    adain = next(method for method in listing["methods"] if method["name"] == "adain")
    assert adain["aliases"] == ["arbitrary"] and adain["needs_painting"] and not adain["needs_model"]
    models = {model["name"]: model for model in listing["models"]}
    assert models["photo2impressionism"]["kind"] == "cyclegan"
    assert models["photo2impressionism"]["title"].startswith("translates ")
    assert "CycleGAN generator" in models["photo2impressionism"]["title"] and "not one painting's style" in models["photo2impressionism"]["title"]
    assert models["starry-night"]["kind"] == "style" and "Gogh" in models["starry-night"]["title"]
    table = CliRunner().invoke(cli, ["styles"], terminal_width=200).output
    assert "CycleGAN generator" in table and "also: arbitrary" in table
