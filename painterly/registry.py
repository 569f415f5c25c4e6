"""One registry for built-in styles, methods and trained models, and the one resolver.

The methods are their :class:`~painterly.methods.spec.MethodSpec`s (one next to each method's
code); ``painterly styles`` prints :func:`list_styles`, :func:`list_methods` and
:func:`list_models`. :func:`create_stylizer` turns what a user asked for (method, model,
paintings, options, device) into a stylizer for images, folders and video frames; every interface
calls it. The registry and the specs import no torch: a method's code (and torch) is imported when its
stylizer is built, and a photo the fast method paints through onnxruntime never imports it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, Callable, Mapping, Optional, Sequence

from painterly.errors import PainterlyError
from painterly.methods import adain_spec, anystyle_spec, fast_spec, optimize_spec
from painterly.methods.spec import FeatureNetwork, MethodSpec, MethodStylizer, Paintings
from painterly.styles.catalog import StyleEntry, find_style, list_styles, resolve_style_path, style_names

if TYPE_CHECKING:
    import torch

__all__ = [
    "MethodSpec",
    "ModelEntry",
    "StyleEntry",
    "choose_method",
    "create_stylizer",
    "find_style",
    "get_method",
    "list_methods",
    "list_models",
    "list_styles",
    "methods_taking",
    "register_method",
    "resolve_style_path",
    "style_names",
]

_METHODS: dict[str, MethodSpec] = {
    spec.name: spec for spec in (optimize_spec.SPEC, fast_spec.SPEC, adain_spec.SPEC, anystyle_spec.SPEC)
}


def register_method(spec: MethodSpec) -> MethodSpec:
    """Add a method (a plug-in, a test double) to the registry; every interface then offers it."""
    _METHODS[spec.name] = spec
    return spec


def get_method(name: str) -> MethodSpec:
    """The method called ``name`` or one of its aliases (``arbitrary`` is ``adain``)."""
    key = name.strip().lower()
    for spec in _METHODS.values():
        if key == spec.name or key in spec.aliases:
            return spec
    raise PainterlyError(f"unknown method {name!r}: use one of {', '.join(sorted(_METHODS))}")


def list_methods() -> list[MethodSpec]:
    return sorted(_METHODS.values(), key=lambda spec: spec.name)


def methods_taking(option: str) -> list[str]:
    """Names of the methods whose users may set ``option``."""
    return [spec.name for spec in list_methods() if spec.takes(option)]


def choose_method(method: Optional[str], *, model: Any = None, paintings: Sequence[Any] = ()) -> MethodSpec:
    """The method that runs: the one named; with none, ``fast`` given a model, else ``optimize``.

    ``fast`` without a model but with paintings paints any painting in one pass: ``anystyle``
    (``adain`` where the any-painting network is not installed).
    """
    name = method or ("fast" if model is not None else "optimize")
    spec = get_method(name)
    if spec.name == "fast" and model is None and paintings:
        from painterly.models.lookup import SHIPPED_ANYSTYLE

        return get_method("anystyle" if SHIPPED_ANYSTYLE.is_file() else "adain")
    return spec


def create_stylizer(
    method: Optional[str],
    *,
    model: Any = None,
    paintings: Paintings = (),  # type: ignore[assignment]
    options: Optional[Mapping[str, Any]] = None,
    device: torch.device | str | None = None,
    feature_network: Optional[FeatureNetwork] = None,
    image_size: Optional[tuple[int, int]] = None,
    max_pixels: Optional[int] = None,
    max_memory: Optional[int] = None,
    frames: bool = False,
    torch_free: bool = False,
) -> MethodStylizer:
    """The stylizer of ``method`` with its model loaded and its paintings prepared, once.

    Args:
        method: a registered method or alias; ``None`` chooses (see :func:`choose_method`).
        model: the method's trained model (``fast``: a style model; ``adain``: a decoder), a name or a file.
        paintings: ``[(RGB PIL image, weight)]``; methods that paint in a model's style ignore them.
        options: the method's options (fields of its config), converted and checked once here.
        device: where to compute; feature_network: ``(last_layer, pooling) -> VGG19`` shared by the
            caller (default: loaded here when the method needs it).
        image_size: ``(width, height)`` of the image (or video frame) to paint: when given, the
            output size and the method's memory estimate are checked first, before anything loads
            (see :meth:`~painterly.methods.spec.MethodSpec.check_resources`); ``frames``: the
            image is a video frame, painted at its own size.
        max_pixels: largest output accepted, in pixels; max_memory: a memory budget in bytes
            (default: what the machine has available).
        torch_free: paint without importing torch where the method can (its
            :class:`~painterly.methods.spec.TorchFreePath` says so for this config, device and
            ``image_size``): for images (one, or the largest of a folder), not frames. Otherwise,
            and whenever torch is needed, the method's own stylizer.

    Returns:
        A :class:`~painterly.methods.spec.MethodStylizer`: ``stylize_image`` for images,
        ``stylize_frame`` for video frames.
    """
    from painterly.devices import resolve_device

    spec = choose_method(method, model=model, paintings=paintings)
    if spec.needs_painting and not paintings:
        raise PainterlyError(f"no style given: {spec.owner} needs a painting; name a built-in style (painterly styles) "
                             "or give a painting file")  # fmt: skip
    values = dict(options or {})
    given = frozenset(name for name, value in values.items() if value is not None)
    if frames:
        values.update({name: value for name, value in spec.frame_defaults.items() if values.get(name) is None})
    if model is not None:
        if not spec.takes_model:
            raise PainterlyError(f"{spec.owner} takes no model: leave the model out")
        values.setdefault(spec.model_option, str(model))
    config = spec.make_config(values)
    # The one place the torch-free path is chosen, before the device is resolved (which imports torch).
    without_torch = spec.without_torch if torch_free and not frames and image_size is not None else None
    if without_torch is not None and without_torch.torch_needed(config, device, image_size, list(paintings)) is None:
        spec.check_resources(config, *image_size, device="cpu", max_pixels=max_pixels, max_memory=max_memory,  # type: ignore[misc]
                             compute_bytes=without_torch.value_bytes)  # fmt: skip
        return without_torch.build(config, list(paintings))
    device = resolve_device(device)
    if image_size is not None:
        spec.check_resources(config, *image_size, device=device, max_pixels=max_pixels, max_memory=max_memory,
                              frames=frames)  # fmt: skip
    if feature_network is None and spec.needs_features:
        feature_network = _loaded_here(device)
    if model is not None:
        given |= {spec.model_option}
    return spec.build(config, paintings=list(paintings), device=device, feature_network=feature_network,
                      given_options=given)  # fmt: skip


def _loaded_here(device: torch.device) -> Callable[[str, str], Any]:
    from painterly.features.weights import load_vgg19

    return lambda last_layer, pooling: load_vgg19(last_layer=last_layer, device=device, pooling=pooling)


@dataclass(frozen=True)
class ModelEntry:
    """A trained model usable by name, run by ``method``.

    Attributes:
        name: what ``--model NAME`` takes.
        method: the method that runs it.
        title: for people (the style's painting and painter, or what the model translates).
        kind: ``style`` (a feed-forward network trained on one painting) or ``cyclegan`` (one
            direction of a CycleGAN, e.g. photos → paintings).
    """

    name: str
    method: str
    title: str = ""
    kind: str = "style"

    def to_json(self) -> dict:
        return asdict(self)


def _describe_model(name: str, titles: dict[str, str]) -> ModelEntry:
    """A model's entry; CycleGAN generators say so and what they translate (read from the file's header)."""
    from painterly.models.files import model_header

    header = model_header(name)
    training = header.training if header is not None else {}
    if "direction" in training:  # `painterly gan train`: domain A is the photos, domain B the paintings
        source, target = _domain(training.get("domain_a", "A")), _domain(training.get("domain_b", "B"))
        if training["direction"] != "a2b":
            source, target = target, source
        what = header.record.get("title") or f"{source} into {target}"  # a shipped model's own words
        return ModelEntry(name, "fast", f"translates {what} (CycleGAN generator: a whole collection's look, not one "
                                        "painting's style)", kind="cyclegan")  # fmt: skip
    return ModelEntry(name, "fast", titles.get(name, name))


def _domain(folder: str) -> str:
    return str(folder).rstrip("/").rsplit("/", 1)[-1] or "domain"


def list_models() -> list[ModelEntry]:
    """Trained models usable by name (``--model NAME``): the user's models folder
    (``$PAINTERLY_MODELS_DIR``, default ``<user data dir>/painterly/models``) and the shipped ones."""
    from painterly.models.files import list_model_names

    titles = {entry.name: f"{entry.title} ({entry.artist})" for entry in list_styles()}
    return [_describe_model(name, titles) for name in list_model_names()]
