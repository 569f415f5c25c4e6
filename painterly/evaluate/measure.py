"""Measuring one output: its file name, the seconds and memory it took, and its metrics against
its (content, style) pair. The runner and the video rows of an evaluation both use these."""

from __future__ import annotations

import contextlib
import ctypes
import functools
import math
import os
import re
import resource
import sys
import threading
import time
from dataclasses import dataclass
from typing import Iterator, Optional

import torch

from painterly.errors import PainterlyError
from painterly.evaluate import metrics

#: Separates content stem, style stem and method in output file names.
NAME_SEPARATOR = "__"
#: The VGG19 layer whose per-image mean the Fréchet distances compare (one of the style layers, so
#: :func:`measure_output`'s pass gives it at no cost).
FRECHET_LAYER = "relu5_1"
_SAFE_LABEL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]*$")


def output_name(content: str, style: str, method: str, suffix: str = ".png") -> str:
    """The file name of one output: ``<content>__<style>__<method><suffix>``."""
    return f"{content}{NAME_SEPARATOR}{style}{NAME_SEPARATOR}{method}{suffix}"


def check_method_label(label: str) -> str:
    """``label`` if it can be part of a file name and a report column; else a PainterlyError."""
    if not _SAFE_LABEL.match(label) or NAME_SEPARATOR in label:
        raise PainterlyError(
            f"method label {label!r} cannot name output files: use letters, digits, '.', '-', '+' or '_' "
            f"(no '{NAME_SEPARATOR}')"
        )
    return label


# --- time and memory -------------------------------------------------------------------------------


class _MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost")]  # fmt: skip


@functools.lru_cache(maxsize=1)  # the C library does not change while the process runs
def _mallinfo2():
    """glibc's ``mallinfo2`` (glibc 2.33+), or None on other C libraries."""
    try:
        function = ctypes.CDLL(None).mallinfo2
    except (AttributeError, OSError):
        return None
    function.restype = _MallInfo2
    return function


def _memory_in_use_bytes() -> Optional[int]:
    """Memory this process uses now: bytes malloc'd and not freed (glibc), else the resident size."""
    mallinfo2 = _mallinfo2()
    if mallinfo2 is not None:
        info = mallinfo2()
        return int(info.uordblks + info.hblkhd)
    try:
        import psutil

        return int(psutil.Process().memory_info().rss)
    except ImportError:
        pass
    try:
        with open("/proc/self/statm", "rb") as handle:
            return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError, AttributeError):
        return None


def _max_rss_bytes() -> int:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024  # bytes on macOS, KiB elsewhere


@dataclass
class Measurement:
    seconds: float = math.nan
    peak_memory_mb: float = math.nan


@contextlib.contextmanager
def measure(device: torch.device, interval: float = 0.005) -> Iterator[Measurement]:
    """Time a block and measure the extra memory it needed at its peak, in MiB.

    On CUDA: ``torch.cuda.max_memory_allocated`` over the block minus what was allocated
    before. On the CPU: the peak of the memory the process has allocated, sampled every
    ``interval`` seconds, minus its value before (``tracemalloc`` would not see torch's
    allocations). With glibc that is malloc's bytes in use (``mallinfo2``), which freed memory
    leaves; elsewhere the resident size (psutil or /proc), which memory freed by earlier work
    and reused can hide; where neither can be read, the rise of ``ru_maxrss``.
    """
    result = Measurement()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        before = torch.cuda.memory_allocated(device)
        start = time.perf_counter()
        yield result
        torch.cuda.synchronize(device)
        result.seconds = time.perf_counter() - start
        result.peak_memory_mb = (torch.cuda.max_memory_allocated(device) - before) / 2**20
        return
    before = _memory_in_use_bytes()
    if before is None:
        max_before = _max_rss_bytes()
        start = time.perf_counter()
        yield result
        result.seconds = time.perf_counter() - start
        result.peak_memory_mb = (_max_rss_bytes() - max_before) / 2**20
        return
    peak = [before]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(interval):
            peak[0] = max(peak[0], _memory_in_use_bytes() or 0)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    start = time.perf_counter()
    try:
        yield result
    finally:
        result.seconds = time.perf_counter() - start
        done.set()
        sampler.join()
    peak[0] = max(peak[0], _memory_in_use_bytes() or 0)
    result.peak_memory_mb = (peak[0] - before) / 2**20


