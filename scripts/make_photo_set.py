#!/usr/bin/env python3
"""Assemble an offline training photo set from Debian wallpaper packages.

Dataset hosts (COCO and the like) cannot be reached from our machines, but Debian's package
archive can: its wallpaper packages hold a few dozen large, varied photos under free licences.
This script downloads them with ``apt-get download`` (no installation), unpacks them with
``dpkg-deb -x`` into a temporary folder, keeps one file per subject (the largest resolution),
drops screenshots, SVGs, small files, grey images and the drawings and abstract art listed
in ``DESIGNS``, and writes each photo with its long side at 1024
px into the output folder, next to ``SOURCES.txt`` and each package's copyright file.

With ``--samples``, scikit-image's and scikit-learn's bundled sample photos are added when those
packages are installed.

The photos are fine for training; do not redistribute them (see each licence). Users with a GPU
train on COCO train2014 instead.

Usage:
    apt-get update   # once, as root
    python scripts/make_photo_set.py photos/ [--samples] [--long-side 1024]
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

#: Packages whose wallpapers are mostly photos. ukui-wallpapers, sway-backgrounds and
#: gnome-backgrounds hold almost only drawings and abstract art; add them with --packages if wanted.
PACKAGES = ("plasma-workspace-wallpapers", "mate-backgrounds", "lomiri-wallpapers-20.04")
#: Subjects (name prefixes) of these packages that are drawings or abstract art, not photos;
#: no simple image statistic separates smooth photos (dunes, fog) from smooth renders reliably.
DESIGNS = {
    "plasma-workspace-wallpapers": (
        "altai", "autumn", "canopee", "cascade", "cluster", "elarun", "flow", "flyingkonqui", "honeywave",
        "icecold", "kay", "kokkini", "opal", "pastelhills", "patak", "safelanding", "shell", "volna",
    ),
    "mate-backgrounds": ("float-into-mate", "greentraditional", "mate-stripes", "stripes"),
    "lomiri-wallpapers-20.04": ("fossa", "painting-colors"),
}  # fmt: skip
RASTER_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp"}
#: Folder or file names that mark non-photos.
SKIP_WORDS = ("screenshot", "abstract", "thumbnail", "preview", "logo")
MIN_SHORT_SIDE = 600
#: Hasler & Süsstrunk colourfulness below which an image is grey (stripes, textures): dropped.
MIN_COLOURFULNESS = 8.0


@dataclass
class Candidate:
    package: str
    subject: str
    path: Path
    pixels: int


def download(packages: tuple[str, ...], folder: Path) -> dict[str, Path]:
    """``apt-get download`` each package into ``folder``; the ones that failed are reported and skipped."""
    found: dict[str, Path] = {}
    for package in packages:
        result = subprocess.run(["apt-get", "download", package], cwd=folder, capture_output=True, text=True)
        debs = sorted(folder.glob(f"{package}_*.deb"))
        if result.returncode != 0 or not debs:
            print(f"skipped {package}: {result.stderr.strip().splitlines()[-1:] or ['not found']}", file=sys.stderr)
            continue
        found[package] = debs[-1]
    return found


def subject_of(path: Path, root: Path) -> str:
    """A name shared by the resolutions and dark/light variants of one wallpaper."""
    parts = path.relative_to(root).parts
    if "contents" in parts:  # KDE layout: wallpapers/<Subject>/contents/images[_dark]/<W>x<H>.jpg
        return parts[parts.index("contents") - 1].lower()
    stem = path.stem.lower()
    stem = re.sub(r"[-_.]?\d{3,5}x\d{3,5}", "", stem)
    stem = re.sub(r"[-_](dark|light|day|night|l|d|\d)$", "", stem)
    return stem


def colourfulness(image: Image.Image) -> float:
    """Hasler & Süsstrunk (2003) colourfulness of an RGB image (0: grey; photos ≳ 20)."""
    rgb = np.asarray(image.convert("RGB").resize((256, 256)), dtype=np.float64)
    rg = rgb[..., 0] - rgb[..., 1]
    yb = 0.5 * (rgb[..., 0] + rgb[..., 1]) - rgb[..., 2]
    return float(np.hypot(rg.std(), yb.std()) + 0.3 * np.hypot(rg.mean(), yb.mean()))


def candidates(root: Path, package: str) -> list[Candidate]:
    found: list[Candidate] = []
    for path in root.rglob("*"):
        if path.suffix.lower() not in RASTER_SUFFIXES or not path.is_file():
            continue
        if any(word in part.lower() for part in path.relative_to(root).parts for word in SKIP_WORDS):
            continue
        try:
            with Image.open(path) as image:
                width, height = image.size
        except Exception:  # unreadable: skip it
            continue
        if min(width, height) < MIN_SHORT_SIDE:
            continue
        found.append(Candidate(package, subject_of(path, root), path, width * height))
    return found


def best_per_subject(items: list[Candidate]) -> list[Candidate]:
    best: dict[tuple[str, str], Candidate] = {}
    for item in items:
        key = (item.package, item.subject)
        dark = "dark" in str(item.path).lower()
        current = best.get(key)
        if current is None or (item.pixels, not dark) > (current.pixels, "dark" not in str(current.path).lower()):
            best[key] = item
    return sorted(best.values(), key=lambda item: (item.package, item.subject))


def copy_resized(image: Image.Image, target: Path, long_side: int) -> None:
    image = image.convert("RGB")
    scale = long_side / max(image.size)
    if scale < 1:
        image = image.resize((round(image.width * scale), round(image.height * scale)), Image.Resampling.LANCZOS)
    image.save(target, quality=92)


def add_samples(out: Path, long_side: int, sources: list[str]) -> None:
    """scikit-image's and scikit-learn's bundled photos, when those packages are installed."""
    try:
        from skimage import data as skdata

        for name in ("astronaut", "coffee", "chelsea", "rocket", "motorcycle_left", "hubble_deep_field"):
            try:
                pixels = getattr(skdata, name)()
            except Exception:  # not shipped in this wheel (needs a download)
                continue
            target = out / f"skimage-{name}.jpg"
            copy_resized(Image.fromarray(pixels), target, long_side)
            sources.append(f"{target.name}\tscikit-image sample {name}\tsee skimage.data docstrings")
    except ImportError:
        print("scikit-image not installed: no skimage samples", file=sys.stderr)
    try:
        from sklearn.datasets import load_sample_images

        for name, pixels in zip(("china", "flower"), load_sample_images().images):
            target = out / f"sklearn-{name}.jpg"
            copy_resized(Image.fromarray(pixels), target, long_side)
            sources.append(f"{target.name}\tscikit-learn sample {name}\tCC BY 2.0 (see sklearn.datasets docs)")
    except ImportError:
        print("scikit-learn not installed: no sklearn samples", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path, help="output folder")
    parser.add_argument("--long-side", type=int, default=1024, help="long side of the written photos")
    parser.add_argument("--samples", action="store_true", help="add scikit-image/scikit-learn sample photos")
    parser.add_argument("--keep-abstract", action="store_true", help="do not drop flat, low-detail images")
    parser.add_argument("--packages", nargs="*", default=list(PACKAGES), help="Debian packages to take photos from")
    args = parser.parse_args(argv)
    if shutil.which("apt-get") is None or shutil.which("dpkg-deb") is None:
        print("error: needs apt-get and dpkg-deb (Debian or Ubuntu)", file=sys.stderr)
        return 2
    out = args.out
    (out / "licences").mkdir(parents=True, exist_ok=True)
    sources = ["file\tsource\tlicence"]
    kept = dropped = 0
    with tempfile.TemporaryDirectory(prefix="painterly-photos-") as temporary:
        work = Path(temporary)
        debs = download(tuple(args.packages), work)
        for package, deb in debs.items():
            root = work / "x" / package
            root.mkdir(parents=True)
            subprocess.run(["dpkg-deb", "-x", str(deb), str(root)], check=True)
            version = deb.name.split("_")[1].replace("%3a", ":")
            copyright_file = root / "usr" / "share" / "doc" / package / "copyright"
            licence = f"licences/{package}.copyright"
            if copyright_file.is_file():
                shutil.copyfile(copyright_file, out / licence)
            for item in best_per_subject(candidates(root, package)):
                if not args.keep_abstract and item.subject.startswith(DESIGNS.get(package, ("\0",))):
                    dropped += 1
                    print(f"dropped {package}/{item.subject} (a drawing or abstract art)")
                    continue
                with Image.open(item.path) as image:
                    image = image.convert("RGB")
                    score = colourfulness(image)
                    if not args.keep_abstract and score < MIN_COLOURFULNESS:
                        dropped += 1
                        print(f"dropped {package}/{item.subject} (grey: colourfulness {score:.0f})")
                        continue
                    name = re.sub(r"[^a-z0-9]+", "-", f"{package.split('-')[0]}-{item.subject}").strip("-") + ".jpg"
                    copy_resized(image, out / name, args.long_side)
                kept += 1
                source = f"{package} {version}: {item.path.relative_to(root)}"
                sources.append(f"{name}\t{source}\t{licence}")
    if args.samples:
        add_samples(out, args.long_side, sources)
    (out / "SOURCES.txt").write_text("\n".join(sources) + "\n", encoding="utf-8")
    print(f"wrote {len(sources) - 1} photos to {out} ({kept} from packages; {dropped} drawings, abstract or grey images dropped)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
