#!/usr/bin/env python3
"""Assemble an offline set of public-domain paintings from Debian's GCompris data package.

Training a decoder for *any* painting (``painterly train-arbitrary``) needs many paintings; WikiArt
cannot be reached from our machines, but Debian's package archive can. ``gcompris-qt-data`` holds
old-master paintings (Hokusai, Hiroshige, Van Gogh, Renoir, Dürer, Bruegel, Kandinsky, …) in two
activities, inside Qt resource files (``.rcc``):

- ``paintings``: jigsaw puzzles (images from Nicolas Pioch's WebMuseum, GPL-3+ in the package).
  Each board file gives the pieces (WebP with transparent edges) and their centres; pasting the
  pieces back gives the painting.
- ``details``: "find the details" boards whose full background image is a Van Gogh painting
  (public domain in the package's README).

The works themselves are in the public domain (their painters died long ago); the package's
licences cover the digitizations. Fine for training; do not redistribute the images.

This script downloads the package with ``apt-get download`` (no installation), reads the two
resource files with its own small ``.rcc`` reader, and writes one PNG per painting plus
``SOURCES.txt`` (title, source, licence) and the package's copyright file.

Usage:
    apt-get update   # once, as root
    python scripts/make_painting_set.py paintings/ [--with-shared ../shared/data/styles]
"""

from __future__ import annotations

import argparse
import io
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import zlib
from pathlib import Path
from typing import Callable

import numpy as np
from PIL import Image

PACKAGE = "gcompris-qt-data"
RCC_FOLDER = Path("usr/share/gcompris-qt/rcc")
#: Puzzle boards that are not paintings: Michelangelo's Pietà is a photo of a sculpture.
NOT_PAINTINGS = ("Michelangelo",)
#: Pieces overlap by their tabs; pixels with less opacity than this count as holes.
OPAQUE = 200


def read_qt_resources(data: bytes) -> dict[str, bytes]:
    """The files inside a Qt resource file (``rcc`` binary format, versions 1–3).

    Layout: a ``qres`` header with the offsets of three tables (tree, data, names). Tree nodes
    are 14 bytes (version 1) or 22 (with a modification time); a directory node gives its child
    count and first child, a file node the offset of its data: a 4-byte size then the bytes,
    zlib-compressed (behind a 4-byte uncompressed size) when the node's flag 1 is set.

    Returns:
        ``{"path/inside/resource": contents}``.
    """
    if data[:4] != b"qres":
        raise ValueError("not a Qt resource file (no 'qres' header)")
    version, tree, payload, names = struct.unpack(">4I", data[4:20])
    node_size = 22 if version >= 2 else 14

    def name_at(offset: int) -> str:
        (length,) = struct.unpack(">H", data[names + offset : names + offset + 2])
        start = names + offset + 6  # length, then a 4-byte hash, then UTF-16 characters
        return data[start : start + 2 * length].decode("utf-16-be")

    files: dict[str, bytes] = {}
    pending = [(0, "")]
    while pending:
        index, parent = pending.pop()
        node = tree + index * node_size
        name_offset, flags = struct.unpack(">IH", data[node : node + 6])
        path = f"{parent}/{name_at(name_offset)}" if index else ""
        if flags & 2:  # a directory
            count, first = struct.unpack(">II", data[node + 6 : node + 14])
            pending += [(first + child, path) for child in range(count)]
            continue
        (offset,) = struct.unpack(">I", data[node + 10 : node + 14])
        (size,) = struct.unpack(">I", data[payload + offset : payload + offset + 4])
        blob = data[payload + offset + 4 : payload + offset + 4 + size]
        if flags & 4:
            raise ValueError(f"{path} is zstd-compressed, which this reader does not handle")
        files[path.lstrip("/")] = zlib.decompress(blob[4:]) if flags & 1 else blob
    return files


def assemble_puzzle(board: str, open_piece: Callable[[str], Image.Image]) -> tuple[str, str, Image.Image]:
    """Paste a GCompris puzzle board's pieces back together.

    Args:
        board: the board's QML text: a title in ``qsTr("…")``, the board's ``width``/``height``
            and for each piece ``"pixmapfile"`` with its centre ``"x"``/``"y"`` as fractions.
        open_piece: opens a piece by its ``pixmapfile`` path.

    Returns:
        ``(name, title, painting)``: a file-name stem shared by the pieces, the painting's title and
        the RGB painting, cropped to the pieces' extent.
    """
    title_match = re.search(r'qsTr\("(.*?)"\)', board)
    width = int(re.search(r'"width"\s*:\s*(\d+)', board).group(1))  # type: ignore[union-attr]
    height = int(re.search(r'"height"\s*:\s*(\d+)', board).group(1))  # type: ignore[union-attr]
    pieces = re.findall(r'"pixmapfile"\s*:\s*"([^"]+)",\s*"x"\s*:\s*"([\d.]+)",\s*"y"\s*:\s*"([\d.]+)"', board)
    if not pieces:
        raise ValueError("the board names no pieces")
    canvas = Image.new("RGBA", (width, height))
    for path, x, y in pieces:
        piece = open_piece(path).convert("RGBA")
        left = round(float(x) * width - piece.width / 2)
        top = round(float(y) * height - piece.height / 2)
        canvas.alpha_composite(piece, (left, top))
    opaque = np.asarray(canvas)[..., 3] >= OPAQUE
    rows, columns = np.nonzero(opaque)
    canvas = canvas.crop((int(columns.min()), int(rows.min()), int(columns.max()) + 1, int(rows.max()) + 1))
    painting = Image.new("RGB", canvas.size, (128, 128, 128))
    painting.paste(canvas, mask=canvas.getchannel("A"))
    name = re.sub(r"[-_]?[a-e]?\d+$", "", Path(pieces[0][0]).stem)
    return name, title_match.group(1) if title_match else name, painting


