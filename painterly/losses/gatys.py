"""The Gatys et al. losses as the optimization method computes them: relative content and Gram style
losses against targets measured once per scale, and the temporal loss of video frames."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import torch

from painterly.devices import autocast
from painterly.features.vgg import VGG19
from painterly.losses.perceptual import gram_matrix


@dataclass
class StyleTargets:
    """Weighted Gram matrices of the paintings at one scale: ``{layer: (1, C, C)}``."""

    grams: dict[str, torch.Tensor]
    energy: dict[str, torch.Tensor] = field(default_factory=dict)


def style_targets(
    vgg: VGG19,
    styles: Sequence[tuple[torch.Tensor, float]],
    layers: Sequence[str],
    dtype: torch.dtype,
) -> StyleTargets:
    """Blend the Gram matrices of several paintings by weight.

    Args:
        styles: ``(1, 3, H_i, W_i)`` images in ``[0, 1]`` with weights summing to 1.
    """
    grams: dict[str, torch.Tensor] = {}
    with torch.no_grad():
        for image, weight in styles:
            with autocast(image.device, dtype):
                features = vgg(image, layers)
            for layer in layers:
                gram = gram_matrix(features[layer]) * weight
                grams[layer] = grams[layer] + gram if layer in grams else gram
    energy = {layer: gram.pow(2).mean().clamp_min(1e-12) for layer, gram in grams.items()}
    return StyleTargets(grams, energy)


def style_content_losses(
    features: dict[str, torch.Tensor],
    content_targets: dict[str, torch.Tensor],
    targets: StyleTargets,
    style_layer_weights: dict[str, float],
    *,
    half_products: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Relative content and style losses of one forward pass.

    Content: ``Σ ‖F − F_t‖² / ‖F_t‖²`` averaged over content layers. Style: per layer
    ``‖G − G_t‖² / ‖G_t‖²``, weighted by ``style_layer_weights`` (which sum to 1).
    ``half_products``: see :func:`painterly.losses.perceptual.gram_matrix`.

    Returns:
        ``(content, style)`` scalars.
    """
    content = sum(
        (features[layer].float() - target).pow(2).mean() / target.pow(2).mean().clamp_min(1e-12)
        for layer, target in content_targets.items()
    ) / max(1, len(content_targets))
    style = sum(
        weight * (gram_matrix(features[layer], half_products=half_products) - targets.grams[layer]).pow(2).mean()
        / targets.energy[layer]
        for layer, weight in style_layer_weights.items()
    )
    return content, style  # type: ignore[return-value]


def temporal_loss(image: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean squared difference of ``(1, 3, H, W)`` images over the pixels where the ``(1, 1, H, W)`` mask is set."""
    return ((image - target).pow(2) * mask).sum() / (mask.sum() * image.shape[1]).clamp_min(1.0)
