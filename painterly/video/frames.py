"""Frame stylizers: one method, loaded once, applied to many frames.

The video loop takes any :class:`painterly.methods.spec.MethodStylizer` (what
:func:`painterly.registry.create_stylizer` builds) and calls its ``stylize_frame(frame, guidance)``
on ``(1, 3, H, W)`` tensors in ``[0, 1]``; a :class:`FrameStylizer` makes one from a plain function. ``guidance`` (a :class:`painterly.video.consistency.Guidance`, or ``None``
for the first frame or with consistency off) carries the previous output warped onto this frame.
Methods that use it themselves (optimization: start from it, plus a temporal loss) set
``uses_guidance``; for the others (feed-forward networks) the frame loop blends afterwards.

Which method runs, with which model and options, is decided by :func:`painterly.registry.create_stylizer`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Optional, Sequence

import torch

from painterly.errors import PainterlyError
from painterly.methods.spec import MethodStylizer
from painterly.video.consistency import Guidance

#: ``(frame (1, 3, H, W) in [0, 1], guidance or None) -> stylized (1, 3, H, W) in [0, 1]``.
FrameFunction = Callable[[torch.Tensor, Optional[Guidance]], torch.Tensor]


@dataclass
class FrameStylizer:
    """How to stylize one frame of a video.

    Attributes:
        stylize: ``(frame, guidance) -> stylized`` (see :data:`FrameFunction`).
        settings: everything that decides how frames look (method, model, styles, options),
            JSON-serializable; a resumed run must have the same.
        uses_guidance: the function keeps frames consistent itself; the loop does not blend.
    """

    stylize: FrameFunction
    settings: dict[str, Any] = field(default_factory=dict)
    uses_guidance: bool = False

    def stylize_frame(self, frame: torch.Tensor, guidance: Optional[Guidance] = None) -> torch.Tensor:
        return self.stylize(frame, guidance)


def frame_stylizer_for(method: Optional[str], *, model: Optional[str] = None, paintings: Sequence[tuple[Any, float]] = (),
                       stylizer: Any, image_size: Optional[tuple[int, int]] = None, **options: Any) -> MethodStylizer:  # fmt: skip
    """The frame stylizer of any registered method, its model or feature network loaded once.

    Args:
        method: a registered method (``None``: fast with a model, else optimize).
        paintings: ``[(PIL image, weight)]``, the styles of methods that take one.
        stylizer: a :class:`painterly.api.Stylizer` whose device and VGG19 the methods use.
        image_size: ``(width, height)`` of the frames: when given, the output size and the
            method's memory are checked before anything loads.
        options: the method's options (``size`` is the video's, not allowed here).
    """
    if "size" in options:
        raise PainterlyError("the video's size is set with --size, not as a method option")
    return stylizer.method(method, model=model, paintings=list(paintings), options=options, image_size=image_size,
                           frames=True)  # fmt: skip


def fast_frame_stylizer(model: str, *, device: torch.device | str | None = None, **options: Any) -> MethodStylizer:
    """The feed-forward network ``model`` (a built-in name or a file), loaded once, for frames."""
    from painterly.registry import create_stylizer

    if "size" in options:
        raise PainterlyError("the video's size is set with --size, not as a method option")
    return create_stylizer("fast", model=model, options=options, device=device)
