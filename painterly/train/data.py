"""Training photos: any folder of images, as a deterministic stream of random square crops.

The batch of step ``k`` is a pure function of ``(seed, k, rank)``: each epoch is a seeded
permutation of the photos, split between processes like ``DistributedSampler`` does, and each
crop's position, scale and flip come from a generator seeded by the sample's position in the
stream. Resuming at step ``k`` therefore sees exactly the batches an uninterrupted run would,
without saving any data-loader state. Unreadable files are skipped (and reported), not fatal.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from PIL import Image

from painterly.errors import PainterlyError

#: Decoded photos larger than this (long side) are reduced first: crops never need more.
_MAX_DECODE_SIDE = 2048


@dataclass
class Batch:
    """One step's crops ``(B, 3, S, S)`` in ``[0, 1]`` and the files that could not be read."""

    images: torch.Tensor
    unreadable: list[str] = field(default_factory=list)


def list_photos(folder: str | Path) -> list[Path]:
    """Every image file under ``folder``, recursively, sorted; a clear error when there is none."""
    from painterly.io.images import find_images

    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise PainterlyError(f"training data {str(folder)!r} is not a folder: give a folder of photos")
    photos = find_images(folder, recursive=True)
    if not photos:
        raise PainterlyError(
            f"no images found under {str(folder)!r}: give a folder of photos (COCO train2014, or "
            "scripts/make_photo_set.py builds one offline)"
        )
    return photos


def random_crop(image: Image.Image, crop_size: int, scale_jitter: Sequence[float], generator: torch.Generator) -> torch.Tensor:
    """A random square crop of ``image``, rescaled and maybe flipped; ``(3, S, S)`` in ``[0, 1]``.

    The short side is first resized to ``crop_size`` times a factor drawn from ``scale_jitter``.
    """
    low, high = scale_jitter
    factor = low + (high - low) * torch.rand((), generator=generator).item()
    width, height = image.size
    scale = crop_size * factor / min(width, height)
    size = (max(crop_size, round(width * scale)), max(crop_size, round(height * scale)))
    image = image.resize(size, Image.Resampling.BILINEAR, reducing_gap=2.0)
    left = int(torch.randint(0, size[0] - crop_size + 1, (), generator=generator))
    top = int(torch.randint(0, size[1] - crop_size + 1, (), generator=generator))
    image = image.crop((left, top, left + crop_size, top + crop_size))
    if torch.rand((), generator=generator).item() < 0.5:
        image = image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    pixels = np.asarray(image, dtype=np.uint8).copy()
    return torch.from_numpy(pixels).permute(2, 0, 1).float().div_(255)


class PhotoCrops(torch.utils.data.Dataset):
    """``dataset[step]`` is the :class:`Batch` for training step ``step`` on process ``rank``.

    Args:
        photos: image files (see :func:`list_photos`).
        batch_size: crops per step for this process.
        crop_size: side of each crop.
        scale_jitter: short-side factor range, see :func:`random_crop`.
        seed: seed of the epoch permutations and the crops.
        rank, world_size: this process and the number of processes; each takes its own slice.
        steps: length of the dataset (the number of training steps).
    """

    def __init__(
        self,
        photos: Sequence[Path],
        *,
        batch_size: int,
        crop_size: int,
        scale_jitter: Sequence[float] = (1.0, 2.0),
        seed: int = 0,
        rank: int = 0,
        world_size: int = 1,
        steps: int = 1,
    ):
        if not photos:
            raise PainterlyError("no training photos given")
        self.photos = list(photos)
        self.batch_size = batch_size
        self.crop_size = crop_size
        self.scale_jitter = tuple(scale_jitter)
        self.seed = seed
        self.rank = rank
        self.world_size = world_size
        self.steps = steps

    def __len__(self) -> int:
        return self.steps

    def photo_index(self, position: int) -> int:
        """Which photo sits at ``position`` of the endless stream of shuffled epochs."""
        epoch, offset = divmod(position, len(self.photos))
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
        return int(torch.randperm(len(self.photos), generator=generator)[offset])

    def __getitem__(self, step: int) -> Batch:
        crops: list[torch.Tensor] = []
        unreadable: list[str] = []
        first = (step * self.world_size + self.rank) * self.batch_size
        position = first
        # A bad file is replaced by the next photo of the stream; give up after a full pass.
        limit = first + self.batch_size + len(self.photos)
        while len(crops) < self.batch_size:
            if position >= limit:
                raise PainterlyError(
                    f"none of the {len(self.photos)} training images could be read: check the data folder"
                )
            path = self.photos[self.photo_index(position)]
            generator = torch.Generator().manual_seed(self.seed * 7_919 + position)
            position += 1
            try:
                image = _open_photo(path)
            except PainterlyError:
                unreadable.append(str(path))
                continue
            crops.append(random_crop(image, self.crop_size, self.scale_jitter, generator))
        return Batch(torch.stack(crops), unreadable)

    def preview_crops(self, count: int) -> torch.Tensor:
        """Fixed crops of the first readable photos, ``(N, 3, S, S)``: the same inputs for every sample image."""
        crops: list[torch.Tensor] = []
        for path in self.photos:
            if len(crops) == count:
                break
            try:
                image = _open_photo(path)
            except PainterlyError:
                continue
            generator = torch.Generator().manual_seed(0)
            crops.append(random_crop(image, self.crop_size, (1.0, 1.0), generator))
        return torch.stack(crops) if crops else torch.zeros(0, 3, self.crop_size, self.crop_size)


def _open_photo(path: Path) -> Image.Image:
    from painterly.io.images import load_image

    image = load_image(path)
    if max(image.size) > _MAX_DECODE_SIDE:
        scale = _MAX_DECODE_SIDE / max(image.size)
        image = image.resize((max(1, math.ceil(image.width * scale)), max(1, math.ceil(image.height * scale))))
    if min(image.size) < 8:
        raise PainterlyError(f"{path} is too small to train on")
    return image


def collate_single(batch: Batch) -> Batch:
    """A DataLoader ``collate_fn`` for datasets that already return whole batches."""
    return batch
