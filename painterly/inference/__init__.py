"""Running trained networks on images of any size."""

from painterly.inference.tiling import blend_weights, stylize_tiled, tile_ranges

__all__ = ["blend_weights", "stylize_tiled", "tile_ranges"]
