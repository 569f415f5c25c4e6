"""The training config: one dataclass that the CLI, the Python API and the model file share."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Optional

from painterly.errors import PainterlyError
from painterly.losses.adversarial import check_gan_loss
from painterly.models.discriminator import DiscriminatorConfig
from painterly.models.transformer import VARIANTS, TransformerConfig, variant_config

PRECISIONS = ("auto", "bf16", "fp32")


@dataclass(kw_only=True)
class RunSettings:
    """How a training run is seeded, kept and reported: the fields every trainer's config shares
    (a trainer with other defaults redeclares a field with ``field(default=…, kw_only=True)``).

    Attributes:
        seed: seed of the network's initialization and of the crops; equal seeds train alike.
        checkpoint_every: save a resumable checkpoint every N steps (0: only at the end).
        sample_every: write a sample image every N steps (0: never).
        log_every: append to the loss log and report progress every N steps.
        keep_checkpoints: how many recent checkpoints to keep in the run folder.
        device: ``auto``, ``cpu``, ``cuda`` or ``cuda:N``.
        resume: continue from the latest checkpoint in the run folder, if there is one.
        time_limit: minutes this session may train (0: no limit); past them the run stops at its next
            report, writes a checkpoint and the model files, and a later --resume continues it.
    """

    seed: int = 0
    checkpoint_every: int = 200
    sample_every: int = 200
    log_every: int = 10
    keep_checkpoints: int = 2
    device: str = "auto"
    resume: bool = False
    time_limit: float = 0.0


def check_run_options(config: Any) -> None:
    """The checks every trainer's config shares: counts at least 1, and (where the config has them)
    a known precision and checkpoint/sample/worker counts of 0 or more."""
    for name in ("steps", "batch_size", "log_every", "keep_checkpoints"):
        if getattr(config, name) < 1:
            raise PainterlyError(f"{name.replace('_', '-')} must be at least 1, got {getattr(config, name)}")
    if getattr(config, "precision", "auto") not in PRECISIONS:
        raise PainterlyError(f"unknown precision {config.precision!r}: use auto, bf16 or fp32")
    if min(config.checkpoint_every, config.sample_every, getattr(config, "workers", 0)) < 0:
        raise PainterlyError("checkpoint-every, sample-every and workers must be 0 or more")
    time_limit = config.time_limit
    if not (isinstance(time_limit, (int, float)) and math.isfinite(time_limit) and time_limit >= 0):
        raise PainterlyError(f"time-limit must be a number of minutes, 0 or more (0: none), got {time_limit}")


def run_folder(out: str, run_dir: Optional[str]) -> Path:
    """A run's folder: ``run_dir``, or the output file ``out`` without its suffix, plus ``.run``."""
    if run_dir:
        return Path(run_dir).expanduser()
    path = Path(out).expanduser()
    return path.with_name(path.stem + ".run")


class NetworkTraining:
    """What the configs of trainers of :class:`TransformerNet` networks share (as a base class).

    The subclass is a dataclass with the fields ``variant``, ``network``, ``steps``,
    ``batch_size``, ``log_every``, ``keep_checkpoints``, ``crop_size``, ``scale_jitter`` and
    ``discriminator_channels``, ``discriminator_layers``, ``discriminator_spectral_norm``.
    """

    def check_common(self, min_crop: int) -> None:
        """Check the network variant, the counts, the crop size and the scale jitter."""
        config: Any = self
        if config.network is None and config.variant.strip().lower() not in VARIANTS:
            raise PainterlyError(f"unknown network variant {config.variant!r}: use one of {', '.join(VARIANTS)}")
        check_run_options(config)
        if config.crop_size < min_crop or config.crop_size % 4:
            raise PainterlyError(f"crop size must be a multiple of 4 and at least {min_crop}, got {config.crop_size}")
        low, high = config.scale_jitter
        if not 1.0 <= low <= high:
            raise PainterlyError(f"scale jitter must be two numbers 1 ≤ low ≤ high, got {config.scale_jitter}")

    def network_config(self) -> TransformerConfig:
        config: Any = self
        return config.network if config.network is not None else variant_config(config.variant)

    def discriminator_config(self) -> DiscriminatorConfig:
        config: Any = self
        return DiscriminatorConfig(
            features=getattr(config, "discriminator_features", "pixels"),
            channels=config.discriminator_channels,
            layers=config.discriminator_layers,
            spectral_norm=config.discriminator_spectral_norm,
        )

    def to_dict(self) -> dict[str, Any]:
        config: Any = self
        data = asdict(config)
        data["network"] = config.network.to_dict() if config.network is not None else None
        return data


