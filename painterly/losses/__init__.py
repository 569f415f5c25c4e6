"""Perceptual losses on CNN features."""

from painterly.losses.perceptual import (
    channel_mean_cov,
    content_loss,
    gram_loss,
    gram_matrix,
    mean_std,
    mean_std_loss,
    symmetric_matrix_power,
    total_variation,
)

__all__ = [
    "channel_mean_cov",
    "symmetric_matrix_power",
    "content_loss", "gram_loss", "gram_matrix", "mean_std", "mean_std_loss", "total_variation"]
