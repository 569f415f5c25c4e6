"""From what a user types (``--method fast:MODEL``, ``--styles builtin``) to an evaluation.

The CLI command and the quality benchmark share this, so both read methods, contents and styles
the same way.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence

from PIL import Image

from painterly.errors import PainterlyError
from painterly.evaluate.records import Evaluation
from painterly.evaluate.runner import MethodFunction, check_method_label, evaluate
from painterly.io.images import IMAGE_SUFFIXES, find_images
from painterly.progress import ProgressCallback
from painterly.registry import find_style, list_styles

#: ``--styles`` values meaning every built-in style.
ALL_BUILTIN = ("builtin", "all")


@dataclass(frozen=True)
class MethodUnderTest:
    """One method to evaluate: a registered ``method``, its ``model`` if any, and a ``label`` for reports."""

    label: str
    method: str
    model: Optional[str] = None


def _label_from(text: str) -> str:
    slug = re.sub(r"[^A-Za-z0-9._+-]+", "-", text).strip("-._") or "model"
    return re.sub(r"_{2,}", "_", slug)


def parse_method_spec(spec: str) -> MethodUnderTest:
    """``"optimize"``, ``"fast:MODEL"`` or ``"LABEL=METHOD[:MODEL]"`` as a :class:`MethodUnderTest`.

    Without a label, a method with a model is labelled ``<method>-<model file stem>``, e.g.
    ``"fast:runs/starry.safetensors"`` → ``MethodUnderTest("fast-starry", "fast", "runs/starry.safetensors")``.
    Only the first ``:`` separates method and model, so model paths may contain ``:``.
    """
    text = spec.strip()
    label = None
    if "=" in text.split(":", 1)[0]:
        label, text = (part.strip() for part in text.split("=", 1))
    method, separator, model = text.partition(":")
    method, model = method.strip(), model.strip()
    if not method or (separator and not model):
        raise PainterlyError(f"bad method {spec!r}: write METHOD, METHOD:MODEL or LABEL=METHOD:MODEL, e.g. fast:starry.safetensors")
    if label is None:
        label = method if not model else f"{method}-{_label_from(Path(model).stem)}"
    return MethodUnderTest(check_method_label(label), method, model or None)


def parse_method_specs(specs: Sequence[str]) -> list[MethodUnderTest]:
    """Every spec parsed; two specs with one label are an error (give one a ``LABEL=``)."""
    parsed: list[MethodUnderTest] = []
    for spec in specs:
        item = parse_method_spec(spec)
        if any(other.label == item.label for other in parsed):
            raise PainterlyError(f"two methods are both labelled {item.label!r}: name one, e.g. other={spec}")
        parsed.append(item)
    return parsed


def collect_images(specs: Sequence[str | os.PathLike], kind: str, *, builtin_styles: bool = False) -> list[Path]:
    """Image files from folders, files and (for styles) built-in names or ``builtin``.

    Raises:
        PainterlyError: a spec that is none of these, or a folder without images.
    """
    found: list[Path] = []
    for spec in specs:
        path = Path(spec).expanduser()
        if path.is_dir():
            images = find_images(path)
            if not images:
                raise PainterlyError(f"no images in {kind} folder {path}: add {', '.join(IMAGE_SUFFIXES)} files")
            found += images
        elif path.is_file():
            found.append(path)
        elif builtin_styles and str(spec).lower() in ALL_BUILTIN:
            found += [entry.path for entry in list_styles()]
        elif builtin_styles and find_style(str(spec)) is not None:
            found.append(find_style(str(spec)).path)
        else:
            extra = ", a built-in style name (painterly styles) or 'builtin'" if builtin_styles else ""
            raise PainterlyError(f"{kind} {str(spec)!r} not found: give a folder of images, an image file{extra}")
    if not found:
        raise PainterlyError(f"no {kind} images given: name a folder or image files")
    return found


def method_options(spec: MethodUnderTest, *, size: int, steps: Optional[int] = None) -> dict:
    """Keyword options for ``Stylizer.stylize``: ``size`` always, ``model`` if given, ``steps`` for the methods that take it."""
    from painterly.registry import get_method

    options: dict = {"size": size}
    if spec.model is not None:
        options["model"] = spec.model
    if steps is not None and get_method(spec.method).takes("steps"):
        options["steps"] = steps
    return options


#: In ``METHOD:MODEL``, stands for the model named after each style: ``fast:{style}`` runs the
#: ``the-scream`` model on the_scream.jpg and the ``starry-night`` model on starry_night.jpg.
STYLE_PLACEHOLDER = "{style}"


def model_for_style(model: Optional[str], style_stem: str) -> Optional[str]:
    """``model`` with :data:`STYLE_PLACEHOLDER` replaced by the style's name (``_`` read as ``-``)."""
    if model is None or STYLE_PLACEHOLDER not in model:
        return model
    return model.replace(STYLE_PLACEHOLDER, style_stem.replace("_", "-").lower())


