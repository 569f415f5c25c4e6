"""Optimization method: Painterly's default against the classic single-scale fp32 Gatys setup.

Both run in this process on the same inputs; each result is then measured the same way, at full
size in fp32: style loss = mean over relu1_1…relu5_1 of the relative Gram error to the painting,
content loss = relative relu4_2 error to the photo (the losses Painterly optimizes, unweighted).

    python benchmarks/bench_optimize.py                       # tubingen × starry-night, 512 px
    python benchmarks/bench_optimize.py --all                 # every shared photo × painting
    python benchmarks/bench_optimize.py --pairs three --baseline-time-steps 20   # the docs' figures
    python benchmarks/bench_optimize.py --pairs three --quality draft --no-baseline
    python benchmarks/bench_optimize.py --size 1024 --no-baseline
    python benchmarks/bench_optimize.py --startup             # seconds to the first progress event

Not a test: it prints figures and ratios. Shared photos are read from ../shared/data/photos.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path

import torch

from painterly.api import Stylizer
from painterly.features.vgg import deepest_layer
from painterly.io.images import image_to_tensor, load_image, save_image, tensor_to_image
from painterly.losses.gatys import style_content_losses, style_targets
from painterly.methods.optimize import OptimizeConfig, estimate_memory, optimize
from painterly.methods.optimize_stylizer import anystyle_plan
from painterly.ops.resize import resize_to_long_side
from painterly.registry import list_styles

#: Options of the previous default that can still be chosen: Gram matrices multiplied in float32
#: (as many steps at every scale, every layer at full size, all planned steps run, as now). What
#: cannot be chosen any more is in both: Gram matrices of channels-last features multiplied without
#: a copy, max pooling without stored indices, L-BFGS's history capped in bytes.
PREVIOUS_DEFAULT = dict(fine_share=1.0, full_size_layers=(), stop_tolerance=0.0, parameterization="pixels",
                        half_gram=False)
#: Photo × painting pairs of ``--pairs three``: a townscape, a night scene, a bridge; three painters.
THREE_PAIRS = ("tubingen.jpg:starry-night", "hoovertowernight.jpg:the-scream", "golden_gate.jpg:woman-with-hat")

ROOT = Path(__file__).resolve().parent.parent
PHOTOS = ROOT.parent / "shared" / "data" / "photos"


class PeakMemory:
    """Peak memory of a run (MiB): on a CPU the process's resident memory, sampled every 20 ms; on a
    GPU the peak of torch's allocations on it."""

    def __init__(self, device: torch.device = torch.device("cpu")) -> None:
        self.peak = 0
        self.device = device
        self._stop = threading.Event()

    @staticmethod
    def _rss() -> int:
        with open("/proc/self/statm") as handle:
            return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

    def __enter__(self) -> "PeakMemory":
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
            self.peak = torch.cuda.memory_allocated(self.device)
            return self
        self.start = self._rss()
        self.peak = self.start
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, self._rss())

    def __exit__(self, *exc: object) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)  # the timing around this block waits for the GPU too
            self.peak = torch.cuda.max_memory_allocated(self.device)
            return
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._rss())

    @property
    def total_mib(self) -> float:
        return self.peak / 2**20


@dataclass
class Result:
    name: str
    seconds: float
    peak_mib: float
    style: float
    content: float


def measure(vgg, image: torch.Tensor, content: torch.Tensor, style: torch.Tensor, config: OptimizeConfig) -> tuple[float, float]:
    """(style loss, content loss) of ``image`` at its own size, fp32."""
    content = resize_to_long_side(content, max(image.shape[-2:]))
    style = resize_to_long_side(style, max(image.shape[-2:]))
    targets = style_targets(vgg, [(style, 1.0)], config.style_layers, torch.float32)
    layers = sorted(set(config.style_layers) | set(config.content_layers), key=vgg.layer_names.index)
    with torch.no_grad():
        content_targets = vgg(content, config.content_layers)
        features = vgg(image, layers)
        weights = {layer: 1.0 / len(config.style_layers) for layer in config.style_layers}
        content_loss, style_loss = style_content_losses(features, content_targets, targets, weights)
    return style_loss.item(), content_loss.item()


