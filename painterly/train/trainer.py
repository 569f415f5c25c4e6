"""The trainer of feed-forward style networks (Johnson et al. 2016): its step in the one loop.

The network learns to turn any photo crop into an image whose VGG19 features keep the photo's
content and whose Gram matrices match the painting's, with the same relative losses as the
optimization method. With ``adversarial_weight > 0`` a PatchGAN discriminator also learns to
tell random patches of the painting from the network's outputs, and the network learns to fool
it (adversarial style transfer, after Li & Wand 2016): crisper, more painting-like strokes.
Checkpoints that resume exactly (the discriminator and its optimizer included), sample images,
the loss log, progress events and DDP are the loop's (:mod:`painterly.train.loop`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional, Sequence

import torch
from torch import nn

from painterly.devices import autocast, pick_precision
from painterly.errors import PainterlyError
from painterly.features.vgg import VGG19, deepest_layer
from painterly.losses import total_variation
from painterly.losses.gatys import StyleTargets, style_content_losses, style_targets
from painterly.models.files import ModelInfo, save_model
from painterly.models.transformer import TransformerNet
from painterly.ops.resize import resize_to_long_side
from painterly.progress import ProgressCallback
from painterly.train.adversarial import Adversary, MultiScaleAdversary, fit_painting, make_adversary, style_patches
from painterly.train.config import TrainConfig
from painterly.train.data import Batch, PhotoCrops, list_photos
from painterly.train.loop import SAMPLE_COUNT, Run, Sample, TrainResult, fit, image_grid

LOSS_NAMES = ("total", "content", "style", "tv")
#: Logged besides LOSS_NAMES in adversarial runs (``r1`` when its penalty is on).
ADVERSARIAL_LOSS_NAMES = ("adversarial", "discriminator")


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


def _load_style(config: TrainConfig) -> torch.Tensor:
    from painterly.io.images import image_to_tensor, load_image
    from painterly.registry import resolve_style_path

    painting = image_to_tensor(load_image(resolve_style_path(config.style)))
    return resize_to_long_side(painting, config.style_size)


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
        A :class:`~painterly.train.loop.TrainResult`.
    """
    return fit(config, lambda run: StyleStep(run, vgg), progress)


