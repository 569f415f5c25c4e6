"""Bad input ends in one line naming what to change: non-finite numbers, wrongly typed API arguments,
damaged model files, a still image given to ``painterly video``."""

from __future__ import annotations

import dataclasses
from typing import Optional

import pytest
import torch
from click.testing import CliRunner
from PIL import Image

import painterly
from feedforward_helpers import TINY, tiny_net
from painterly.cli.main import cli
from painterly.errors import PainterlyError
from painterly.methods.adain import AdaINConfig
from painterly.methods.feedforward import FastConfig
from painterly.methods.optimize import OptimizeConfig
from painterly.models import ModelInfo, save_model
from painterly.models.adain import AdaINDecoder, DecoderConfig
from painterly.models.adain_io import load_decoder, save_decoder
from painterly.models.files import load_model
from painterly.options import as_number, check_limits, config_from_options
from tests.conftest import make_gradient_image


@pytest.fixture
def photo_path(tmp_path):
    path = tmp_path / "photo.png"
    Image.fromarray(make_gradient_image(40, 56)).save(path)
    return path


def one_error_line(result) -> str:
    lines = result.output.strip().splitlines()
    assert result.exit_code == 2 and len(lines) == 1 and lines[0].startswith("error: "), result.output
    return lines[0]


# Non-finite numbers --------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["nan", "inf", "-inf"])
@pytest.mark.parametrize("method, extra", [("optimize", ["--style", "starry-night"]), ("adain", ["--style", "starry-night"]),
                                           ("fast", ["--model", "starry-night"])])  # fmt: skip
def test_strength_nan_or_inf_is_refused_naming_the_option(photo_path, tmp_path, method, extra, value):
    out = tmp_path / "out.png"
    result = CliRunner().invoke(cli, ["stylize", str(photo_path), "-m", method, *extra, f"--strength={value}", "-o", str(out)])
    line = one_error_line(result)
    assert line.startswith("error: strength must be a finite number"), line
    assert "style weight" not in line and "precision" not in line
    assert not out.exists()


@dataclasses.dataclass
class Unlimited:
    """A config whose floats have no limits.

    Attributes:
        gain: any number.
        weights: numbers.
    """

    gain: float = 1.0
    weights: Optional[tuple[float, ...]] = None


def test_every_float_is_checked_finite_even_without_limits():
    for options, name in (({"gain": float("nan")}, "gain"), ({"gain": "inf"}, "gain"), ({"weights": "1,nan"}, "weights"),
                          ({"weights": [1.0, float("-inf")]}, "weights")):  # fmt: skip
        with pytest.raises(PainterlyError, match=f"^{name} must be a finite number"):
            config_from_options(Unlimited, options)
    with pytest.raises(PainterlyError, match="style layer weights must be a finite number"):
        config_from_options(OptimizeConfig, {"style_layer_weights": "1,1,nan,1,1"})
    with pytest.raises(PainterlyError, match="content weight must be a finite number"):
        check_limits(OptimizeConfig(content_weight=float("inf")))


# Python API argument types --------------------------------------------------------------------------


def test_numeric_text_is_accepted_as_numbers_everywhere():
    config = config_from_options(OptimizeConfig, {"size": "128", "steps": " 3 ", "strength": "0.5", "seed": "7"})
    assert (config.size, config.steps, config.strength, config.seed) == (128, 3, 0.5, 7)
    assert config_from_options(AdaINConfig, {"invert_mask": "yes", "work_scale": 1}).invert_mask is True
    assert config_from_options(FastConfig, {"model": "x", "size": 64.0}).size == 64
    assert as_number("size", "512", int) == 512 and isinstance(as_number("strength", 1, float), float)


@pytest.mark.parametrize("options, message", [
    ({"size": "big"}, "size takes a whole number, got 'big'"),
    ({"size": 12.5}, "size takes a whole number, got 12.5"),
    ({"steps": [3]}, "steps takes a whole number, got a list"),
    ({"steps": True}, "steps takes a whole number, got True"),
    ({"strength": "strong"}, "strength takes a number, got 'strong'"),
    ({"channels_last": "maybe"}, "channels last takes true or false, got 'maybe'"),
])  # fmt: skip
def test_wrongly_typed_options_raise_the_projects_error_naming_them(options, message):
    with pytest.raises(PainterlyError) as error:
        config_from_options(OptimizeConfig, options)
    assert str(error.value) == message


