"""The discriminator's side of adversarial training, shared by the style trainer and CycleGAN.

:class:`Adversary` holds a :class:`~painterly.models.discriminator.PatchDiscriminator`, its own
optimizer (the two time-scale rule: its own learning rate) and its update step; the training
loops own everything else. :func:`style_patches` draws the "real" patches of a painting, as a
pure function of a seeded generator so that a resumed run draws the same ones.
"""

from __future__ import annotations

from typing import Any, Optional

import torch

from painterly.losses.adversarial import check_gan_loss, discriminator_loss, generator_loss, r1_penalty
from painterly.models.discriminator import DiscriminatorConfig, PatchDiscriminator
from painterly.train.distributed import DistributedInfo, average_gradients

#: Adam's betas in GAN training (pix2pix, CycleGAN): a short momentum suits a moving target.
GAN_BETAS = (0.5, 0.999)


def style_patches(painting: torch.Tensor, count: int, size: int, generator: torch.Generator) -> torch.Tensor:
    """``count`` random ``size × size`` patches of ``painting``, each flipped left-right at random.

    Args:
        painting: ``(1, 3, H, W)`` in ``[0, 1]`` with ``H, W ≥ size`` (see :func:`fit_painting`).
        generator: a CPU generator; equal seeds give equal patches.

    Returns:
        ``(count, 3, size, size)`` on the painting's device.
    """
    height, width = painting.shape[-2:]
    patches = []
    for _ in range(count):
        top = int(torch.randint(0, height - size + 1, (), generator=generator))
        left = int(torch.randint(0, width - size + 1, (), generator=generator))
        patch = painting[0, :, top : top + size, left : left + size]
        if torch.rand((), generator=generator).item() < 0.5:
            patch = patch.flip(-1)
        patches.append(patch)
    return torch.stack(patches)


def fit_painting(painting: torch.Tensor, size: int) -> torch.Tensor:
    """``(1, 3, H, W)`` enlarged (bicubic) so its short side is at least ``size``; else unchanged."""
    height, width = painting.shape[-2:]
    if min(height, width) >= size:
        return painting
    scale = size / min(height, width)
    new_size = (max(size, round(height * scale)), max(size, round(width * scale)))
    return torch.nn.functional.interpolate(painting, size=new_size, mode="bicubic", align_corners=False).clamp(0, 1)


class Adversary:
    """A discriminator, its Adam optimizer and its update.

    Args:
        config: the discriminator's shape.
        gan_loss: ``"hinge"`` or ``"lsgan"``.
        learning_rate: the discriminator's step size.
        r1_weight: ``γ`` of the R1 penalty (``γ / 2 · R1`` is added; 0: off).
        device: where the discriminator lives.
        info: the DDP job; gradients are averaged over its processes by hand (no DDP wrapper,
            which cannot take R1's double backward).
    """

    def __init__(
        self,
        config: DiscriminatorConfig,
        *,
        gan_loss: str,
        learning_rate: float,
        r1_weight: float = 0.0,
        device: torch.device | str = "cpu",
        info: Optional[DistributedInfo] = None,
    ):
        self.gan_loss = check_gan_loss(gan_loss)
        self.r1_weight = r1_weight
        self.info = info or DistributedInfo()
        self.disc = PatchDiscriminator(config).to(device)
        self.optimizer = torch.optim.Adam(self.disc.parameters(), lr=learning_rate, betas=GAN_BETAS)

    def generator_loss(self, fake: torch.Tensor) -> torch.Tensor:
        """The generator's adversarial loss on its output ``fake`` (gradients reach ``fake`` only); a scalar."""
        self.disc.requires_grad_(False)
        return generator_loss(self.gan_loss, self.disc(fake.float()))

    def step(self, real: torch.Tensor, fake: torch.Tensor) -> dict[str, float]:
        """One update on ``real`` and (detached) ``fake`` inputs, ``(B, C, H, W)`` each.

        Returns:
            ``{"discriminator": loss, "r1": penalty}`` (``r1`` only when its weight is set).
        """
        self.disc.requires_grad_(True)
        real = real.detach().float()
        if self.r1_weight > 0:
            real.requires_grad_(True)
        real_logits = self.disc(real)
        loss = discriminator_loss(self.gan_loss, real_logits, self.disc(fake.detach().float()))
        values = {"discriminator": float(loss.detach())}
        if self.r1_weight > 0:
            penalty = r1_penalty(real_logits, real)
            loss = loss + 0.5 * self.r1_weight * penalty
            values["r1"] = float(penalty.detach())
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        average_gradients(self.disc, self.info)
        self.optimizer.step()
        return values

    def set_learning_rate(self, learning_rate: float) -> None:
        for group in self.optimizer.param_groups:
            group["lr"] = learning_rate

    def state_dict(self) -> dict[str, Any]:
        """Weights (with spectral-norm vectors) and optimizer state, on the CPU, for checkpoints."""
        weights = {name: value.detach().cpu().clone() for name, value in self.disc.state_dict().items()}
        return {"weights": weights, "optimizer": self.optimizer.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.disc.load_state_dict(state["weights"])
        self.optimizer.load_state_dict(state["optimizer"])


def at_scale(images: torch.Tensor, scale: int) -> torch.Tensor:
    """``(B, C, H, W)`` averaged down by ``2^scale`` (``scale`` 0: unchanged): ``(B, C, H / 2^s, W / 2^s)``."""
    return images if scale == 0 else torch.nn.functional.avg_pool2d(images, 2**scale)


class MultiScaleAdversary:
    """Discriminators of one shape at ``scales`` sizes of the same inputs (pix2pixHD): the first
    judges them as they are, each next one at half the size of the one before, so together they
    see single strokes and the way strokes are laid together. Same interface as :class:`Adversary`;
    the losses are the means over the scales."""

    def __init__(self, scales: int, config: DiscriminatorConfig, **options: Any):
        self.judges = [Adversary(config, **options) for _ in range(scales)]

    def generator_loss(self, fake: torch.Tensor) -> torch.Tensor:
        losses = [judge.generator_loss(at_scale(fake, index)) for index, judge in enumerate(self.judges)]
        return torch.stack(losses).mean()

    def step(self, real: torch.Tensor, fake: torch.Tensor) -> dict[str, float]:
        steps = [judge.step(at_scale(real, index), at_scale(fake, index)) for index, judge in enumerate(self.judges)]
        return {name: sum(values[name] for values in steps) / len(steps) for name in steps[0]}

    def set_learning_rate(self, learning_rate: float) -> None:
        for judge in self.judges:
            judge.set_learning_rate(learning_rate)

    def state_dict(self) -> dict[str, Any]:
        return {"scales": [judge.state_dict() for judge in self.judges]}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for judge, own in zip(self.judges, state["scales"], strict=True):
            judge.load_state_dict(own)


def make_adversary(scales: int, config: DiscriminatorConfig, **options: Any) -> Adversary | MultiScaleAdversary:
    """One :class:`Adversary`, or a :class:`MultiScaleAdversary` for ``scales`` > 1."""
    return Adversary(config, **options) if scales == 1 else MultiScaleAdversary(scales, config, **options)
