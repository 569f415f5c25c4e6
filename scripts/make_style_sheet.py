#!/usr/bin/env python3
"""Picture for the README: one photo painted by every shipped model, next to the optimization method.

One row per built-in style that has a shipped model: the painting, the optimization method's
default result and the fast model's result, each captioned with its style distance (normalized
Gram distance to the painting: 0 = the painting, 1 = the photo) and its time.

    python scripts/make_style_sheet.py                                  # astronaut, 384 px
    python scripts/make_style_sheet.py --photo ../shared/data/photos/tubingen.jpg --size 512 -o sheet.jpg
"""

from __future__ import annotations

import argparse
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CELL = 320


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--photo", type=Path, default=REPO / "painterly" / "examples" / "astronaut.jpg")
    parser.add_argument("--size", type=int, default=384, help="long side the photo is painted at")
    parser.add_argument("-o", "--output", type=Path, default=REPO / "docs" / "images" / "shipped-styles.jpg")
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()

    from painterly.api import Stylizer
    from painterly.io.images import load_image, resize_long_side, save_image
    from painterly.evaluate.sheets import measured_row
    from painterly.io.sheets import captioned_sheet
    from painterly.models import list_pretrained
    from painterly.registry import list_styles

    stylizer = Stylizer(device=args.device)
    vgg = stylizer.feature_network("relu5_1", "max")
    photo = resize_long_side(load_image(args.photo), args.size)
    shipped = set(list_pretrained())
    rows = []
    for entry in list_styles():
        if entry.name not in shipped:
            continue
        painting = resize_long_side(load_image(entry.path), args.size)
        painters = {
            "optimize": lambda entry=entry: stylizer.stylize(photo, entry.name, method="optimize", size=args.size),
            "fast": lambda entry=entry: stylizer.stylize(photo, entry.name, method="fast", model=entry.name),
        }
        rows.append(measured_row(vgg, photo, painting, entry.title, painters, stylizer.device))

    sheet = captioned_sheet(rows, CELL)
    print(f"wrote {save_image(sheet, args.output)}")


if __name__ == "__main__":
    main()
