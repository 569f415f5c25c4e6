"""The training loop of feed-forward style networks (Johnson et al. 2016).

The network learns to turn any photo crop into an image whose VGG19 features keep the photo's
content and whose Gram matrices match the painting's, with the same relative losses as the
optimization method. With ``adversarial_weight > 0`` a PatchGAN discriminator also learns to
tell random patches of the painting from the network's outputs, and the network learns to fool
it (adversarial style transfer, after Li & Wand 2016): crisper, more painting-like strokes.
Around the loop, and not inside the model: checkpoints that resume exactly (the discriminator
and its optimizer included), sample images, a loss log (CSV, and TensorBoard when installed),
progress events, and DDP when started by ``torchrun``.
"""

from __future__ import annotations

import csv
import math
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator, Optional, Sequence

import torch
from torch import nn

from painterly.devices import autocast, pick_precision, resolve_device
from painterly.errors import PainterlyError
from painterly.features.vgg import VGG19, deepest_layer
from painterly.losses import total_variation
from painterly.losses.gatys import StyleTargets, style_content_losses, style_targets
from painterly.models.files import ModelInfo, save_model
from painterly.models.transformer import TransformerNet
from painterly.ops.resize import resize_to_long_side
from painterly.progress import Cancelled, ProgressCallback, ProgressEvent
from painterly.train import distributed
from painterly.train.adversarial import Adversary, fit_painting, style_patches
from painterly.train.config import TrainConfig
from painterly.train.data import Batch, PhotoCrops, collate_single, list_photos

CHECKPOINT_PREFIX = "step-"
LOSS_LOG = "losses.csv"
LOSS_NAMES = ("total", "content", "style", "tv")
#: Logged besides LOSS_NAMES in adversarial runs (``r1`` when its penalty is on).
ADVERSARIAL_LOSS_NAMES = ("adversarial", "discriminator")
_SAMPLE_COUNT = 4


@dataclass
class TrainResult:
    """What a training run produced.

    Attributes:
        model_path: the model file written (``None`` on processes other than rank 0).
        run_dir: checkpoints, samples and ``losses.csv``.
        steps: steps trained in all (including before a resume).
        seconds: training time in all.
        images_per_second: average throughput of this run, over all processes.
        losses: mean losses over the last logging window.
        unreadable: training files that could not be read and were skipped.
    """

    model_path: Optional[Path]
    run_dir: Path
    steps: int
    seconds: float
    images_per_second: float
    losses: dict[str, float]
    unreadable: list[str] = field(default_factory=list)


@dataclass
class Checkpoint:
    """Everything needed to continue a run exactly."""

    step: int
    seconds: float
    model: dict[str, torch.Tensor]
    optimizer: dict[str, Any]
    rng: torch.Tensor
    losses: dict[str, float]
    #: Further state of the run, e.g. ``{"discriminator": Adversary.state_dict()}``.
    extra: dict[str, Any] = field(default_factory=dict)


def checkpoint_paths(run_dir: Path) -> list[Path]:
    """The checkpoints in ``run_dir``, oldest first."""
    folder = run_dir / "checkpoints"
    return sorted(folder.glob(f"{CHECKPOINT_PREFIX}*.pt")) if folder.is_dir() else []


