"""Memory: each method's estimate, the budget it is checked against, and one-line refusals."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

import painterly
from painterly.cli import main as cli_main
from painterly.cli.main import cli
from painterly.devices import available_memory, format_bytes, parse_memory
from painterly.errors import PainterlyError
from painterly.methods import spec as spec_module
from painterly.methods.adain import AdaINConfig, adain_memory
from painterly.methods.feedforward import FastConfig, fast_memory
from painterly.methods.optimize import OptimizeConfig
from painterly.methods.optimize_stylizer import optimize_memory
from painterly.registry import get_method
from tests.conftest import make_gradient_image

MB = 2**20
#: Peaks in MiB measured with ``/usr/bin/time -v`` (maximum resident set size, CPU with native
#: bf16, ``--precision auto`` = bf16 unless noted) by the runs listed in docs/methods.md.
MEASURED = [
    ("fast", FastConfig(model="x"), 1024, 768, torch.bfloat16, 551),
    ("fast", FastConfig(model="x"), 1024, 768, torch.float32, 773),
    ("fast", FastConfig(model="x"), 2048, 1536, torch.float32, 971),
    ("fast", FastConfig(model="x"), 4000, 3000, torch.bfloat16, 1109),
    ("adain", AdaINConfig(), 1024, 768, torch.bfloat16, 569),
    ("adain", AdaINConfig(), 4000, 3000, torch.bfloat16, 1551),
    ("optimize", OptimizeConfig(size=256, steps=6), 256, 192, torch.bfloat16, 604),
    ("optimize", OptimizeConfig(size=512, steps=6), 512, 384, torch.bfloat16, 971),
    ("optimize", OptimizeConfig(size=512, steps=6), 512, 384, torch.float32, 1031),
    ("optimize", OptimizeConfig(size=512), 512, 384, torch.bfloat16, 1297),
    ("optimize", OptimizeConfig(size=1024, steps=8), 1024, 768, torch.bfloat16, 2081),
]
ESTIMATES = {"fast": fast_memory, "adain": adain_memory, "optimize": optimize_memory}


@pytest.fixture
def photo_path(tmp_path):
    path = tmp_path / "photo.png"
    Image.fromarray(make_gradient_image(48, 64)).save(path)
    return path


def test_parse_memory_takes_units_and_refuses_nonsense():
    assert parse_memory("4G") == 4 * 2**30
    assert parse_memory("1.5GB") == int(1.5 * 2**30)
    assert parse_memory("512 MiB") == 512 * MB
    assert parse_memory(1000) == 1000 and parse_memory(None) is None
    for bad in ("lots", "-1G", "nan", "0", [4]):
        with pytest.raises(PainterlyError, match="max memory"):
            parse_memory(bad)
    assert format_bytes(1.5 * 2**30) == "1.5 GB" and format_bytes(300 * MB) == "300 MB"


@pytest.mark.parametrize("method, config, width, height, dtype, measured", MEASURED)
def test_estimates_cover_the_measured_peaks_without_wasting_much(method, config, width, height, dtype, measured):
    estimate = ESTIMATES[method](config, width, height, dtype) / MB
    # Small images overshoot most (the base is the larger runs' intercept): at most 20 % above.
    assert measured <= estimate <= 1.2 * measured, (method, width, height, estimate, measured)


def test_tiles_keep_the_fast_and_adain_estimates_growing_with_the_image_buffers_only():
    for estimate, config in ((fast_memory, FastConfig(model="x")), (adain_memory, AdaINConfig())):
        small, large = (estimate(config, w, h, torch.float32) for w, h in ((4000, 3000), (8000, 6000)))
        # 36 more megapixels cost far less than the network's 460–600 bytes a pixel: only the buffers grow.
        assert (large - small) / 36e6 < 120
        untiled = estimate(config, 4000, 3000, torch.float32) < estimate(
            type(config)(**{**config.__dict__, "tile_size": 5000}), 4000, 3000, torch.float32)
        assert untiled


def test_estimates_follow_precision_batch_work_scale_steps_and_style_scale():
    fast = FastConfig(model="x")
    assert fast_memory(fast, 512, 512, torch.float32) > fast_memory(fast, 512, 512, torch.bfloat16)
    assert fast_memory(fast, 512, 512, torch.float32, batch=4) > 3 * (fast_memory(fast, 512, 512, torch.float32) - 300 * MB)
    half = FastConfig(model="x", work_scale=0.5)
    assert fast_memory(half, 1024, 1024, torch.float32) < fast_memory(fast, 1024, 1024, torch.float32)
    few, many = OptimizeConfig(size=512, steps=4), OptimizeConfig(size=512, steps=300)
    assert optimize_memory(many, 512, 512, torch.float32) > optimize_memory(few, 512, 512, torch.float32)
    adam = OptimizeConfig(size=512, steps=300, optimizer="adam")
    assert optimize_memory(adam, 512, 512, torch.float32) < optimize_memory(many, 512, 512, torch.float32)
    coarse = OptimizeConfig(size=512, style_scale=4)
    assert optimize_memory(coarse, 512, 512, torch.float32) > optimize_memory(OptimizeConfig(size=512), 512, 512, torch.float32)


def test_available_memory_is_the_smallest_room_left(monkeypatch):
    free = available_memory("cpu")
    assert free is not None and free > 0
    from painterly import devices

    monkeypatch.setattr(devices, "_cgroup_room", lambda: 123 * MB)
    assert available_memory("cpu") == 123 * MB


def test_output_larger_than_max_pixels_is_refused():
    spec = get_method("fast")
    config = spec.make_config({"model": "x", "size": 100000})
    with pytest.raises(PainterlyError, match=r"output would be 100000×75000 .* --max-pixels"):
        spec.check_resources(config, 64, 48, max_pixels=50_000_000)
    spec.check_resources(spec.make_config({"model": "x", "size": 64}), 64, 48, max_pixels=50_000_000)


def test_a_refusal_says_which_size_fits_and_that_size_does_fit(monkeypatch):
    spec = get_method("optimize")
    config = spec.make_config({"size": 1024, "precision": "fp32"})
    with pytest.raises(PainterlyError) as error:
        spec.check_resources(config, 1024, 768, device="cpu", max_memory=1024 * MB)
    message = str(error.value)
    assert "\n" not in message and "more than --max-memory 1.0 GB" in message
    fits = int(message.rsplit("--size ", 1)[1].split()[0])
    assert 64 < fits < 1024
    smaller = spec.make_config({"size": fits, "precision": "fp32"})
    spec.check_resources(smaller, 1024, 768, device="cpu", max_memory=1024 * MB)  # the advice works
    # Without --max-memory, the memory the machine has available is the budget.
    monkeypatch.setattr(spec_module, "available_memory", lambda device=None: 200 * MB)
    monkeypatch.setattr(spec_module, "process_memory", lambda: 100 * MB)
    with pytest.raises(PainterlyError, match="more than the 200 MB available: not even a small image fits"):
        spec.check_resources(config, 1024, 768, device="cpu")


def test_api_refuses_a_huge_size_at_once_before_loading_anything(monkeypatch):
    from painterly import api

    def no_vgg(*args, **kwargs):
        raise AssertionError("VGG19 loaded before the size was checked")

    monkeypatch.setattr(api.Stylizer, "feature_network", no_vgg)
    photo = Image.fromarray(make_gradient_image(48, 64))
    started = time.perf_counter()
    with pytest.raises(PainterlyError, match="output would be 100000×75000"):
        painterly.stylize(photo, "starry-night", size=100000, device="cpu")
    with pytest.raises(PainterlyError, match="more than --max-memory 100 MB"):
        painterly.stylize(photo, "starry-night", size=64, device="cpu", max_memory="100M")
    assert time.perf_counter() - started < 5


def test_cli_refuses_huge_size_and_small_max_memory_in_one_line(photo_path, tmp_path):
    out = tmp_path / "out.png"
    for extra, expected in ((["--style", "starry-night", "--size", "100000"], "output would be 100000×75000"),
                            (["--model", "starry-night", "--max-memory", "100M"], "more than --max-memory 100 MB"),
                            (["--model", "starry-night", "--max-memory", "lots"], "max memory takes an amount")):  # fmt: skip
        result = CliRunner().invoke(cli, ["stylize", str(photo_path), "-o", str(out), *extra])
        assert result.exit_code == 2, result.output
        lines = result.output.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: ") and expected in lines[0], lines
        assert not out.exists()


def test_under_ulimit_v_a_large_size_is_refused_in_one_line(photo_path, tmp_path):
    out = tmp_path / "out.png"
    command = (f"ulimit -v {3 * 2**20}; exec {sys.executable} -m painterly stylize {photo_path} --style starry-night "
               f"--size 4000 --precision fp32 -o {out}")  # fmt: skip
    root = Path(__file__).resolve().parents[1]
    result = subprocess.run(["bash", "-c", command], capture_output=True, text=True, timeout=120, cwd=root,
                            env={**__import__("os").environ, "PYTHONPATH": str(root)})  # fmt: skip
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "available: it fits up to about" in lines[0], lines
    assert not out.exists()


def test_out_of_memory_from_pytorch_is_one_line(monkeypatch, capsys):
    def broken(*args, **kwargs):
        raise RuntimeError("[enforce fail at alloc_cpu.cpp:127] err == 0. DefaultCPUAllocator: can't allocate memory: "
                           "you tried to allocate 40000000000 bytes.\nError code 12")  # fmt: skip

    monkeypatch.setattr(cli_main.cli, "main", broken)
    with pytest.raises(SystemExit) as exit_info:
        cli_main.main(["stylize", "photo.jpg"])
    assert exit_info.value.code == 1
    assert capsys.readouterr().err.strip() == "error: out of memory: use a smaller --size or --work-scale, or close other programs"


def test_every_registered_method_estimates_its_memory():
    for spec in painterly.registry.list_methods():
        config = spec.make_config({"model": "x"} if spec.needs_model else {})
        small, large = spec.estimate_memory(config, 64, 48, "cpu"), spec.estimate_memory(config, 640, 480, "cpu")
        assert 0 < small < large, spec.name
        assert np.isfinite(small)


def test_video_checks_the_frame_size_against_max_memory_before_loading(tmp_path):
    from web_clips import write_clip

    clip = write_clip(tmp_path / "clip.mp4", frames=3, audio=False)
    out = tmp_path / "out.mp4"
    result = CliRunner().invoke(cli, ["video", str(clip), "--style", "starry-night", "--method", "optimize", "--size", "64",
                                      "--max-memory", "100M", "-o", str(out)])  # fmt: skip
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "painting 64×48 with the optimize method" in lines[0] and "--max-memory 100 MB" in lines[0]
    assert not out.exists()