def painting_backgrounds(readme: str) -> list[tuple[str, str]]:
    """``(background file, licence)`` of the details boards whose README block says it is a painting.

    The README is made of blank-line-separated blocks: ``Copyright:``, ``License:``, the files,
    ``Comment:``.
    """
    found = []
    for block in readme.split("\n\n"):
        licence = re.search(r"^License:\s*(.+)$", block, re.MULTILINE)
        comment = re.search(r"^Comment:\s*(.+)$", block, re.MULTILINE)
        if not comment or "painting" not in comment.group(1):
            continue
        for line in block.splitlines():
            if line.strip().endswith("_background.webp"):
                found.append((line.strip(), licence.group(1).strip() if licence else "see copyright"))
    return found


def download(folder: Path) -> Path:
    result = subprocess.run(["apt-get", "download", PACKAGE], cwd=folder, capture_output=True, text=True)
    debs = sorted(folder.glob(f"{PACKAGE}_*.deb"))
    if result.returncode != 0 or not debs:
        raise SystemExit(f"error: apt-get download {PACKAGE} failed ({result.stderr.strip()[-200:]}); run apt-get update first")
    return debs[-1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path, help="output folder (created)")
    parser.add_argument("--with-shared", type=Path, help="also copy the paintings of this folder (e.g. ../shared/data/styles)")
    args = parser.parse_args(argv)
    if shutil.which("apt-get") is None or shutil.which("dpkg-deb") is None:
        print("error: needs apt-get and dpkg-deb (Debian or Ubuntu)", file=sys.stderr)
        return 2
    out: Path = args.out
    (out / "licences").mkdir(parents=True, exist_ok=True)
    sources = ["file\ttitle\tsource\tlicence"]
    with tempfile.TemporaryDirectory(prefix="painterly-paintings-") as temporary:
        work = Path(temporary)
        deb = download(work)
        subprocess.run(["dpkg-deb", "-x", str(deb), str(work / "x")], check=True)
        version = deb.name.split("_")[1].replace("%3a", ":")
        shutil.copyfile(work / "x" / "usr/share/doc" / PACKAGE / "copyright", out / "licences" / f"{PACKAGE}.copyright")

        puzzles = read_qt_resources((work / "x" / RCC_FOLDER / "paintings.rcc").read_bytes())
        folder = next(path.rsplit("/board/", 1)[0] for path in puzzles if "/board/" in path)
        for path in sorted(p for p in puzzles if p.startswith(f"{folder}/board/") and p.endswith(".qml")):
            name, title, painting = assemble_puzzle(
                puzzles[path].decode("utf-8"), lambda piece: Image.open(io.BytesIO(puzzles[f"{folder}/{piece}"]))
            )
            if name.startswith(NOT_PAINTINGS):
                print(f"skipped {name}: not a painting ({title})")
                continue
            painting.save(out / f"{name}.png")
            sources.append(f"{name}.png\t{title}\t{PACKAGE} {version}: paintings.rcc {path}\tGPL-3+ (WebMuseum)")

        details = read_qt_resources((work / "x" / RCC_FOLDER / "details.rcc").read_bytes())
        readme_path = next(path for path in details if path.endswith("/image/README"))
        for background, licence in painting_backgrounds(details[readme_path].decode("utf-8")):
            image_path = readme_path.rsplit("/", 1)[0] + "/" + background
            name = background.removesuffix("_background.webp")
            Image.open(io.BytesIO(details[image_path])).convert("RGB").save(out / f"{name}.png")
            sources.append(f"{name}.png\tVan Gogh: {name}\t{PACKAGE} {version}: details.rcc {image_path}\t{licence}")

    if args.with_shared:
        for path in sorted(args.with_shared.iterdir()):
            if path.suffix.lower() in {".jpg", ".jpeg", ".png"}:
                shutil.copyfile(path, out / path.name)
                sources.append(f"{path.name}\t{path.stem}\t{args.with_shared}\tsee its README")
    (out / "SOURCES.txt").write_text("\n".join(sources) + "\n", encoding="utf-8")
    print(f"wrote {len(sources) - 1} paintings to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