def save_checkpoint(path: Path, checkpoint: Checkpoint, config: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    torch.save(
        {
            "step": checkpoint.step,
            "seconds": checkpoint.seconds,
            "model": checkpoint.model,
            "optimizer": checkpoint.optimizer,
            "rng": checkpoint.rng,
            "losses": checkpoint.losses,
            "extra": checkpoint.extra,
            "config": config.to_dict(),
        },
        temporary,
    )
    temporary.replace(path)


def load_checkpoint(path: Path) -> Checkpoint:
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
        return Checkpoint(
            data["step"], data["seconds"], data["model"], data["optimizer"], data["rng"], data["losses"],
            data.get("extra", {}),
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


class LossLog:
    """``losses.csv`` in the run folder, plus TensorBoard events when ``tensorboard`` is installed.

    ``names`` are the loss columns, in order (default: :data:`LOSS_NAMES`).
    """

    def __init__(self, run_dir: Path, resume_step: int, names: Sequence[str] = LOSS_NAMES):
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


def compute_losses(
    net: nn.Module,
    vgg: VGG19,
    content: torch.Tensor,
    targets: StyleTargets,
    config: TrainConfig,
    style_layer_weights: dict[str, float],
    dtype: torch.dtype,
    extra_layers: Sequence[str] = (),
) -> tuple[dict[str, torch.Tensor], torch.Tensor, dict[str, torch.Tensor]]:
    """Stylize ``content`` ``(B, 3, S, S)`` and measure it.

    Returns:
        ``{total, content, style, tv}`` scalars, the output ``(B, 3, S, S)``, and its VGG
        features (content and style layers, and ``extra_layers`` for a discriminator that
        judges feature maps), each ``(B, C, h, w)``, with their graph.
    """
    device = content.device
    with torch.no_grad(), autocast(device, dtype):
        content_targets = {name: value.float() for name, value in vgg(content, config.content_layers).items()}
    with autocast(device, dtype):
        output = net(content)
        layers = sorted(
            set(config.content_layers) | set(config.style_layers) | set(extra_layers), key=vgg.layer_names.index
        )
        features = vgg(output, layers)
    content_value, style_value = style_content_losses(features, content_targets, targets, style_layer_weights)
    tv_value = total_variation(output.float())
    total = config.content_weight * content_value + config.style_weight * style_value + config.tv_weight * tv_value
    return {"total": total, "content": content_value, "style": style_value, "tv": tv_value}, output, features


def _batches(dataset: PhotoCrops, start: int, workers: int) -> Iterator[Batch]:
    steps: Iterable[int] = range(start, len(dataset))
    if workers == 0:
        return (dataset[step] for step in steps)
    loader = torch.utils.data.DataLoader(
        dataset, batch_size=None, sampler=list(steps), num_workers=workers, collate_fn=collate_single
    )
    return iter(loader)


def _load_style(config: TrainConfig) -> torch.Tensor:
    from painterly.io.images import image_to_tensor, load_image
    from painterly.registry import resolve_style_path

    painting = image_to_tensor(load_image(resolve_style_path(config.style)))
    return resize_to_long_side(painting, config.style_size)


def _write_sample(net: nn.Module, crops: torch.Tensor, path: Path) -> torch.Tensor:
    """Photos above, their stylized versions below, as one image; returns the stylized crops."""
    from painterly.io.images import save_image, tensor_to_image

    with torch.no_grad():
        stylized = net(crops).float().clamp(0, 1)
    top = torch.cat(list(crops.float()), dim=2)
    bottom = torch.cat(list(stylized), dim=2)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_image(tensor_to_image(torch.cat([top, bottom], dim=1)), path)
    return stylized.cpu()


def train(
    config: TrainConfig,
    *,
    progress: Optional[ProgressCallback] = None,
    vgg: Optional[VGG19] = None,
) -> TrainResult:
    """Train a feed-forward style network as ``config`` says and write the model file.

    Args:
        config: the options; ``config.resume`` continues from the run folder's last checkpoint.
        progress: called every ``log_every`` steps (on rank 0) with the mean losses of the window
            and ``images_per_second``; returning ``False`` stops training (raises ``Cancelled``)
            after a checkpoint is written.
        vgg: the loss network (default: VGG19 with ImageNet weights, built as deep as needed).

    Returns:
        A :class:`TrainResult`.
    """
    config.validate()
    device = resolve_device(config.device)
    info = distributed.setup(device)
    try:
        return _train(config, device, info, progress, vgg)
    finally:
        distributed.teardown(info)


def _train(
    config: TrainConfig,
    device: torch.device,
    info: distributed.DistributedInfo,
    progress: Optional[ProgressCallback],
    vgg: Optional[VGG19],
) -> TrainResult:
    device = distributed.process_device(device, info)
    dtype = pick_precision(config.precision, device)
    run_dir = config.run_path()
    photos = list_photos(config.data)
    dataset = PhotoCrops(
        photos,
        batch_size=config.batch_size,
        crop_size=config.crop_size,
        scale_jitter=config.scale_jitter,
        seed=config.seed,
        rank=info.rank,
        world_size=info.world_size,
        steps=config.steps,
    )
    feature_layers = _discriminator_layers(config)
    deepest = deepest_layer([*config.content_layers, *config.style_layers, *feature_layers])
    if vgg is None:
        from painterly.features import load_vgg19

        vgg = load_vgg19(last_layer=deepest, device=device)
    elif deepest not in vgg.layer_names:
        raise PainterlyError(f"the VGG19 network stops at {vgg.last_layer}; build it up to {deepest}")
    vgg = vgg.to(device)
    painting = _load_style(config).to(device)
    targets = style_targets(vgg, [(painting, 1.0)], config.style_layers, dtype)
    style_layer_weights = {name: 1.0 / len(config.style_layers) for name in config.style_layers}

    torch.manual_seed(config.seed)
    net, started_from = _initial_network(config)
    net = net.to(device)
    optimizer = torch.optim.Adam(net.parameters(), lr=config.learning_rate)
    adversary: Optional[Adversary] = None
    loss_names: tuple[str, ...] = LOSS_NAMES
    if config.adversarial:
        adversary = Adversary(
            config.discriminator_config(), gan_loss=config.gan_loss, learning_rate=config.d_learning_rate,
            r1_weight=config.r1_weight, device=device, info=info,
        )  # fmt: skip
        painting = fit_painting(painting, config.crop_size)
        loss_names += ADVERSARIAL_LOSS_NAMES + (("r1",) if config.r1_weight > 0 else ())
    start, seconds_before, last_losses = 0, 0.0, {name: math.nan for name in loss_names}
    checkpoint = latest_checkpoint(run_dir, config.steps) if config.resume else None
    if checkpoint is not None:
        try:
            net.load_state_dict(checkpoint.model)
        except RuntimeError:
            raise PainterlyError(
                f"the checkpoints in {run_dir} are of another network: give the run's own --variant "
                "(and --init), or a new --out to start afresh"
            ) from None
        optimizer.load_state_dict(checkpoint.optimizer)
        torch.set_rng_state(checkpoint.rng)
        start, seconds_before = checkpoint.step, checkpoint.seconds
        last_losses = {name: checkpoint.losses.get(name, math.nan) for name in loss_names}
        if adversary is not None and "discriminator" in checkpoint.extra:
            # A plain run resumed with --adversarial-weight starts its discriminator afresh.
            adversary.load_state_dict(checkpoint.extra["discriminator"])
    trained: nn.Module = net
    if info.enabled:
        trained = nn.parallel.DistributedDataParallel(net, device_ids=[device.index] if device.type == "cuda" else None)

    log = LossLog(run_dir, start, loss_names) if info.is_main else None
    preview_crops = dataset.preview_crops(_SAMPLE_COUNT).to(device) if info.is_main and config.sample_every else None
    unreadable: set[str] = set()
    window: dict[str, float] = {name: 0.0 for name in loss_names}
    window_steps, window_started = 0, time.perf_counter()
    run_started = time.perf_counter()
    images_per_step = config.batch_size * info.world_size
    images_per_second = 0.0
    step = start
    try:
        for batch in _batches(dataset, start, config.workers):
            unreadable.update(batch.unreadable)
            content = batch.images.to(device, non_blocking=True)
            optimizer.zero_grad(set_to_none=True)
            losses, output, features = compute_losses(
                trained, vgg, content, targets, config, style_layer_weights, dtype, feature_layers
            )
            if adversary is not None:
                fake = features[feature_layers[0]] if feature_layers else output
                adversarial = _adversarial_loss(adversary, fake, active=step >= config.warmup_steps)
                losses["adversarial"] = adversarial
                if step >= config.warmup_steps:
                    losses["total"] = losses["total"] + config.adversarial_weight * adversarial
            losses["total"].backward()
            optimizer.step()
            values = {name: float(value.detach()) for name, value in losses.items()}
            if adversary is not None:
                real = _real_inputs(painting, vgg, feature_layers, content.shape[0], config, step, info.rank, dtype)
                values.update(adversary.step(real, fake))
            step += 1
            if not math.isfinite(values["total"]):
                raise PainterlyError("the loss became NaN or infinite: lower the learning rate or use --precision fp32")
            for name in loss_names:
                window[name] += values[name]
            window_steps += 1
            seconds = seconds_before + time.perf_counter() - run_started

            cancel = False
            if step % config.log_every == 0 or step == config.steps:
                now = time.perf_counter()
                images_per_second = window_steps * images_per_step / max(now - window_started, 1e-9)
                means = {name: window[name] / window_steps for name in loss_names}
                last_losses = distributed.mean_over_processes(means, info, device)
                window = {name: 0.0 for name in loss_names}
                window_steps, window_started = 0, now
                if log is not None:
                    log.add(step, last_losses, images_per_second, seconds)
            sampled = None
            if preview_crops is not None and (step % config.sample_every == 0 or step == config.steps):
                sampled = _write_sample(net, preview_crops, run_dir / "samples" / f"{CHECKPOINT_PREFIX}{step:06d}.jpg")
            if info.is_main and progress is not None and (step % config.log_every == 0 or step == config.steps):
                stage = f"{images_per_second:.2f} images/s"
                if unreadable:
                    stage += f", {len(unreadable)} unreadable files skipped"
                event = ProgressEvent(
                    step=step,
                    total=config.steps,
                    stage=stage,
                    losses={**last_losses, "images_per_second": images_per_second},
                    preview=sampled[:1] if sampled is not None else None,
                )
                cancel = progress(event) is False
            if config.checkpoint_every and (step % config.checkpoint_every == 0 or cancel) or step == config.steps:
                if info.is_main:
                    extra = {"discriminator": adversary.state_dict()} if adversary is not None else None
                    _checkpoint(run_dir, net, optimizer, step, seconds, last_losses, config, extra)
            if cancel:
                raise Cancelled(f"training stopped at step {step}; continue it with --resume")
    finally:
        if log is not None:
            log.close()

    seconds = seconds_before + time.perf_counter() - run_started
    average = (step - start) * images_per_step / max(time.perf_counter() - run_started, 1e-9)
    record = {
        **training_record(step, seconds, average, last_losses, device),
        "processes": info.world_size,
        "precision": str(dtype).replace("torch.", ""),
        "unreadable_files": len(unreadable),
        "photos": len(photos),
    }
    if started_from is not None:
        record["initialized_from"] = started_from
    if adversary is not None:
        record["discriminator"] = config.discriminator_config().to_dict()
    model_path: Optional[Path] = None
    if info.is_main:
        name = config.name or Path(str(config.style)).stem.replace("_", "-")
        model_info = ModelInfo(network=net.config, training=config.to_dict(), record=record, name=name)
        model_path = save_model(net, config.out, model_info)
    distributed.barrier(info)
    if unreadable and info.is_main:
        warnings.warn(f"{len(unreadable)} training files could not be read and were skipped", stacklevel=3)
    return TrainResult(model_path, run_dir, step, seconds, average, last_losses, sorted(unreadable))


def _initial_network(config: TrainConfig) -> tuple[TransformerNet, Optional[dict[str, Any]]]:
    """A network of the config's shape at random, or (``config.init``) a trainable copy of a
    trained model to fine-tune, with what to record of where it started (its name and steps)."""
    if not config.init:
        return TransformerNet(config.network_config()), None
    from painterly.models import load_model, resolve_model_path

    path = resolve_model_path(config.init)
    net, info = load_model(path)
    net.train().requires_grad_(True)
    return net, {"model": str(config.init), "steps": (info.record or {}).get("steps"), "name": info.name}


def _checkpoint(
    run_dir: Path,
    net: nn.Module,
    optimizer: torch.optim.Optimizer,
    step: int,
    seconds: float,
    losses: dict[str, float],
    config: Any,
    extra: Optional[dict[str, Any]] = None,
) -> None:
    """Write a checkpoint of step ``step`` and drop all but the last ``config.keep_checkpoints``."""
    model_state = {name: value.detach().cpu().clone() for name, value in net.state_dict().items()}
    checkpoint = Checkpoint(
        step, seconds, model_state, optimizer.state_dict(), torch.get_rng_state(), dict(losses), dict(extra or {})
    )
    save_checkpoint(run_dir / "checkpoints" / f"{CHECKPOINT_PREFIX}{step:06d}.pt", checkpoint, config)
    for old in checkpoint_paths(run_dir)[: -config.keep_checkpoints]:
        old.unlink(missing_ok=True)


def training_record(
    steps: int, seconds: float, images_per_second: float, losses: dict[str, float], device: torch.device
) -> dict[str, Any]:
    """The part of a model file's training record that every trainer writes."""
    return {
        "steps": steps,
        "seconds": round(seconds, 1),
        "images_per_second": round(images_per_second, 3),
        "losses": losses,
        "device": str(device),
    }


def _discriminator_layers(config: TrainConfig) -> list[str]:
    """The VGG19 layer the discriminator judges, as a one-item list; empty for pixels or no discriminator."""
    return [config.discriminator_features] if config.adversarial and config.discriminator_features != "pixels" else []


def _adversarial_loss(adversary: Adversary, fake: torch.Tensor, active: bool) -> torch.Tensor:
    """The generator's adversarial loss; during warm-up only measured (no graph), since it is not trained on."""
    if active:
        return adversary.generator_loss(fake)
    with torch.no_grad():
        return adversary.generator_loss(fake.detach())


def _real_inputs(
    painting: torch.Tensor,
    vgg: VGG19,
    feature_layers: list[str],
    count: int,
    config: TrainConfig,
    step: int,
    rank: int,
    dtype: torch.dtype,
) -> torch.Tensor:
    """What the discriminator sees as real at ``step``: patches of the painting, or their VGG features.

    The patches are a pure function of ``(seed, step, rank)``, so a resumed run draws the same ones.
    """
    generator = torch.Generator().manual_seed(config.seed * 1_000_003 + step * 1_009 + rank)
    patches = style_patches(painting, count, config.crop_size, generator)
    if not feature_layers:
        return patches
    with torch.no_grad(), autocast(patches.device, dtype):
        return vgg(patches, feature_layers)[feature_layers[0]].float()
