"""Style models on the held-out photos: normalized Gram and mean/cov style distances, content distance.

    PYTHONPATH=. python benchmarks/bench_heldout.py MODEL [MODEL …] [--photos 19] [--size 256]

A multi-style model is measured for each style of its table (``--styles 0,3`` picks some); a
one-style model against the painting it was trained on (its record's ``training.styles`` or
``training.style``). The photos are every fifth of the held-out share of the shared training
photos (never trained on). Distances are normalized as in ``painterly evaluate``: style 0 = the
painting itself, 1 = the photo itself; content 0 = the photo, 1 = the painting.
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

import torch

from painterly.evaluate.runner import measure_output, pair_reference
from painterly.features import load_vgg19
from painterly.io.images import image_to_tensor, load_image
from painterly.ops.resize import resize_to_long_side
from painterly.models.files import load_model
from painterly.train.photos import held_out_photos, pick_paintings


def paintings_of(info, chosen: list[int] | None) -> list[tuple[int | None, Path]]:
    if info.styles:
        indices = chosen if chosen is not None else list(range(len(info.styles)))
        return [(index, pick_paintings(info.styles[index]["file"])[0].path) for index in indices]
    spec = info.training.get("styles") or info.training.get("style")
    return [(None, pick_paintings(spec)[0].path)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="+")
    parser.add_argument("--photos", type=int, default=19, help="how many held-out photos (every fifth)")
    parser.add_argument("--size", type=int, default=256, help="long side of photos and paintings")
    parser.add_argument("--styles", help="style indices of multi-style models, comma-separated")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    vgg = load_vgg19(last_layer="relu5_1")
    photos = [resize_to_long_side(image_to_tensor(load_image(p)), args.size) for p in held_out_photos()[::5][: args.photos]]
    chosen = [int(part) for part in args.styles.split(",")] if args.styles else None
    print(f"{'model':40s} {'style':45s} {'gram':>6s} {'meancov':>7s} {'content':>7s}")
    for model_path in args.models:
        net, info = load_model(model_path)
        for index, painting_path in paintings_of(info, chosen):
            painting = resize_to_long_side(image_to_tensor(load_image(painting_path)), args.size)
            rows = []
            with torch.no_grad():
                for photo in photos:
                    output = net(photo, index) if index is not None else net(photo)
                    rows.append(measure_output(vgg, output, pair_reference(vgg, photo, painting)))
            mean = {key: statistics.fmean(row[key] for row in rows) for key in rows[0]}
            print(
                f"{Path(model_path).name[:40]:40s} {painting_path.stem[:45]:45s} {mean['style_gram_normalized']:6.3f} "
                f"{mean['style_meancov_normalized']:7.3f} {mean['content_distance_normalized']:7.3f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
