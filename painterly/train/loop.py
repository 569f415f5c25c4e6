"""The one training loop that every trainer plugs its step into.

A trainer contributes a config dataclass and a *step*: an object that builds its networks and
optimizers, trains one step on one batch, and knows its state, its sample sheet and how to
write its final model (:class:`TrainingStep`). :func:`fit` owns everything around it:

- the run folder (``config.run_path()``) with ``config.json``, ``losses.csv`` (and TensorBoard
  events when installed), ``samples/step-NNNNNN.jpg`` and ``checkpoints/step-NNNNNN.pt``;
- checkpoints every ``checkpoint_every`` steps, at the end and when cancelled, written atomically,
  the last ``keep_checkpoints`` kept;
- exact resume (``config.resume``): the step's state (models, optimizers, schedules, anything it
  puts in its state), the random number generators and the step; the data position needs no
  state, since ``dataset[k]`` is step ``k``'s batch;
- progress events (mean losses of the window, images/s, ETA, a preview) through
  :data:`painterly.progress.ProgressCallback`; returning ``False`` stops after a checkpoint;
- DDP when started by ``torchrun`` (:meth:`Run.parallel`; only rank 0 writes files).

See ``docs/training-loop.md`` for a trainer written from scratch.
"""

from __future__ import annotations

import csv
import json
import math
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Optional, Protocol, Sequence

import torch
from torch import nn

from painterly.devices import resolve_device
from painterly.errors import PainterlyError
from painterly.io.files import name_files
from painterly.progress import Cancelled, ProgressCallback, ProgressEvent
from painterly.train import distributed
from painterly.train.checkpoints import (
    CHECKPOINT_PREFIX,
    Checkpoint,
    checkpoint_path,
    drop_old_checkpoints,
    latest_checkpoint,
    save_checkpoint,
)
from painterly.train.data import collate_single

LOSS_LOG = "losses.csv"
CONFIG_FILE = "config.json"
#: Photos (or pairs) shown in a sample sheet.
SAMPLE_COUNT = 4


class RunOptions(Protocol):
    """What the loop reads from a trainer's config (a dataclass with these fields and methods).

    ``workers`` (photo-decoding processes, default 0) is read when the config has it.
    """

    steps: int
    seed: int
    device: str
    resume: bool
    checkpoint_every: int
    sample_every: int
    log_every: int
    keep_checkpoints: int
    time_limit: float  # minutes; 0: none

    def validate(self) -> Any: ...

    def run_path(self) -> Path: ...

    def to_dict(self) -> dict[str, Any]: ...


@dataclass
class Sample:
    """A sample sheet to write to ``samples/``, and the image to send with the progress event.

    Attributes:
        sheet: ``(1, 3, H, W)`` or ``(3, H, W)`` in ``[0, 1]`` (see :func:`image_grid`).
        preview: ``(1, 3, h, w)`` in ``[0, 1]`` on the CPU, or ``None``.
    """

    sheet: torch.Tensor
    preview: Optional[torch.Tensor] = None


