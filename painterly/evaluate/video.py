"""Video rows of an evaluation: temporal warping error and frames per second, next to the image metrics.

Each (clip, style, method) is stylized as a short video by the video loop, twice: with the
temporal consistency asked for and, for comparison, frame by frame (consistency 0, labelled
``<method>+plain``). A row holds the loop's mean masked warping error over consecutive frames,
its frames per second (decoding, flow and encoding included), and the usual content and style
distances of the clip's middle frame, so the flicker a method removes can be weighed against
the style it keeps.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterator, Optional, Sequence

import numpy as np
import torch
from PIL import Image

from painterly.errors import PainterlyError
from painterly.evaluate.records import Record
from painterly.io.images import image_to_tensor, save_image

if TYPE_CHECKING:
    from painterly.methods.spec import MethodStylizer

#: Builds the frame stylizer of one method for one style (its name and PIL image), once per pair.
FrameStylizerFactory = Callable[[str, Image.Image], "MethodStylizer"]

#: Suffixes of the two video rows of a method: with consistency and frame by frame.
VIDEO_SUFFIX = "+video"
PLAIN_SUFFIX = "+plain"
VIDEO_SUFFIXES = (".mp4", ".mov", ".mkv", ".webm", ".avi", ".m4v")


@dataclass(frozen=True)
class VideoSettings:
    """How the clips are stylized for measurement.

    Attributes:
        size: long side of the stylized frames in pixels.
        seconds: length of the cut taken from the start of each clip (``None``: all of it).
        consistency: temporal consistency of the ``+video`` rows (the ``+plain`` rows use 0).
        plain: also measure plain per-frame stylization, for comparison.
    """

    size: int = 256
    seconds: Optional[float] = 2.0
    consistency: float = 0.7
    plain: bool = True

    def validate(self) -> "VideoSettings":
        if self.size < 16:
            raise PainterlyError(f"video size {self.size} is too small: use at least 16 pixels")
        if self.seconds is not None and self.seconds <= 0:
            raise PainterlyError(f"video seconds must be positive, got {self.seconds}")
        if not 0 < self.consistency <= 1:
            raise PainterlyError(f"video consistency must be in (0, 1], got {self.consistency}")
        return self


def collect_clips(specs: Sequence[str | os.PathLike]) -> list[Path]:
    """Video files from folders (not recursive) and file paths; a clear error for anything else."""
    found: list[Path] = []
    for spec in specs:
        path = Path(spec).expanduser()
        if path.is_dir():
            clips = sorted(p for p in path.iterdir() if p.suffix.lower() in VIDEO_SUFFIXES)
            if not clips:
                raise PainterlyError(f"no videos in folder {path}: add {', '.join(VIDEO_SUFFIXES)} files")
            found += clips
        elif path.is_file():
            found.append(path)
        else:
            raise PainterlyError(f"video {str(spec)!r} not found: give a video file or a folder of them")
    stems = [clip.stem for clip in found]
    duplicates = sorted({stem for stem in stems if stems.count(stem) > 1})
    if duplicates:
        raise PainterlyError(f"two videos are named {duplicates[0]!r}: rename one, clips are told apart by name")
    return found


def middle_frame(path: Path, size: Optional[tuple[int, int]] = None) -> np.ndarray:
    """The middle decoded frame of a video, ``(H, W, 3)`` uint8."""
    from painterly.video.media import read_frames

    frames = list(read_frames(path, size=size))
    if not frames:
        raise PainterlyError(f"{path.name} has no frames to measure")
    return frames[len(frames) // 2]


def video_rows(
    clip: Path,
    style: tuple[str, Image.Image],
    label: str,
    factory: FrameStylizerFactory,
    *,
    vgg,
    settings: VideoSettings,
    work_dir: Path,
    device: torch.device,
    protect: Sequence[Path] = (),
) -> Iterator[Record]:
    """Stylize ``clip`` with one method and style and measure it (one or two :class:`Record` rows).

    Args:
        style: ``(stem, painting)``.
        factory: makes the method's frame stylizer for the painting.
        work_dir: where the stylized clips and their middle frames are written.
    """
    from painterly.evaluate.measure import measure, measure_output, output_name, pair_reference
    from painterly.video.loop import VideoConfig, VideoJob

    style_stem, painting = style
    frame_stylizer = factory(style_stem, painting)
    runs = [(VIDEO_SUFFIX, settings.consistency)] + ([(PLAIN_SUFFIX, 0.0)] if settings.plain else [])
    for suffix, consistency in runs:
        method = f"{label}{suffix}"
        output = work_dir / output_name(clip.stem, style_stem, method, ".mp4")
        config = VideoConfig(consistency=consistency, size=settings.size, end=settings.seconds, audio=False)
        with measure(device) as measurement:
            result = VideoJob(clip, output, frame_stylizer, config, device="cpu").run(measure=True)
        stylized = middle_frame(result.output)
        content = middle_frame(clip, size=(result.width, result.height))
        with torch.no_grad():
            reference = pair_reference(vgg, image_to_tensor(Image.fromarray(content), device=device),
                                       image_to_tensor(painting, device=device))  # fmt: skip
            values = measure_output(vgg, image_to_tensor(Image.fromarray(stylized), device=device), reference)
        still = save_image(Image.fromarray(stylized), work_dir / output_name(clip.stem, style_stem, method), protect=protect)
        yield Record(
            content=clip.stem,
            style=style_stem,
            method=method,
            **values,
            seconds=measurement.seconds,
            peak_memory_mb=measurement.peak_memory_mb,
            width=result.width,
            height=result.height,
            output=str(still),
            frames_per_second=result.frames_per_second,
            warping_error=result.warping_error if result.warping_error is not None else float("nan"),
        )


def poster(clip: Path, size: int, work_dir: Path, protect: Sequence[Path] = ()) -> Path:
    """The clip's middle frame at ``size`` (long side), saved as ``<clip>__poster.png`` for the report grid."""
    from painterly.io.images import resize_long_side

    frame = Image.fromarray(middle_frame(clip))
    return save_image(resize_long_side(frame, size), work_dir / f"{clip.stem}__poster.png", protect=protect)
