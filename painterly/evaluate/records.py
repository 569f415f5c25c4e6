"""The results of an evaluation: one :class:`Record` per output image, gathered in an :class:`Evaluation`."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from pathlib import Path


@dataclass
class Record:
    """The measurements of one output image (NaN where not measured).

    Video rows (see :mod:`painterly.evaluate.video`) measure their clip's middle frame and add
    ``frames_per_second`` and ``warping_error``; image rows leave those NaN.
    """

    content: str
    style: str
    method: str
    content_distance: float
    content_distance_normalized: float
    style_gram: float
    style_gram_normalized: float
    style_meancov: float
    style_meancov_normalized: float
    ssim_luminance: float
    colourfulness: float
    seconds: float
    peak_memory_mb: float
    width: int
    height: int
    output: str
    frames_per_second: float = math.nan
    warping_error: float = math.nan

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Failure:
    """An output that could not be made or measured: which one, and the error's message."""

    content: str
    style: str
    method: str
    message: str

    def to_dict(self) -> dict:
        return asdict(self)

    def line(self) -> str:
        """``fast-starry failed on tubingen × starry_night: <message>``."""
        return f"{self.method} failed on {self.content} × {self.style}: {self.message}"


@dataclass
class Evaluation:
    """Everything one evaluation produced; :mod:`painterly.evaluate.report` writes it out.

    ``set_metrics`` holds set-level figures per method: ``vgg_frechet``, the Fréchet distance
    between its outputs and the style images in VGG19 feature space (always), and ``fid`` and
    ``art_fid`` when an Inception network was given (``{method: {"vgg_frechet": …, "fid": …}}``); ``failures`` the outputs that failed (the evaluation
    goes on past them).
    """

    records: list[Record]
    methods: list[str]
    contents: dict[str, Path]
    styles: dict[str, Path]
    size: int
    set_metrics: dict[str, dict[str, float]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    settings: dict = field(default_factory=dict)
    failures: list[Failure] = field(default_factory=list)
    #: The report files written (``csv``, ``json``, ``html``), when a report folder was given.
    files: dict[str, Path] = field(default_factory=dict)
