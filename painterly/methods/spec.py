"""What a stylization method is, for every interface: its :class:`MethodSpec`.

One spec per method (next to the method's code) holds its options dataclass (defaults, limits,
help), which of those options users set (CLI flags, studio form), what it needs (a painting, a
trained model, the VGG19 network), whether it previews, and how to build its stylizer. The CLI,
the studio, the REST schema and ``painterly styles`` are generated from the specs in
:mod:`painterly.registry`.

A stylizer built by a spec is a :class:`MethodStylizer`: the method loaded once (model read,
paintings encoded), ready for single images, folders and video frames. A method that can paint an
image without torch (the fast method through onnxruntime) says how in its :class:`TorchFreePath`.

This module, the specs and their configs import neither torch nor numpy: the command line builds its
options from them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Mapping, Optional, Protocol

from PIL import Image

from painterly.devices import available_memory, format_bytes, pick_precision, process_memory, resolve_device
from painterly.errors import PainterlyError
from painterly.options import config_from_options, field_defaults, field_help, field_limits
from painterly.progress import ProgressCallback

if TYPE_CHECKING:
    import torch

#: ``[(painting as an RGB PIL image, weight)]``.
Paintings = list[tuple[Image.Image, float]]
#: ``(last_layer, pooling) -> VGG19`` on the stylizer's device, loaded once by the caller.
FeatureNetwork = Callable[[str, str], Any]


class MethodStylizer(Protocol):
    """A method ready to paint.

    Attributes:
        settings: everything that decides how results look (method, model, paintings, options),
            JSON-serializable; a resumed video run must have the same.
        uses_guidance: :meth:`stylize_frame` keeps frames consistent itself with the guidance.

    A stylizer that can paint several images (or frames, without guidance) at once from different
    threads also has ``concurrent_images(workers, height, width) -> int`` (see :meth:`painterly.methods.feedforward.FastStylizer.concurrent_images`).
    """

    settings: dict[str, Any]
    uses_guidance: bool

    def stylize_image(self, image: Image.Image, progress: Optional[ProgressCallback] = None) -> Image.Image:
        """One RGB image → the painted image; ``info["painterly"]`` holds the options used."""
        ...

    def stylize_frame(self, frame: torch.Tensor, guidance: Any = None) -> torch.Tensor:
        """``(1, 3, H, W)`` in ``[0, 1]`` → painted, same shape. ``guidance`` (video: the previous
        output warped onto this frame, with ``warped``, ``mask`` and ``strength``) or ``None``."""
        ...


def lazy(target: str) -> Callable[..., Any]:
    """A callable that imports ``"package.module:name"`` when first called and calls that: a spec
    names its implementation without importing it (no torch at start-up; the implementation
    imports the spec, never the reverse)."""
    module_name, _, attribute = target.partition(":")

    def call(*args: Any, **kwargs: Any) -> Any:
        import importlib

        return getattr(importlib.import_module(module_name), attribute)(*args, **kwargs)

    call.__name__ = call.__qualname__ = attribute
    return call


#: ``build(config, *, paintings, device, feature_network) -> MethodStylizer``.
Builder = Callable[..., MethodStylizer]
#: ``memory(config, width, height, dtype) -> bytes``: the method's peak memory (the whole process,
#: Python and PyTorch included) painting a ``width × height`` output in compute dtype ``dtype`` (a
#: torch dtype, or its size in bytes: see :func:`value_bytes`).
MemoryEstimate = Callable[[Any, int, int, Any], int]

#: Bytes per input pixel held besides the method's own memory: the decoded photo and its float tensor.
INPUT_BYTES_PER_PIXEL = 16


def value_bytes(dtype: Any) -> int:
    """Bytes per value of a compute dtype given as a torch (or numpy) dtype or as that number itself.

    Example:
        >>> value_bytes(4)
        4
    """
    return dtype if isinstance(dtype, int) else int(dtype.itemsize)


@dataclass(frozen=True)
class TorchFreePath:
    """How a method paints one image without importing torch, where it can (the fast method: its
    exported graph through onnxruntime, the colour finish in numpy).

    Attributes:
        torch_needed: ``(config, device, (width, height), paintings) -> reason``: why this image
            needs the torch path (one line), or ``None`` when it paints without torch. ``device`` is
            as the user gave it (``"auto"``, ``"cpu"`` …), not resolved: resolving it imports torch.
            The one place the choice is made; it must be cheap (no model loaded).
        build: ``(config, paintings) -> MethodStylizer``, painting without torch.
        value_bytes: bytes per value it computes in, for the memory estimate.
    """

    torch_needed: Callable[[Any, Any, tuple[int, int], Paintings], Optional[str]]
    build: Callable[[Any, Paintings], "MethodStylizer"]
    value_bytes: int = 4


@dataclass(frozen=True)
class MethodSpec:
    """A stylization method as every interface sees it.

    Attributes:
        name: the name users type (``--method NAME``).
        summary: one line for users (``painterly styles``, the studio).
        config: the options dataclass: defaults, limits (field metadata), help (its docstring).
        build: makes the method's stylizer from a checked config (see :data:`Builder`).
        options: the config fields users set through the CLI and the studio, in display order.
        needs_painting: a painting must be given.
        needs_model: a trained model must be given (``model`` option).
        takes_model: a ``model`` given is this method's own (a style model, or a decoder).
        model_option: the config field a given model goes to (``model``; ``decoder`` for adain).
        needs_features: the method uses the shared VGG19 network.
        previews: the method sends preview images while it works.
        label, kind: how the studio presents the method (``High quality``; ``high-quality``, ``fast``).
        aliases: other names accepted for the method.
        memory: estimates the method's peak memory before it starts (see :data:`MemoryEstimate`);
            ``None``: not known, never refused.
        without_torch: how it paints one image without importing torch, where it can; ``None``: never.
        frame_defaults: option values video frames are painted with unless the caller gives them
            (a faster setting where a video needs one).
    """

    name: str
    summary: str
    config: Optional[type]
    build: Builder
    options: tuple[str, ...] = ()
    needs_painting: bool = True
    needs_model: bool = False
    takes_model: bool = False
    model_option: str = "model"
    needs_features: bool = False
    previews: bool = False
    label: str = ""
    kind: str = "other"
    aliases: tuple[str, ...] = field(default=())
    memory: Optional[MemoryEstimate] = None
    without_torch: Optional[TorchFreePath] = None
    frame_defaults: Mapping[str, Any] = field(default_factory=dict)

    @property
    def owner(self) -> str:
        return f"the {self.name} method"

    def make_config(self, options: Mapping[str, Any]) -> Any:
        """The method's checked config from a dict of options (the one conversion; see :mod:`painterly.options`)."""
        if self.config is None:
            return dict(options)
        return config_from_options(self.config, options, self.owner)

    def takes(self, option: str) -> bool:
        return option in self.options

    def default(self, option: str) -> Any:
        return field_defaults(self.config).get(option) if self.config is not None else None

    def help(self, option: str) -> str:
        return field_help(self.config).get(option, "") if self.config is not None else ""

    def limits(self, option: str) -> dict[str, Any]:
        return field_limits(self.config, option) if self.config is not None else {}

    def output_size(self, config: Any, width: int, height: int) -> tuple[int, int]:
        """The size painted for a ``width × height`` input: its long side scaled to the config's
        ``size`` when set (an upper bound for the optimize method, which keeps a smaller photo's size
        when no size is given)."""
        size = getattr(config, "size", None)
        if not size:
            return width, height
        scale = size / max(width, height)
        return max(1, round(width * scale)), max(1, round(height * scale))

    def estimate_memory(self, config: Any, width: int, height: int, device: torch.device | str | None = None,
                        compute_bytes: Optional[int] = None) -> Optional[int]:  # fmt: skip
        """Peak memory in bytes of painting a ``width × height`` output on ``device``; ``None`` when unknown.
        ``compute_bytes``: bytes per value computed in (default: the config's precision on ``device``)."""
        if self.memory is None:
            return None
        dtype = compute_bytes or pick_precision(getattr(config, "precision", "fp32"), resolve_device(device))
        return int(self.memory(config, width, height, dtype))

    def check_resources(self, config: Any, width: int, height: int, *, device: torch.device | str | None = None,
                        max_pixels: Optional[int] = None, max_memory: Optional[int] = None, frames: bool = False,
                        compute_bytes: Optional[int] = None) -> None:  # fmt: skip
        """Refuse, before anything is loaded, to paint a ``width × height`` input whose output would
        have more than ``max_pixels`` pixels, or would need more memory than is available (or than
        ``max_memory`` bytes). ``frames``: video frames, painted at their own size (the video's
        ``--size``), not at the config's. ``compute_bytes``: see :meth:`estimate_memory`.

        Raises:
            PainterlyError: one line saying what fits and which option to change.
        """
        out_width, out_height = (width, height) if frames else self.output_size(config, width, height)
        if max_pixels is not None and out_width * out_height > max_pixels:
            raise PainterlyError(
                f"the output would be {out_width}×{out_height} ({out_width * out_height / 1e6:g} megapixels), more than the "
                f"limit of {max_pixels / 1e6:g} megapixels: use a smaller --size or raise --max-pixels"
            )
        needed = self.estimate_memory(config, out_width, out_height, device, compute_bytes)
        if needed is None:
            return
        needed += INPUT_BYTES_PER_PIXEL * width * height
        free = available_memory(device)
        # The estimate is the whole process's peak; what it holds already is not needed again.
        budgets = ([(free + process_memory(), f"the {format_bytes(free)} available")] if free is not None else []) + (
            [(max_memory, f"--max-memory {format_bytes(max_memory)}")] if max_memory is not None else [])  # fmt: skip
        if not budgets:
            return
        budget, which = min(budgets)
        if needed <= budget:
            return
        fits = self._largest_fitting_side(config, out_width, out_height, budget - INPUT_BYTES_PER_PIXEL * width * height, device,
                                          compute_bytes)  # fmt: skip
        advice = (f"it fits up to about {fits} px here: use --size {fits} or less" if fits
                  else "not even a small image fits: close other programs or raise --max-memory")  # fmt: skip
        raise PainterlyError(f"painting {out_width}×{out_height} with {self.owner} needs about {format_bytes(needed)} of "
                             f"memory, more than {which}: {advice}")  # fmt: skip

    def _largest_fitting_side(self, config: Any, width: int, height: int, budget: int, device: Any,
                              compute_bytes: Optional[int] = None) -> int:  # fmt: skip
        """The largest long side (same proportions, at least 16 px) whose estimate fits ``budget``; 0 if none."""
        long_side = max(width, height)

        def fits(side: int) -> bool:
            scale = side / long_side
            return (self.estimate_memory(config, max(1, round(width * scale)), max(1, round(height * scale)), device, compute_bytes)
                    or 0) <= budget  # fmt: skip

        if not fits(16):
            return 0
        low, high = 16, long_side
        while low < high:
            middle = (low + high + 1) // 2
            low, high = (middle, high) if fits(middle) else (low, middle - 1)
        return low // 8 * 8 if low >= 64 else low


