"""The evaluation runner, its report files, method specs and the ``painterly evaluate`` command."""

from __future__ import annotations

import csv
import json
import math
import sys
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner
from PIL import Image, ImageOps

from painterly import registry
from painterly.cli.evaluate import evaluate_command
from painterly.errors import PainterlyError
from painterly.evaluate import report, runner, specs
from painterly.progress import Cancelled

from conftest import make_gradient_image

SIZE = 24


@pytest.fixture
def inputs(tmp_path):
    """Two content photos and one style painting, tiny, in their own folders."""
    contents, styles = tmp_path / "photos", tmp_path / "paintings"
    contents.mkdir()
    styles.mkdir()
    for seed, name in enumerate(("harbour", "meadow")):
        Image.fromarray(make_gradient_image(16, 24, seed)).save(contents / f"{name}.png")
    rng = torch.Generator().manual_seed(5)
    noise = (torch.rand(20, 20, 3, generator=rng) * 255).to(torch.uint8).numpy()
    Image.fromarray(noise).save(styles / "waves.png")
    return contents, styles


def identity(content: Image.Image, style: Image.Image) -> Image.Image:
    return content


def paste_style(content: Image.Image, style: Image.Image) -> Image.Image:
    return style.resize(content.size)


def greyscale(content: Image.Image, style: Image.Image) -> Image.Image:
    return ImageOps.grayscale(content).convert("RGB")


FAKE_METHODS = {"identity": identity, "paste-style": paste_style, "grey": greyscale}


def run_fake(inputs, random_vgg, out_dir, **kwargs):
    contents, styles = inputs
    return runner.evaluate(
        sorted(contents.iterdir()), sorted(styles.iterdir()), FAKE_METHODS, vgg=random_vgg, out_dir=out_dir, size=SIZE, **kwargs
    )


# --- method specs ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("optimize", specs.MethodUnderTest("optimize", "optimize", None)),
        ("fast:runs/3/starry.pt", specs.MethodUnderTest("fast-starry", "fast", "runs/3/starry.pt")),
        ("fast:starry-night", specs.MethodUnderTest("fast-starry-night", "fast", "starry-night")),
        ("mine=fast:C:/models/x.pt", specs.MethodUnderTest("mine", "fast", "C:/models/x.pt")),
        (" run2 = gan:a b.pt ", specs.MethodUnderTest("run2", "gan", "a b.pt")),
    ],
)
def test_method_specs_parse(spec, expected):
    assert specs.parse_method_spec(spec) == expected


@pytest.mark.parametrize("spec", ["", "fast:", ":model.pt", "a__b=optimize", "bad/label=optimize"])
def test_bad_method_specs_are_clear_errors(spec):
    with pytest.raises(PainterlyError):
        specs.parse_method_spec(spec)


def test_duplicate_labels_and_options_per_method():
    with pytest.raises(PainterlyError, match="both labelled 'fast-a'"):
        specs.parse_method_specs(["fast:a.pt", "fast:other/a.pt"])
    optimize, fast = specs.parse_method_specs(["optimize", "fast:a.pt"])
    assert specs.method_options(optimize, size=256, steps=50) == {"size": 256, "steps": 50}
    assert specs.method_options(fast, size=256, steps=50) == {"size": 256, "model": "a.pt"}


def test_collect_images_from_folders_files_and_builtin_names(inputs, tmp_path):
    contents, styles = inputs
    assert [p.name for p in specs.collect_images([contents], "content")] == ["harbour.png", "meadow.png"]
    found = specs.collect_images([styles / "waves.png", "starry-night"], "style", builtin_styles=True)
    assert [p.name for p in found] == ["waves.png", "starry_night.jpg"]
    assert len(specs.collect_images(["builtin"], "style", builtin_styles=True)) == len(registry.list_styles())
    with pytest.raises(PainterlyError, match="not found"):
        specs.collect_images([tmp_path / "missing"], "content")
    with pytest.raises(PainterlyError, match="not found"):
        specs.collect_images(["starry-night"], "content")  # built-in names are styles only
    (tmp_path / "empty").mkdir()
    with pytest.raises(PainterlyError, match="no images in content folder"):
        specs.collect_images([tmp_path / "empty"], "content")


