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

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from painterly.devices import autocast, pick_precision, resolve_device
from painterly.errors import PainterlyError
from painterly.losses.adversarial import check_gan_loss
from painterly.models.files import ModelInfo, save_model
from painterly.models.transformer import TransformerConfig, TransformerNet
from painterly.progress import ProgressCallback
from painterly.train import distributed
from painterly.train.adversarial import GAN_BETAS, Adversary
from painterly.train.checkpoints import checkpoint_paths
from painterly.train.config import NetworkTraining, RunSettings
from painterly.train.data import Batch, PhotoCrops, list_photos
from painterly.train.loop import SAMPLE_COUNT, Run, Sample, StepZip, TrainResult, fit, image_grid
from painterly.train.photos import training_photos

DIRECTIONS = ("a2b", "b2a")
LOSS_NAMES = ("total", "adversarial", "cycle", "identity", "discriminator_a", "discriminator_b")


@dataclass
class CycleGANConfig(RunSettings, NetworkTraining):
    """Options of collection-to-collection training; the defaults suit a CPU (light networks, small crops).

    Attributes:
        domain_a: folder of images of the first collection (e.g. photos), searched recursively;
            its held-out tenth (every tenth file by name) is never trained on, so that
            ``painterly gan test`` and the benchmarks measure on photos the generators never saw.
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
        precision: the generators' (and their judges') forward passes: ``auto`` (bf16 where the
            hardware runs it fast), ``bf16`` or ``fp32``; weights, losses and the discriminators'
            own updates stay in float32.
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
    precision: str = "auto"
    checkpoint_every: int = field(default=250, kw_only=True)
    sample_every: int = field(default=250, kw_only=True)
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


def domain_images(folder: str | Path, what: str, option: str, *, hold_out: bool = False) -> list[Path]:
    """The image files under ``folder``, recursively (with ``hold_out``: without the held-out tenth
    of :func:`~painterly.train.photos.split_photos`, which measurements use); an error naming
    ``what`` and ``option`` when there are none."""
    try:
        return training_photos(folder) if hold_out else list_photos(folder)
    except PainterlyError:
        path = Path(folder).expanduser()
        problem = "has no images" if path.is_dir() else "is not a folder"
        raise PainterlyError(f"{what} {str(path)!r} {problem}: give {option} a folder of .jpg or .png images") from None


class CycleGAN:
    """The four networks of a run: ``nets["a2b"]``, ``nets["b2a"]`` (generators) and a judge per domain."""

    def __init__(
        self, config: CycleGANConfig, device: torch.device, info: Optional[distributed.DistributedInfo] = None
    ):
        self.nets = nn.ModuleDict(
            {direction: TransformerNet(config.network_config()) for direction in DIRECTIONS}
        ).to(device)
        self.judges = {
            domain: Adversary(
                config.discriminator_config(), gan_loss=config.gan_loss, learning_rate=config.d_learning_rate,
                r1_weight=config.r1_weight, device=device, info=info,
            )  # fmt: skip
            for domain in ("a", "b")
        }
        self.optimizer = torch.optim.Adam(self.nets.parameters(), lr=config.learning_rate, betas=GAN_BETAS)
        self.device, self.dtype = device, pick_precision(config.precision, device)

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
        with autocast(self.device, self.dtype):  # the networks' passes; the losses in float32 below
            fake_b, fake_a = a2b(real_a), b2a(real_b)
            adversarial = self.judges["b"].generator_loss(fake_b) + self.judges["a"].generator_loss(fake_a)
            cycled_a, cycled_b = b2a(fake_b), a2b(fake_a)
            if config.identity_weight > 0:
                same_b, same_a = a2b(real_b), b2a(real_a)
        fake_a, fake_b = fake_a.float(), fake_b.float()
        cycle = F.l1_loss(cycled_a.float(), real_a) + F.l1_loss(cycled_b.float(), real_b)
        identity = torch.zeros((), device=real_a.device)
        if config.identity_weight > 0:
            identity = F.l1_loss(same_b.float(), real_b) + F.l1_loss(same_a.float(), real_a)
        total = adversarial + config.cycle_weight * cycle + config.identity_weight * identity
        return {"total": total, "adversarial": adversarial, "cycle": cycle, "identity": identity}, fake_a, fake_b

    def set_learning_rates(self, factor: float, config: CycleGANConfig) -> None:
        for group in self.optimizer.param_groups:
            group["lr"] = config.learning_rate * factor
        for judge in self.judges.values():
            judge.set_learning_rate(config.d_learning_rate * factor)


def _step_generator(config: CycleGANConfig, step: int, rank: int = 0) -> torch.Generator:
    """The pools' random choices at ``step``: a pure function of (seed, step, rank), so a resume sees the same."""
    return torch.Generator().manual_seed(config.seed * 1_000_003 + step + rank * 7_919)