# --- metrics of one output -------------------------------------------------------------------------


@dataclass
class PairReference:
    """VGG features of one (content, style) pair and the per-layer distances that count as 1."""

    content: torch.Tensor
    content_features: dict[str, torch.Tensor]
    style_features: dict[str, torch.Tensor]
    scales: dict[str, torch.Tensor]


#: (record field prefix, distance kind, layers) of the VGG distances each output gets.
_DISTANCES = (
    ("content_distance", "content", metrics.CONTENT_LAYERS),
    ("style_gram", "gram", metrics.STYLE_LAYERS),
    ("style_meancov", "meancov", metrics.STYLE_LAYERS),
)


def pair_reference(vgg, content: torch.Tensor, style: torch.Tensor) -> PairReference:
    """Features of ``content (1, 3, H, W)`` and ``style (1, 3, H', W')`` and their mutual distances."""
    content_features = vgg(content, metrics.STYLE_LAYERS + metrics.CONTENT_LAYERS)
    style_features = vgg(style, metrics.STYLE_LAYERS)
    resized_style = vgg(metrics.resize_to(style, tuple(content.shape[-2:])), metrics.CONTENT_LAYERS)
    scales = {
        "content": metrics.layer_distances(resized_style, content_features, metrics.CONTENT_LAYERS, "content"),
        **{
            kind: metrics.layer_distances(content_features, style_features, metrics.STYLE_LAYERS, kind)
            for kind in metrics.STYLE_KINDS
        },
    }
    return PairReference(content, content_features, style_features, scales)


def measure_output(vgg, output: torch.Tensor, reference: PairReference,
                   vectors: Optional[list[torch.Tensor]] = None) -> dict[str, float]:  # fmt: skip
    """The per-image metrics of ``output (1, 3, H, W)`` in ``[0, 1]``, resized to the content's size if needed.

    ``vectors``: where to append the output's ``(1, 512)`` feature vector of :func:`feature_vectors`
    (relu5_1, from the same VGG19 pass).

    Returns:
        The :class:`Record` fields from ``content_distance`` to ``colourfulness``.
    """
    output = metrics.resize_to(output, tuple(reference.content.shape[-2:]))
    features = vgg(output, metrics.STYLE_LAYERS + metrics.CONTENT_LAYERS)
    if vectors is not None:
        vectors.append(features[FRECHET_LAYER].float().mean(dim=(2, 3)).cpu())
    values: dict[str, float] = {}
    for field_name, kind, layers in _DISTANCES:
        target = reference.content_features if kind == "content" else reference.style_features
        distances = metrics.layer_distances(features, target, layers, kind)
        values[field_name] = float(distances.mean())
        values[f"{field_name}_normalized"] = float(metrics.normalized(distances, reference.scales[kind]))
    values["ssim_luminance"] = float(metrics.ssim_luminance(output, reference.content)[0])
    values["colourfulness"] = float(metrics.colourfulness(output)[0])
    return values


def feature_vectors(vgg, images: list[torch.Tensor], layer: str = FRECHET_LAYER) -> torch.Tensor:
    """One vector per image: ``layer``'s activations averaged over the image, ``(N, C)`` float32.

    ``images``: ``(1, 3, H, W)`` RGB in ``[0, 1]`` (any sizes), on ``vgg``'s device. The set-level
    features of :func:`vgg_frechet_distance`: no Inception weights to download.
    """
    with torch.no_grad():
        return torch.cat([vgg(image, [layer])[layer].float().mean(dim=(2, 3)).cpu() for image in images])


def vgg_frechet_distance(vgg, images: list[torch.Tensor], references: list[torch.Tensor], layer: str = FRECHET_LAYER) -> float:
    """Fréchet distance between two sets of images in VGG19 feature space (``layer`` averaged over
    each image): 0 for the same set, larger as the sets' feature distributions part. Like FID it is
    biased upward for small sets: compare values computed on sets of the same sizes."""
    return metrics.fid_from_features(feature_vectors(vgg, images, layer), feature_vectors(vgg, references, layer))

