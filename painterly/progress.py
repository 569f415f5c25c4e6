"""Progress reporting shared by the CLI (a bar) and the web studio (live previews).

Long-running code takes a ``progress`` callable and calls it with :class:`ProgressEvent`s; it
never prints. Returning ``False`` from the callable asks the work to stop early (cancel).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, Optional

if TYPE_CHECKING:
    import torch


@dataclass
class ProgressEvent:
    """One step of long work.

    Attributes:
        step: steps done so far, over all stages (1-based).
        total: steps planned in all.
        stage: what is running, e.g. ``"scale 2/3 (256 px)"``.
        losses: named loss values at this step (``total``, ``content``, ``style`` …).
        preview: the current image, ``(1, 3, H, W)`` in ``[0, 1]`` on the CPU, when a preview was
            asked for at this step, else ``None``.
        work: fraction of the estimated compute done, in ``[0, 1]``; steps at low resolution are
            cheaper than at full size, so this, not ``step / total``, is what an ETA should use.
        memory: the work's estimated peak memory in bytes (the whole process), on its first event,
            where the method estimates it; ``None`` otherwise.
    """

    step: int
    total: int
    stage: str = ""
    losses: dict[str, float] = field(default_factory=dict)
    preview: Optional[torch.Tensor] = None
    work: Optional[float] = None
    memory: Optional[int] = None

    @property
    def fraction(self) -> float:
        """Share of the work done, for progress bars and ETAs."""
        if self.work is not None:
            return self.work
        return self.step / self.total if self.total else 0.0


#: A progress callback; returning ``False`` cancels the work.
ProgressCallback = Callable[[ProgressEvent], Optional[bool]]


class Cancelled(Exception):
    """Raised inside long work when its progress callback asked to stop."""
