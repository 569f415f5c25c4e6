"""A fast stand-in runner, for the studio's tests, the load test and trying the page without a model.

It "paints" by mixing the photo with the painting's mean colour in a few steps, reporting progress
(with previews) like the high-quality method does, so every path of the job queue can be exercised
in milliseconds.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Callable, Optional

import numpy as np
import torch
from PIL import Image

from painterly.errors import PainterlyError
from painterly.progress import Cancelled, ProgressEvent
from painterly.registry import resolve_style_path
from painterly.web.catalog import MethodInfo, ModelInfo, describe_method
from painterly.web.jobs import JobOptions, Style


@dataclass
class FakeRunner:
    """Runs a job in ``steps`` steps of ``step_seconds`` each, with a preview every ``preview_every`` steps.

    Attributes:
        gate: when set, every job waits (still reporting progress, so it can be cancelled) until it is set.
        fail_with: raise this exception instead of returning a result.
        calls: (style, options) of every job run, for tests to inspect.
    """

    steps: int = 4
    step_seconds: float = 0.0
    preview_every: int = 2
    gate: Optional[threading.Event] = None
    fail_with: Optional[BaseException] = None
    calls: list = field(default_factory=list)

    def methods(self) -> list[MethodInfo]:
        return [describe_method("optimize", "slow, best quality (fake)"),
                describe_method("feedforward", "one pass through a trained network (fake)")]

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