class TrainingStep(Protocol):
    """A trainer's part of a run, built by the trainer's ``build(run)`` function.

    Attributes:
        loss_names: the losses ``step`` returns, in the order of the loss log; ``total`` first.
        images_per_step: images one process trains on per step (for images/s).
        dataset: ``dataset[k]`` is the batch of step ``k`` (0-based) on this process, a pure
            function of ``k``, so a resumed run sees the same batches without loader state;
            ``len(dataset)`` is at least ``config.steps``. Batches with an ``unreadable`` list
            (:class:`painterly.train.data.Batch`), or tuples of them, have those files counted.
    """

    loss_names: Sequence[str]
    images_per_step: int
    dataset: Any

    def step(self, batch: Any, step: int) -> dict[str, Any]:
        """Train on ``batch``, the ``step``-th (0-based); returns the named losses (tensors or floats)."""
        ...

    def state_dict(self) -> dict[str, Any]:
        """``{"model": …, "optimizer": …, "extra": {…}}``: all the state a resumed run needs."""
        ...

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Take back a :meth:`state_dict` (``extra`` may lack entries of a run started otherwise)."""
        ...

    def samples(self) -> Optional[Sample]:
        """The sample sheet of the networks as they are now (called on rank 0 only)."""
        ...

    def export(self, record: dict[str, Any]) -> dict[str, Path]:
        """Write the final model files, with ``record`` (what the loop measured) in them; returns
        ``{name: path}`` of the files written (called on rank 0 only)."""
        ...


@dataclass(frozen=True)
class Run:
    """What a trainer's ``build`` gets: the config, the device, its process's place in a DDP job, the run folder."""

    config: Any
    device: torch.device
    info: distributed.DistributedInfo
    run_dir: Path

    def parallel(self, module: nn.Module) -> nn.Module:
        """``module`` wrapped for DDP in a multi-process run (gradients averaged in ``backward``), else itself.

        Train through the returned module; keep the plain one for state, samples and export.
        """
        if not self.info.enabled:
            return module
        device_ids = [self.device.index] if self.device.type == "cuda" else None
        return nn.parallel.DistributedDataParallel(module, device_ids=device_ids)


@dataclass
class TrainResult:
    """What a training run produced.

    Attributes:
        model_path: the (first) model file written (``None`` on processes other than rank 0).
        run_dir: checkpoints, samples and ``losses.csv``.
        steps: steps trained in all (including before a resume).
        seconds: training time in all.
        images_per_second: average throughput of this run, over all processes.
        losses: mean losses over the last logging window.
        unreadable: training files that could not be read and were skipped.
        models: every model file written, by name (e.g. ``{"a2b": …, "b2a": …}``).
    """

    model_path: Optional[Path]
    run_dir: Path
    steps: int
    seconds: float
    images_per_second: float
    losses: dict[str, float]
    unreadable: list[str] = field(default_factory=list)
    models: dict[str, Path] = field(default_factory=dict)


def fit(
    config: RunOptions,
    build: Callable[[Run], TrainingStep],
    progress: Optional[ProgressCallback] = None,
) -> TrainResult:
    """Validate ``config``, build the trainer's step with ``build`` and train it for ``config.steps`` steps.

    The global random generator is seeded with ``config.seed`` before ``build`` is called.

    Args:
        config: the trainer's config (see :class:`RunOptions`).
        build: makes the :class:`TrainingStep` (networks, optimizers, data) for a :class:`Run`.
        progress: called every ``log_every`` steps (on rank 0); returning ``False`` stops training
            (raises :class:`~painterly.progress.Cancelled`) after a checkpoint is written.

    Returns:
        A :class:`TrainResult`.
    """
    config.validate()
    device = resolve_device(config.device)
    info = distributed.setup(device)
    finished = False
    try:
        run = Run(config, distributed.process_device(device, info), info, config.run_path())
        torch.manual_seed(config.seed)
        result = _Loop(run, build(run), progress).train()
        finished = True
        return result
    finally:
        distributed.teardown(info, synchronize=finished)


class _Window:
    """Losses summed since the last report, and the speed and time left measured from it."""

    def __init__(self, names: Sequence[str], images_per_step: int, start: int, steps: int):
        self.names, self.images_per_step, self.start, self.steps = tuple(names), images_per_step, start, steps
        self.run_started = time.perf_counter()
        self.images_per_second = 0.0
        self._reset()

    def _reset(self) -> None:
        self.sums = {name: 0.0 for name in self.names}
        self.count, self.started = 0, time.perf_counter()

    def add(self, values: dict[str, float]) -> None:
        for name in self.names:
            self.sums[name] += values[name]
        self.count += 1

    def close(self) -> dict[str, float]:
        """The window's mean losses; measures its speed and starts the next window."""
        now = time.perf_counter()
        self.images_per_second = self.count * self.images_per_step / max(now - self.started, 1e-9)
        means = {name: total / max(self.count, 1) for name, total in self.sums.items()}
        self._reset()
        return means

    def elapsed(self) -> float:
        return time.perf_counter() - self.run_started

    def eta(self, step: int) -> float:
        """Seconds left at ``step``, at this run's average pace."""
        return self.elapsed() / max(step - self.start, 1) * (self.steps - step)

    def average_speed(self, step: int) -> float:
        return (step - self.start) * self.images_per_step / max(self.elapsed(), 1e-9)