def test_api_takes_numeric_text_and_refuses_other_types(tmp_path):
    from feedforward_helpers import tiny_model_file

    model = tiny_model_file(tmp_path)
    photo = Image.fromarray(make_gradient_image(40, 56))
    assert max(painterly.stylize(photo, model=str(model), size="32", device="cpu").size) == 32
    with pytest.raises(PainterlyError, match="^size takes a whole number, got 'huge'$"):
        painterly.stylize(photo, model=str(model), size="huge", device="cpu")
    with pytest.raises(PainterlyError, match="^steps takes a whole number, got 'x'$"):
        painterly.stylize(photo, "starry-night", steps="x", device="cpu")
    with pytest.raises(PainterlyError, match="^max_pixels takes a whole number"):
        painterly.stylize(photo, model=str(model), max_pixels="many", device="cpu")


# Model files with non-finite weights ----------------------------------------------------------------


def poisoned(net: torch.nn.Module) -> torch.nn.Module:
    with torch.no_grad():
        next(net.parameters()).view(-1)[0] = float("nan")
    return net


@pytest.mark.parametrize("half", [False, True])
def test_a_style_model_with_nan_weights_is_refused_naming_the_file(tmp_path, half):
    path = save_model(poisoned(tiny_net()), tmp_path / "broken.safetensors", ModelInfo(TINY, name="tiny"), half=half)
    with pytest.raises(PainterlyError, match=r"^the weights in '.*broken\.safetensors' are damaged \(not finite"):
        load_model(path)


def test_a_cyclegan_generator_with_nan_weights_is_refused(tmp_path):
    info = ModelInfo(TINY, training={"direction": "a2b", "domain_a": "photos", "domain_b": "paintings"}, name="photos-to-paintings")
    path = save_model(poisoned(tiny_net()), tmp_path / "generator.safetensors", info)
    with pytest.raises(PainterlyError, match="generator.safetensors' are damaged"):
        load_model(path)


def test_cli_with_a_nan_model_writes_nothing_and_says_so_in_one_line(photo_path, tmp_path):
    model = save_model(poisoned(tiny_net()), tmp_path / "broken.safetensors", ModelInfo(TINY, name="tiny"))
    out = tmp_path / "out.png"
    line = one_error_line(CliRunner().invoke(cli, ["stylize", str(photo_path), "--model", str(model), "-o", str(out)]))
    assert "broken.safetensors" in line and "damaged" in line
    assert not out.exists()


def test_a_decoder_with_inf_weights_is_refused_naming_the_file(tmp_path):
    decoder = AdaINDecoder(DecoderConfig(width=0.0625, convs=(1, 1, 1, 2)))
    with torch.no_grad():
        next(decoder.parameters()).view(-1)[0] = float("inf")
    path = save_decoder(decoder, tmp_path / "decoder.safetensors", half=False)
    with pytest.raises(PainterlyError, match=r"^the weights in '.*decoder\.safetensors' are damaged"):
        load_decoder(path)


# painterly video with a still image ------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".png", ".jpg"])
def test_video_of_a_still_image_says_to_use_stylize(tmp_path, suffix):
    photo = tmp_path / f"photo{suffix}"
    Image.fromarray(make_gradient_image(40, 56)).save(photo)
    out = tmp_path / "out.mp4"
    line = one_error_line(CliRunner().invoke(cli, ["video", str(photo), "--model", "starry-night", "-o", str(out)]))
    assert line == f"error: {photo.name} is a still image: use painterly stylize"
    assert not out.exists()


@pytest.mark.parametrize("option", ["--consistency", "--start", "--end", "--colour-tolerance"])
def test_video_float_options_nan_or_inf_are_refused_naming_the_option(tmp_path, option):
    from web_clips import write_clip

    clip = write_clip(tmp_path / "clip.mp4", frames=3, audio=False)
    out = tmp_path / "out.mp4"
    line = one_error_line(CliRunner().invoke(cli, ["video", str(clip), "--model", "starry-night", f"{option}=nan", "-o", str(out)]))
    assert line.startswith(f"error: {option[2:].replace('-', ' ')} must be a finite number, got nan"), line
    assert not out.exists()
