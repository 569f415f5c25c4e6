"""Checkpoints of a training run: ``RUN/checkpoints/step-000200.pt``, written atomically.

A checkpoint holds everything the loop (:mod:`painterly.train.loop`) needs to continue a run
exactly: the step, the training time so far, the trainer's state (its model, optimizer and
further state such as discriminators), the random number generators' states and the last
logged losses. The run's config is stored beside them, to read back by hand.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import torch

from painterly.errors import PainterlyError

CHECKPOINT_PREFIX = "step-"


@dataclass
class Checkpoint:
    """Everything needed to continue a run exactly.

    Attributes:
        step: steps trained when it was written.
        seconds: training time so far, over all earlier legs of the run.
        model: the trained network's state (``state_dict``).
        optimizer: its optimizer's state.
        rng: the CPU random number generator's state.
        losses: the mean losses of the last logging window.
        extra: further state of the trainer, e.g. ``{"discriminator": Adversary.state_dict()}``.
        cuda_rng: the CUDA generators' states, one per device (``None`` when CUDA is not in use).
    """

    step: int
    seconds: float
    model: dict[str, torch.Tensor]
    optimizer: dict[str, Any]
    rng: torch.Tensor
    losses: dict[str, float]
    extra: dict[str, Any] = field(default_factory=dict)
    cuda_rng: Optional[list[torch.Tensor]] = None


def checkpoint_path(run_dir: Path, step: int) -> Path:
    """Where the checkpoint of ``step`` goes: ``RUN/checkpoints/step-000200.pt``."""
    return run_dir / "checkpoints" / f"{CHECKPOINT_PREFIX}{step:06d}.pt"


def checkpoint_paths(run_dir: Path) -> list[Path]:
    """The checkpoints in ``run_dir``, oldest first."""
    folder = run_dir / "checkpoints"
    return sorted(folder.glob(f"{CHECKPOINT_PREFIX}*.pt")) if folder.is_dir() else []


def save_checkpoint(path: Path, checkpoint: Checkpoint, config: Any) -> None:
    """Write ``checkpoint`` (and ``config.to_dict()``) to ``path`` through a temporary file, so a
    run stopped while writing never leaves a half-written checkpoint behind."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    data = {
        "step": checkpoint.step,
        "seconds": checkpoint.seconds,
        "model": checkpoint.model,
        "optimizer": checkpoint.optimizer,
        "rng": checkpoint.rng,
        "losses": checkpoint.losses,
        "extra": checkpoint.extra,
        "config": config.to_dict(),
    }
    if checkpoint.cuda_rng is not None:
        data["cuda_rng"] = checkpoint.cuda_rng
    torch.save(data, temporary)
    temporary.replace(path)


def load_checkpoint(path: Path) -> Checkpoint:
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
        return Checkpoint(
            data["step"], data["seconds"], data["model"], data["optimizer"], data["rng"], data["losses"],
            data.get("extra", {}), data.get("cuda_rng"),
        )  # fmt: skip
    except Exception as error:  # torch.load raises many types for damaged files
        raise PainterlyError(
            f"checkpoint {path} cannot be read ({type(error).__name__}): delete it to resume from the one before"
        ) from None


def latest_checkpoint(run_dir: Path, steps: int) -> Optional[Checkpoint]:
    """The run's last checkpoint, to resume from (``None`` when it has none); an error when it is past ``steps``."""
    existing = checkpoint_paths(run_dir)
    if not existing:
        return None
    checkpoint = load_checkpoint(existing[-1])
    if checkpoint.step > steps:
        raise PainterlyError(
            f"the run in {run_dir} is already at step {checkpoint.step}: give --steps above that to go on"
        )
    return checkpoint


def drop_old_checkpoints(run_dir: Path, keep: int) -> None:
    """Delete all but the last ``keep`` checkpoints of the run."""
    for old in checkpoint_paths(run_dir)[:-keep]:
        old.unlink(missing_ok=True)