# --- running and measuring ---------------------------------------------------------------------------


def test_evaluate_measures_fake_methods_and_writes_the_report(inputs, random_vgg, tmp_path):
    out = tmp_path / "report"
    evaluation = run_fake(inputs, random_vgg, out)
    assert len(evaluation.records) == 2 * 1 * 3
    by_method = {(r.content, r.method): r for r in evaluation.records}
    same = by_method[("harbour", "identity")]
    assert same.content_distance == 0 and same.content_distance_normalized == 0
    assert same.style_gram_normalized == pytest.approx(1) and same.style_meancov_normalized == pytest.approx(1)
    assert same.ssim_luminance == pytest.approx(1, abs=1e-5)
    pasted = by_method[("harbour", "paste-style")]
    assert pasted.content_distance_normalized == pytest.approx(1, abs=0.3)  # the style image, resized otherwise
    assert pasted.style_gram_normalized < 0.5
    grey = by_method[("harbour", "grey")]
    assert grey.colourfulness < 1 < same.colourfulness
    assert grey.ssim_luminance > 0.95  # the same luminance, give or take 8-bit rounding
    assert all(r.seconds >= 0 and math.isfinite(r.peak_memory_mb) for r in evaluation.records)

    # Outputs are saved under the naming scheme, and the report files hold every row.
    assert (out / "images" / "meadow__waves__paste-style.png").is_file()
    assert set(evaluation.files) == {"csv", "json", "html"}
    with open(evaluation.files["csv"], newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 6 and {"content", "style", "method", "style_gram_normalized", "seconds"} <= set(rows[0])
    data = json.loads(evaluation.files["json"].read_text())
    assert data["format"] == report.FORMAT and len(data["records"]) == 6
    assert [s["method"] for s in data["summary"]] == ["identity", "paste-style", "grey"]
    assert data["summary"][0]["mean"]["content_distance_normalized"] == 0
    page = evaluation.files["html"].read_text()
    assert page.count("<img") >= 2 * (2 + 3)  # per row: content, style and three methods
    assert 'class="summary"' in page and "paste-style" in page and "data:image/jpeg;base64," in page


def test_summary_lines_give_one_line_per_method(inputs, random_vgg):
    evaluation = run_fake(inputs, random_vgg, None)
    lines = report.summary_lines(evaluation)
    assert len(lines) == 3 and lines[0].startswith("identity:")
    assert "style 1.00±0.00" in lines[0] and "content 0.00±0.00" in lines[0] and "(2 images)" in lines[0]
    assert evaluation.files == {}


def test_existing_outputs_are_read_by_name(inputs, random_vgg, tmp_path):
    first = run_fake(inputs, random_vgg, tmp_path / "first")
    contents, styles = inputs
    again = runner.evaluate(
        sorted(contents.iterdir()), sorted(styles.iterdir()), tmp_path / "first" / "images",
        vgg=random_vgg, out_dir=tmp_path / "second", size=SIZE, keep_methods=["grey", "identity"],
    )  # fmt: skip
    assert again.methods == ["grey", "identity"]
    before = {(r.content, r.method): r for r in first.records}
    for record in again.records:
        assert record.style_gram == pytest.approx(before[(record.content, record.method)].style_gram, rel=1e-5)
        assert math.isnan(record.seconds)
    with open(again.files["csv"], newline="") as handle:
        assert next(csv.DictReader(handle))["seconds"] == ""
    assert json.loads(again.files["json"].read_text())["records"][0]["seconds"] is None
    with pytest.raises(PainterlyError, match="no outputs of fast"):
        runner.evaluate(sorted(contents.iterdir()), sorted(styles.iterdir()), tmp_path / "first" / "images",
                        vgg=random_vgg, size=SIZE, keep_methods=["fast"])  # fmt: skip
    with pytest.raises(PainterlyError, match="harbour__waves__mymethod"):
        runner.evaluate(sorted(contents.iterdir()), sorted(styles.iterdir()), contents, vgg=random_vgg, size=SIZE)


def test_fid_and_artfid_with_an_injected_feature_network(inputs, random_vgg):
    torch.manual_seed(0)
    network = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten())
    evaluation = run_fake(inputs, random_vgg, None, inception=network)
    assert set(evaluation.set_metrics) == set(FAKE_METHODS)
    identity_scores = evaluation.set_metrics["identity"]
    assert identity_scores["fid"] > 0
    assert identity_scores["art_fid"] == pytest.approx(1 + identity_scores["fid"])  # content distance 0
    assert "FID" in report.summary_lines(evaluation)[0]


