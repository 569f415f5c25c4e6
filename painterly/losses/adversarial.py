"""Adversarial losses: hinge and least-squares GAN objectives, and the R1 gradient penalty.

Pure functions on the discriminator's raw outputs (logits), any shape, e.g. the ``(B, 1, h, w)``
patch map of a PatchGAN: every patch counts as one judgement and the loss is their mean.

* hinge (Lim & Ye 2017; Miyato et al. 2018, with spectral norm): the discriminator wants real
  logits ≥ 1 and fake ones ≤ −1; the generator raises the fake logits.
* least squares, "lsgan" (Mao et al. 2017; CycleGAN's choice): real → 1, fake → 0.
* R1 (Mescheder et al. 2018): the squared gradient norm of the discriminator on real inputs,
  which keeps it from growing steep around the data.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from painterly.errors import PainterlyError

#: The GAN objectives by name.
GAN_LOSSES = ("hinge", "lsgan")


def hinge_discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """``mean(relu(1 − real)) + mean(relu(1 + fake))``; a scalar ``≥ 0``.

    Args:
        real_logits, fake_logits: the discriminator's outputs on real and generated inputs,
            any shapes (e.g. ``(B, 1, h, w)``).

    Example:
        >>> hinge_discriminator_loss(torch.full((1, 1, 2, 2), 2.0), torch.full((1, 1, 2, 2), -3.0))
        tensor(0.)
    """
    return F.relu(1.0 - real_logits.float()).mean() + F.relu(1.0 + fake_logits.float()).mean()


def hinge_generator_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """``−mean(fake)``: the generator wants the discriminator to score its output high; a scalar."""
    return -fake_logits.float().mean()


def lsgan_discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """``(mean((real − 1)²) + mean(fake²)) / 2``; a scalar ``≥ 0`` (0 for a perfect judge)."""
    return 0.5 * ((real_logits.float() - 1.0).pow(2).mean() + fake_logits.float().pow(2).mean())


def lsgan_generator_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """``mean((fake − 1)²)``: the output should be scored as real; a scalar ``≥ 0``."""
    return (fake_logits.float() - 1.0).pow(2).mean()


def check_gan_loss(kind: str) -> str:
    """``kind`` if it names a GAN objective; else a PainterlyError listing them."""
    if kind not in GAN_LOSSES:
        raise PainterlyError(f"unknown GAN loss {kind!r}: use one of {', '.join(GAN_LOSSES)}")
    return kind


def discriminator_loss(kind: str, real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """The discriminator's loss of objective ``kind`` (``"hinge"`` or ``"lsgan"``); a scalar."""
    if check_gan_loss(kind) == "hinge":
        return hinge_discriminator_loss(real_logits, fake_logits)
    return lsgan_discriminator_loss(real_logits, fake_logits)


def generator_loss(kind: str, fake_logits: torch.Tensor) -> torch.Tensor:
    """The generator's loss of objective ``kind`` (``"hinge"`` or ``"lsgan"``); a scalar."""
    if check_gan_loss(kind) == "hinge":
        return hinge_generator_loss(fake_logits)
    return lsgan_generator_loss(fake_logits)


def r1_penalty(real_logits: torch.Tensor, real_inputs: torch.Tensor) -> torch.Tensor:
    """R1: the squared norm of ``∂ Σ real_logits / ∂ real_inputs`` per sample, averaged; a scalar.

    The graph is kept (``create_graph``), so the penalty can be added to the discriminator's loss;
    the usual weight is ``γ / 2``.

    Args:
        real_logits: the discriminator's outputs ``(B, …)`` on ``real_inputs``.
        real_inputs: ``(B, C, H, W)`` with ``requires_grad`` set before the discriminator ran.
    """
    if not real_inputs.requires_grad:
        raise PainterlyError("R1 needs the real inputs' gradient: call requires_grad_() on them first")
    (gradient,) = torch.autograd.grad(real_logits.float().sum(), real_inputs, create_graph=True)
    return gradient.float().pow(2).flatten(1).sum(1).mean()
