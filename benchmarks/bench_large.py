#!/usr/bin/env python3
"""A phone photo (4000×3000) through a shipped model: the whole command, and the tiled network.

1. The whole command as users run it, at default settings, in its own process:
   ``painterly stylize PHOTO --model MODEL -o OUT`` — wall seconds and peak memory.
2. In this process, the tiled network alone (FastStylizer on the decoded photo) for several tile
   sizes, at the default precision and in fp32 (the baseline, since fp32 is what worked before
   the bf16 tiled path did), best of --repeats, with ratios to the baseline.

    python benchmarks/bench_large.py                       # starry-night, 4000×3000
    python benchmarks/bench_large.py --model the-scream --size 3024x4032 --tiles 1024 2048
    python benchmarks/bench_large.py --style ../shared/data/styles/the_scream.jpg --no-network   # any painting
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

from smoke import source_photo  # noqa: E402

from painterly.io.images import image_to_tensor, load_image  # noqa: E402
from painterly.methods.feedforward import FastConfig, FastStylizer  # noqa: E402


def whole_command(photo: Path, style: list[str], out: Path) -> tuple[float, float]:
    """(seconds, peak MB) of ``painterly stylize PHOTO STYLE… -o OUT`` in a child process."""
    executable = shutil.which("painterly")
    cli = [executable] if executable else [sys.executable, "-m", "painterly"]
    start = time.perf_counter()
    process = subprocess.Popen([*cli, "stylize", str(photo), *style, "-o", str(out), "--overwrite"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # fmt: skip
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - start
    if status != 0:
        raise SystemExit(f"the command failed: {process.stderr.read().decode()[-300:] if process.stderr else ''}")
    return seconds, usage.ru_maxrss / 1024


def best_of(function, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="starry-night")
    parser.add_argument("--style", type=Path, help="the whole command paints this painting (--method fast: any painting) instead")
    parser.add_argument("--size", default="4000x3000", help="WIDTHxHEIGHT of the photo")
    parser.add_argument("--tiles", type=int, nargs="+", default=[1024, 1536, 2048])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--no-command", action="store_true", help="skip the whole-command timing")
    parser.add_argument("--no-network", action="store_true", help="skip the tiled network's timings")
    args = parser.parse_args()
    width, height = (int(side) for side in args.size.lower().split("x"))
    folder = Path(tempfile.mkdtemp(prefix="painterly-large-"))
    photo = folder / "photo.jpg"
    Image.open(source_photo()).convert("RGB").resize((width, height), Image.Resampling.LANCZOS).save(photo, quality=92)
    print(f"photo {width}×{height}, {'painting ' + args.style.name if args.style else 'model ' + args.model}, {torch.get_num_threads()} threads")
    if not args.no_command:
        style = ["--style", str(args.style.resolve()), "--method", "fast"] if args.style else ["--model", args.model]
        seconds, peak = whole_command(photo, style, folder / "out.jpg")
        print(f"whole command ({' '.join(style)}), default settings: {seconds:.1f} s, peak {peak:,.0f} MB")
    if args.no_network:
        shutil.rmtree(folder, ignore_errors=True)
        return
    tensor = image_to_tensor(load_image(photo))
    baseline = FastStylizer(FastConfig(model=args.model, precision="fp32"))
    with torch.no_grad():
        base = best_of(lambda: baseline.stylize_tensor(tensor), args.repeats)
    print(f"network, fp32, tiles of {baseline.config.tile_size} (baseline): {base:.2f} s")
    for tile in args.tiles:
        stylizer = FastStylizer(FastConfig(model=args.model, tile_size=tile))
        with torch.no_grad():
            seconds = best_of(lambda: stylizer.stylize_tensor(tensor), args.repeats)
        print(f"network, default precision ({stylizer.dtype}), tiles of {tile}: {seconds:.2f} s  ×{base / seconds:.2f}")
    print(f"peak memory of this process: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f} MB")
    shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
