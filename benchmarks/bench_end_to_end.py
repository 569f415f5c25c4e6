#!/usr/bin/env python3
"""Time whole commands as users run them: ``painterly --help``, one 1024×768 photo, a folder of nine,
a 100-frame 854×480 clip (consistency on, as by default).

Each command runs as a subprocess (start-up, model loading, decoding, painting, encoding: all of
it), in rounds that alternate the programs so that a busy machine slows them alike; each figure is
the best of ``--repeats`` rounds after one warm-up photo per program (disk caches, exported graphs). Compared in the same run with

* ``--baseline DIR``: another painterly source tree (e.g. a checkout of the previous version), run
  with ``PYTHONPATH=DIR``;
* styletransfer-lite (onnxruntime, 26 fixed styles) when installed, on the same photos; its ``video``
  command (at the clip's size, its default smoothing) when its ``[video]`` extra is installed.

Ratios are this tree's time over the other program's (below 1: this tree is faster).

Usage:
    python benchmarks/bench_end_to_end.py [--repeats 3] [--baseline ../main] [--model starry-night] [--tasks help "one photo"]
    python benchmarks/bench_end_to_end.py --style ../shared/data/styles/the_scream.jpg   # any painting, both programs
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
CLIP_SIZE, CLIP_FRAMES, CLIP_RATE = (854, 480), 100, 25
TASKS = ("help", "one photo", "folder of 9", "clip of 100")


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


def make_clip(path: Path, photo: Path) -> Path:
    """A ``CLIP_FRAMES``-frame H.264 clip of ``CLIP_SIZE``: a slow pan and zoom across ``photo``."""
    import av

    image = Image.open(photo).convert("RGB")
    width, height = CLIP_SIZE
    with av.open(str(path), "w") as output:
        stream = output.add_stream("libx264", rate=CLIP_RATE)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for index in range(CLIP_FRAMES):
            zoom = 1.0 + 0.3 * index / CLIP_FRAMES
            box_width, box_height = image.width / zoom, image.width / zoom * height / width
            left = (image.width - box_width) * index / CLIP_FRAMES
            top = max(0.0, (image.height - box_height) / 2)
            frame = image.resize(CLIP_SIZE, Image.BILINEAR, box=(left, top, left + box_width, top + box_height))
            for packet in stream.encode(av.VideoFrame.from_image(frame)):
                output.mux(packet)
        for packet in stream.encode(None):
            output.mux(packet)
    return path


class FreshOutput:
    """A command whose output path is new at every run (``painterly video`` resumes from its frames)."""

    def __init__(self, build, out: Path):
        self.build, self.out, self.runs = build, out, 0

    def __call__(self) -> list[str]:
        self.runs += 1
        folder = self.out / f"run{self.runs}"
        folder.mkdir(parents=True, exist_ok=True)
        return self.build(folder / "clip.mp4")


def painterly_commands(tree: Path, one: Path, nine: Path, out: Path, model: str, clip: Path,
                       painting: Optional[Path] = None) -> dict[str, tuple]:  # fmt: skip
    """The commands, painting in ``model``'s style, or in ``painting``'s (``--method fast``: any painting)."""
    env = {**os.environ, "PYTHONPATH": str(tree)}
    base = [sys.executable, "-m", "painterly"]
    style = ["--style", str(painting), "--method", "fast"] if painting else ["--model", model]
    return {
        "help": (base + ["--help"], env),
        "one photo": (base + ["stylize", str(one), *style, "-o", str(out / "one.png"), "--overwrite"], env),
        "folder of 9": (base + ["stylize", str(nine), *style, "-o", str(out / "nine"), "--overwrite"], env),
        "clip of 100": (FreshOutput(lambda target: base + ["video", str(clip), *style, "-o", str(target)],
                                    out / "clips"), env),  # fmt: skip
    }


def lite_commands(one: Path, nine: Path, out: Path, clip: Path, painting: Optional[Path] = None) -> dict[str, tuple]:
    """Its commands with its first built-in style, or its arbitrary mode given ``painting`` (not for video: it has none)."""
    base = [sys.executable, "-c", "import sys; from styletransfer_lite.cli import main; sys.exit(main())"]
    env = dict(os.environ)
    (out / "nine").mkdir(parents=True, exist_ok=True)
    style = ["--style-image", str(painting)] if painting else ["--style", "0"]
    commands = {
        "help": (base + ["--help"], env),
        "one photo": (base + ["stylize", str(one), *style, "-o", str(out / "one.png")], env),
        "folder of 9": (base + ["stylize", str(nine), *style, "-o", str(out / "nine")], env),
    }
    if painting is None and importlib.util.find_spec("cv2") is not None:  # its [video] extra
        video = ["video", str(clip), "--style", "0", "--max-size", str(max(CLIP_SIZE))]
        commands["clip of 100"] = (FreshOutput(lambda target: base + [*video, "-o", str(target)], out / "clips"), env)
    else:
        print("styletransfer-lite video: not installed (pip install 'styletransfer-lite[video]')")
    return commands


def timed(command, env: dict) -> float:
    """Seconds ``command`` (a list, or a callable giving one) takes as a subprocess."""
    command = command() if callable(command) else command
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
    parser.add_argument("--style", type=Path, help="paint in this painting's style instead (any painting: "
                        "painterly --method fast, styletransfer-lite --style-image)")  # fmt: skip
    parser.add_argument("--baseline", type=Path, help="another painterly source tree to compare with")
    parser.add_argument("--photos", type=Path, help="take the photos from this folder (default: generated)")
    parser.add_argument("--tasks", nargs="+", default=list(TASKS), choices=TASKS, help="which commands to time")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        one, nine = make_photos(work / "photos", args.photos)
        clip = make_clip(work / "clip.mp4", one) if "clip of 100" in args.tasks else work / "clip.mp4"
        painting = args.style.resolve() if args.style else None
        programs = {"painterly": painterly_commands(HERE, one, nine, work / "out-this", args.model, clip, painting)}
        if args.baseline is not None:
            programs["baseline"] = painterly_commands(args.baseline.resolve(), one, nine, work / "out-base", args.model,
                                                      clip, painting)  # fmt: skip
        if importlib.util.find_spec("styletransfer_lite") is not None:
            programs["styletransfer-lite"] = lite_commands(one, nine, work / "out-lite", clip, painting)
        else:
            print("styletransfer-lite: not installed (pip install styletransfer-lite)")
        tasks = [task for task in TASKS if task in args.tasks]
        for name, commands in programs.items():  # warm-up: disk caches, exported graphs
            timed(*commands["one photo"])
        best: dict[str, dict[str, float]] = {name: {} for name in programs}
        for _ in range(args.repeats):
            for task in tasks:
                for name, commands in programs.items():
                    if task not in commands:
                        continue
                    seconds = timed(*commands[task])
                    best[name][task] = min(best[name].get(task, float("inf")), seconds)
                    print(f"  {task:12s} {name:20s} {seconds:7.2f} s", flush=True)
        print(f"whole commands, best of {args.repeats} (seconds), {os.cpu_count()} CPUs; photos {PHOTO_SIZE[0]}×{PHOTO_SIZE[1]}")
        names = list(programs)
        print(f"{'command':14s}" + "".join(f"{name:>20s}" for name in names) +
              "".join(f"{'painterly/' + name[:10]:>22s}" for name in names[1:]))  # fmt: skip
        nan = float("nan")
        for task in tasks:
            row = f"{task:14s}" + "".join(f"{best[name].get(task, nan):20.2f}" for name in names)
            row += "".join(f"{best['painterly'][task] / best[name].get(task, nan):22.2f}" for name in names[1:])
            print(row)
        if "clip of 100" in tasks:
            rates = ", ".join(f"{name} {CLIP_FRAMES / best[name]['clip of 100']:.1f}" for name in names if "clip of 100" in best[name])
            print(f"clip of {CLIP_FRAMES} frames at {CLIP_SIZE[0]}×{CLIP_SIZE[1]}, whole command, frames/s: {rates}")


if __name__ == "__main__":
    main()
