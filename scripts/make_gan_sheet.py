#!/usr/bin/env python3
"""Picture for the README: the GAN models next to the plain feed-forward model of the same style.

One row per photo: the photo, the plain (perceptual losses only) model, the adversarially trained
model of the same painting, and the collection (CycleGAN photo → painting) generator. The first
two style columns are captioned with their normalized Gram style distance to the painting and
content distance to the photo (0 = the painting / the photo, 1 = the other one).

    python scripts/make_gan_sheet.py --adversarial starry-adv.safetensors --collection photo2impressionism
"""

from __future__ import annotations

import argparse
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_PHOTOS = REPO.parent / "shared" / "data" / "photos"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--style", default="starry-night", help="the painting the per-style models learned")
    parser.add_argument("--plain", default="starry-night", help="the plain model (name or file)")
    parser.add_argument("--adversarial", required=True, help="the adversarially trained model (name or file)")
    parser.add_argument("--collection", required=True, help="the collection generator (RUN/a2b.safetensors)")
    parser.add_argument("--photos", type=Path, default=DEFAULT_PHOTOS)
    parser.add_argument("--size", type=int, default=320, help="long side the photos are painted at")
    parser.add_argument("-o", "--output", type=Path, default=REPO / "docs" / "images" / "gan-results.jpg")
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()

    import torch

    from painterly.api import Stylizer, load_style_image
    from painterly.evaluate.measure import measure_output, pair_reference
    from painterly.io.images import find_images, image_to_tensor, load_image, resize_long_side, save_image
    from painterly.io.sheets import captioned_sheet

    stylizer = Stylizer(device=args.device)
    vgg = stylizer.feature_network("relu5_1", "max")
    painting = resize_long_side(load_style_image(args.style, 10**8), args.size)
    rows = []
    for path in find_images(args.photos):
        photo = resize_long_side(load_image(path), args.size)
        reference = pair_reference(vgg, image_to_tensor(photo, device=stylizer.device), image_to_tensor(painting, device=stylizer.device))
        cells = [(photo, path.stem)]
        for label, model in (("plain", args.plain), ("adversarial", args.adversarial), ("collection", args.collection)):
            result = stylizer.stylize(photo, method="fast", model=model)
            with torch.no_grad():
                values = measure_output(vgg, image_to_tensor(result, device=stylizer.device), reference)
            style, content = values["style_gram_normalized"], values["content_distance_normalized"]
            caption = f"{label}: style {style:.2f}, content {content:.2f}" if label != "collection" else f"CycleGAN, content {content:.2f}"
            cells.append((result, caption))
            print(f"{path.stem:20s} {label:12s} style {style:.3f} content {content:.3f}", flush=True)
        rows.append(cells)
    print(f"wrote {save_image(captioned_sheet(rows, cell=320, cell_height=240), args.output)}")


if __name__ == "__main__":
    main()
