"""The one training loop: what any trainer gets from it (run folder, checkpoints, exact resume, log, samples, DDP)."""

from __future__ import annotations

import csv
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

from ddp_helpers import run_on_two_processes
from feedforward_helpers import TINY, photo_folder
from painterly.errors import PainterlyError
from painterly.progress import Cancelled
from painterly.train import TrainConfig, train
from painterly.train.loop import Run, Sample, fit

pytestmark = pytest.mark.usefixtures("single_thread")


# --- a toy trainer: a config and a step, nothing more ----------------------------------------------


@dataclass
class ToyConfig:
    out: str
    steps: int = 6
    seed: int = 0
    device: str = "cpu"
    resume: bool = False
    checkpoint_every: int = 2
    sample_every: int = 3
    log_every: int = 1
    keep_checkpoints: int = 2
    workers: int = 0
    hidden: int = 4
    time_limit: float = 0.0

    def validate(self) -> "ToyConfig":
        if self.steps < 1:
            raise PainterlyError("steps must be at least 1")
        return self

    def run_path(self) -> Path:
        return Path(self.out)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class ToyPoints(torch.utils.data.Dataset):
    """Step ``k``'s batch: 8 points of ``y = 2·x0 − x1 + 0.5``, drawn from a generator seeded by ``k`` (and the rank)."""

    def __init__(self, steps: int, rank: int = 0):
        self.steps, self.rank = steps, rank

    def __len__(self) -> int:
        return self.steps

    def __getitem__(self, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        x = torch.randn(8, 2, generator=torch.Generator().manual_seed(step * 2 + self.rank))
        return x, (x @ torch.tensor([[2.0], [-1.0]]) + 0.5)


class ToyStep:
    """A two-layer network fitted with Adam and a step schedule; dropout draws from the global generator."""

    loss_names = ("total", "mse")
    images_per_step = 8

    def __init__(self, run: Run):
        self.run = run
        self.dataset = ToyPoints(run.config.steps, run.info.rank)
        self.model = nn.Sequential(nn.Linear(2, run.config.hidden), nn.Dropout(0.2), nn.Linear(run.config.hidden, 1))
        self.trained = run.parallel(self.model)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=0.05)
        self.schedule = torch.optim.lr_scheduler.StepLR(self.optimizer, step_size=2, gamma=0.5)
        self.exported: dict[str, Any] = {}

    def step(self, batch: tuple[torch.Tensor, torch.Tensor], step: int) -> dict[str, Any]:
        x, y = batch
        self.optimizer.zero_grad()
        mse = (self.trained(x) - y).pow(2).mean()
        mse.backward()
        self.optimizer.step()
        self.schedule.step()
        return {"total": mse, "mse": float(mse.detach())}

    def state_dict(self) -> dict[str, Any]:
        return {"model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
                "extra": {"schedule": self.schedule.state_dict()}}  # fmt: skip

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.schedule.load_state_dict(state["extra"]["schedule"])

    def samples(self) -> Sample:
        grey = torch.sigmoid(self.model[0].weight.detach().mean())
        return Sample(torch.full((3, 8, 16), float(grey)), torch.full((1, 3, 8, 8), float(grey)))

    def export(self, record: dict[str, Any]) -> dict[str, Path]:
        path = self.run.run_dir / "toy.pt"
        torch.save(self.model.state_dict(), path)
        self.exported = record
        return {"toy": path}


def read_log(run_dir: Path) -> dict[int, dict[str, str]]:
    with (run_dir / "losses.csv").open() as handle:
        return {int(row["step"]): row for row in csv.DictReader(handle)}


