"""The one-run training script for a lent GPU, rehearsed on the CPU: every stage runs and writes a usable model."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from feedforward_helpers import photo_folder

REPO = Path(__file__).resolve().parents[1]


def test_the_rehearsal_runs_every_stage_and_writes_models(tmp_path):
    paintings = REPO.parent / "shared" / "data" / "train-paintings"
    if not paintings.is_dir():
        pytest.skip("no shared training paintings here")
    photos = photo_folder(tmp_path / "photos", count=4)
    out = tmp_path / "everything"
    done = subprocess.run([sys.executable, str(REPO / "scripts" / "train_everything.py"), "--rehearse", "--out", str(out),
                           "--photos", str(photos), "--minutes", "60"], capture_output=True, text=True, timeout=600)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    summary = json.loads((out / "summary.json").read_text())
    stages = summary["stages"]
    assert [stage["name"] for stage in stages] == ["shared", "starry-night", "water-lilies",
                                                    "starry-night-adversarial", "anystyle", "adain-decoder",
                                                    "photo2impressionism"]
    assert len(list((out / "impressionism").iterdir())) == 74  # the CycleGAN's painting domain
    assert all(stage["exit_code"] == 0 and Path(stage["model"]).is_file() for stage in stages)
    # --minutes 60: each stage is bounded by its share of the hour (18 min for the shared network).
    limits = {stage["name"]: float(stage["command"][stage["command"].index("--time-limit") + 1]) for stage in stages}
    assert limits["shared"] == 18.0 and limits["photo2impressionism"] == 12.0 and limits["starry-night"] == 5.0
    # The shared network went on from the committed checkpoint, two steps further.
    losses = (out / "shared.run" / "losses.csv").read_text().splitlines()
    assert int(losses[-1].split(",")[0]) == summary["plan"]["pretrain_steps"]

    from painterly.models import load_model

    net, info = load_model(out / "models" / "starry-night.safetensors")
    assert info.name == "starry-night"
    generator, _ = load_model(out / "photo2impressionism.run" / "a2b.safetensors")
    assert sum(p.numel() for p in generator.parameters()) > 1_500_000  # a residual generator of CycleGAN's capacity


def test_the_script_fine_tunes_with_the_default_recipe():
    import importlib.util

    from painterly.registry import style_names
    from painterly.train import styles

    spec = importlib.util.spec_from_file_location("train_everything", REPO / "scripts" / "train_everything.py")
    script = importlib.util.module_from_spec(spec)
    sys.modules["train_everything"] = script  # its dataclasses look their module up
    try:
        spec.loader.exec_module(script)
    finally:
        del sys.modules["train_everything"]
    for name in ("FINE_TUNE_CONTENT_WEIGHT", "FINE_TUNE_CONTENT_TARGET", "FINE_TUNE_STYLE_SIZE"):
        assert getattr(script, name) == getattr(styles, name), name
    assert sorted(script.STYLES) == sorted(style_names())
