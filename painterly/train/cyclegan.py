"""Collection-to-collection translation without pairs (Zhu et al. 2017, CycleGAN).

Two generators, A→B and B→A, are ordinary :class:`~painterly.models.transformer.TransformerNet`
style networks, so each trained direction is saved as an ordinary style model file
(``a2b.safetensors``, ``b2a.safetensors`` in the run folder) and works wherever a style model
does: ``painterly stylize --method fast --model RUN/a2b.safetensors``, the API, video, the web
studio. Two PatchGAN discriminators judge each domain. The losses: adversarial (least squares
by default), cycle consistency (A→B→A gives back A, in L1) and identity (A→B leaves a B image
alone, which keeps colours). Discriminators see a pool of past fakes, not only the newest.
Learning rates fall linearly to zero over the last part of the run.

A domain of a few dozen large images is enough: every step takes random crops at several
scales, flipped at random (:class:`painterly.train.data.PhotoCrops`).

:func:`evaluate_run` measures a trained direction with the project's metrics
(:func:`painterly.evaluate.evaluate`) and writes a grid of inputs and outputs.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from painterly.devices import resolve_device
from painterly.errors import PainterlyError
from painterly.losses.adversarial import check_gan_loss
from painterly.models.files import ModelInfo, save_model
from painterly.models.transformer import TransformerConfig, TransformerNet
from painterly.progress import Cancelled, ProgressCallback, ProgressEvent
from painterly.train.adversarial import GAN_BETAS, Adversary
from painterly.train.config import NetworkTraining
from painterly.train.data import PhotoCrops, list_photos
from painterly.train.trainer import (
    CHECKPOINT_PREFIX, LossLog, _checkpoint, checkpoint_paths, latest_checkpoint, training_record,
)  # fmt: skip

DIRECTIONS = ("a2b", "b2a")
LOSS_NAMES = ("total", "adversarial", "cycle", "identity", "discriminator_a", "discriminator_b")
_SAMPLE_COUNT = 4


@dataclass
class CycleGANConfig(NetworkTraining):
    """Options of collection-to-collection training; the defaults suit a CPU (light networks, small crops).

    Attributes:
        domain_a: folder of images of the first collection (e.g. photos), searched recursively.
        domain_b: folder of images of the second collection (e.g. paintings).
        out: the run folder: checkpoints, samples, ``losses.csv`` and, at the end,
            ``a2b.safetensors`` and ``b2a.safetensors``.
        variant: generator network variant, ``light`` (fast on CPUs) or ``johnson``.
        steps: optimizer steps.
        batch_size: crops of each domain per step (CycleGAN used 1).
        crop_size: side of the square training crops in pixels.
        scale_jitter: each image's short side is resized to ``crop_size`` times a random factor
            in this range before a random crop.
        learning_rate: the generators' Adam step size.
        d_learning_rate: the discriminators' Adam step size.
        decay_from: share of the run after which both learning rates fall linearly to 0
            (CycleGAN: half).
        gan_loss: the adversarial objective, ``lsgan`` (least squares, CycleGAN's) or ``hinge``.
        cycle_weight: weight of the cycle-consistency loss (A→B→A = A, in L1).
        identity_weight: weight of the identity loss (A→B leaves B images alone; CycleGAN: half
            the cycle weight); keeps colours, 0 turns it off.
        discriminator_channels: channels of the discriminators' first layer.
        discriminator_layers: strided layers of the discriminators (3: 70 px patches).
        discriminator_spectral_norm: spectral normalization in the discriminators.
        r1_weight: weight of the R1 gradient penalty on real images (0: off).
        pool_size: past fakes kept per domain; the discriminators see a random mix of those and
            the newest (0: only the newest).
        seed: seed of the networks' initialization, the crops and the pools; equal seeds train alike.
        checkpoint_every: save a resumable checkpoint every N steps (0: only at the end).
        sample_every: write a sample grid every N steps (0: never).
        log_every: append to the loss log and report progress every N steps.
        keep_checkpoints: how many recent checkpoints to keep in the run folder.
        device: ``auto``, ``cpu``, ``cuda`` or ``cuda:N``.
        resume: continue from the latest checkpoint in the run folder, if there is one.
    """

    domain_a: str = "photos"
    domain_b: str = "paintings"
    out: str = "gan.run"
    variant: str = "light"
    steps: int = 3000
    batch_size: int = 1
    crop_size: int = 128
    scale_jitter: tuple[float, float] = (1.0, 2.0)
    learning_rate: float = 2e-4
    d_learning_rate: float = 2e-4
    decay_from: float = 0.5
    gan_loss: str = "lsgan"
    cycle_weight: float = 10.0
    identity_weight: float = 5.0
    discriminator_channels: int = 32
    discriminator_layers: int = 3
    discriminator_spectral_norm: bool = True
    r1_weight: float = 0.0
    pool_size: int = 50
    seed: int = 0
    checkpoint_every: int = 250
    sample_every: int = 250
    log_every: int = 10
    keep_checkpoints: int = 2
    device: str = "auto"
    resume: bool = False
    #: Overrides ``variant`` with an explicit generator shape (tests, experiments).
    network: Optional[TransformerConfig] = None

    def validate(self) -> "CycleGANConfig":
        """Check every option; raise a PainterlyError naming the bad one."""
        self.check_common(min_crop=32)
        if min(self.learning_rate, self.d_learning_rate) <= 0:
            raise PainterlyError("learning rates must be positive")
        if not 0 <= self.decay_from <= 1:
            raise PainterlyError(f"decay-from is a share of the run, between 0 and 1, got {self.decay_from}")
        if min(self.cycle_weight, self.identity_weight, self.r1_weight) < 0:
            raise PainterlyError("loss weights must be 0 or more")
        if min(self.checkpoint_every, self.sample_every, self.pool_size) < 0:
            raise PainterlyError("checkpoint-every, sample-every and pool-size must be 0 or more")
        check_gan_loss(self.gan_loss)
        self.discriminator_config()
        return self

    def run_path(self) -> Path:
        return Path(self.out).expanduser()


@dataclass
class CycleGANResult:
    """What a run produced: the model file of each direction, steps and seconds in all, last mean losses."""

    run_dir: Path
    models: dict[str, Path]
    steps: int
    seconds: float
    images_per_second: float
    losses: dict[str, float]


class ImagePool:
    """A buffer of past generated images (Shrivastava et al. 2017), as CycleGAN feeds its discriminators.

    :meth:`query` takes the newest fakes ``(B, 3, H, W)`` and returns as many: while the pool is
    not full each is stored and returned; after that each is, with probability 1/2, swapped for
    a random stored one (which is returned, the new one kept in its place), else returned as is.
    A pool of size 0 returns its input.
    """

    def __init__(self, size: int):
        self.size = size
        self.images: list[torch.Tensor] = []

    def query(self, images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """``(B, 3, H, W)`` → ``(B, 3, H, W)``: ``images`` mixed with stored ones (choices from ``generator``)."""
        if self.size == 0:
            return images
        returned = []
        for image in images.detach():
            if len(self.images) < self.size:
                self.images.append(image.clone())
                returned.append(image)
            elif torch.rand((), generator=generator).item() < 0.5:
                index = int(torch.randint(0, self.size, (), generator=generator))
                returned.append(self.images[index])
                self.images[index] = image.clone()
            else:
                returned.append(image)
        return torch.stack(returned)

    def state_dict(self) -> dict[str, torch.Tensor]:
        stored = torch.stack(self.images).cpu() if self.images else torch.zeros(0)
        return {"images": stored}

    def load_state_dict(self, state: dict[str, torch.Tensor], device: torch.device | str = "cpu") -> None:
        self.images = [image.to(device) for image in state["images"]] if state["images"].numel() else []


def learning_rate_factor(step: int, steps: int, decay_from: float) -> float:
    """The share of the base learning rate at ``step`` (0-based): 1, then linearly down towards 0.

    The decay starts at step ``round(decay_from · steps)``; the last step still moves a little.
    """
    start = round(decay_from * steps)
    if step < start:
        return 1.0
    return 1.0 - (step - start + 1) / (steps - start + 1)


def domain_images(folder: str | Path, what: str, option: str) -> list[Path]:
    """The image files under ``folder``, recursively; an error naming ``what`` and ``option`` when there are none."""
    try:
        return list_photos(folder)
    except PainterlyError:
        path = Path(folder).expanduser()
        problem = "has no images" if path.is_dir() else "is not a folder"
        raise PainterlyError(f"{what} {str(path)!r} {problem}: give {option} a folder of .jpg or .png images") from None


class CycleGAN:
    """The four networks of a run: ``nets["a2b"]``, ``nets["b2a"]`` (generators) and a judge per domain."""

    def __init__(self, config: CycleGANConfig, device: torch.device):
        self.nets = nn.ModuleDict(
            {direction: TransformerNet(config.network_config()) for direction in DIRECTIONS}
        ).to(device)
        self.judges = {
            domain: Adversary(
                config.discriminator_config(), gan_loss=config.gan_loss, learning_rate=config.d_learning_rate,
                r1_weight=config.r1_weight, device=device,
            )  # fmt: skip
            for domain in ("a", "b")
        }
        self.optimizer = torch.optim.Adam(self.nets.parameters(), lr=config.learning_rate, betas=GAN_BETAS)

    def generator_losses(
        self, real_a: torch.Tensor, real_b: torch.Tensor, config: CycleGANConfig
    ) -> tuple[dict[str, torch.Tensor], torch.Tensor, torch.Tensor]:
        """The generators' losses on one batch of each domain, and the fakes ``(fake_a, fake_b)``.

        Args:
            real_a, real_b: ``(B, 3, S, S)`` in ``[0, 1]``.

        Returns:
            ``{total, adversarial, cycle, identity}`` scalars with their graph, and
            ``fake_a = b2a(real_b)``, ``fake_b = a2b(real_a)``.
        """
        a2b, b2a = self.nets["a2b"], self.nets["b2a"]
        fake_b, fake_a = a2b(real_a), b2a(real_b)
        adversarial = self.judges["b"].generator_loss(fake_b) + self.judges["a"].generator_loss(fake_a)
        cycle = F.l1_loss(b2a(fake_b), real_a) + F.l1_loss(a2b(fake_a), real_b)
        identity = torch.zeros((), device=real_a.device)
        if config.identity_weight > 0:
            identity = F.l1_loss(a2b(real_b), real_b) + F.l1_loss(b2a(real_a), real_a)
        total = adversarial + config.cycle_weight * cycle + config.identity_weight * identity
        return {"total": total, "adversarial": adversarial, "cycle": cycle, "identity": identity}, fake_a, fake_b

    def set_learning_rates(self, factor: float, config: CycleGANConfig) -> None:
        for group in self.optimizer.param_groups:
            group["lr"] = config.learning_rate * factor
        for judge in self.judges.values():
            judge.set_learning_rate(config.d_learning_rate * factor)


def image_grid(rows: Sequence[torch.Tensor]) -> torch.Tensor:
    """Rows of images side by side, rows stacked: each row ``(N, 3, S, S)``; returns ``(1, 3, R·S, N·S)``."""
    return torch.cat([torch.cat(list(row.float()), dim=2) for row in rows], dim=1).unsqueeze(0)


def _write_sample(model: CycleGAN, crops_a: torch.Tensor, crops_b: torch.Tensor, path: Path) -> torch.Tensor:
    """A grid: A, A→B, A→B→A, then B, B→A, B→A→B; returns the A→B images."""
    from painterly.io.images import save_image, tensor_to_image

    a2b, b2a = model.nets["a2b"], model.nets["b2a"]
    with torch.no_grad():
        fake_b, fake_a = a2b(crops_a), b2a(crops_b)
        grid = image_grid([crops_a, fake_b, b2a(fake_b), crops_b, fake_a, a2b(fake_a)])
    save_image(tensor_to_image(grid.clamp(0, 1)), path)
    return fake_b.cpu()


def _step_generator(config: CycleGANConfig, step: int) -> torch.Generator:
    """The pools' random choices at ``step``: a pure function of (seed, step), so a resume sees the same."""
    return torch.Generator().manual_seed(config.seed * 1_000_003 + step)


def train_cyclegan(config: CycleGANConfig, progress: Optional[ProgressCallback] = None) -> CycleGANResult:
    """Train both directions between two collections as ``config`` says; write the two model files.

    Args:
        config: the options; ``config.resume`` continues from the run folder's last checkpoint.
        progress: called every ``log_every`` steps with the mean losses of the window and
            ``images_per_second`` (stage: speed and ETA); returning ``False`` stops training
            (raises ``Cancelled``) after a checkpoint is written.

    Returns:
        A :class:`CycleGANResult`.
    """
    config.validate()
    device = resolve_device(config.device)
    run_dir = config.run_path()
    images_a = domain_images(config.domain_a, "domain A", "--domain-a")
    images_b = domain_images(config.domain_b, "domain B", "--domain-b")
    crops = {
        domain: PhotoCrops(images, batch_size=config.batch_size, crop_size=config.crop_size,
                           scale_jitter=config.scale_jitter, seed=config.seed + offset, steps=config.steps)
        for domain, images, offset in (("a", images_a, 0), ("b", images_b, 1))
    }  # fmt: skip

    torch.manual_seed(config.seed)
    model = CycleGAN(config, device)
    pools = {domain: ImagePool(config.pool_size) for domain in ("a", "b")}
    start, seconds_before, last_losses = 0, 0.0, {name: math.nan for name in LOSS_NAMES}
    checkpoint = latest_checkpoint(run_dir, config.steps) if config.resume else None
    if checkpoint is not None:
        model.nets.load_state_dict(checkpoint.model)
        model.optimizer.load_state_dict(checkpoint.optimizer)
        for domain in ("a", "b"):
            model.judges[domain].load_state_dict(checkpoint.extra[f"judge_{domain}"])
            pools[domain].load_state_dict(checkpoint.extra[f"pool_{domain}"], device)
        torch.set_rng_state(checkpoint.rng)
        start, seconds_before, last_losses = checkpoint.step, checkpoint.seconds, checkpoint.losses

    log = LossLog(run_dir, start, LOSS_NAMES)
    count = min(_SAMPLE_COUNT, len(images_a), len(images_b))
    previews = {}
    if config.sample_every:
        previews = {domain: crops[domain].preview_crops(count).to(device) for domain in crops}
    window = {name: 0.0 for name in LOSS_NAMES}
    window_steps, window_started = 0, time.perf_counter()
    run_started = time.perf_counter()
    images_per_second = 0.0
    step = start
    try:
        for step in range(start, config.steps):
            real_a = crops["a"][step].images.to(device)
            real_b = crops["b"][step].images.to(device)
            model.set_learning_rates(learning_rate_factor(step, config.steps, config.decay_from), config)
            losses, fake_a, fake_b = model.generator_losses(real_a, real_b, config)
            model.optimizer.zero_grad(set_to_none=True)
            losses["total"].backward()
            model.optimizer.step()
            values = {name: float(value.detach()) for name, value in losses.items()}
            generator = _step_generator(config, step)
            for domain, real, fake in (("a", real_a, fake_a), ("b", real_b, fake_b)):
                judged = model.judges[domain].step(real, pools[domain].query(fake, generator))
                values[f"discriminator_{domain}"] = judged["discriminator"]
            if not math.isfinite(values["total"]):
                raise PainterlyError("the loss became NaN or infinite: lower the learning rates")
            for name in LOSS_NAMES:
                window[name] += values[name]
            window_steps += 1
            done = step + 1
            elapsed = time.perf_counter() - run_started
            seconds = seconds_before + elapsed

            cancel = False
            report = done % config.log_every == 0 or done == config.steps
            if report:
                now = time.perf_counter()
                images_per_second = window_steps * 2 * config.batch_size / max(now - window_started, 1e-9)
                last_losses = {name: window[name] / window_steps for name in LOSS_NAMES}
                window = {name: 0.0 for name in LOSS_NAMES}
                window_steps, window_started = 0, now
                log.add(done, last_losses, images_per_second, seconds)
            sampled = None
            if previews and (done % config.sample_every == 0 or done == config.steps):
                path = run_dir / "samples" / f"{CHECKPOINT_PREFIX}{done:06d}.jpg"
                sampled = _write_sample(model, previews["a"], previews["b"], path)
            if progress is not None and report:
                eta = elapsed / (done - start) * (config.steps - done)
                event = ProgressEvent(
                    step=done,
                    total=config.steps,
                    stage=f"{images_per_second:.2f} images/s, ETA {eta / 60:.1f} min",
                    losses={**last_losses, "images_per_second": images_per_second, "eta_seconds": eta},
                    preview=sampled[:1] if sampled is not None else None,
                )
                cancel = progress(event) is False
            if config.checkpoint_every and (done % config.checkpoint_every == 0 or cancel) or done == config.steps:
                extra = {f"judge_{domain}": judge.state_dict() for domain, judge in model.judges.items()}
                extra.update({f"pool_{domain}": pool.state_dict() for domain, pool in pools.items()})
                _checkpoint(run_dir, model.nets, model.optimizer, done, seconds, last_losses, config, extra)
            if cancel:
                raise Cancelled(f"training stopped at step {done}; continue it with --resume")
            step = done
    finally:
        log.close()

    seconds = seconds_before + time.perf_counter() - run_started
    average = (step - start) * 2 * config.batch_size / max(time.perf_counter() - run_started, 1e-9)
    record = {
        **training_record(step, seconds, average, last_losses, device),
        "images": {"a": len(images_a), "b": len(images_b)},
        "discriminator": config.discriminator_config().to_dict(),
    }
    names = {"a2b": f"{_domain_name(config.domain_a)}-to-{_domain_name(config.domain_b)}",
             "b2a": f"{_domain_name(config.domain_b)}-to-{_domain_name(config.domain_a)}"}  # fmt: skip
    models = {}
    for direction in DIRECTIONS:
        info = ModelInfo(network=config.network_config(), training={**config.to_dict(), "direction": direction},
                         record=record, name=names[direction])  # fmt: skip
        models[direction] = save_model(model.nets[direction], run_model_path(run_dir, direction), info)
    return CycleGANResult(run_dir, models, step, seconds, average, last_losses)


def _domain_name(folder: str) -> str:
    return Path(folder).expanduser().resolve().name.replace("_", "-") or "domain"


def check_direction(direction: str) -> str:
    if direction not in DIRECTIONS:
        raise PainterlyError(f"unknown direction {direction!r}: use a2b or b2a")
    return direction


def run_model_path(run_dir: str | Path, direction: str) -> Path:
    """Where a run keeps (or will keep) the model file of ``direction``: ``RUN/a2b.safetensors``."""
    return Path(run_dir).expanduser() / f"{check_direction(direction)}.safetensors"


def find_run_model(run_dir: str | Path, direction: str) -> Path:
    """The model file of ``direction`` in a finished run; a clear error when there is none."""
    run = Path(run_dir).expanduser()
    if not run.is_dir():
        raise PainterlyError(f"GAN run {str(run)!r} is not a folder: give the folder `painterly gan train --out` wrote")
    path = run_model_path(run, direction)
    if not path.is_file():
        hint = "it has checkpoints: finish it with `painterly gan train ... --resume`" if checkpoint_paths(run) else (
            "train one with `painterly gan train`"
        )
        raise PainterlyError(f"{str(run)!r} holds no {path.name}: {hint}")
    return path


def _spread(paths: Sequence[Path], count: int) -> list[Path]:
    """At most ``count`` of ``paths``, evenly spaced through the sorted list."""
    if len(paths) <= count:
        return list(paths)
    return [paths[index * len(paths) // count] for index in range(count)]


def fit_cell(image: torch.Tensor, cell: int) -> torch.Tensor:
    """``(1, 3, H, W)`` scaled to fit a ``cell × cell`` square and centred on white; returns ``(1, 3, cell, cell)``."""
    from painterly.ops.resize import resize_to_long_side

    image = resize_to_long_side(image.float(), cell)
    height, width = image.shape[-2:]
    top, left = (cell - height) // 2, (cell - width) // 2
    return F.pad(image, (left, cell - width - left, top, cell - height - top), value=1.0)


def evaluate_run(
    run_dir: str | Path,
    data: str | Path,
    out_dir: str | Path,
    *,
    vgg,
    direction: str = "a2b",
    references: str | Path | None = None,
    max_images: int = 16,
    max_references: int = 8,
    size: int = 256,
    device: torch.device | str = "cpu",
    progress: Optional[ProgressCallback] = None,
):
    """Translate the images of ``data`` with one direction of a run, measure them and write a report.

    Every output is measured against every reference image of the target domain (by default the
    run's own ``domain_b`` for ``a2b``, ``domain_a`` for ``b2a``) with the project's metrics
    (:func:`painterly.evaluate.evaluate`: content distance to the input, style distance to the
    reference, normalized so that 0 is the reference and 1 the input). ``out_dir`` gets the
    evaluation report (``report.html``, ``report.csv``, ``report.json``, ``images/``) and
    ``grid.jpg``: the inputs above, their translations below.

    Args:
        vgg: a :class:`painterly.features.VGG19` up to ``relu5_1``, on ``device``.
        max_images, max_references: at most this many inputs and references, evenly spread.
        size: long side of inputs and references, in pixels.

    Returns:
        ``(evaluation, grid path)``.
    """
    from painterly.evaluate import evaluate
    from painterly.io.images import image_to_tensor, load_image, save_image, tensor_to_image
    from painterly.methods.feedforward import FastConfig, FastStylizer
    from painterly.models.files import read_model_file

    if min(max_images, max_references) < 1 or size < 16:
        raise PainterlyError("give at least one image, one reference and a size of 16 pixels or more")
    model_path = find_run_model(run_dir, direction)
    contents = _spread(domain_images(data, "test data", "--data"), max_images)
    if references is None:
        training = read_model_file(model_path)[0].training
        references = training.get("domain_b" if direction == "a2b" else "domain_a", "")
    target = _spread(domain_images(references, "reference folder", "--references"), max_references)
    device = resolve_device(device)
    stylizer = FastStylizer(FastConfig(model=str(model_path), precision="fp32"), device)
    label = f"gan-{direction}"
    evaluation = evaluate(
        contents, target, {label: lambda content, style: stylizer(content)}, vgg=vgg, out_dir=out_dir, size=size,
        device=device, progress=progress, settings={"run": str(run_dir), "direction": direction},
    )  # fmt: skip
    first_style = next(iter(evaluation.styles))
    outputs = {record.content: record.output for record in evaluation.records if record.style == first_style}
    cell = min(size, 256)
    inputs = [fit_cell(image_to_tensor(load_image(path)), cell) for stem, path in evaluation.contents.items()]
    results = [fit_cell(image_to_tensor(load_image(outputs[stem])), cell) for stem in evaluation.contents]
    grid = image_grid([torch.cat(inputs), torch.cat(results)])
    grid_path = save_image(tensor_to_image(grid), Path(out_dir).expanduser() / "grid.jpg", protect=contents)
    return evaluation, grid_path
