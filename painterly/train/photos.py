"""The shared training sets: photos with a fixed held-out share, and credited paintings.

``train-photos/`` (one photo per ImageNet class) is split once and for all by name: every tenth
file of the sorted list is held out (never trained on) and measured on by the benchmarks, the
rest is trained on. ``train-paintings/`` comes with ``SOURCES.tsv``: each painting's artist,
title and date, which every style made from it carries as its credit line.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from painterly.errors import PainterlyError
from painterly.styles.catalog import find_style
from painterly.train.data import list_photos

#: Every ``HOLDOUT_EVERY``-th photo (sorted by name, starting with the first) is held out.
HOLDOUT_EVERY = 10
#: The repository's shared data folder, next to the checkout (``../shared/data``).
SHARED_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
#: Crop sides of the CPU recipe: small crops, each step at a random side in this range.
CROP_RANGE = (128, 192)


def default_photo_folder() -> Path:
    """``../shared/data/train-photos`` next to the checkout."""
    return SHARED_DATA / "train-photos"


def default_painting_folder() -> Path:
    """``../shared/data/train-paintings`` next to the checkout."""
    return SHARED_DATA / "train-paintings"


def split_photos(folder: str | Path) -> tuple[list[Path], list[Path]]:
    """``(training, held_out)`` photos of ``folder``: every tenth file by sorted name is held out.

    The split depends only on the file names, so it is the same on every machine and in every
    session; the two lists never share a file.
    """
    photos = sorted(list_photos(folder), key=lambda path: str(path.relative_to(Path(folder).expanduser())))
    held_out = photos[::HOLDOUT_EVERY]
    held = set(held_out)
    return [path for path in photos if path not in held], held_out


def training_photos(folder: str | Path) -> list[Path]:
    """The photos of ``folder`` that may be trained on (see :func:`split_photos`)."""
    return split_photos(folder)[0]


def held_out_photos(folder: str | Path | None = None) -> list[Path]:
    """The held-out photos of ``folder`` (default: the shared ``train-photos``) that benchmarks measure on."""
    return split_photos(folder if folder is not None else default_photo_folder())[1]


@dataclass(frozen=True)
class Painting:
    """A training painting and its credit.

    Attributes:
        path: the image file.
        artist, title, year: from ``SOURCES.tsv`` (empty when the file is not listed there).
    """

    path: Path
    artist: str = ""
    title: str = ""
    year: str = ""

    @property
    def name(self) -> str:
        """The style name made from the file name (``claude-monet-water-lilies``)."""
        return self.path.stem.replace("_", "-").lower()

    @property
    def credit(self) -> str:
        """One credit line: ``Title, year — Artist`` (or the file name when unlisted)."""
        if not self.title:
            return self.path.name
        work = f"{self.title}, {self.year}" if self.year else self.title
        return f"{work} — {self.artist}" if self.artist else work


def list_paintings(folder: str | Path | None = None) -> list[Painting]:
    """The paintings of ``folder`` (default: the shared ``train-paintings``), sorted, with their credits.

    Credits come from ``SOURCES.tsv`` in the folder (columns ``file``, ``artist``, ``title``,
    ``year``); files it does not list are kept with empty credits.
    """
    folder = Path(folder).expanduser() if folder is not None else default_painting_folder()
    files = sorted(list_photos(folder))
    sources = folder / "SOURCES.tsv"
    credits: dict[str, dict[str, str]] = {}
    if sources.is_file():
        with open(sources, newline="", encoding="utf-8") as handle:
            credits = {row["file"]: row for row in csv.DictReader(handle, delimiter="\t") if row.get("file")}
    return [
        Painting(path, *(credits.get(path.name, {}).get(key, "") for key in ("artist", "title", "year")))
        for path in files
    ]


def pick_paintings(spec: str | Sequence[str]) -> list[Painting]:
    """Paintings named by ``spec``: a folder (all of it), a text file (one path or name per line),
    or a comma-separated list of files, built-in style names or names in the shared ``train-paintings``."""
    if isinstance(spec, str):
        path = Path(spec).expanduser()
        if path.is_dir():
            return list_paintings(path)
        if path.is_file() and path.suffix.lower() in (".txt", ".list"):
            spec = [line.strip() for line in path.read_text(encoding="utf-8").splitlines()]
            spec = [line for line in spec if line and not line.startswith("#")]
        else:
            spec = [item.strip() for item in spec.split(",") if item.strip()]
    known = {painting.name: painting for painting in _shared_paintings()}
    paintings: list[Painting] = []
    for item in spec:
        path = Path(item).expanduser()
        if path.is_file():
            credited = (path.parent / "SOURCES.tsv").is_file()
            listed = {p.path.name: p for p in list_paintings(path.parent)} if credited else {}
            paintings.append(listed.get(path.name, Painting(path)))
        elif Path(item).stem.replace("_", "-").lower() in known:
            paintings.append(known[Path(item).stem.replace("_", "-").lower()])
        elif (entry := find_style(item)) is not None:  # a built-in style, as everywhere else
            paintings.append(Painting(entry.path, entry.artist, entry.title, str(entry.year)))
        else:
            raise PainterlyError(
                f"painting {item!r} not found: give image files, a folder, built-in style names or names from train-paintings"
            )
    if not paintings:
        raise PainterlyError("no paintings given: name a folder, a list file or painting files")
    return paintings


def _shared_paintings() -> list[Painting]:
    folder = default_painting_folder()
    return list_paintings(folder) if folder.is_dir() else []