def train_cyclegan(config: CycleGANConfig, progress: Optional[ProgressCallback] = None) -> TrainResult:
    """Train both directions between two collections as ``config`` says; write the two model files.

    Args:
        config: the options; ``config.resume`` continues from the run folder's last checkpoint.
        progress: called every ``log_every`` steps with the mean losses of the window and
            ``images_per_second`` (stage: speed and ETA); returning ``False`` stops training
            (raises ``Cancelled``) after a checkpoint is written.

    Returns:
        A :class:`~painterly.train.loop.TrainResult`; ``models`` holds ``a2b`` and ``b2a``.
    """
    return fit(config, CycleGANStep, progress)


class CycleGANStep:
    """One step of CycleGAN training: both generators, then both discriminators (see :mod:`painterly.train.loop`).

    In a multi-process run the generators' gradients are averaged by hand (each generator runs
    several times per step, which the DDP wrapper does not take); each process keeps its own
    pools of past fakes, and a checkpoint keeps rank 0's.
    """

    loss_names = LOSS_NAMES

    def __init__(self, run: Run):
        config: CycleGANConfig = run.config
        self.config, self.run = config, run
        self.images = {
            "a": domain_images(config.domain_a, "domain A", "--domain-a", hold_out=True),
            "b": domain_images(config.domain_b, "domain B", "--domain-b"),
        }
        self.crops = {
            domain: PhotoCrops(images, batch_size=config.batch_size, crop_size=config.crop_size,
                               scale_jitter=config.scale_jitter, seed=config.seed + offset, rank=run.info.rank,
                               world_size=run.info.world_size, steps=config.steps)
            for offset, (domain, images) in enumerate(self.images.items())
        }  # fmt: skip
        self.dataset = StepZip(self.crops["a"], self.crops["b"])
        self.images_per_step = 2 * config.batch_size
        self.model = CycleGAN(config, run.device, run.info)
        self.pools = {domain: ImagePool(config.pool_size) for domain in ("a", "b")}
        self._previews: Optional[dict[str, torch.Tensor]] = None

    def step(self, batch: tuple[Batch, Batch], step: int) -> dict[str, Any]:
        config, model, device = self.config, self.model, self.run.device
        real_a, real_b = (part.images.to(device) for part in batch)
        model.set_learning_rates(learning_rate_factor(step, config.steps, config.decay_from), config)
        losses, fake_a, fake_b = model.generator_losses(real_a, real_b, config)
        model.optimizer.zero_grad(set_to_none=True)
        losses["total"].backward()
        distributed.average_gradients(model.nets, self.run.info)
        model.optimizer.step()
        values: dict[str, Any] = {name: float(value.detach()) for name, value in losses.items()}
        generator = _step_generator(config, step, self.run.info.rank)
        for domain, real, fake in (("a", real_a, fake_a), ("b", real_b, fake_b)):
            judged = model.judges[domain].step(real, self.pools[domain].query(fake, generator))
            values[f"discriminator_{domain}"] = judged["discriminator"]
        return values

    def state_dict(self) -> dict[str, Any]:
        extra = {f"judge_{domain}": judge.state_dict() for domain, judge in self.model.judges.items()}
        extra.update({f"pool_{domain}": pool.state_dict() for domain, pool in self.pools.items()})
        return {"model": self.model.nets.state_dict(), "optimizer": self.model.optimizer.state_dict(), "extra": extra}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.model.nets.load_state_dict(state["model"])
        self.model.optimizer.load_state_dict(state["optimizer"])
        for domain in ("a", "b"):
            self.model.judges[domain].load_state_dict(state["extra"][f"judge_{domain}"])
            self.pools[domain].load_state_dict(state["extra"][f"pool_{domain}"], self.run.device)

    def samples(self) -> Optional[Sample]:
        """A grid: A, A→B, A→B→A, then B, B→A, B→A→B."""
        if self._previews is None:
            count = min(SAMPLE_COUNT, len(self.images["a"]), len(self.images["b"]))
            self._previews = {domain: crops.preview_crops(count).to(self.run.device)
                              for domain, crops in self.crops.items()}  # fmt: skip
        crops_a, crops_b = self._previews["a"], self._previews["b"]
        a2b, b2a = self.model.nets["a2b"], self.model.nets["b2a"]
        with torch.no_grad():
            fake_b, fake_a = a2b(crops_a), b2a(crops_b)
            grid = image_grid([crops_a, fake_b, b2a(fake_b), crops_b, fake_a, a2b(fake_a)])
        return Sample(grid, fake_b[:1].float().clamp(0, 1).cpu())

    def export(self, record: dict[str, Any]) -> dict[str, Path]:
        config = self.config
        record = {
            **record, "images": {domain: len(images) for domain, images in self.images.items()},
            "discriminator": config.discriminator_config().to_dict(),
        }  # fmt: skip
        names = {"a2b": f"{_domain_name(config.domain_a)}-to-{_domain_name(config.domain_b)}",
                 "b2a": f"{_domain_name(config.domain_b)}-to-{_domain_name(config.domain_a)}"}  # fmt: skip
        models = {}
        for direction in DIRECTIONS:
            info = ModelInfo(network=config.network_config(), training={**config.to_dict(), "direction": direction},
                             record=record, name=names[direction])  # fmt: skip
            path = run_model_path(self.run.run_dir, direction)
            models[direction] = save_model(self.model.nets[direction], path, info)
        return models


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


