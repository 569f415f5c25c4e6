"""Quality metrics for stylized images: small pure functions on tensors.

Images are RGB ``(B, 3, H, W)`` in ``[0, 1]``. Functions that need CNN features take the
:class:`painterly.features.VGG19` (``vgg``) as their first argument; :func:`layer_distances`
works on the dicts that ``vgg(image, layers)`` returns instead, so a caller evaluating many
outputs computes the content and style features once.

What the numbers mean:

* content distance: mean squared VGG feature difference at ``relu4_2`` (Gatys et al. 2016);
  lower = closer to the content's structure.
* style distance: at ``relu1_1 … relu5_1``, either the Gram matrices (Gatys et al.) or the
  channel means and covariances; neither depends on the spatial size, so style and output can
  differ in size.
* normalized distances put those on a scale fixed by the inputs, layer by layer (so no layer
  dominates and the VGG weights' scale cancels out): style distance 0 = the style image itself,
  1 = the content image itself; content distance 0 = the content itself, 1 = the style image
  (resized to the content's size).
* SSIM of luminance (Wang et al. 2004) to the content: structure kept, colours ignored.
* colourfulness (Hasler & Süsstrunk 2003).
* temporal warping error for video, FID and ArtFID (Wright & Ommer 2022) for sets of images.
"""

from __future__ import annotations

import importlib.util
import warnings
from typing import Mapping, Sequence

import torch
import torch.nn.functional as F

from painterly.errors import PainterlyError
from painterly.losses import content_loss, gram_matrix
from painterly.ops.color import luminance
from painterly.ops.stats import channel_mean_cov, symmetric_matrix_power

#: Layers of the style distances (the five block openings, as in Gatys et al. 2016).
STYLE_LAYERS: tuple[str, ...] = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
#: Layers of the content distance.
CONTENT_LAYERS: tuple[str, ...] = ("relu4_2",)

Features = Mapping[str, torch.Tensor]


# --- feature-level distances ---------------------------------------------------------------------


