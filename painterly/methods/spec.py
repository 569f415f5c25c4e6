"""What a stylization method is, for every interface: its :class:`MethodSpec`.

One spec per method (next to the method's code) holds its options dataclass (defaults, limits,
help), which of those options users set (CLI flags, studio form), what it needs (a painting, a
trained model, the VGG19 network), whether it previews, and how to build its stylizer. The CLI,
the studio, the REST schema and ``painterly styles`` are generated from the specs in
:mod:`painterly.registry`.

A stylizer built by a spec is a :class:`MethodStylizer`: the method loaded once (model read,
paintings encoded), ready for single images, folders and video frames.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Optional, Protocol

import torch
from PIL import Image

from painterly.options import config_from_options, field_defaults, field_help, field_limits
from painterly.progress import ProgressCallback

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


#: ``build(config, *, paintings, device, feature_network) -> MethodStylizer``.
Builder = Callable[..., MethodStylizer]


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