class _Loop:
    def __init__(self, run: Run, task: TrainingStep, progress: Optional[ProgressCallback]):
        self.run, self.task, self.progress = run, task, progress
        self.config = run.config
        self.loss_names = tuple(task.loss_names)
        self.unreadable: set[str] = set()

    def train(self) -> TrainResult:
        config, info, run_dir = self.config, self.run.info, self.run.run_dir
        start, seconds_before, losses = self._resume()
        if info.is_main:
            run_dir.mkdir(parents=True, exist_ok=True)
            (run_dir / CONFIG_FILE).write_text(json.dumps(config.to_dict(), indent=2, default=str) + "\n")
        log = LossLog(run_dir, start, self.loss_names) if info.is_main else None
        window = _Window(self.loss_names, self.task.images_per_step * info.world_size, start, config.steps)
        step = start
        try:
            for batch in step_batches(self.task.dataset, start, config.steps, getattr(config, "workers", 0)):
                self.unreadable.update(unreadable_files(batch))
                values = {name: _number(value) for name, value in self.task.step(batch, step).items()}
                step += 1
                if not math.isfinite(values["total"]):
                    hint = " or use --precision fp32" if hasattr(config, "precision") else ""
                    raise PainterlyError(
                        f"the loss became NaN or infinite at step {step}: lower the learning rate{hint}"
                    )
                window.add(values)
                seconds = seconds_before + window.elapsed()
                report = step % config.log_every == 0 or step == config.steps
                if report:
                    losses = distributed.mean_over_processes(window.close(), info, self.run.device)
                    if log is not None:
                        log.add(step, losses, window.images_per_second, seconds)
                preview = self._sample(step)
                cancel = report and self._report(step, losses, window, preview)
                # Decided at reports only, where every process is, so that all stop at the same step.
                out_of_time = report and self._out_of_time(window)
                if cancel or out_of_time or step == config.steps or (config.checkpoint_every and step % config.checkpoint_every == 0):
                    self._checkpoint(step, seconds, losses)
                if cancel:
                    raise Cancelled(f"training stopped at step {step}; continue it with --resume")
                if out_of_time:
                    break
        finally:
            if log is not None:
                log.close()
        return self._finish(step, seconds_before + window.elapsed(), window.average_speed(step), losses)

    def _out_of_time(self, window: "_Window") -> bool:
        """Whether this session's ``time_limit`` (minutes) has passed, on any process."""
        if not self.config.time_limit:
            return False
        return distributed.any_process(window.elapsed() >= 60 * self.config.time_limit, self.run.info, self.run.device)

    def _resume(self) -> tuple[int, float, dict[str, float]]:
        """With ``config.resume``, load the run's last checkpoint; ``(step, seconds, losses)`` to go on from."""
        config, run_dir = self.config, self.run.run_dir
        checkpoint = latest_checkpoint(run_dir, config.steps) if config.resume else None
        if checkpoint is None:
            return 0, 0.0, {name: math.nan for name in self.loss_names}
        try:
            self.task.load_state_dict(
                {"model": checkpoint.model, "optimizer": checkpoint.optimizer, "extra": checkpoint.extra}
            )
        except (RuntimeError, KeyError, ValueError):
            raise PainterlyError(
                f"the checkpoints in {run_dir} are of another network: resume with the network options the run "
                "was started with (e.g. --variant, --init), or give a new --out to start afresh"
            ) from None
        torch.set_rng_state(checkpoint.rng)
        if checkpoint.cuda_rng is not None and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(checkpoint.cuda_rng)
        losses = {name: checkpoint.losses.get(name, math.nan) for name in self.loss_names}
        return checkpoint.step, checkpoint.seconds, losses

    def _sample(self, step: int) -> Optional[torch.Tensor]:
        """Write the sample sheet when one is due at ``step`` (rank 0); returns its preview."""
        every = self.config.sample_every
        if not self.run.info.is_main or not every or (step % every and step != self.config.steps):
            return None
        sample = self.task.samples()
        if sample is None:
            return None
        from painterly.io.images import save_image, tensor_to_image

        path = self.run.run_dir / "samples" / f"{CHECKPOINT_PREFIX}{step:06d}.jpg"
        save_image(tensor_to_image(sample.sheet.float().clamp(0, 1)), path)
        return sample.preview

    def _report(self, step: int, losses: dict[str, float], window: _Window, preview: Optional[torch.Tensor]) -> bool:
        """Send the progress event (rank 0); whether any process was asked to stop."""
        cancel = False
        if self.run.info.is_main and self.progress is not None:
            speed, eta = window.images_per_second, window.eta(step)
            stage = f"{speed:.2f} images/s, ETA {eta / 60:.1f} min"
            if self.unreadable:
                stage += f", {len(self.unreadable)} unreadable files skipped"
            event = ProgressEvent(step=step, total=self.config.steps, stage=stage, preview=preview,
                                  losses={**losses, "images_per_second": speed, "eta_seconds": eta})  # fmt: skip
            cancel = self.progress(event) is False
        return distributed.any_process(cancel, self.run.info, self.run.device)

    def _checkpoint(self, step: int, seconds: float, losses: dict[str, float]) -> None:
        """Write the checkpoint of ``step`` (rank 0) and drop all but the last ``keep_checkpoints``."""
        if not self.run.info.is_main:
            return
        state = self.task.state_dict()
        model = {name: value.detach().cpu().clone() for name, value in state["model"].items()}
        cuda_rng = torch.cuda.get_rng_state_all() if self.run.device.type == "cuda" else None
        checkpoint = Checkpoint(step, seconds, model, state["optimizer"], torch.get_rng_state(), dict(losses),
                                dict(state.get("extra") or {}), cuda_rng)  # fmt: skip
        save_checkpoint(checkpoint_path(self.run.run_dir, step), checkpoint, self.config)
        drop_old_checkpoints(self.run.run_dir, self.config.keep_checkpoints)

    def _finish(self, step: int, seconds: float, speed: float, losses: dict[str, float]) -> TrainResult:
        """Export the models (rank 0) with the run's record; the result."""
        info = self.run.info
        record = {
            "steps": step,
            "seconds": round(seconds, 1),
            "images_per_second": round(speed, 3),
            "losses": losses,
            "device": str(self.run.device),
            "processes": info.world_size,
            "unreadable_files": len(self.unreadable),
        }
        models = self.task.export(record) if info.is_main else {}
        distributed.barrier(info)
        if self.unreadable and info.is_main:
            warnings.warn(f"{len(self.unreadable)} training files could not be read and were skipped: "
                          f"{name_files(sorted(self.unreadable))}", stacklevel=4)  # fmt: skip
        model_path = next(iter(models.values()), None)
        return TrainResult(model_path, self.run.run_dir, step, seconds, speed, losses, sorted(self.unreadable), models)