def test_a_toy_trainer_gets_run_folder_log_samples_checkpoints_and_progress(tmp_path):
    events, steps = [], []
    result = fit(ToyConfig(str(tmp_path / "run")), lambda run: steps.append(ToyStep(run)) or steps[-1], events.append)
    run_dir = tmp_path / "run"
    assert result.run_dir == run_dir and result.models == {"toy": run_dir / "toy.pt"} and result.steps == 6
    assert json.loads((run_dir / "config.json").read_text())["hidden"] == 4
    log = read_log(run_dir)
    assert sorted(log) == [1, 2, 3, 4, 5, 6] and list(log[1]) == ["step", "total", "mse", "images_per_second", "seconds"]
    assert float(log[6]["total"]) < float(log[1]["total"])
    assert sorted(p.name for p in (run_dir / "checkpoints").iterdir()) == ["step-000004.pt", "step-000006.pt"]
    assert sorted(p.name for p in (run_dir / "samples").iterdir()) == ["step-000003.jpg", "step-000006.jpg"]
    assert [event.step for event in events] == [1, 2, 3, 4, 5, 6] and all(event.total == 6 for event in events)
    assert "images/s" in events[0].stage and "ETA" in events[0].stage
    assert events[0].losses["images_per_second"] > 0 and events[-1].losses["eta_seconds"] == 0
    assert events[2].preview is not None and events[1].preview is None
    record = steps[0].exported
    assert record["steps"] == 6 and record["processes"] == 1 and record["losses"]["total"] == pytest.approx(result.losses["total"])
    checkpoint = torch.load(run_dir / "checkpoints" / "step-000006.pt", weights_only=True)
    assert checkpoint["step"] == 6 and checkpoint["extra"]["schedule"]["last_epoch"] == 6


def test_a_toy_trainer_resumes_exactly_after_being_stopped(tmp_path):
    straight = fit(ToyConfig(str(tmp_path / "a")), ToyStep)
    config = ToyConfig(str(tmp_path / "b"), checkpoint_every=0)
    with pytest.raises(Cancelled, match="step 3"):
        fit(config, ToyStep, lambda event: event.step < 3)
    # Stopping writes a checkpoint, even with periodic checkpoints off.
    assert [p.name for p in (tmp_path / "b" / "checkpoints").iterdir()] == ["step-000003.pt"]
    config.resume = True
    resumed = fit(config, ToyStep)
    assert sorted(read_log(resumed.run_dir)) == [1, 2, 3, 4, 5, 6]
    first, second = torch.load(straight.models["toy"]), torch.load(resumed.models["toy"])
    for name in first:
        assert torch.equal(first[name], second[name]), name  # dropout, Adam, schedule and data all continue exactly
    for step in (4, 5, 6):
        assert read_log(resumed.run_dir)[step]["total"] == read_log(straight.run_dir)[step]["total"]
    config.steps = 5
    with pytest.raises(PainterlyError, match="already at step 6"):
        fit(config, ToyStep)
    config.steps, config.hidden = 8, 5
    with pytest.raises(PainterlyError, match="another network"):
        fit(config, ToyStep)


def test_a_time_limit_stops_at_a_report_with_a_checkpoint_and_the_model_and_resume_goes_on(tmp_path):
    straight = fit(ToyConfig(str(tmp_path / "a")), ToyStep)
    # A limit that has passed after the first step: the run stops at its first report (step 2).
    config = ToyConfig(str(tmp_path / "b"), checkpoint_every=0, log_every=2, time_limit=1e-9)
    stopped = fit(config, ToyStep)
    assert stopped.steps == 2 and stopped.models["toy"].is_file()
    assert [p.name for p in (tmp_path / "b" / "checkpoints").iterdir()] == ["step-000002.pt"]
    config.resume, config.time_limit = True, 0.0
    resumed = fit(config, ToyStep)
    assert resumed.steps == 6
    first, second = torch.load(straight.models["toy"]), torch.load(resumed.models["toy"])
    assert all(torch.equal(first[name], second[name]) for name in first)


def test_a_bad_time_limit_is_a_clear_error():
    from painterly.train.config import check_run_options

    with pytest.raises(PainterlyError, match="time-limit must be a number of minutes"):
        check_run_options(TrainConfig(data="x", style="starry-night", out="x.safetensors", time_limit=-1))