def test_every_method_gets_a_frechet_distance_to_the_paintings(inputs, random_vgg, tmp_path):
    contents, styles = inputs
    for seed, name in enumerate(("harbour", "meadow")):  # square like the painting: pasted, it is the painting itself
        Image.fromarray(make_gradient_image(20, 20, seed)).save(contents / f"{name}.png")
    evaluation = run_fake(inputs, random_vgg, tmp_path / "report")
    distances = {method: values["vgg_frechet"] for method, values in evaluation.set_metrics.items()}
    assert set(distances) == set(FAKE_METHODS) and all(math.isfinite(value) and value >= 0 for value in distances.values())
    assert distances["paste-style"] == pytest.approx(0, abs=1e-6 * distances["identity"])
    assert distances["identity"] > 0 and distances["grey"] > 0
    assert f"Fréchet {distances['identity']:.1f}" in report.summary_lines(evaluation)[0]
    summary = json.loads(evaluation.files["json"].read_text())["summary"]
    assert {entry["method"]: entry["vgg_frechet"] for entry in summary} == pytest.approx(distances)
    assert "Fréchet (VGG19)" in evaluation.files["html"].read_text()


def test_report_folder_with_other_files_is_refused(inputs, random_vgg, tmp_path):
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "thesis.tex").write_text("keep me")
    with pytest.raises(PainterlyError, match="already holds other files"):
        run_fake(inputs, random_vgg, busy)
    assert sorted(p.name for p in busy.iterdir()) == ["thesis.tex"]
    earlier = tmp_path / "earlier"
    run_fake(inputs, random_vgg, earlier)
    run_fake(inputs, random_vgg, earlier)  # an earlier report is replaced


def test_duplicate_stems_and_cancel(inputs, random_vgg, tmp_path):
    contents, styles = inputs
    Image.new("RGB", (8, 8)).save(contents / "harbour.jpg")
    with pytest.raises(PainterlyError, match="both called 'harbour'"):
        runner.evaluate(sorted(contents.iterdir()), sorted(styles.iterdir()), FAKE_METHODS, vgg=random_vgg, size=SIZE)
    (contents / "harbour.jpg").unlink()
    events = []
    with pytest.raises(Cancelled):
        run_fake(inputs, random_vgg, None, progress=lambda event: events.append(event) or False)
    assert len(events) == 1 and events[0].total == 6 and events[0].stage == "identity: harbour × waves"