def build_methods(specs: Sequence[MethodUnderTest], stylizer, *, size: int, steps: Optional[int] = None) -> dict[str, MethodFunction]:
    """``{label: (content, style) -> image}`` running each spec through ``stylizer`` (a :class:`painterly.api.Stylizer`).

    Every method name is checked first, so a typo fails before any work is done.
    """
    from painterly.registry import get_method

    for spec in specs:
        get_method(spec.method)

    def method_function(spec: MethodUnderTest) -> MethodFunction:
        options = method_options(spec, size=size, steps=steps)

        def run(content: Image.Image, style: Image.Image, style_name: str = "") -> Image.Image:
            chosen = {**options, "model": model_for_style(spec.model, style_name)} if spec.model else options
            return stylizer.stylize(content, style, method=spec.method, **chosen)

        run.takes_style_name = True  # type: ignore[attr-defined]  (see runner._running)
        return run

    return {spec.label: method_function(spec) for spec in specs}


def build_frame_stylizers(specs: Sequence[MethodUnderTest], stylizer) -> dict:
    """``{label: factory(style name, painting) -> MethodStylizer}`` for the video rows, one per spec."""
    from painterly.video.frames import frame_stylizer_for

    def factory_for(spec: MethodUnderTest):
        def make(style_name: str, painting: Image.Image):
            model = model_for_style(spec.model, style_name)
            return frame_stylizer_for(spec.method, model=model, paintings=[(painting, 1.0)], stylizer=stylizer)

        return make

    return {spec.label: factory_for(spec) for spec in specs}


def evaluate_specs(
    contents: Sequence[str | os.PathLike],
    styles: Sequence[str | os.PathLike],
    *,
    methods: Sequence[str] = ("optimize",),
    outputs: str | os.PathLike | None = None,
    out_dir: str | os.PathLike,
    size: int = 256,
    steps: Optional[int] = None,
    device: str | None = None,
    vgg_weights: str | os.PathLike | None = None,
    inception_weights: str | os.PathLike | None = None,
    progress: Optional[ProgressCallback] = None,
    stylizer=None,
    videos: Sequence[str | os.PathLike] = (),
    video_settings=None,
) -> Evaluation:
    """Evaluate methods given as spec strings (or the outputs in ``outputs``) and write the report.

    Args:
        contents: folders or image files. styles: the same, or built-in names / ``builtin``.
        methods: spec strings (see :func:`parse_method_spec`); with ``outputs``, the labels to
            keep (empty: every method found there).
        inception_weights: pytorch-fid's Inception file, for FID/ArtFID; ``None`` reads
            ``$PAINTERLY_INCEPTION_WEIGHTS`` and skips FID when that is unset too.
        stylizer: a :class:`painterly.api.Stylizer` to run the methods on (default: a new one on
            ``device``); its VGG19 also computes the metrics.
        videos: clips (files or folders) to stylize with every method, for warping error and
            frames/s; video_settings: a :class:`painterly.evaluate.video.VideoSettings`.
    """
    from painterly.api import Stylizer
    from painterly.evaluate.inception import WEIGHTS_ENV, load_inception

    content_files = collect_images(contents, "content")
    style_files = collect_images(styles, "style", builtin_styles=True)
    if size < 16:
        raise PainterlyError(f"--size {size} is too small to measure: use 16 pixels or more")
    if stylizer is None:
        stylizer = Stylizer(device=device, vgg_weights=vgg_weights)
    labels: list[str] = []
    video_methods = None
    if outputs is not None:
        if videos:
            raise PainterlyError("videos are measured by running methods: drop --outputs, or drop --videos")
        labels = [check_method_label(label) for label in methods]
        target: object = outputs
    else:
        specs = parse_method_specs(methods)
        target = build_methods(specs, stylizer, size=size, steps=steps)
        video_methods = build_frame_stylizers(specs, stylizer) if videos else None
    inception = None
    if inception_weights is not None or os.environ.get(WEIGHTS_ENV):
        inception = load_inception(inception_weights, device=stylizer.device)
    return evaluate(
        content_files,
        style_files,
        target,  # type: ignore[arg-type]
        vgg=stylizer.feature_network("relu5_1", "max"),
        out_dir=out_dir,
        size=size,
        device=stylizer.device,
        inception=inception,
        progress=progress,
        keep_methods=labels if outputs is not None else None,
        settings={"steps": steps, "methods": list(methods)} if outputs is None else {"outputs": str(outputs)},
        videos=videos,
        video_methods=video_methods,
        video_settings=video_settings,
    )