def test_batches_decoded_by_worker_processes_train_alike(tmp_path):
    here = fit(ToyConfig(str(tmp_path / "here"), checkpoint_every=0, sample_every=0), ToyStep)
    config = ToyConfig(str(tmp_path / "workers"), checkpoint_every=0, sample_every=0, workers=2, resume=True)
    with pytest.raises(Cancelled):
        fit(config, ToyStep, lambda event: event.step < 4)
    workers = fit(config, ToyStep)
    first, second = torch.load(here.models["toy"]), torch.load(workers.models["toy"])
    assert all(torch.equal(first[name], second[name]) for name in first)


def test_a_nan_loss_is_a_clear_error(tmp_path):
    class Diverging(ToyStep):
        def step(self, batch: Any, step: int) -> dict[str, Any]:
            return {"total": float("nan") if step == 1 else 1.0, "mse": 1.0}

    with pytest.raises(PainterlyError, match="NaN or infinite at step 2"):
        fit(ToyConfig(str(tmp_path / "run")), Diverging)


def _toy_ddp_worker(rank: int, world_size: int, port: int, config: ToyConfig) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), WORLD_SIZE=str(world_size), RANK=str(rank),
                      LOCAL_RANK=str(rank))  # fmt: skip
    torch.set_num_threads(1)
    built = []
    result = fit(config, lambda run: built.append(ToyStep(run)) or built[-1])
    assert (result.models != {}) == (rank == 0)
    # Gradients are averaged over the processes, so the replicas stay equal.
    torch.save(built[0].model.state_dict(), Path(config.out) / f"rank{rank}.pt")


def test_a_toy_trainer_runs_on_two_gloo_processes(tmp_path):
    config = ToyConfig(str(tmp_path / "run"), steps=3)
    run_on_two_processes(_toy_ddp_worker, config)
    ranks = [torch.load(tmp_path / "run" / f"rank{rank}.pt") for rank in (0, 1)]
    assert all(torch.equal(ranks[0][name], ranks[1][name]) for name in ranks[0])
    assert sorted(read_log(tmp_path / "run")) == [1, 2, 3]


# --- the feed-forward trainer through the loop -------------------------------------------------------


@pytest.mark.parametrize("adversarial", [False, True], ids=["plain", "adversarial"])
def test_an_interrupted_feedforward_run_resumes_to_the_same_weights(tmp_path, random_vgg, adversarial):
    photos = photo_folder(tmp_path / "photos", count=6)
    options = {"adversarial_weight": 0.5, "warmup_steps": 1, "discriminator_channels": 4, "discriminator_layers": 2}

    def config(name: str) -> TrainConfig:
        return TrainConfig(
            style="starry-night", data=str(photos), out=str(tmp_path / name / "model.safetensors"), steps=5,
            batch_size=2, crop_size=32, style_size=64, log_every=1, checkpoint_every=0, sample_every=0, network=TINY,
            device="cpu", precision="fp32", learning_rate=1e-2, **(options if adversarial else {}),
        )  # fmt: skip

    straight = train(config("straight"), vgg=random_vgg)
    stopped = config("stopped")
    with pytest.raises(Cancelled, match="step 2"):
        train(stopped, vgg=random_vgg, progress=lambda event: event.step < 2)
    stopped.resume = True
    resumed = train(stopped, vgg=random_vgg)
    from painterly.models import load_model

    first, _ = load_model(straight.model_path)
    second, info = load_model(resumed.model_path)
    assert info.record["steps"] == 5
    for (name, a), b in zip(first.state_dict().items(), second.state_dict().values()):
        assert torch.equal(a, b), name
    final = [torch.load(run / "checkpoints" / "step-000005.pt", weights_only=True) for run in (straight.run_dir, resumed.run_dir)]
    if adversarial:
        for name, value in final[0]["extra"]["discriminator"]["weights"].items():
            assert torch.equal(value, final[1]["extra"]["discriminator"]["weights"][name]), name
    assert read_log(straight.run_dir)[5]["total"] == read_log(resumed.run_dir)[5]["total"]
