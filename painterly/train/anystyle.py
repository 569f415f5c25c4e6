"""Training the any-painting network (:mod:`painterly.models.anystyle`): a style predictor and a
conditional-instance-norm style network, trained together on photos × paintings.

Every step paints each photo crop of the batch in a painting drawn at random from the training
paintings (each seen as a few *views*: the whole painting and random crops of it at the same
stroke scale, flipped or not; statistics and style targets of every view computed once). The
predictor turns the view's VGG19 statistics into the network's style embedding; the loss is the
fine-tuning recipe's (content at relu2_2, Gram or mean/covariance at relu1_1 … relu4_1, total
variation). The style network starts from the shipped shared multi-style network (its 50 rows
become the first rows of the embedding) and the predictor from the average of those styles, so
training starts where fine-tuning a new style starts. Held-out paintings are never trained on;
the sample sheets paint them, so generalization shows while training runs.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, NamedTuple, Optional, Sequence

import torch

from painterly.devices import autocast, pick_precision
from painterly.errors import PainterlyError
from painterly.features.vgg import VGG19
from painterly.models.anystyle import (PAINTING_SIZE, AnyStyleInfo, AnyStyleNet, PredictorConfig, is_anystyle_file,
                                       load_anystyle, painting_statistics, save_anystyle)  # fmt: skip
from painterly.models.files import load_model
from painterly.models.transformer import variant_config
from painterly.ops.color import recolour
from painterly.ops.resize import resize_to_long_side
from painterly.progress import ProgressCallback
from painterly.train.config import RunSettings, check_run_options, run_folder
from painterly.train.data import Batch
from painterly.train.loop import SAMPLE_COUNT, Run, Sample, TrainResult, fit, image_grid
from painterly.train.photos import CROP_RANGE, Painting, default_painting_folder, default_photo_folder, list_paintings, training_photos
from painterly.train.styles import (LOSS_NAMES, STYLE_LOSSES, painting_targets, recipe_losses, resolve_init, run_crops,
                                    styles_at)  # fmt: skip
from painterly.train.trainer import _loss_network

#: Paintings of the shared ``train-paintings`` never trained on: measured on by the benchmarks
#: (with the built-in styles' own paintings, which are not in that folder). Varied on purpose:
#: post-impressionist, impressionist, synthetist, expressionist, Dutch landscape, old-master portrait.
HELD_OUT_PAINTINGS = (
    "vincent-van-gogh-self-portrait-with-a-straw-hat",
    "claude-monet-the-petite-creuse-river",
    "paul-gauguin-te-fare-la-maison",
    "henri-de-toulouse-lautrec-in-bed",
    "salomon-van-ruysdael-river-landscape-with-a-view-of-naarden",
    "anonymous-south-german-possibly-ulm-portrait-of-a-man-in-a-red-cap",
    "edgar-degas-cafe-singer",
    "paul-serusier-the-beach-of-les-grands-sables-at-le-pouldu",
)


@dataclass
class AnyStyleConfig(RunSettings):
    """Options of the any-painting training.

    Attributes:
        paintings: folder of training paintings (default: the shared ``train-paintings``).
        holdout: names (file stems) of paintings of that folder never trained on.
        data: folder of training photos; its held-out share (every tenth file) is never used.
        out: the model file to write (``.safetensors``).
        run_dir: checkpoints, samples and the loss log (default: ``OUT`` without suffix + ``.run``).
        init: network to start from: ``shared`` (the shipped multi-style network, whose rows
            become the first rows of the embedding), another multi-style model file, an
            any-painting model file (to train further: its predictor and the statistics it
            standardizes with are kept), or ``None`` (at random, of the ``variant``'s shape).
        variant: network shape when starting at random.
        styles: embedding size (rows of the norm tables); at least the start's styles.
        hidden: the predictor's hidden width.
        views: views of each painting (the whole, then random crops at the same stroke scale).
        colour_views: further views of each painting, its views recoloured (hues turned at random,
            saturation scaled by 0.7–1.5): more kinds of painting for the predictor to learn from
            than the set has (one trained without them gave a Starry Night, bluer than any training
            painting, saturated embeddings and a grey picture).
        steps: optimizer steps.
        batch_size: photo crops per step, each in a painting drawn at random.
        crop_min, crop_max: each step's crops have a random side in this range (multiples of 16).
        scale_jitter: as for ``painterly train --styles``.
        style_size: long side each painting is measured and described at.
        style_loss: ``gram``, ``meancov`` or ``both`` (see :class:`painterly.train.styles.StylesConfig`).
        learning_rate: Adam's step for the predictor and the norm tables.
        network_learning_rate: Adam's step for the shared convolutions (smaller: they start trained).
        content_weight: weight of the relative content loss.
        style_weight: weight of the relative style loss.
        tv_weight: weight of the total variation loss.
        max_grad_norm: gradients are scaled down to at most this norm (one bad batch moved a run
            to outputs it never came back from).
        content_layers, style_layers: VGG19 layers of the losses.
        precision, channels_last, workers: as in ``painterly train``.
    """

    paintings: str = str(default_painting_folder())
    holdout: tuple[str, ...] = HELD_OUT_PAINTINGS
    data: str = str(default_photo_folder())
    out: str = "anystyle.safetensors"
    run_dir: Optional[str] = None
    init: Optional[str] = "shared"
    variant: str = "light"
    styles: int = 64
    hidden: int = 256
    views: int = 4
    # 0 left a Starry Night grey (held-out Gram 0.89, the photo's look); 4 brought it to 0.30.
    colour_views: int = 4
    steps: int = 20000
    batch_size: int = 4
    crop_min: int = CROP_RANGE[0]
    crop_max: int = CROP_RANGE[1]
    scale_jitter: tuple[float, float] = (1.0, 2.0)
    style_size: int = PAINTING_SIZE
    # Gram, as fine-tuning: `both` (Gram + mean/cov) pulled so hard on one painting that a content weight of 20
    # still left its content distance above fine-tuning's target, and its loss here started 20× larger.
    style_loss: str = "gram"
    # 1e-3 drove the embedding away in a few steps (style loss 3 → 14); 2e-4 fell steadily.
    learning_rate: float = 3e-4
    network_learning_rate: float = 1e-4
    content_weight: float = 2.5
    style_weight: float = 10.0
    tv_weight: float = 0.05
    max_grad_norm: float = 5.0
    content_layers: tuple[str, ...] = ("relu2_2",)
    style_layers: tuple[str, ...] = ("relu1_1", "relu2_1", "relu3_1", "relu4_1")
    channels_last: bool = True
    checkpoint_every: int = field(default=250, kw_only=True)
    precision: str = "auto"
    workers: int = 0

    def validate(self) -> "AnyStyleConfig":
        check_run_options(self)
        if self.style_loss not in STYLE_LOSSES:
            raise PainterlyError(f"unknown style loss {self.style_loss!r}: use {' or '.join(STYLE_LOSSES)}")
        if self.styles < 2 or self.hidden < 1 or self.views < 1 or self.colour_views < 0:
            raise PainterlyError("the embedding needs at least 2 styles, the predictor 1 hidden unit, each painting 1 view "
                                 "(and 0 or more colour views)")
        if self.learning_rate <= 0 or self.network_learning_rate < 0:
            raise PainterlyError("learning rates must be positive (the network's may be 0: frozen)")
        if min(self.content_weight, self.style_weight, self.tv_weight) < 0:
            raise PainterlyError("loss weights must be 0 or more")
        return self

    def run_path(self) -> Path:
        return run_folder(self.out, self.run_dir)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["holdout"] = list(self.holdout)
        return data


def split_paintings(folder: str | Path, holdout: Sequence[str]) -> tuple[list[Painting], list[Painting]]:
    """``(training, held_out)`` paintings of ``folder``; ``holdout`` names file stems."""
    paintings = list_paintings(folder)
    held = {name.strip().lower() for name in holdout}
    training = [p for p in paintings if p.name not in held]
    held_out = [p for p in paintings if p.name in held]
    if not training:
        raise PainterlyError(f"no training paintings in {folder}: give a folder of paintings")
    return training, held_out


def painting_views(path: Path, long_side: int, views: int, generator: torch.Generator, colour_views: int = 0) -> list[torch.Tensor]:
    """``views + colour_views`` images of a painting, each ``(1, 3, h, w)`` in ``[0, 1]``: the whole
    painting at ``long_side``, then crops of 50–80 % of its sides at the same scale (so strokes
    keep their size), every other one flipped left to right; then ``colour_views`` of those,
    taken in turn, recoloured at random (see :class:`AnyStyleConfig`)."""
    from painterly.io.images import image_to_tensor, load_image

    whole = resize_to_long_side(image_to_tensor(load_image(path)), long_side)
    result = [whole]
    height, width = whole.shape[-2:]
    for view in range(1, views):
        fraction = 0.5 + 0.3 * float(torch.rand((), generator=generator))
        h, w = max(32, round(height * fraction)), max(32, round(width * fraction))
        top = int(torch.randint(height - h + 1, (), generator=generator))
        left = int(torch.randint(width - w + 1, (), generator=generator))
        crop = whole[..., top : top + h, left : left + w]
        result.append(crop.flip(-1) if view % 2 else crop)
    for view in range(colour_views):
        hue, saturation = torch.rand(2, generator=generator).tolist()
        result.append(recolour(result[view % views], math.pi * (2 * hue - 1), 0.7 + 0.8 * saturation))
    return result


def describe(vgg: VGG19, images: Sequence[torch.Tensor], layers: Sequence[str], dtype: torch.dtype) -> torch.Tensor:
    """``(N, D)`` predictor statistics of ``images`` (each ``(1, 3, h, w)``)."""
    with torch.no_grad():
        rows = []
        for image in images:
            with autocast(image.device, dtype):
                rows.append(painting_statistics(vgg(image, list(layers)), layers))
    return torch.cat(rows)


class InitialNetwork(NamedTuple):
    """The network to train; ``average``: ``(S,)`` the mix its predictor starts at, when it starts
    from a multi-style model; ``trained_predictor``: its predictor comes from an any-painting model."""

    net: AnyStyleNet
    average: Optional[torch.Tensor] = None
    trained_predictor: bool = False


def initial_network(config: AnyStyleConfig) -> InitialNetwork:
    """The network ``config.init`` says to start from."""
    predictor = PredictorConfig(hidden=config.hidden, styles=config.styles)
    if not config.init:
        return InitialNetwork(AnyStyleNet(variant_config(config.variant, styles=config.styles), predictor))
    path = resolve_init(config.init)
    if is_anystyle_file(path):
        net, _ = load_anystyle(path)
        return InitialNetwork(net.train().requires_grad_(True), trained_predictor=True)
    start, _ = load_model(path)
    rows = start.config.styles
    if not rows or rows > config.styles:
        raise PainterlyError(f"--init must be a multi-style network of at most {config.styles} styles, got {rows or 1}")
    net = AnyStyleNet(replace(start.config, styles=config.styles), predictor)
    state = {}
    for key, value in start.state_dict().items():
        if value.dim() == 2:  # a norm table: the start's rows, then small new ones the training shapes
            value = torch.cat([value, 0.01 * torch.randn(config.styles - rows, value.shape[1])])
        state[key] = value
    net.transformer.load_state_dict(state)
    average = torch.zeros(config.styles)
    average[:rows] = 1.0 / rows
    return InitialNetwork(net, average)


class AnyStyleStep:
    """One step of any-painting training; see :class:`painterly.train.loop.TrainingStep`."""

    def __init__(self, run: Run, vgg: Optional[VGG19] = None):
        config: AnyStyleConfig = run.config
        self.config, self.run = config, run
        device = run.device
        self.dtype = pick_precision(config.precision, device)
        self.memory_format = torch.channels_last if config.channels_last else torch.contiguous_format
        self.paintings, self.held_out = split_paintings(config.paintings, config.holdout)
        self.photos = training_photos(config.data)
        self.dataset = run_crops(run, self.photos)
        self.images_per_step = config.batch_size
        self.loss_names = (*LOSS_NAMES, "grad_norm")
        net, average, trained_predictor = initial_network(config)
        predictor_layers = list(net.predictor.config.layers)
        layers = [*config.content_layers, *config.style_layers, *predictor_layers]
        self.vgg = _loss_network(vgg, layers, device).to(memory_format=self.memory_format)

        generator = torch.Generator().manual_seed(config.seed)
        views = [view.to(device) for painting in self.paintings
                 for view in painting_views(painting.path, config.style_size, config.views, generator, config.colour_views)]  # fmt: skip
        self.stats = describe(self.vgg, views, predictor_layers, self.dtype)
        self.targets = painting_targets(self.vgg, views, config.style_layers, config.style_loss, self.dtype)
        held = [painting_views(p.path, config.style_size, 1, generator)[0].to(device) for p in self.held_out[:SAMPLE_COUNT]]
        self.held_stats = describe(self.vgg, held, predictor_layers, self.dtype) if held else self.stats[:SAMPLE_COUNT]

        if not trained_predictor:  # a trained one keeps the standardization it learned with
            net.predictor.set_input_statistics(self.stats)
        if average is not None:  # start every painting at the average style, as fine-tuning does
            with torch.no_grad():
                net.predictor.out.weight.zero_()
                bound = net.predictor.config.bound
                net.predictor.out.bias.copy_(bound * torch.atanh(average / bound))
        self.net = net.to(device)
        self.net.transformer.to(memory_format=self.memory_format)
        self.trained = run.parallel(self.net)
        fast = [*self.net.predictor.parameters()] + [p for n, p in self.net.transformer.named_parameters() if ".norm" in n]
        slow = [p for n, p in self.net.transformer.named_parameters() if ".norm" not in n]
        groups = [{"params": fast, "lr": config.learning_rate}]
        if config.network_learning_rate > 0:
            groups.append({"params": slow, "lr": config.network_learning_rate})
        else:
            for parameter in slow:
                parameter.requires_grad_(False)
        self.optimizer = torch.optim.Adam(groups)
        self._previews: Optional[torch.Tensor] = None

    def step(self, batch: Batch, step: int) -> dict[str, Any]:
        config = self.config
        content = batch.images.to(self.run.device, non_blocking=True).contiguous(memory_format=self.memory_format)
        index = styles_at(step, self.stats.shape[0], content.shape[0], config.seed, self.run.info.rank).to(self.run.device)
        self.optimizer.zero_grad(set_to_none=True)
        values = recipe_losses(self.vgg, config, content, lambda photos: self.trained(photos, self.stats[index]),
                               self.targets, index, self.dtype)  # fmt: skip
        total = config.content_weight * values["content"] + config.style_weight * values["style"] + config.tv_weight * values["tv"]
        total.backward()
        norm = torch.nn.utils.clip_grad_norm_(self.net.parameters(), config.max_grad_norm)
        self.optimizer.step()
        return {"total": total, **values, "grad_norm": norm}

    def state_dict(self) -> dict[str, Any]:
        return {"model": self.net.state_dict(), "optimizer": self.optimizer.state_dict(), "extra": {}}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.net.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])

    def samples(self) -> Sample:
        """Photos above; below, each painted in a held-out painting (never trained on)."""
        if self._previews is None:
            self._previews = self.dataset.preview_crops(SAMPLE_COUNT).to(self.run.device)
        photos = self._previews
        stats = self.held_stats[torch.arange(photos.shape[0]) % self.held_stats.shape[0]]
        with torch.no_grad():
            stylized = self.net(photos, stats).float().clamp(0, 1).cpu()
        return Sample(image_grid([photos.cpu(), stylized]), stylized[:1])

    def export(self, record: dict[str, Any]) -> dict[str, Path]:
        config = self.config
        record = {**record, "precision": str(self.dtype).replace("torch.", ""), "photos": len(self.photos),
                  "paintings": len(self.paintings), "held_out": [p.name for p in self.held_out]}  # fmt: skip
        net = self.net.float()
        net.transformer.to(memory_format=torch.contiguous_format)
        info = AnyStyleInfo(net.transformer.config, net.predictor.config, config.to_dict(), record)
        return {"model": save_anystyle(net, config.out, info)}


def train_anystyle(
    config: AnyStyleConfig, *, progress: Optional[ProgressCallback] = None, vgg: Optional[VGG19] = None
) -> TrainResult:
    """Train the any-painting network as ``config`` says; write the model file."""
    return fit(config, lambda run: AnyStyleStep(run, vgg), progress)

