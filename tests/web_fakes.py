"""A fast stand-in runner, for the studio's tests, the load test and trying the page without a model.

It "paints" by mixing the photo with the painting's mean colour in a few steps, reporting progress
(with previews) like the high-quality method does, so every path of the job queue can be exercised
in milliseconds. Video jobs are tinted the same way frame by frame, through :mod:`painterly.video`'s
reader and writer, with progress per frame like the real video loop.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

import numpy as np
import torch
from PIL import Image

from painterly.errors import PainterlyError
from painterly.progress import Cancelled, ProgressEvent
from painterly.registry import resolve_style_path
from painterly.web.catalog import MethodInfo, ModelInfo, describe_method
from painterly.web.jobs import JobOptions, Style, video_config


@dataclass
class FakeRunner:
    """Runs a job in ``steps`` steps of ``step_seconds`` each, with a preview every ``preview_every`` steps.

    Attributes:
        gate: when set, every job waits (still reporting progress, so it can be cancelled) until it is set.
        fail_with: raise this exception instead of returning a result.
        calls: (style, options) of every job run, for tests to inspect (video jobs: ("video", style, options)).
        video_frame_seconds: sleep after every frame of a video job.
    """

    steps: int = 4
    step_seconds: float = 0.0
    preview_every: int = 2
    gate: Optional[threading.Event] = None
    fail_with: Optional[BaseException] = None
    calls: list = field(default_factory=list)
    video_frame_seconds: float = 0.0

    def methods(self) -> list[MethodInfo]:
        return [describe_method("optimize", "slow, best quality (fake)"),
                describe_method("feedforward", "one pass through a trained network (fake)", like="fast")]

    def models(self) -> list[ModelInfo]:
        return [ModelInfo(name="toy", method="feedforward", title="Toy model")]

    def __call__(self, content: Image.Image, style: Style, options: JobOptions, progress: Callable) -> Image.Image:
        self.calls.append((style, options))
        if options.size:
            content = content.copy()
            content.thumbnail((options.size, options.size))
        photo = torch.from_numpy(np.asarray(content, dtype=np.float32) / 255.0).permute(2, 0, 1)[None]
        target = self._style_colour(style)
        strength = 1.0 if options.strength is None else options.strength
        step = 0
        while step < self.steps or (self.gate is not None and not self.gate.is_set()):
            step = min(step + 1, self.steps)
            mix = strength * 0.5 * step / self.steps
            image = photo * (1 - mix) + target * mix
            preview = image if self.preview_every and step % self.preview_every == 0 else None
            if progress(ProgressEvent(step, self.steps, "painting", {"total": 1.0 / step}, preview)) is False:
                raise Cancelled()
            if self.step_seconds or self.gate is not None:
                time.sleep(self.step_seconds or 0.01)
        if self.fail_with is not None:
            raise self.fail_with
        array = (image[0].permute(1, 2, 0).clamp(0, 1).numpy() * 255).round().astype(np.uint8)
        return Image.fromarray(array, "RGB")

    def video(self, source: Path, style: Style, options: JobOptions, progress: Callable, *, output: Path,
              work_folder: Path) -> None:
        """Tint every frame of the clip towards the style's colour (a blue for a model) into ``output``."""
        from painterly.video.media import VideoWriter, output_size, probe_video, read_frames

        self.calls.append(("video", style, options))
        config = video_config(options)
        info = probe_video(source)
        size = output_size(info.width, info.height, config.size)
        total = max(1, info.frames_between(config.start, config.end))
        tint = self._style_colour(style)[0, :, 0, 0].numpy() * 255
        strength = 0.5 * (1.0 if options.strength is None else options.strength)
        started = time.perf_counter()
        frames = read_frames(source, size=size, start=config.start, end=config.end)
        try:
            with VideoWriter(output, size, info.fps, crf=28, preset="ultrafast", protect=[source]) as writer:
                for index, frame in enumerate(frames):
                    if self.gate is not None:
                        while not self.gate.is_set():  # wait, still asking whether to stop
                            if progress(ProgressEvent(index, max(total, index + 1), "waiting")) is False:
                                raise Cancelled()
                            time.sleep(0.01)
                    tinted = frame.astype(np.float32) * (1 - strength) + tint * strength
                    writer.write(tinted.round().clip(0, 255).astype(np.uint8))
                    if self.video_frame_seconds:
                        time.sleep(self.video_frame_seconds)
                    rate = (index + 1) / max(1e-6, time.perf_counter() - started)
                    if progress(ProgressEvent(index + 1, max(total, index + 1), f"{rate:.1f} frames/s")) is False:
                        raise Cancelled()
                if self.fail_with is not None:
                    raise self.fail_with
        finally:
            frames.close()

    @staticmethod
    def _style_colour(style: Style) -> torch.Tensor:
        if style is None:
            return torch.tensor([0.2, 0.3, 0.6]).view(1, 3, 1, 1)
        if isinstance(style, str):
            try:
                style = Image.open(resolve_style_path(style)).convert("RGB")
            except OSError:
                raise PainterlyError(f"cannot read style {style!r}") from None
        mean = np.asarray(style.resize((8, 8)), dtype=np.float32).reshape(-1, 3).mean(0) / 255.0
        return torch.from_numpy(mean).view(1, 3, 1, 1)