#: Images of the target domain the Fréchet distance of :func:`evaluate_run` compares with.
FRECHET_REFERENCES = 64


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
    """Translate the images of ``data`` with one direction of a run (``run_dir``: its folder, or one
    generator's model file), measure them and write a report.

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
    from painterly.evaluate.measure import vgg_frechet_distance
    from painterly.evaluate.report import write_report
    from painterly.io.images import image_to_tensor, load_image, save_image, tensor_to_image
    from painterly.ops.resize import resize_to_long_side
    from painterly.methods.feedforward import FastConfig, FastStylizer
    from painterly.models.files import read_model_file

    if min(max_images, max_references) < 1 or size < 16:
        raise PainterlyError("give at least one image, one reference and a size of 16 pixels or more")
    # A run folder gives the direction's model; a model file (one direction, e.g. a shipped one) is itself.
    model_path = find_run_model(run_dir, direction) if Path(run_dir).is_dir() else Path(run_dir)
    training = read_model_file(model_path)[0].training
    direction = training.get("direction", direction)
    contents = _spread(domain_images(data, "test data", "--data"), max_images)
    if references is None:
        references = training.get("domain_b" if direction == "a2b" else "domain_a", "")
    domain_paths = domain_images(references, "reference folder", "--references")
    target = _spread(domain_paths, max_references)
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
    translated = [stem for stem in evaluation.contents if stem in outputs]  # failed inputs are in the report only
    if not translated:
        raise PainterlyError(f"no image could be translated: {evaluation.failures[0].line()}")
    inputs = [fit_cell(image_to_tensor(load_image(evaluation.contents[stem])), cell) for stem in translated]
    results = [fit_cell(image_to_tensor(load_image(outputs[stem])), cell) for stem in translated]
    grid = image_grid([torch.cat(inputs), torch.cat(results)])
    grid_path = save_image(tensor_to_image(grid), Path(out_dir).expanduser() / "grid.jpg", protect=contents)
    # How close the translations are to the target domain as a whole (not to one painting):
    # a Fréchet distance on VGG19 features, against up to FRECHET_REFERENCES images of the domain.
    domain = _spread(domain_paths, FRECHET_REFERENCES)
    sized = [resize_to_long_side(image_to_tensor(load_image(path), device=device), size) for path in domain]
    translations = [resize_to_long_side(image_to_tensor(load_image(outputs[stem]), device=device), size) for stem in translated]
    distance = vgg_frechet_distance(vgg, translations, sized)
    evaluation.set_metrics.setdefault(label, {})["vgg_frechet"] = distance
    evaluation.notes.append(f"Fréchet distance to the target domain (VGG19 relu5_1 features, {len(translations)} translations, "
                            f"{len(sized)} domain images): {distance:.2f}")  # fmt: skip
    evaluation.files = write_report(evaluation, out_dir, check=False)  # the reports again, with it
    return evaluation, grid_path
