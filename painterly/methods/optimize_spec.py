"""The optimize method's spec: its options (:class:`OptimizeConfig`), its coarse-to-fine plan, its
memory estimate and how it is built, importable without torch (the command line builds its options
from them). The method itself is :mod:`painterly.methods.optimize` and
:mod:`painterly.methods.optimize_stylizer`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Optional

from painterly.devices import PRECISIONS
from painterly.errors import PainterlyError
from painterly.methods.spec import MethodSpec, lazy, value_bytes
from painterly.ops.colorspace import PRESERVE_COLOR_MODES
from painterly.options import check_limits, limits

INIT_MODES = ("content", "noise", "anystyle")
#: Steps of each quality preset when ``steps`` is not given: (up to 512 px, above 512 px). Their
#: measured seconds and distances are in docs/benchmarks.md.
QUALITY_STEPS = {"draft": (60, 40), "default": (140, 100), "best": (300, 200)}
PARAMETERIZATIONS = ("pixels", "laplacian")


@dataclass
class OptimizeConfig:
    """Options of the optimization method; the defaults give a good result on any painting.

    Attributes:
        size: long side of the output in pixels (a photo smaller than the default keeps its own size).
        quality: ``draft``, ``default`` or ``best``: the number of steps when ``steps`` is not
            given (draft 60, default 140, best 300; above 512 px 40, 100, 200).
        steps: optimizer iterations over all scales together, at most (default: from
            ``quality``); a scale may stop early, see ``stop_tolerance``.
        min_size: long side of the coarsest scale; scales double from there up to ``size``.
        fine_share: steps at each scale relative to the scale below it (1: as many at every
            scale; 0.5: half as many at twice the size, faster but less refined).
        full_size_layers: above the coarsest scale, the style layers that see the image at its
            full size; the other layers see a half-size copy, whose targets are those of the scale
            below (faster; the layout is settled there). Empty, the default: every layer at full size.
        stop_tolerance: a scale stops when its loss fell by less than this fraction over its last
            5 steps (0, the default: always run the planned steps).
        parameterization: ``"pixels"`` (optimize the pixels) or ``"laplacian"`` (optimize the
            levels of a Laplacian pyramid of the image).
        optimizer: ``"lbfgs"`` (best quality per step) or ``"adam"``.
        learning_rate: Adam's step size in ``[0, 1]`` pixel units (L-BFGS uses 1).
        content_weight: weight of the content loss (keeping the photo's layout).
        style_weight: weight of the style loss (taking the painting's textures).
        tv_weight: weight of the total-variation loss (smoothing pixel noise).
        content_layers: VGG19 layers whose activations the output keeps from the photo.
        style_layers: VGG19 layers whose Gram matrices the output takes from the painting.
        style_layer_weights: one weight per style layer, comma-separated (default: equal).
        strength: multiplies the style weight; 0 returns the photo, 2 paints harder.
        style_scale: size of the painting's brush strokes relative to the default.
        preserve_color: keep the photo's colours: ``"luminance"`` (transfer brightness only) or
            ``"histogram"`` (recolour the painting to the photo's palette first); default off.
        init: ``"content"``, ``"noise"``, ``"anystyle"`` (start from the any-painting network's
            painting of the photo, which stands in for the lower scales; only the top scale's share
            of the steps runs, 13-30 % faster, finer strokes), or a path to an image to start from.
        seed: seed of the noise initialization and of anything random.
        precision: ``"auto"`` (bf16 where the hardware runs it fast), ``"bf16"`` or ``"fp32"``.
        channels_last: channels-last memory layout for the convolutions (default: on with bf16
            and on CPUs, where it is faster).
        half_gram: with bf16, multiply the Gram matrices' bf16 features as they are (the kernels
            sum in float32 and round the result: 0.1 % error, ~10× faster on a CPU with bf16 units);
            off: convert them to float32 first, as before.
        pooling: VGG19 pooling, ``"max"`` or ``"avg"``.
        preview_every: send a preview image with the progress event every N steps (0: never).
        detail_transfer: how much of the photo's fine detail to add back when moving up a scale
            (0: plain upsampling).
    """

    size: int = field(default=512, metadata=limits(16))
    quality: str = field(default="default", metadata=limits(choices=tuple(QUALITY_STEPS)))
    steps: Optional[int] = field(default=None, metadata=limits(1))
    min_size: int = field(default=128, metadata=limits(1))
    fine_share: float = field(default=1.0, metadata=limits(0.01, 2))
    full_size_layers: tuple[str, ...] = ()
    stop_tolerance: float = field(default=0.0, metadata=limits(0, 1))
    parameterization: str = field(default="pixels", metadata=limits(choices=PARAMETERIZATIONS))
    optimizer: str = field(default="lbfgs", metadata=limits(choices=("lbfgs", "adam")))
    learning_rate: float = field(default=0.02, metadata=limits(0))
    content_weight: float = field(default=1.2, metadata=limits(0))
    style_weight: float = field(default=10.0, metadata=limits(0))
    tv_weight: float = field(default=0.05, metadata=limits(0))
    content_layers: tuple[str, ...] = ("relu4_2",)
    style_layers: tuple[str, ...] = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
    style_layer_weights: Optional[tuple[float, ...]] = None
    strength: float = field(default=1.0, metadata=limits(0, 2))
    style_scale: float = field(default=1.0, metadata=limits(0.1, 4))
    preserve_color: Optional[str] = field(default=None, metadata=limits(choices=PRESERVE_COLOR_MODES, label="colour mode"))
    init: str = "content"
    seed: int = 0
    precision: str = field(default="auto", metadata=limits(choices=PRECISIONS))
    channels_last: Optional[bool] = None
    half_gram: bool = True
    pooling: str = field(default="max", metadata=limits(choices=("max", "avg")))
    preview_every: int = field(default=0, metadata=limits(0))
    detail_transfer: float = field(default=1.0, metadata=limits(0))

    def validate(self) -> "OptimizeConfig":
        """Check every option; raise a PainterlyError naming the bad one."""
        check_limits(self, "the optimize method")
        if self.style_layer_weights is not None and len(self.style_layer_weights) != len(self.style_layers):
            raise PainterlyError("give one style layer weight per style layer")
        return self

    @property
    def total_steps(self) -> int:
        """``steps``, or the ``quality`` preset's for ``size`` when it is not set."""
        if self.steps is not None:
            return self.steps
        small, large = QUALITY_STEPS[self.quality]
        return small if self.size <= 512 else large

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class ScaleStage:
    """One rung of the coarse-to-fine ladder."""

    long_side: int
    steps: int


def plan_scales(size: int, min_size: int, steps: int, fine_share: float) -> list[ScaleStage]:
    """Split ``steps`` over sizes ``size / 2^k ≥ min_size``, coarsest first.

    Each scale gets ``fine_share`` times the steps of the one below it, and at least one step.

    Example:
        >>> [(s.long_side, s.steps) for s in plan_scales(512, 128, 70, 0.5)]
        [(128, 40), (256, 20), (512, 10)]
    """
    sides = [size]
    while sides[-1] // 2 >= min_size:
        sides.append(sides[-1] // 2)
    sides.reverse()
    shares = [fine_share**index for index in range(len(sides))]
    raw = [steps * share / sum(shares) for share in shares]
    counts = [max(1, int(round(value))) for value in raw]
    counts[0] += steps - sum(counts)  # rounding leftovers go to the cheapest scale
    if counts[0] < 1:
        counts = [max(1, steps // len(sides))] * len(sides)
    return [ScaleStage(side, count) for side, count in zip(sides, counts)]


#: Past steps L-BFGS keeps to shape its next step (two image-sized vectors each), at most …
LBFGS_HISTORY = 50
#: … and at most this many bytes of them: a 1024×768 image keeps 14 (19 MB a step), a 512 px one 50.
LBFGS_HISTORY_BYTES = 256 * 2**20


def lbfgs_history(numel: int) -> int:
    """Steps L-BFGS remembers when optimizing ``numel`` float32 values (an image's pixels).

    Example:
        >>> lbfgs_history(3 * 512 * 384), lbfgs_history(3 * 1024 * 768)
        (50, 14)
    """
    return max(5, min(LBFGS_HISTORY, LBFGS_HISTORY_BYTES // (2 * 4 * numel)))


#: Peak memory of the optimize method, measured with ``/usr/bin/time -v`` (see docs/methods.md): the
#: process with PyTorch and VGG19 loaded (489 MB painting 64 px; about 610 MB where the line through the
#: 512 px and 1024 px runs meets 0 pixels).
OPTIMIZE_BASE_BYTES = 620 * 2**20
#: Per pixel of the finest scale, VGG19's activations kept for the backward pass and its gradients,
#: by compute dtype size (bf16: 971 MB at 512×384 and 2.03 GB at 1024×768 measured; fp32: 1.01 GB
#: at 512×384; bf16 autocast keeps float32 copies, so it saves little here).
OPTIMIZE_PIXEL_BYTES = {4: 2200, 2: 2050}
#: Per pixel of a painting passed through VGG19 without gradients (its Gram targets).
OPTIMIZE_PAINTING_BYTES = {4: 600, 2: 350}
#: Per pixel and per step kept by the optimizer: L-BFGS keeps two float32 vectors of the image per
#: step (up to 50 steps), 24 bytes, measured 39 with the allocator's overhead (512×384: 971 MB after
#: 2 steps at the finest scale, 1.27 GB after 47); Adam two moments.
OPTIMIZER_STEP_BYTES = 40


def optimize_memory(config: OptimizeConfig, width: int, height: int, dtype: Any, batch: int = 1) -> int:
    """Estimated peak memory in bytes of the optimize method painting a ``width × height`` result.

    ``dtype`` is the compute dtype or its size in bytes (see :func:`painterly.methods.spec.value_bytes`).
    Its finest scale decides: VGG19 forward and backward on the whole image (no tiles: the
    style loss needs the whole image at once), the optimizer's history over that scale's steps, and
    the painting seen at ``style_scale`` times the size.

    Example:
        >>> round(optimize_memory(OptimizeConfig(size=1024), 1024, 768, 2) / 2**30, 1)
        2.5
    """
    pixels = batch * width * height
    size = 4 if value_bytes(dtype) >= 4 else 2
    finest_steps = plan_scales(max(width, height), min(config.min_size, max(width, height)), config.total_steps,
                               config.fine_share)[-1].steps  # fmt: skip
    kept_steps = min(lbfgs_history(3 * pixels), finest_steps) if config.optimizer == "lbfgs" else 1
    painting_side = round(max(width, height) * config.style_scale)
    painting_pixels = painting_side * painting_side * 3 // 4  # a painting of 4:3 proportions
    network = max(OPTIMIZE_PIXEL_BYTES[size] * pixels, OPTIMIZE_PAINTING_BYTES[size] * painting_pixels)
    return OPTIMIZE_BASE_BYTES + network + OPTIMIZER_STEP_BYTES * kept_steps * pixels


SPEC = MethodSpec(
    name="optimize",
    summary="Gatys et al. optimization, coarse to fine: best quality, any painting, about a minute",
    config=OptimizeConfig,
    build=lazy("painterly.methods.optimize_stylizer:build_stylizer"),
    options=("size", "quality", "steps", "strength", "style_scale", "preserve_color", "seed", "init", "optimizer", "precision",
             "content_weight", "style_weight", "tv_weight", "content_layers", "style_layers", "style_layer_weights",
             "min_size", "fine_share", "full_size_layers", "stop_tolerance", "parameterization", "learning_rate", "pooling",
             "channels_last", "preview_every"),
    needs_painting=True,
    needs_features=True,
    previews=True,
    label="High quality",
    kind="high-quality",
    memory=optimize_memory,
)
