"""Perceptual losses on CNN features."""

from painterly.losses.perceptual import (
    content_loss,
    gram_loss,
    gram_matrix,
    mean_std,
    mean_std_loss,
    total_variation,
)

__all__ = ["content_loss", "gram_loss", "gram_matrix", "mean_std", "mean_std_loss", "total_variation"]