class StyleStep:
    """One step of feed-forward style training, and of its discriminator in adversarial runs.

    The trainer's part of :func:`painterly.train.loop.fit`; see :class:`painterly.train.loop.TrainingStep`.
    """

    def __init__(self, run: Run, vgg: Optional[VGG19] = None):
        config: TrainConfig = run.config
        self.config, self.run = config, run
        device = run.device
        self.dtype = pick_precision(config.precision, device)
        self.photos = list_photos(config.data)
        self.dataset = PhotoCrops(
            self.photos, batch_size=config.batch_size, crop_size=config.crop_size, scale_jitter=config.scale_jitter,
            seed=config.seed, rank=run.info.rank, world_size=run.info.world_size, steps=config.steps,
        )  # fmt: skip
        self.images_per_step = config.batch_size
        self.feature_layers = _discriminator_layers(config)
        self.vgg = _loss_network(vgg, [*config.content_layers, *config.style_layers, *self.feature_layers], device)
        self.painting = _load_style(config).to(device)
        self.targets = style_targets(self.vgg, [(self.painting, 1.0)], config.style_layers, self.dtype)
        self.style_layer_weights = {name: 1.0 / len(config.style_layers) for name in config.style_layers}

        # Seeded again after the loss network is built, so the initialization does not depend on how it was made.
        torch.manual_seed(config.seed)
        net, self.started_from = _initial_network(config)
        self.net = net.to(device)
        self.trained = run.parallel(self.net)
        self.optimizer = torch.optim.Adam(self.net.parameters(), lr=config.learning_rate)
        self.adversary: Optional[Adversary | MultiScaleAdversary] = None
        self.loss_names: tuple[str, ...] = LOSS_NAMES
        if config.adversarial:
            self.adversary = make_adversary(
                config.discriminator_scales, config.discriminator_config(), gan_loss=config.gan_loss,
                learning_rate=config.d_learning_rate,
                r1_weight=config.r1_weight, device=device, info=run.info,
            )  # fmt: skip
            self.painting = fit_painting(self.painting, config.crop_size)
            self.loss_names += ADVERSARIAL_LOSS_NAMES + (("r1",) if config.r1_weight > 0 else ())
        self._previews: Optional[torch.Tensor] = None

    def step(self, batch: Batch, step: int) -> dict[str, Any]:
        config = self.config
        content = batch.images.to(self.run.device, non_blocking=True)
        self.optimizer.zero_grad(set_to_none=True)
        losses, output, features = compute_losses(
            self.trained, self.vgg, content, self.targets, config, self.style_layer_weights, self.dtype,
            self.feature_layers,
        )  # fmt: skip
        if self.adversary is None:
            losses["total"].backward()
            self.optimizer.step()
            return losses
        fake = features[self.feature_layers[0]] if self.feature_layers else output
        active = step >= config.warmup_steps
        losses["adversarial"] = _adversarial_loss(self.adversary, fake, active)
        if active:
            losses["total"] = losses["total"] + config.adversarial_weight * losses["adversarial"]
        losses["total"].backward()
        self.optimizer.step()
        values: dict[str, Any] = {name: float(value.detach()) for name, value in losses.items()}
        real = _real_inputs(self.painting, self.vgg, self.feature_layers, content.shape[0], config, step,
                            self.run.info.rank, self.dtype)  # fmt: skip
        values.update(self.adversary.step(real, fake))
        return values

    def state_dict(self) -> dict[str, Any]:
        extra = {"discriminator": self.adversary.state_dict()} if self.adversary is not None else {}
        return {"model": self.net.state_dict(), "optimizer": self.optimizer.state_dict(), "extra": extra}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.net.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        if self.adversary is not None and "discriminator" in state["extra"]:
            # A plain run resumed with --adversarial-weight starts its discriminator afresh.
            self.adversary.load_state_dict(state["extra"]["discriminator"])

    def samples(self) -> Sample:
        """Photos above, their stylized versions below."""
        if self._previews is None:
            self._previews = self.dataset.preview_crops(SAMPLE_COUNT).to(self.run.device)
        with torch.no_grad():
            stylized = self.net(self._previews).float().clamp(0, 1).cpu()
        return Sample(image_grid([self._previews, stylized]), stylized[:1])

    def export(self, record: dict[str, Any]) -> dict[str, Path]:
        config = self.config
        record = {**record, "precision": str(self.dtype).replace("torch.", ""), "photos": len(self.photos)}
        if self.started_from is not None:
            record["initialized_from"] = self.started_from
        if self.adversary is not None:
            record["discriminator"] = config.discriminator_config().to_dict()
        name = config.name or Path(str(config.style)).stem.replace("_", "-")
        info = ModelInfo(network=self.net.config, training=config.to_dict(), record=record, name=name)
        return {"model": save_model(self.net, config.out, info)}


def _loss_network(vgg: Optional[VGG19], layers: Sequence[str], device: torch.device) -> VGG19:
    """``vgg`` (or VGG19 with ImageNet weights) on ``device``, checked to reach the deepest of ``layers``."""
    deepest = deepest_layer(list(layers))
    if vgg is None:
        from painterly.features import load_vgg19

        vgg = load_vgg19(last_layer=deepest, device=device)
    elif deepest not in vgg.layer_names:
        raise PainterlyError(f"the VGG19 network stops at {vgg.last_layer}; build it up to {deepest}")
    return vgg.to(device)


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


def _discriminator_layers(config: TrainConfig) -> list[str]:
    """The VGG19 layer the discriminator judges, as a one-item list; empty for pixels or no discriminator."""
    return [config.discriminator_features] if config.adversarial and config.discriminator_features != "pixels" else []


def _adversarial_loss(adversary: Adversary | MultiScaleAdversary, fake: torch.Tensor, active: bool) -> torch.Tensor:
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
