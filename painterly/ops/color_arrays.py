"""The colour finish of a painted image on numpy arrays: :func:`painterly.ops.color.finish_stylized`
for a run that never loads torch (a photo through onnxruntime).

Each function mirrors its tensor twin in :mod:`painterly.ops.color` step by step, in the same
precisions (images in float32, the 3 × 3 colour matrices in float64), so the two agree to float
rounding. Arrays are ``(B, 3, H, W)`` RGB in ``[0, 1]``.
"""

from __future__ import annotations

from typing import Optional

import numpy as np

from painterly.ops.colorspace import RGB_TO_YIQ, YIQ_TO_RGB


def _apply_matrix(matrix: tuple, image: np.ndarray) -> np.ndarray:
    """``(3, 3)`` matrix times every pixel of ``image: (B, 3, H, W)``, in ``image``'s dtype."""
    return np.einsum("ij,bjhw->bihw", np.asarray(matrix, dtype=image.dtype), image)


def transfer_luminance(stylized: np.ndarray, content: np.ndarray) -> np.ndarray:
    """The stylized image's luminance with the content's colour; ``(B, 3, H, W)`` float32 → the same, clamped to ``[0, 1]``."""
    stylized_yiq = _apply_matrix(RGB_TO_YIQ, stylized.astype(np.float32))
    content_yiq = np.broadcast_to(_apply_matrix(RGB_TO_YIQ, content.astype(np.float32)), stylized_yiq.shape)
    mixed = np.concatenate([stylized_yiq[:, :1], content_yiq[:, 1:]], axis=1)
    return np.clip(_apply_matrix(YIQ_TO_RGB, mixed), 0, 1)


def _mean_cov(image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(B, C, H, W)`` → ``(B, C)`` channel means and ``(B, C, C)`` covariances (normalized by ``H W``)."""
    flat = image.reshape(image.shape[0], image.shape[1], -1)
    mean = flat.mean(axis=2)
    centred = flat - mean[:, :, None]
    return mean, centred @ centred.transpose(0, 2, 1) / flat.shape[2]


def _matrix_power(matrix: np.ndarray, power: float) -> np.ndarray:
    """``matrix ** power`` for symmetric positive semi-definite ``(..., C, C)``, eigenvalues clamped as
    :func:`painterly.ops.stats.symmetric_matrix_power` clamps them."""
    eigenvalues, eigenvectors = np.linalg.eigh(matrix)
    scaled = np.clip(eigenvalues, 0 if power > 0 else np.finfo(matrix.dtype).tiny, None) ** power
    return eigenvectors @ (scaled[..., :, None] * np.swapaxes(eigenvectors, -1, -2))


def match_color(source: np.ndarray, target: np.ndarray, eps: float = 1e-5) -> np.ndarray:
    """``source`` recoloured to ``target``'s colour mean and covariance; ``(B, 3, H, W)`` float32 → the
    same, clamped to ``[0, 1]`` (see :func:`painterly.ops.color.match_color`)."""
    source = source.astype(np.float32)
    source_mean, source_cov = _mean_cov(source)
    target_mean, target_cov = _mean_cov(target.astype(np.float32))
    regularized = source_cov.astype(np.float64) + eps * np.eye(3)
    transform = _matrix_power(target_cov.astype(np.float64), 0.5) @ _matrix_power(regularized, -0.5)
    centred = source - source_mean[..., None, None]
    recoloured = np.einsum("bij,bjhw->bihw", transform.astype(np.float32), centred) + target_mean[..., None, None]
    return np.clip(recoloured, 0, 1)


def finish_stylized(stylized: np.ndarray, content: np.ndarray, strength: float, preserve_color: Optional[str]) -> np.ndarray:
    """Colour preservation, then the pixel-space blend with the photo.

    Args:
        stylized, content: ``(B, 3, H, W)`` float32 in ``[0, 1]``, same size.

    Returns:
        ``(B, 3, H, W)`` float32 in ``[0, 1]``.

    Example:
        >>> photo = np.full((1, 3, 2, 2), 0.5, np.float32)
        >>> float(finish_stylized(np.zeros_like(photo), photo, 0.5, None).max())
        0.25
    """
    if preserve_color == "luminance":
        stylized = transfer_luminance(stylized, content)
    elif preserve_color == "histogram":
        stylized = match_color(stylized, content)
    if strength < 1:
        stylized = content + np.float32(strength) * (stylized - content)  # torch.lerp's formula
    return np.clip(stylized, 0, 1).astype(np.float32)