def run_one(name: str, vgg, content: torch.Tensor, style: torch.Tensor, config: OptimizeConfig, out: Path | None,
            repeats: int = 1, measured: bool = True) -> Result:  # fmt: skip
    """Best time of ``repeats`` runs (the result is the same each time), its peak memory and distances."""
    seconds = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        with PeakMemory(content.device) as memory:
            if config.init == "anystyle":  # as the optimize method runs it: the network's painting, then the top scale
                learned, run = anystyle_plan(content, [(style, 1.0)], config, content.device)
                image = optimize(vgg, content, [(style, 1.0)], run, init_image=learned)
            else:
                image = optimize(vgg, content, [(style, 1.0)], config)
        seconds = min(seconds, time.perf_counter() - start)
    style_loss, content_loss = measure(vgg, image, content, style, OptimizeConfig()) if measured else (float("nan"),) * 2
    if out is not None:
        save_image(tensor_to_image(image), out)
    return Result(name, seconds, memory.total_mib, style_loss, content_loss)


def startup(cached: bool) -> tuple[float, float]:
    """Seconds from starting a fresh Python process to the first progress event ("preparing",
    inputs read and checked) and to the end of the first optimization step."""
    code = (
        "import time; t = time.perf_counter(); import painterly, sys\n"
        "def first(event):\n"
        "    print(round(time.perf_counter() - t, 2), flush=True)\n"
        "    if event.step >= 1: raise SystemExit(0)\n"
        "painterly.stylize('painterly/examples/astronaut.jpg', 'starry-night', progress=first)\n"
    )
    environment = dict(os.environ)
    with tempfile.TemporaryDirectory() as cache:
        if not cached:
            environment["PAINTERLY_CACHE_DIR"] = cache
        output = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=environment, capture_output=True, text=True, check=True)
    first, first_step = (float(line) for line in output.stdout.split()[:2])
    return first, first_step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--photo", default="tubingen.jpg", help="file in ../shared/data/photos")
    parser.add_argument("--style", default="starry-night", help="built-in style name")
    parser.add_argument("--all", action="store_true", help="every shared photo × every built-in style")
    parser.add_argument("--pairs", nargs="+", metavar="PHOTO:STYLE", help="these pairs ('three': THREE_PAIRS)")
    parser.add_argument("--quality", default="default", help="the preset of Painterly's run (draft, default, best)")
    parser.add_argument("--baseline-steps", type=int, default=300)
    parser.add_argument("--baseline-time-steps", type=int,
                        help="time the baseline over this many steps and scale to --baseline-steps (its steps all cost the same)")
    parser.add_argument("--no-baseline", action="store_true")
    parser.add_argument("--no-previous", action="store_true", help="skip the previous default")
    parser.add_argument("--previous-steps", type=int, help="steps of the previous default (default: 140, 100 above 512 px)")
    parser.add_argument("--repeats", type=int, default=1, help="best of N timings")
    parser.add_argument("--steps", type=int, help="Painterly steps (default: OptimizeConfig's)")
    parser.add_argument("--precision", help="Painterly's precision (default: auto, bf16 where the CPU has bf16 units)")
    parser.add_argument("--init", help="Painterly's start (default: OptimizeConfig's; anystyle: the any-painting network's painting)")
    parser.add_argument("--startup", action="store_true", help="only measure the time to the first progress event")
    parser.add_argument("--out", type=Path, help="folder to save the results in")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()

    if args.startup:
        # Cold first, so the warm run finds the cache the cold one wrote to the default folder.
        cold = startup(cached=False)
        warm = startup(cached=True)
        print(f"first progress line: no cached weights {cold[0]:.2f} s (target ≤ 15 s), cached {warm[0]:.2f} s (target ≤ 3 s)")
        print(f"first optimization step done: no cached weights {cold[1]:.2f} s, cached {warm[1]:.2f} s")
        return

    stylizer = Stylizer(device=args.device)
    default = OptimizeConfig(size=args.size, quality=args.quality, **({"steps": args.steps} if args.steps else {}),
                             **({"init": args.init} if args.init else {}),
                             **({"precision": args.precision} if args.precision else {}))  # fmt: skip
    previous = OptimizeConfig(size=args.size, **PREVIOUS_DEFAULT, steps=args.previous_steps or (140 if args.size <= 512 else 100))
    vgg = stylizer.feature_network(deepest_layer([*default.content_layers, *default.style_layers]))
    # The classic setup: one scale, fp32, L-BFGS from the photo, Gatys-style weights (content 1, style 10).
    timed_steps = args.baseline_time_steps or args.baseline_steps
    baseline = OptimizeConfig(
        size=args.size, steps=timed_steps, min_size=args.size, precision="fp32", channels_last=False,
        content_weight=1.0, style_weight=10.0, tv_weight=0.05, full_size_layers=(),
    )
    entries = {entry.name: entry for entry in list_styles()}
    if args.pairs:
        named = THREE_PAIRS if args.pairs == ["three"] else args.pairs
        pairs = [(PHOTOS / photo, entries[style]) for photo, style in (pair.split(":") for pair in named)]
    elif args.all:
        pairs = [(photo, entry) for photo in sorted(PHOTOS.glob("*.jpg")) for entry in entries.values()]
    else:
        pairs = [(PHOTOS / args.photo, entries[args.style])]
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, device {args.device}, size {args.size}, best of {args.repeats}")
    print(f"{'photo':<22} {'style':<15} {'method':<30} {'seconds':>8} {'peak MiB':>9} {'style loss':>11} {'content loss':>13}")
    speedups, quality = [], []
    if stylizer.device.type == "cuda":  # cuDNN picks its kernels on first use: keep that out of the first timing
        warm = resize_to_long_side(image_to_tensor(load_image(pairs[0][0]), device=stylizer.device), args.size)
        optimize(vgg, warm, [(warm, 1.0)], replace(default, steps=max(4, default.total_steps // 4)))
    for photo, entry in pairs:
        content = resize_to_long_side(image_to_tensor(load_image(photo), device=stylizer.device), args.size)
        height, width = content.shape[-2:]
        style = image_to_tensor(load_image(entry.path), device=stylizer.device)
        saved = (lambda kind: args.out / f"{photo.stem}-{entry.name}-{kind}.png" if args.out else None)  # noqa: E731
        estimate = estimate_memory(default, height, width, stylizer.device) / 2**20
        print(f"{photo.name:<22} {entry.name:<15} memory estimate of the default: {estimate:.0f} MiB above the loaded network",
              flush=True)  # fmt: skip
        # The default first: the allocator keeps freed memory, so a later run would inherit an earlier peak.
        ours = run_one(args.quality, vgg, content, style, default, saved(args.quality), args.repeats)
        results = [ours]
        if not args.no_previous:
            results.append(run_one(f"previous default, {previous.total_steps} steps", vgg, content, style, previous,
                                   saved("previous"), args.repeats))  # fmt: skip
        if not args.no_baseline:
            name = f"baseline fp32 {args.baseline_steps} steps" + (f" (×{args.baseline_steps}/{timed_steps})" if timed_steps != args.baseline_steps else "")
            base = run_one(name, vgg, content, style, baseline, saved("baseline") if timed_steps == args.baseline_steps else None,
                           1, measured=timed_steps == args.baseline_steps)  # fmt: skip
            base.seconds *= args.baseline_steps / timed_steps
            results.append(base)
        for result in results:
            print(f"{photo.name:<22} {entry.name:<15} {result.name:<30} {result.seconds:8.1f} {result.peak_mib:9.0f} "
                  f"{result.style:11.4f} {result.content:13.4f}", flush=True)  # fmt: skip
        line = []
        if not args.no_previous:
            old = results[1]
            quality.append((old.seconds / ours.seconds, ours.style / old.style, ours.content / old.content))
            line.append(f"×{quality[-1][0]:.2f} faster than the previous default, style {quality[-1][1]:.2f}×, content {quality[-1][2]:.2f}×")
        if not args.no_baseline:
            speedups.append(results[-1].seconds / ours.seconds)
            line.append(f"×{speedups[-1]:.1f} faster than the classic baseline")
        print(f"{'':<22} {'':<15} ratios: " + "; ".join(line), flush=True)
    if len(quality) > 1:
        mean = [sum(column) / len(column) for column in zip(*quality)]
        worst = [min(row[0] for row in quality), max(row[1] for row in quality), max(row[2] for row in quality)]
        print(f"mean over {len(quality)} pairs against the previous default: speed ×{mean[0]:.2f}, style {mean[1]:.2f}×, "
              f"content {mean[2]:.2f}× (worst: ×{worst[0]:.2f}, {worst[1]:.2f}×, {worst[2]:.2f}×)")  # fmt: skip
    if len(speedups) > 1:
        print(f"mean over {len(speedups)} pairs against the classic baseline: speed ×{sum(speedups) / len(speedups):.1f}")


if __name__ == "__main__":
    main()