@dataclass
class TrainConfig(RunSettings, NetworkTraining):
    """Options of feed-forward style training; the defaults train a usable light model on a CPU.

    Attributes:
        style: the painting: a built-in style name or an image path.
        data: folder of training photos, searched recursively (COCO train2014 on a GPU).
        out: the model file to write (``.safetensors``).
        run_dir: folder for checkpoints, samples and the loss log (default: ``OUT`` without
            its suffix, plus ``.run``).
        variant: network variant, ``light`` (fast on CPUs) or ``johnson`` (the paper's).
        steps: optimizer steps.
        batch_size: photos per step (per process when training on several).
        crop_size: side of the square training crops in pixels.
        scale_jitter: each photo's short side is resized to ``crop_size`` times a random factor
            in this range before a random crop, so strokes are learned at several scales.
        style_size: long side the painting is resized to before its Gram matrices are taken;
            larger gives smaller brush strokes relative to the crops.
        learning_rate: Adam's step size.
        content_weight, style_weight, tv_weight: weights of the relative content, style and
            total-variation losses (as in the optimization method).
        content_layers: VGG19 layers whose activations the output keeps from the photo.
        style_layers: VGG19 layers whose Gram matrices the output takes from the painting.
        adversarial_weight: weight of the adversarial loss: a PatchGAN discriminator learns to
            tell random patches of the painting from the network's outputs and the network
            learns to fool it (crisper strokes); 0 (the default) trains without one. Its
            gradients start ~50× smaller than the perceptual losses' (spectral norm), so 1 is a
            reasonable start.
        gan_loss: the adversarial objective, ``hinge`` or ``lsgan`` (least squares).
        discriminator_features: what the discriminator judges: ``pixels``, or a VGG19 layer
            (e.g. ``relu3_1``) whose feature maps it sees.
        discriminator_channels: channels of the discriminator's first layer (doubled per layer).
        discriminator_layers: strided layers of the discriminator (3: 70 px patches on pixels).
        discriminator_spectral_norm: spectral normalization in the discriminator.
        discriminator_scales: how many sizes the network's outputs and the painting's patches are
            judged at, one discriminator each (pix2pixHD): 1 (the default) at their own size; 2 or 3
            also at half and a quarter of it, where 70 px patches see groups of strokes.
        d_learning_rate: the discriminator's Adam step size (two time-scale rule: above the
            network's).
        warmup_steps: steps that train the network with the perceptual losses only (the
            discriminator already learns), before the adversarial loss is added.
        r1_weight: weight of the R1 gradient penalty on the painting's patches (0: off; 1–10
            when the discriminator runs away).
        precision: ``auto`` (bf16 where the hardware runs it fast), ``bf16`` or ``fp32``.
        workers: photo-decoding worker processes (0: decode in the training process).
        init: start the network from the weights of this model (a file or a built-in name)
            instead of at random: fine-tune a shipped style, or go on from a finished model
            whose run folder is gone. Its network shape is used; ``variant`` is ignored.
            A checkpoint found with ``resume`` wins over it.
        name: display name stored in the model (default: the style's name).
    """

    style: str = "starry-night"
    data: str = "photos"
    out: str = "model.safetensors"
    run_dir: Optional[str] = None
    variant: str = "light"
    steps: int = 2000
    batch_size: int = 4
    crop_size: int = 256
    scale_jitter: tuple[float, float] = (1.0, 2.0)
    style_size: int = 512
    learning_rate: float = 1e-3
    content_weight: float = 1.0
    style_weight: float = 10.0
    tv_weight: float = 0.05
    content_layers: tuple[str, ...] = ("relu2_2",)
    style_layers: tuple[str, ...] = ("relu1_2", "relu2_2", "relu3_3", "relu4_3")
    adversarial_weight: float = 0.0
    gan_loss: str = "hinge"
    discriminator_features: str = "pixels"
    discriminator_channels: int = 64
    discriminator_layers: int = 3
    discriminator_spectral_norm: bool = True
    discriminator_scales: int = 1
    d_learning_rate: float = 4e-4
    warmup_steps: int = 100
    r1_weight: float = 0.0
    precision: str = "auto"
    workers: int = 0
    init: Optional[str] = None
    name: str = ""
    #: Overrides ``variant`` with an explicit network shape (tests, experiments).
    network: Optional[TransformerConfig] = None

    def validate(self) -> "TrainConfig":
        """Check every option; raise a PainterlyError naming the bad one."""
        self.check_common(min_crop=16)
        if self.style_size < 16:
            raise PainterlyError(f"style size must be at least 16 pixels, got {self.style_size}")
        if self.learning_rate <= 0:
            raise PainterlyError(f"learning rate must be positive, got {self.learning_rate}")
        if min(self.content_weight, self.style_weight, self.tv_weight) < 0:
            raise PainterlyError("loss weights must be 0 or more")
        if not self.style_layers or not self.content_layers:
            raise PainterlyError("name at least one style layer and one content layer")
        if min(self.adversarial_weight, self.r1_weight, self.warmup_steps) < 0:
            raise PainterlyError("adversarial-weight, r1-weight and warmup-steps must be 0 or more")
        if self.discriminator_scales not in (1, 2, 3):
            raise PainterlyError(f"discriminator-scales is 1, 2 or 3, got {self.discriminator_scales}")
        if self.d_learning_rate <= 0:
            raise PainterlyError(f"discriminator learning rate must be positive, got {self.d_learning_rate}")
        check_gan_loss(self.gan_loss)
        if self.adversarial:
            self.discriminator_config()
        return self

    @property
    def adversarial(self) -> bool:
        """Whether a discriminator takes part (``adversarial_weight > 0``)."""
        return self.adversarial_weight > 0

    def run_path(self) -> Path:
        return run_folder(self.out, self.run_dir)
