"""Stroke scale of the shipped fast models: each painted at several sizes, all measured at 256 px.

A fast model learns a painting at one scale (the trainer's ``style_size``, 512 px for the shipped
models) and paints strokes of that size in pixels. ``painterly evaluate`` and the optimization
method compare with the painting at the photo's size (256 px here), so the measured style distance
depends on the size the model paints at. This prints, per model, the mean normalized Gram style
and content distances (0 = the painting / the photo) over the shared photos when the model paints
at each ``--run-sizes`` and the result is resized to 256 px.

    python benchmarks/bench_fast_scale.py
    python benchmarks/bench_fast_scale.py --models starry-night --run-sizes 256 512 768
    python benchmarks/bench_fast_scale.py --models woman-with-hat woman-with-hat=candidate.safetensors

Not a test: it prints figures.
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

import torch
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
DEFAULT_PHOTOS = REPO.parent / "shared" / "data" / "photos"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", default=["starry-night", "the-scream", "shipwreck", "woman-with-hat"],
                        help="STYLE (its shipped model) or STYLE=MODEL_FILE (another model of that painting)")
    parser.add_argument("--run-sizes", nargs="+", type=int, default=[256, 384, 512])
    parser.add_argument("--size", type=int, default=256, help="size the results are measured at")
    parser.add_argument("--photos", type=Path, default=DEFAULT_PHOTOS)
    args = parser.parse_args()

    from painterly.api import Stylizer, load_style_image
    from painterly.evaluate.measure import measure_output, pair_reference
    from painterly.io.images import find_images, image_to_tensor, load_image, resize_long_side

    stylizer = Stylizer(device="cpu")
    vgg = stylizer.feature_network("relu5_1", "max")
    for spec in args.models:
        name, _, model = spec.partition("=")
        painting = resize_long_side(load_style_image(name, 10**8), args.size)
        rows: dict[int, list[tuple[float, float]]] = {size: [] for size in args.run_sizes}
        for path in find_images(args.photos):
            photo = load_image(path)
            measured_photo = resize_long_side(photo, args.size)
            reference = pair_reference(vgg, image_to_tensor(measured_photo), image_to_tensor(painting))
            for size in args.run_sizes:
                result = stylizer.stylize(resize_long_side(photo, size), None, method="fast", model=model or name)
                result = result.convert("RGB").resize(measured_photo.size, Image.LANCZOS)
                with torch.no_grad():
                    values = measure_output(vgg, image_to_tensor(result), reference)
                rows[size].append((values["style_gram_normalized"], values["content_distance_normalized"]))
        for size, values in rows.items():
            style, content = statistics.mean(v[0] for v in values), statistics.mean(v[1] for v in values)
            print(f"{spec:16s} painted at {size:4d} px: style {style:.3f} content {content:.3f}", flush=True)


if __name__ == "__main__":
    main()
