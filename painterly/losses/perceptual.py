"""Perceptual losses on VGG features: content, Gram matrix, total variation.

All functions are pure: tensors in, scalar tensor out. Features are ``(B, C, H, W)``.
"""

from __future__ import annotations

import torch


def gram_matrix(features: torch.Tensor, *, half_products: bool = False) -> torch.Tensor:
    """Channel co-occurrence of feature maps, normalized by the number of positions.

    Args:
        features: ``(B, C, H, W)``.
        half_products: multiply bf16/fp16 features as they are instead of in float32. The matrix
            kernels of CPUs and GPUs accumulate half-precision products in float32 and round only
            the result (about 0.1 % relative error); on a CPU with bf16 units this is ~10× faster,
            and in the optimize method the Gram matrices' products and their backward took a
            quarter of every step.

    Returns:
        ``(B, C, C)``, float32 for half-precision features: ``F Fᵀ / (H W)``, so the value does not
        grow with image size.

    Example:
        >>> gram_matrix(torch.ones(1, 2, 3, 3))
        tensor([[[1., 1.],
                 [1., 1.]]])
    """
    batch, channels, height, width = features.shape
    if features.dtype in (torch.float16, torch.bfloat16) and not half_products:
        # Multiplied in float32 by default: the safe choice wherever a kernel might sum in half precision.
        features = features.float()
    if channels > 1 and features.is_contiguous(memory_format=torch.channels_last) and not features.is_contiguous():
        # Channels-last features are (B, H W, C) in memory: multiply them so, without a copy.
        positions = features.permute(0, 2, 3, 1).reshape(batch, height * width, channels)
    else:
        positions = features.reshape(batch, channels, height * width).transpose(1, 2)
    gram = _SymmetricGram.apply(positions)
    if gram.dtype in (torch.float16, torch.bfloat16):
        gram = gram.float()
    return gram / (height * width)


class _SymmetricGram(torch.autograd.Function):
    """``Pᵀ P`` of ``(B, N, C)`` positions, ``(B, C, C)``, with a one-product backward pass.

    Autograd's own backward of ``bmm(Pᵀ, P)`` takes two products and a sum (one for each factor);
    the matrix is symmetric in ``P``, so ``∂L/∂P = P (G' + G'ᵀ)`` needs one. The Gram matrices'
    backward was a tenth of an optimization step; this halves it.
    """

    @staticmethod
    def forward(ctx, positions: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        ctx.save_for_backward(positions)
        return torch.bmm(positions.transpose(1, 2), positions)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        (positions,) = ctx.saved_tensors
        symmetric = (grad + grad.transpose(1, 2)).to(positions.dtype)
        if positions.transpose(1, 2).is_contiguous():
            # (B, C, N) in memory (channels-first features): give the gradient that layout, so no copy
            # is needed on its way back to the features. (P S)ᵀ = S Pᵀ, S being symmetric.
            return torch.bmm(symmetric, positions.transpose(1, 2)).transpose(1, 2)
        return torch.bmm(positions, symmetric)


def content_loss(features: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean squared difference of two ``(B, C, H, W)`` feature maps; a scalar."""
    return torch.mean((features.float() - target.float()) ** 2)


def total_variation(image: torch.Tensor) -> torch.Tensor:
    """Mean absolute difference between neighbouring pixels of ``(B, C, H, W)``; a scalar."""
    horizontal = (image[..., :, 1:] - image[..., :, :-1]).abs().mean()
    vertical = (image[..., 1:, :] - image[..., :-1, :]).abs().mean()
    return horizontal + vertical