def content_difference(features: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean squared difference of two feature maps ``(B, C, H, W)`` of one size; a scalar."""
    if features.shape[-2:] != target.shape[-2:]:
        raise PainterlyError(
            f"content distance needs images of the same size, got features {tuple(features.shape)} and "
            f"{tuple(target.shape)}: resize one image to the other first"
        )
    return content_loss(features, target)


def gram_difference(features: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean squared difference of the Gram matrices of ``(B, C, H, W)`` and ``(B or 1, C, H', W')``; a scalar."""
    return torch.mean((gram_matrix(features) - gram_matrix(target)) ** 2)


def meancov_difference(features: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """MSE of channel means plus MSE of channel covariances of ``(B, C, H, W)`` and ``(B or 1, C, H', W')``; a scalar."""
    mean, cov = channel_mean_cov(features)
    target_mean, target_cov = channel_mean_cov(target)
    return torch.mean((mean - target_mean) ** 2) + torch.mean((cov - target_cov) ** 2)


#: Per-layer differences by name: ``content`` for content, ``gram`` and ``meancov`` for style.
DIFFERENCES = {"content": content_difference, "gram": gram_difference, "meancov": meancov_difference}
STYLE_KINDS = ("gram", "meancov")


def layer_distances(features: Features, target: Features, layers: Sequence[str], kind: str) -> torch.Tensor:
    """One distance per layer between two feature dicts.

    Args:
        features, target: ``{layer: (B, C, H, W)}`` as ``vgg(image, layers)`` returns; for
            ``"gram"`` and ``"meancov"`` the two may differ in spatial size.
        kind: ``"content"``, ``"gram"`` or ``"meancov"``.

    Returns:
        ``(len(layers),)``, each ``≥ 0``; zeros for identical features; symmetric.
    """
    if kind not in DIFFERENCES:
        raise PainterlyError(f"unknown distance {kind!r}: use one of {', '.join(DIFFERENCES)}")
    return torch.stack([DIFFERENCES[kind](features[name], target[name]) for name in layers])


def normalized(distances: torch.Tensor, references: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """Mean over layers of ``distances / references``: each layer counts alike whatever its scale.

    Args:
        distances, references: ``(L,)`` per-layer distances, and those that count as 1.

    Returns:
        A scalar; ``0/0`` layers count as 0.
    """
    return (distances / references.clamp_min(eps)).mean()


# --- image-level distances (run the VGG) -------------------------------------------------------------


def content_distance(
    vgg, output: torch.Tensor, content: torch.Tensor, layers: Sequence[str] = CONTENT_LAYERS
) -> torch.Tensor:
    """Mean squared VGG feature difference between ``output`` and ``content``, averaged over ``layers``.

    Args:
        vgg: a :class:`painterly.features.VGG19` built at least up to the deepest of ``layers``.
        output, content: ``(B, 3, H, W)`` RGB in ``[0, 1]``, the same size.

    Returns:
        A scalar ``≥ 0``; ``0`` for identical images. Its scale depends on the VGG weights.
    """
    return layer_distances(vgg(output, layers), vgg(content, layers), layers, "content").mean()


def _check_style_kind(kind: str) -> str:
    if kind not in STYLE_KINDS:
        raise PainterlyError(f"unknown style distance {kind!r}: use one of {', '.join(STYLE_KINDS)}")
    return kind


def style_distance(
    vgg, output: torch.Tensor, style: torch.Tensor, *, kind: str = "gram", layers: Sequence[str] = STYLE_LAYERS
) -> torch.Tensor:
    """Style distance between ``output (B, 3, H, W)`` and ``style (1 or B, 3, H', W')``, RGB ``[0, 1]``.

    Args:
        vgg: a :class:`painterly.features.VGG19` built at least up to ``relu5_1``.
        kind: ``"gram"`` (Gram matrices, Gatys et al.) or ``"meancov"`` (channel means and
            covariances).

    Returns:
        A scalar ``≥ 0``, the mean over ``layers``; ``0`` for identical images, symmetric. Its
        scale depends on the VGG weights and the deepest layers dominate it: compare
        :func:`normalized_style_distance` across weights.
    """
    return layer_distances(vgg(output, layers), vgg(style, layers), layers, _check_style_kind(kind)).mean()


def gram_style_distance(vgg, output: torch.Tensor, style: torch.Tensor, layers: Sequence[str] = STYLE_LAYERS) -> torch.Tensor:
    """:func:`style_distance` on Gram matrices."""
    return style_distance(vgg, output, style, kind="gram", layers=layers)


def meancov_style_distance(vgg, output: torch.Tensor, style: torch.Tensor, layers: Sequence[str] = STYLE_LAYERS) -> torch.Tensor:
    """:func:`style_distance` on channel means and covariances."""
    return style_distance(vgg, output, style, kind="meancov", layers=layers)


def normalized_style_distance(
    vgg,
    output: torch.Tensor,
    content: torch.Tensor,
    style: torch.Tensor,
    *,
    kind: str = "gram",
    layers: Sequence[str] = STYLE_LAYERS,
) -> torch.Tensor:
    """Style distance of ``output`` to ``style`` relative to that of ``content``, per layer, averaged.

    ``mean over layers l of d_l(output, style) / d_l(content, style)``.

    Args:
        vgg: a :class:`painterly.features.VGG19` built at least up to ``relu5_1``.
        output, content, style: ``(1, 3, H, W)`` RGB in ``[0, 1]``; sizes may all differ.
        kind: ``"gram"`` or ``"meancov"``.

    Returns:
        A scalar: ``0`` when ``output`` is the style image, ``1`` when it is the content image;
        a stylized output usually lies between (lower = more of the style).
    """
    _check_style_kind(kind)
    style_features = vgg(style, layers)
    return normalized(
        layer_distances(vgg(output, layers), style_features, layers, kind),
        layer_distances(vgg(content, layers), style_features, layers, kind),
    )


def resize_to(image: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """``(B, C, H, W)`` resized to ``size = (H', W')`` (bilinear, antialiased); unchanged if already that size."""
    if tuple(image.shape[-2:]) == tuple(size):
        return image
    return F.interpolate(image, size=size, mode="bilinear", align_corners=False, antialias=True).clamp(0, 1)


def normalized_content_distance(
    vgg,
    output: torch.Tensor,
    content: torch.Tensor,
    style: torch.Tensor,
    *,
    layers: Sequence[str] = CONTENT_LAYERS,
) -> torch.Tensor:
    """Content distance of ``output`` relative to that of the style image (resized to the content's size).

    Args:
        vgg: a :class:`painterly.features.VGG19` built at least up to the deepest of ``layers``.
        output, content: ``(1, 3, H, W)`` RGB in ``[0, 1]``, the same size.
        style: ``(1, 3, H', W')`` RGB in ``[0, 1]``; resized to ``(H, W)`` here.

    Returns:
        A scalar: ``0`` when ``output`` is the content image, ``1`` when it is the (resized) style
        image; usually well below 1 for a stylized output.
    """
    content_features = vgg(content, layers)
    style_features = vgg(resize_to(style, tuple(content.shape[-2:])), layers)
    return normalized(
        layer_distances(vgg(output, layers), content_features, layers, "content"),
        layer_distances(style_features, content_features, layers, "content"),
    )


# --- pixel metrics ----------------------------------------------------------------------------------


def gaussian_window(size: int = 11, sigma: float = 1.5, *, device=None, dtype=torch.float32) -> torch.Tensor:
    """A normalized 2-D Gaussian ``(size, size)`` summing to 1."""
    coordinates = torch.arange(size, device=device, dtype=dtype) - (size - 1) / 2
    line = torch.exp(-(coordinates**2) / (2 * sigma**2))
    line = line / line.sum()
    return line[:, None] * line[None, :]


def ssim(
    image: torch.Tensor,
    reference: torch.Tensor,
    *,
    window_size: int = 11,
    sigma: float = 1.5,
    data_range: float = 1.0,
    k1: float = 0.01,
    k2: float = 0.03,
) -> torch.Tensor:
    """Structural similarity (Wang et al. 2004) with a Gaussian window, averaged per image.

    Args:
        image, reference: ``(B, C, H, W)`` in ``[0, data_range]``, the same shape; channels are
            compared separately and averaged.
        window_size, sigma: the Gaussian window (11 and 1.5 as in the paper); shrunk to the image
            when the image is smaller. Only positions where the window fits are used (no padding).
        k1, k2: the paper's stabilizing constants, ``C1 = (k1 L)²``, ``C2 = (k2 L)²``.

    Returns:
        ``(B,)`` in ``[-1, 1]``; ``1`` for identical images, symmetric in its arguments.
    """
    if image.shape != reference.shape:
        raise PainterlyError(
            f"SSIM needs images of the same shape, got {tuple(image.shape)} and {tuple(reference.shape)}: "
            "resize one to the other first"
        )
    image, reference = image.float(), reference.float()
    channels = image.shape[1]
    size = min(window_size, *image.shape[-2:])
    window = gaussian_window(size, sigma, device=image.device).expand(channels, 1, size, size)

    def blur(x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, window, groups=channels)

    mu_x, mu_y = blur(image), blur(reference)
    var_x = blur(image * image) - mu_x**2
    var_y = blur(reference * reference) - mu_y**2
    cov_xy = blur(image * reference) - mu_x * mu_y
    c1, c2 = (k1 * data_range) ** 2, (k2 * data_range) ** 2
    ssim_map = ((2 * mu_x * mu_y + c1) * (2 * cov_xy + c2)) / ((mu_x**2 + mu_y**2 + c1) * (var_x + var_y + c2))
    return ssim_map.flatten(1).mean(dim=1)


def ssim_luminance(image: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """SSIM of the luminance (Y of YIQ, BT.601 weights) of two ``(B, 3, H, W)`` RGB ``[0, 1]`` images.

    Returns ``(B,)``; 1 = the same structure. Colour changes that keep the luma (hue shifts, colour transfer) barely change it.
    """
    return ssim(luminance(image), luminance(reference))


def colourfulness(image: torch.Tensor) -> torch.Tensor:
    """Colourfulness of Hasler & Süsstrunk (2003) on the 0-255 scale of the paper.

    ``M = sqrt(σ_rg² + σ_yb²) + 0.3 sqrt(μ_rg² + μ_yb²)`` with ``rg = R - G`` and
    ``yb = (R + G) / 2 - B``. The paper reads about 0 as grey, 15 slightly, 33 moderately,
    45 averagely, 59 quite, 82 highly and over 109 extremely colourful.

    Args:
        image: ``(B, 3, H, W)`` RGB in ``[0, 1]``.

    Returns:
        ``(B,)``, ``≥ 0``; ``0`` for any grey image.
    """
    rgb = image.float() * 255.0
    red, green, blue = rgb[:, 0].flatten(1), rgb[:, 1].flatten(1), rgb[:, 2].flatten(1)
    rg = red - green
    yb = 0.5 * (red + green) - blue
    spread = torch.sqrt(rg.var(dim=1, unbiased=False) + yb.var(dim=1, unbiased=False))
    centre = torch.sqrt(rg.mean(dim=1) ** 2 + yb.mean(dim=1) ** 2)
    return spread + 0.3 * centre


def temporal_warping_error(frames: torch.Tensor, warped_previous: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    """Mean masked squared difference between stylized frames and the previous ones warped onto them.

    The caller warps stylized frame ``t - 1`` onto frame ``t`` with the optical flow of the
    *input* video and marks where the flow is reliable (not occluded, inside the frame).

    Args:
        frames: ``(T, C, H, W)`` stylized frames ``1 … T`` in ``[0, 1]``.
        warped_previous: ``(T, C, H, W)`` stylized frames ``0 … T-1`` warped onto them.
        masks: ``(T, 1, H, W)`` in ``[0, 1]``, 1 where the warp is valid.

    Returns:
        A scalar ``≥ 0`` (per pixel and channel); ``0`` for a perfectly stable video and ``0``
        when the masks are empty.
    """
    if frames.shape != warped_previous.shape or masks.shape[0] != frames.shape[0] or masks.shape[-2:] != frames.shape[-2:]:
        raise PainterlyError(
            f"temporal warping error needs frames {tuple(frames.shape)}, warped frames of the same shape and "
            f"(T, 1, H, W) masks, got {tuple(warped_previous.shape)} and {tuple(masks.shape)}"
        )
    masks = masks.float()
    squared = (frames.float() - warped_previous.float()) ** 2 * masks
    weight = masks.sum() * frames.shape[1]
    return squared.sum() / weight.clamp_min(1.0)


# --- set-level metrics: FID and ArtFID -------------------------------------------------------------


def feature_statistics(features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean ``(D,)`` and sample covariance ``(D, D)`` of ``(N, D)`` features, in float64.

    One feature vector gives a zero covariance.
    """
    features = features.double().reshape(features.shape[0], -1)
    mean = features.mean(dim=0)
    if features.shape[0] < 2:
        return mean, torch.zeros(features.shape[1], features.shape[1], dtype=torch.float64, device=features.device)
    return mean, torch.cov(features.T).reshape(features.shape[1], features.shape[1])


def _trace_sqrt_product_torch(sigma1: torch.Tensor, sigma2: torch.Tensor) -> torch.Tensor:
    # tr sqrt(Σ1 Σ2) = tr sqrt(Σ1^½ Σ2 Σ1^½); the inner matrix is symmetric PSD, so eigh is stable
    # and its tiny negative eigenvalues (round-off) can be clamped to zero.
    root1 = symmetric_matrix_power(sigma1, 0.5)
    inner = root1 @ sigma2 @ root1
    inner = (inner + inner.T) / 2
    return torch.linalg.eigvalsh(inner).clamp_min(0).sqrt().sum()


def _trace_sqrt_product_scipy(sigma1: torch.Tensor, sigma2: torch.Tensor) -> torch.Tensor:
    import numpy as np
    from scipy import linalg

    s1, s2 = sigma1.cpu().numpy(), sigma2.cpu().numpy()
    with warnings.catch_warnings():
        # Fewer samples than dimensions make the product singular; scipy warns, the trace is still fine.
        warnings.simplefilter("ignore")
        root = linalg.sqrtm(s1 @ s2)
        if not np.isfinite(root).all():
            # Nudge both covariances off singularity, as the reference FID code does.
            offset = np.eye(s1.shape[0]) * 1e-6
            root = linalg.sqrtm((s1 + offset) @ (s2 + offset))
    return torch.tensor(float(np.trace(root).real), dtype=torch.float64)


def frechet_distance(
    mu1: torch.Tensor, sigma1: torch.Tensor, mu2: torch.Tensor, sigma2: torch.Tensor, *, backend: str = "auto"
) -> float:
    """Fréchet distance between two Gaussians ``N(μ1, Σ1)`` and ``N(μ2, Σ2)``.

    ``d² = |μ1 - μ2|² + tr(Σ1 + Σ2 - 2 (Σ1 Σ2)^½)`` (Dowson & Landau 1982), the formula of FID.

    Args:
        mu1, mu2: ``(D,)``. sigma1, sigma2: ``(D, D)`` symmetric positive semi-definite.
        backend: ``"scipy"`` (``scipy.linalg.sqrtm``, as the reference FID code), ``"torch"``
            (eigen-decomposition, no extra dependency) or ``"auto"`` (scipy when installed).

    Returns:
        A float ``≥ 0`` (up to round-off); ``0`` for identical Gaussians.
    """
    mu1, mu2, sigma1, sigma2 = (torch.as_tensor(x).double().cpu() for x in (mu1, mu2, sigma1, sigma2))
    if mu1.shape != mu2.shape or sigma1.shape != sigma2.shape or sigma1.shape != (mu1.shape[0], mu1.shape[0]):
        raise PainterlyError(
            f"Fréchet distance needs means (D,) and covariances (D, D) of one size, got {tuple(mu1.shape)}, "
            f"{tuple(sigma1.shape)}, {tuple(mu2.shape)}, {tuple(sigma2.shape)}"
        )
    if backend == "auto":
        backend = "scipy" if importlib.util.find_spec("scipy") is not None else "torch"
    if backend == "scipy":
        trace_root = _trace_sqrt_product_scipy(sigma1, sigma2)
    elif backend == "torch":
        trace_root = _trace_sqrt_product_torch(sigma1, sigma2)
    else:
        raise PainterlyError(f"unknown backend {backend!r}: use auto, scipy or torch")
    value = ((mu1 - mu2) ** 2).sum() + torch.trace(sigma1) + torch.trace(sigma2) - 2 * trace_root
    return float(value)


def fid_from_features(features: torch.Tensor, reference_features: torch.Tensor, *, backend: str = "auto") -> float:
    """FID between two sets of feature vectors ``(N, D)`` and ``(M, D)``; ``0`` for identical sets.

    FID is biased upward for small sets: compare numbers computed on sets of the same size.
    """
    return frechet_distance(*feature_statistics(features), *feature_statistics(reference_features), backend=backend)


def art_fid(fid: float, content_distance: float) -> float:
    """ArtFID of Wright & Ommer (2022): ``(1 + content distance) · (1 + FID)``; lower is better.

    The paper's content term is the mean LPIPS between contents and stylized images. Painterly
    passes the mean *normalized VGG content distance* (0 = the content, 1 = the style image)
    instead, which has a similar 0-1 range but other values: compare ArtFIDs computed here with
    each other, not with papers.
    """
    return (1.0 + content_distance) * (1.0 + fid)