def test_outputs_of_another_size_are_measured_and_failures_name_the_method(inputs, random_vgg):
    contents, styles = inputs

    def half(content, style):
        return content.resize((content.width // 2, content.height // 2))

    def broken(content, style):
        raise PainterlyError("model file is damaged")

    evaluation = runner.evaluate([contents / "harbour.png"], [styles / "waves.png"], {"half": half}, vgg=random_vgg, size=SIZE)
    (record,) = evaluation.records
    assert (record.width, record.height) == (12, 8) and record.ssim_luminance > 0.5
    # A failing method is recorded, and the methods after it still run.
    evaluation = runner.evaluate([contents / "harbour.png"], [styles / "waves.png"], {"broken": broken, "half": half},
                                 vgg=random_vgg, size=SIZE)  # fmt: skip
    assert [r.method for r in evaluation.records] == ["half"]
    (failure,) = evaluation.failures
    assert failure.line() == "broken failed on harbour × waves: model file is damaged"


def test_a_failing_output_is_reported_and_the_evaluation_goes_on(inputs, random_vgg, tmp_path):
    contents, styles = inputs
    calls = []

    def fails_on_second_image(content, style):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("out of memory")
        return content

    methods = {"flaky": fails_on_second_image, "identity": identity}
    evaluation = runner.evaluate(sorted(contents.iterdir()), sorted(styles.iterdir()), methods, vgg=random_vgg,
                                 out_dir=tmp_path / "report", size=SIZE)  # fmt: skip
    assert len(calls) == 2 and len(evaluation.records) == 3  # every output but the failed one
    assert [(f.content, f.method, f.message) for f in evaluation.failures] == [
        ("meadow", "flaky", "RuntimeError: out of memory")]  # fmt: skip
    data = json.loads(evaluation.files["json"].read_text())
    assert data["failures"] == [{"content": "meadow", "style": "waves", "method": "flaky",
                                 "message": "RuntimeError: out of memory"}]  # fmt: skip
    assert [(s["method"], s["count"], s["failed"]) for s in data["summary"]] == [("flaky", 1, 1), ("identity", 2, 0)]
    page = evaluation.files["html"].read_text()
    assert "Failed (1)" in page and "flaky failed on meadow × waves: RuntimeError: out of memory" in page
    assert report.summary_lines(evaluation)[0].endswith("(1 images, 1 failed)")
    # Cancelling still stops at once.
    with pytest.raises(Cancelled):
        runner.evaluate(sorted(contents.iterdir()), sorted(styles.iterdir()), methods, vgg=random_vgg, size=SIZE,
                        progress=lambda event: False)  # fmt: skip


def test_plot_is_embedded_or_replaced_by_a_note(inputs, random_vgg, tmp_path, monkeypatch):
    evaluation = run_fake(inputs, random_vgg, None)
    summaries = report.summarize(evaluation)
    pytest.importorskip("matplotlib")
    assert "data:image/png;base64," in report.render_html(evaluation, summaries)
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)  # as if matplotlib were not installed
    assert "matplotlib is not installed" in report.render_html(evaluation, summaries)


def test_measure_sees_torch_memory_on_the_cpu():
    with runner.measure(torch.device("cpu")) as measurement:
        block = torch.ones(64, 2**20 // 4)  # 64 MiB, written so the pages are resident
        block += 1
    assert measurement.seconds >= 0
    assert measurement.peak_memory_mb > 48
    del block


# --- the command ---------------------------------------------------------------------------------------


@pytest.fixture
def fake_registered_method(monkeypatch, random_vgg):
    """A registered method that returns the content unchanged, and the random VGG for the metrics."""
    from painterly.api import Stylizer

    def run(content, styles, *, device, progress=None, **options):
        return content

    from painterly.methods.spec import function_method

    monkeypatch.setitem(registry._METHODS, "fake", function_method("fake", "returns the content", run))
    monkeypatch.setattr(Stylizer, "feature_network", lambda self, last_layer="relu5_1", pooling="max": random_vgg)


def test_cli_runs_methods_and_prints_one_line_each(inputs, tmp_path, fake_registered_method):
    contents, styles = inputs
    out = tmp_path / "report"
    result = CliRunner().invoke(
        evaluate_command,
        ["--contents", str(contents), "--styles", str(styles), "-m", "fake", "-m", "again=fake",
         "-o", str(out), "--size", str(SIZE), "--device", "cpu"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    lines = [line for line in result.stdout.splitlines() if line]
    assert [line.split(":")[0] for line in lines] == ["fake", "again"]
    assert (out / "report.html").is_file() and (out / "images" / "meadow__waves__again.png").is_file()

    reread = CliRunner().invoke(
        evaluate_command,
        ["-c", str(contents), "-s", str(styles), "--outputs", str(out / "images"), "-o", str(tmp_path / "r2"),
         "--size", str(SIZE), "--device", "cpu"],
    )  # fmt: skip
    assert reread.exit_code == 0, reread.output
    assert [line.split(":")[0] for line in reread.stdout.splitlines() if line] == ["again", "fake"]


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--contents", "{tmp}/missing", "--styles", "builtin"], "not found"),
        (["--contents", "{tmp}/empty", "--styles", "builtin"], "no images in content folder"),
        (["--contents", "{photos}", "--styles", "no-such-style"], "built-in style name"),
        (["--contents", "{photos}", "--styles", "builtin", "-m", "no-such-method"], "unknown method"),
        (["--contents", "{photos}", "--styles", "builtin", "-m", "fast:"], "bad method"),
        (["--contents", "{photos}", "--styles", "builtin", "--inception-weights", "{tmp}/none.pth"], "pytorch-fid"),
    ],
)
def test_cli_bad_input_is_one_line_and_exit_2(inputs, tmp_path, fake_registered_method, arguments, message):
    (tmp_path / "empty").mkdir()
    contents, _ = inputs
    arguments = [a.format(tmp=tmp_path, photos=contents) for a in arguments]
    result = CliRunner().invoke(evaluate_command, [*arguments, "-o", str(tmp_path / "out"), "--device", "cpu"])
    assert result.exit_code == 2
    assert result.stderr.startswith("error: ") and message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()


# --- video rows ----------------------------------------------------------------------------------------


def flickering_factory(style_name: str, painting: Image.Image):
    """A frame stylizer that adds noise drawn anew for every frame: flicker the consistency must remove."""
    from painterly.video.frames import FrameStylizer

    generator = torch.Generator().manual_seed(0)

    def stylize(frame, guidance):
        return (frame + 0.2 * (torch.rand(frame.shape, generator=generator) - 0.5)).clamp(0, 1)

    return FrameStylizer(stylize, {"method": "flicker"})


def test_video_rows_measure_warping_error_and_speed(inputs, random_vgg, tmp_path):
    pytest.importorskip("av")
    from web_clips import write_clip

    from painterly.evaluate.video import VideoSettings

    contents, styles = inputs
    clip = write_clip(tmp_path / "slide.mp4", frames=10, audio=False)
    evaluation = runner.evaluate(
        sorted(contents.iterdir()), sorted(styles.iterdir()), {"identity": identity}, vgg=random_vgg,
        out_dir=tmp_path / "report", size=SIZE, videos=[clip], video_methods={"flicker": flickering_factory},
        video_settings=VideoSettings(size=32, seconds=None, consistency=0.9),
    )  # fmt: skip
    assert evaluation.methods == ["identity", "flicker+video", "flicker+plain"]
    rows = {r.method: r for r in evaluation.records if r.content == "slide"}
    assert set(rows) == {"flicker+video", "flicker+plain"}
    for row in rows.values():
        assert row.frames_per_second > 0 and (row.width, row.height) == (32, 24)
        assert 0 <= row.style_gram_normalized < 10 and (tmp_path / "report" / "images" / Path(row.output).name).is_file()
    # Consistency carries the previous frame along the flow: much less flicker than frame by frame.
    assert rows["flicker+video"].warping_error < 0.5 * rows["flicker+plain"].warping_error
    assert all(math.isnan(r.warping_error) for r in evaluation.records if r.method == "identity")
    summary = {line.split(":")[0].strip(): line for line in report.summary_lines(evaluation)}
    assert "frames/s" in summary["flicker+video"] and "warping" in summary["flicker+plain"]
    assert "frames/s" not in summary["identity"]
    with open(tmp_path / "report" / "report.csv", encoding="utf-8") as handle:
        table = list(csv.DictReader(handle))
    assert {row["method"] for row in table if row["warping_error"]} == {"flicker+video", "flicker+plain"}
    page = (tmp_path / "report" / "report.html").read_text(encoding="utf-8")
    assert "warping error" in page and "slide" in page


def test_videos_need_methods_to_run(inputs, random_vgg, tmp_path):
    contents, styles = inputs
    with pytest.raises(PainterlyError, match="running methods"):
        runner.evaluate(sorted(contents.iterdir()), sorted(styles.iterdir()), {"identity": identity}, vgg=random_vgg,
                        out_dir=None, size=SIZE, videos=[contents])  # fmt: skip
    with pytest.raises(PainterlyError, match="no videos in folder"):
        runner.evaluate(sorted(contents.iterdir()), sorted(styles.iterdir()), {"identity": identity}, vgg=random_vgg,
                        out_dir=tmp_path / "r", size=SIZE, videos=[contents], video_methods={"f": flickering_factory})  # fmt: skip


def test_cli_adds_video_rows(inputs, tmp_path, fake_registered_method):
    pytest.importorskip("av")
    from web_clips import write_clip

    contents, styles = inputs
    clip = write_clip(tmp_path / "slide.mp4", frames=6, audio=False)
    result = CliRunner().invoke(
        evaluate_command,
        ["-c", str(contents), "-s", str(styles), "-m", "fake", "--videos", str(clip), "--video-seconds", "1",
         "-o", str(tmp_path / "report"), "--size", str(SIZE), "--device", "cpu"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    labels = [line.split(":")[0].strip() for line in result.stdout.splitlines() if line]
    assert labels == ["fake", "fake+video", "fake+plain"]
    assert "frames/s" in result.stdout


def test_fast_style_placeholder_runs_each_styles_own_model(inputs, tmp_path, monkeypatch, fake_registered_method):
    from feedforward_helpers import tiny_model_file

    contents, styles = inputs
    models = tmp_path / "models"
    models.mkdir()
    tiny_model_file(models).rename(models / "waves.safetensors")
    monkeypatch.setenv("PAINTERLY_MODELS_DIR", str(models))
    assert specs.model_for_style("{style}", "The_Waves") == "the-waves"
    assert specs.model_for_style("mine.safetensors", "waves") == "mine.safetensors"
    evaluation = specs.evaluate_specs([contents], [styles], methods=["fast:{style}"], out_dir=tmp_path / "r", size=SIZE, device="cpu")
    assert evaluation.methods == ["fast-style"] and len(evaluation.records) == 2
    assert all(0 < r.style_gram_normalized < 10 for r in evaluation.records)
    (styles / "waves.png").rename(styles / "clouds.png")
    evaluation = specs.evaluate_specs([contents], [styles], methods=["fast:{style}"], out_dir=tmp_path / "r2", size=SIZE,
                                      device="cpu")  # fmt: skip
    assert evaluation.records == [] and len(evaluation.failures) == 2
    assert all("'clouds' is neither a file nor an installed model" in f.message for f in evaluation.failures)


def test_cli_takes_model_files_and_names_and_goes_on_past_an_export(inputs, tmp_path, fake_registered_method):
    """``-m fast:FILE`` with the files ``painterly train`` writes, at the default size; a TorchScript
    export fails alone, said plainly, and the report keeps every other result (exit code 1)."""
    from feedforward_helpers import tiny_checkpoint_file, tiny_model_file, tiny_torchscript_file

    contents, styles = inputs
    model, checkpoint = tiny_model_file(tmp_path), tiny_checkpoint_file(tmp_path)
    (tmp_path / "export").mkdir()
    export = tiny_torchscript_file(tmp_path / "export")
    out = tmp_path / "report"
    result = CliRunner().invoke(
        evaluate_command,
        ["-c", str(contents), "-s", str(styles), "-m", f"fast:{model}", "-m", f"step5=fast:{checkpoint}",
         "-m", "fast:starry-night", "-m", f"exported=fast:{export}", "-o", str(out), "--device", "cpu"],
    )  # fmt: skip
    assert result.exit_code == 1, result.output
    assert [line.split(":")[0] for line in result.stdout.splitlines() if line] == [
        "fast-tiny", "step5", "fast-starry-night", "exported"]  # fmt: skip
    failed = [line for line in result.stderr.splitlines() if line.startswith("failed: ")]
    assert len(failed) == 2 and failed[0].startswith("failed: exported failed on harbour × waves: ")
    assert "is a TorchScript export" in failed[0] and "download" not in result.stderr
    assert result.stderr.strip().splitlines()[-1] == "error: 2 of 8 outputs failed (listed above and in the report)"
    data = json.loads((out / "report.json").read_text())
    assert len(data["records"]) == 6 and {r["width"] for r in data["records"]} == {256}  # --size's default
    assert [f["method"] for f in data["failures"]] == ["exported", "exported"]
