"""The command line end to end: outputs, metadata, errors with exit code 2, inputs never overwritten."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from painterly.cli.main import cli
from painterly.io.images import read_metadata
from tests.conftest import make_gradient_image

QUICK = ["--size", "32", "--steps", "3", "--min-size", "32", "--precision", "fp32"]


@pytest.fixture
def photo_path(tmp_path):
    path = tmp_path / "photo.jpg"
    Image.fromarray(make_gradient_image(40, 56)).save(path)
    return path


def run(*args: str):
    return CliRunner().invoke(cli, [str(arg) for arg in args], catch_exceptions=False)


def test_stylize_writes_image_with_parameters_in_metadata(photo_path, tmp_path):
    out = tmp_path / "out.png"
    result = run("stylize", photo_path, "--style", "starry-night", "-o", out, "--json", *QUICK)
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["output"] == str(out)
    image = Image.open(out)
    assert max(image.size) == 32 and image.mode == "RGB"
    metadata = read_metadata(out)
    assert metadata["styles"] == [["starry-night", 1.0]]
    assert metadata["options"]["steps"] == 3


def test_blend_of_two_styles_with_weights_and_intermediate_saves(photo_path, tmp_path):
    out = tmp_path / "blend.jpg"
    result = run("stylize", photo_path, "-s", "the-scream:0.7", "-s", "shipwreck:0.3", "-o", out,
                 "--save-every", "1", "--preserve-color", *QUICK)  # fmt: skip
    assert result.exit_code == 0, result.output
    assert read_metadata(out)["styles"] == [["the-scream", 0.7], ["shipwreck", 0.3]]
    assert read_metadata(out)["options"]["preserve_color"] == "luminance"
    assert sorted(p.name for p in tmp_path.glob("blend_step*.png")) == ["blend_step0001.png", "blend_step0002.png", "blend_step0003.png"]


def test_folder_of_images(tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    for index in range(2):
        Image.fromarray(make_gradient_image(30, 30, seed=index)).save(folder / f"p{index}.png")
    (folder / "notes.txt").write_text("not an image")
    result = run("stylize", folder, "-s", "starry-night", "-o", tmp_path / "out", "--json", *QUICK)
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["p0-stylized.png", "p1-stylized.png"]


def one_line_error(result) -> str:
    assert result.exit_code == 2, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


def test_missing_content(tmp_path):
    assert "not found" in one_line_error(run("stylize", tmp_path / "nope.jpg", "-s", "starry-night", "-o", tmp_path / "o.png"))


def test_corrupt_content(tmp_path):
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0 this is not really a jpeg")
    assert "bad.jpg" in one_line_error(run("stylize", bad, "-s", "starry-night", "-o", tmp_path / "o.png", *QUICK))


def test_unsupported_content_format(tmp_path):
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    one_line_error(run("stylize", text, "-s", "starry-night", "-o", tmp_path / "o.png", *QUICK))


def test_unsupported_output_format(photo_path, tmp_path):
    message = one_line_error(run("stylize", photo_path, "-s", "starry-night", "-o", tmp_path / "o.xyz", *QUICK))
    assert ".png" in message
    assert not (tmp_path / "o.xyz").exists()


def test_too_large_image(photo_path, tmp_path):
    message = one_line_error(run("stylize", photo_path, "-s", "starry-night", "-o", tmp_path / "o.png", "--max-pixels", "100", *QUICK))
    assert "max-pixels" in message or "pixels" in message


def test_unknown_style_and_no_style(photo_path, tmp_path):
    assert "built-in styles" in one_line_error(run("stylize", photo_path, "-s", "mona-lisa", "-o", tmp_path / "o.png"))
    assert "no style" in one_line_error(run("stylize", photo_path, "-o", tmp_path / "o.png"))


def test_output_never_overwrites_input(photo_path, tmp_path):
    before = photo_path.read_bytes()
    one_line_error(run("stylize", photo_path, "-s", "starry-night", "-o", photo_path, "--overwrite", *QUICK))
    assert photo_path.read_bytes() == before
    style = tmp_path / "style.png"
    Image.fromarray(make_gradient_image(32, 32, seed=7)).save(style)
    style_before = style.read_bytes()
    one_line_error(run("stylize", photo_path, "-s", style, "-o", style, "--overwrite", *QUICK))
    assert style.read_bytes() == style_before


def test_existing_output_needs_overwrite(photo_path, tmp_path):
    out = tmp_path / "o.png"
    out.write_bytes(b"precious")
    assert "--overwrite" in one_line_error(run("stylize", photo_path, "-s", "starry-night", "-o", out, *QUICK))
    assert out.read_bytes() == b"precious"
    assert run("stylize", photo_path, "-s", "starry-night", "-o", out, "--overwrite", *QUICK).exit_code == 0
    assert Image.open(out).size[0] == 32


def test_bad_option_value(photo_path, tmp_path):
    one_line_error(run("stylize", photo_path, "-s", "starry-night", "-o", tmp_path / "o.png", "--strength", "-1"))
    one_line_error(run("stylize", photo_path, "-s", "starry-night", "-o", tmp_path / "o.png", "--device", "cuda:7"))


def test_styles_lists_builtin_paintings_and_methods():
    result = run("styles", "--json")
    listing = json.loads(result.stdout)
    names = [entry["name"] for entry in listing["styles"]]
    assert {"starry-night", "the-scream", "shipwreck", "woman-with-hat"} <= set(names)
    assert listing["styles"][0]["artist"] == "Vincent van Gogh"
    assert "optimize" in [method["name"] for method in listing["methods"]]
    table = run("styles").stdout
    assert "Edvard Munch" in table


def test_python_api_accepts_paths_images_and_arrays(vgg):
    import painterly
    from painterly.api import Stylizer

    array = make_gradient_image(24, 24)
    stylizer = Stylizer(device="cpu")
    stylizer._networks[("relu5_1", "max")] = vgg
    from_array = stylizer.stylize(array, [(Image.fromarray(array[::-1].copy()), 1.0)], size=24, steps=2, min_size=24)
    assert isinstance(from_array, Image.Image) and from_array.size == (24, 24)
    assert callable(painterly.stylize)
    with pytest.raises(painterly.PainterlyError, match="unknown option"):
        stylizer.stylize(array, "starry-night", colour=True)
    assert np.asarray(from_array).std() > 0


def test_cli_works_without_the_optional_extras():
    """`pip install painterly` (no web/video/onnx extras) must still run `painterly stylize`."""
    import subprocess
    import sys

    blocked = ["fastapi", "uvicorn", "multipart", "av", "cv2", "onnx", "onnxruntime", "matplotlib", "scipy"]
    code = (
        "import sys\n"
        f"for name in {blocked!r}: sys.modules[name] = None\n"
        "from click.testing import CliRunner\n"
        "from painterly.cli.main import cli\n"
        "result = CliRunner().invoke(cli, ['styles', '--json'])\n"
        "assert result.exit_code == 0, result.output\n"
        "result = CliRunner().invoke(cli, ['serve', '--port', '8123'])\n"
        "assert result.exit_code == 2 and 'painterly[web]' in result.stderr, result.output\n"
    )
    completed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert completed.returncode == 0, completed.stderr


def test_a_small_photo_keeps_its_size_unless_a_size_is_given(tmp_path):
    small = tmp_path / "icon.png"
    Image.fromarray(make_gradient_image(24, 32)).save(small)
    quick = ["--steps", "2", "--precision", "fp32"]  # the size options left at their defaults
    result = run("stylize", small, "--style", "starry-night", "-o", tmp_path / "kept.png", *quick)
    assert result.exit_code == 0, result.output
    assert "(32×24)" in result.output and Image.open(tmp_path / "kept.png").size == (32, 24)
    assert read_metadata(tmp_path / "kept.png")["options"]["size"] == 32
    enlarged = run("stylize", small, "--style", "starry-night", "--size", "64", "-o", tmp_path / "enlarged.png", *quick)
    assert enlarged.exit_code == 0, enlarged.output
    assert Image.open(tmp_path / "enlarged.png").size == (64, 48)


# --- progress without a terminal -------------------------------------------------------------------


def test_progress_without_a_terminal_is_a_line_every_few_seconds(capsys):
    from painterly.cli.common import ProgressReporter
    from painterly.progress import ProgressEvent

    now = [100.0]
    reporter = ProgressReporter("training", terminal=False, interval=5.0, clock=lambda: now[0])
    for step in range(1, 11):
        now[0] = 100.0 + 2 * step  # an event every 2 s
        reporter(ProgressEvent(step=step, total=10, losses={"total": 2.0 / step}))
    lines = capsys.readouterr().err.splitlines()
    # The first event, then whenever 5 s have passed since the last line, and the last step.
    assert [line.split(" (")[0] for line in lines] == [
        "training: step 1/10", "training: step 4/10", "training: step 7/10", "training: step 10/10"]  # fmt: skip
    assert lines[0] == "training: step 1/10 (10%) loss 2 · 0:02 elapsed, ETA 0:18"
    assert lines[-1] == "training: step 10/10 (100%) loss 0.2 · 0:20 elapsed"
    assert reporter.seconds == 20.0

    quiet = ProgressReporter("training", enabled=False, terminal=False, clock=lambda: now[0])
    quiet(ProgressEvent(step=1, total=10))
    assert capsys.readouterr().err == ""


def test_stylize_without_a_terminal_prints_progress_lines_and_json_stays_one_line(photo_path, tmp_path):
    result = run("stylize", photo_path, "--style", "starry-night", "-o", tmp_path / "out.png", *QUICK)
    assert result.exit_code == 0, result.output
    progress = [line for line in result.stderr.splitlines() if line.startswith("stylizing")]
    assert progress and " elapsed" in progress[-1] and "step 3/3" in progress[-1]
    # The memory estimate comes first, once, before any step.
    assert re.fullmatch(r"stylizing: needs about [\d.]+ [MG]B of memory \(estimate\)", progress[0]), progress[0]
    assert sum("of memory" in line for line in progress) == 1
    result = run("stylize", photo_path, "--style", "starry-night", "-o", tmp_path / "out2.png", "--json", *QUICK)
    assert result.exit_code == 0, result.output
    assert " elapsed" not in result.stderr and len(result.stdout.strip().splitlines()) == 1
    json.loads(result.stdout)