def _number(value: Any) -> float:
    return float(value.detach()) if isinstance(value, torch.Tensor) else float(value)


def unreadable_files(batch: Any) -> list[str]:
    """The files a batch (or a tuple of batches) could not read."""
    parts = batch if isinstance(batch, tuple) else (batch,)
    return [name for part in parts for name in getattr(part, "unreadable", ())]


class StepZip(torch.utils.data.Dataset):
    """Several step-indexed datasets as one: ``zipped[k]`` is the tuple of their step-``k`` batches."""

    def __init__(self, *datasets: Any):
        self.datasets = datasets

    def __len__(self) -> int:
        return min(len(dataset) for dataset in self.datasets)

    def __getitem__(self, step: int) -> tuple[Any, ...]:
        return tuple(dataset[step] for dataset in self.datasets)


def step_batches(dataset: Any, start: int, steps: int, workers: int = 0) -> Iterator[Any]:
    """The batches of steps ``start … steps - 1``, decoded by ``workers`` processes (0: here)."""
    indices: Iterable[int] = range(start, steps)
    if workers == 0:
        return (dataset[step] for step in indices)
    # Its own generator: starting workers would otherwise draw from the global one and shift a resumed run's stream.
    loader = torch.utils.data.DataLoader(
        dataset, batch_size=None, sampler=list(indices), num_workers=workers, collate_fn=collate_single,
        generator=torch.Generator().manual_seed(0),
    )  # fmt: skip
    return iter(loader)


def image_grid(rows: Sequence[torch.Tensor]) -> torch.Tensor:
    """Rows of images side by side, rows stacked: each row ``(N, 3, S, S)``; returns ``(1, 3, R·S, N·S)``."""
    return torch.cat([torch.cat(list(row.float().cpu()), dim=2) for row in rows], dim=1).unsqueeze(0)


class LossLog:
    """``losses.csv`` in the run folder, plus TensorBoard events when ``tensorboard`` is installed.

    ``names`` are the loss columns, in order.
    """

    def __init__(self, run_dir: Path, resume_step: int, names: Sequence[str]):
        self.path = run_dir / LOSS_LOG
        self.names = tuple(names)
        run_dir.mkdir(parents=True, exist_ok=True)
        columns = ["step", *self.names, "images_per_second", "seconds"]
        rows: list[dict[str, str]] = []
        if resume_step > 0 and self.path.is_file():
            with self.path.open(newline="") as handle:
                rows = list(csv.DictReader(handle))
            rows = [row for row in rows if (row.get("step") or "").isdigit() and int(row["step"]) <= resume_step]
        with self.path.open("w", newline="") as handle:
            # By name: a run resumed with other losses (e.g. an adversarial one) keeps its earlier rows.
            writer = csv.DictWriter(handle, columns, restval="", extrasaction="ignore")
            writer.writeheader()
            writer.writerows(rows)
        self.writer = None
        try:
            from torch.utils.tensorboard import SummaryWriter

            self.writer = SummaryWriter(log_dir=str(run_dir / "tensorboard"), purge_step=resume_step + 1)
        except Exception:  # tensorboard is optional; any import failure just means CSV only
            self.writer = None

    def add(self, step: int, losses: dict[str, float], images_per_second: float, seconds: float) -> None:
        with self.path.open("a", newline="") as handle:
            csv.writer(handle).writerow(
                [step, *(f"{losses[name]:.6g}" for name in self.names), f"{images_per_second:.3f}", f"{seconds:.1f}"]
            )
        if self.writer is not None:
            for name in self.names:
                self.writer.add_scalar(f"loss/{name}", losses[name], step)
            self.writer.add_scalar("images_per_second", images_per_second, step)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
