"""Losses: perceptual (content, Gram, total variation), the Gatys optimization losses, adversarial."""

from painterly.losses.gatys import StyleTargets, style_content_losses, style_targets, temporal_loss
from painterly.losses.perceptual import content_loss, gram_matrix, total_variation

__all__ = ["StyleTargets", "content_loss", "gram_matrix", "style_content_losses", "style_targets", "temporal_loss",
           "total_variation"]