class FunctionStylizer:
    """A method given as a function ``run(content, paintings, *, device, progress, **options) -> PIL image``
    (a plug-in or a test double), run image by image; video frames go through it as images."""

    uses_guidance = False

    def __init__(self, name: str, run: Callable[..., Image.Image], paintings: Paintings, device: torch.device,
                 options: Mapping[str, Any]):  # fmt: skip
        self.run, self.paintings, self.device, self.options = run, list(paintings), device, dict(options)
        shown = {key: value for key, value in self.options.items() if key != "feature_network"}
        self.settings = {"method": name, "options": shown, "paintings": len(self.paintings)}

    def stylize_image(self, image: Image.Image, progress: Optional[ProgressCallback] = None) -> Image.Image:
        return self.run(image, self.paintings, device=self.device, progress=progress, **self.options)

    def stylize_frame(self, frame: torch.Tensor, guidance: Any = None) -> torch.Tensor:
        from painterly.io.images import image_to_tensor, tensor_to_image

        result = self.stylize_image(tensor_to_image(frame))
        return image_to_tensor(result.resize((frame.shape[-1], frame.shape[-2])), device=frame.device)


def function_method(name: str, summary: str, run: Callable[..., Image.Image], *, needs_features: bool = False,
                    needs_painting: bool = True) -> MethodSpec:  # fmt: skip
    """A spec for a method written as one function (its options are passed through unchecked)."""

    def build(options: dict, *, paintings: Paintings, device: torch.device, feature_network: Any = None, **_: Any):
        extra = {"feature_network": feature_network} if needs_features else {}
        return FunctionStylizer(name, run, paintings, device, {**options, **extra})

    return MethodSpec(name, summary, None, build, needs_painting=needs_painting, needs_features=needs_features)
