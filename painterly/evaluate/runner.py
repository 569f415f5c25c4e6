"""Run methods on every (content, style) pair, or read their outputs, and measure each result.

Existing outputs are read from a folder with one file per pair and method, named
``<content-stem>__<style-stem>__<method>.<suffix>`` (``.png`` when written here), e.g.
``tubingen__starry_night__optimize.png``; the runner saves the outputs it makes under that name
in ``<report>/images/``, so a report folder's images can be evaluated again.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, Mapping, Optional, Sequence

import torch
from PIL import Image

from painterly.errors import PainterlyError
from painterly.evaluate import metrics
from painterly.evaluate.measure import (
    NAME_SEPARATOR, Measurement, check_method_label, feature_vectors, measure, measure_output, output_name,
    pair_reference,
)  # fmt: skip
from painterly.evaluate.records import Evaluation, Failure, Record
from painterly.evaluate.report import check_report_dir, write_report
from painterly.evaluate.video import (
    PLAIN_SUFFIX, VIDEO_SUFFIX, FrameStylizerFactory, VideoSettings, collect_clips, poster, video_rows,
)  # fmt: skip
from painterly.io.images import find_images, image_to_tensor, load_image, resize_long_side, save_image
from painterly.progress import Cancelled, ProgressCallback, ProgressEvent

#: A method under test: ``(content, style) -> stylized``, PIL RGB images.
MethodFunction = Callable[[Image.Image, Image.Image], Image.Image]
#: A network turning ``(B, 3, H, W)`` RGB ``[0, 1]`` into ``(B, D)`` features, for FID.
FeatureExtractor = Callable[[torch.Tensor], torch.Tensor]

def stems(paths: Sequence[Path], kind: str) -> dict[str, Path]:
    """``{stem: path}``; two files with one stem (``a.jpg``, ``a.png``) or a stem with ``__`` are errors."""
    found: dict[str, Path] = {}
    for path in paths:
        stem = Path(path).stem
        if NAME_SEPARATOR in stem:
            raise PainterlyError(f"{kind} file name {Path(path).name!r} contains '{NAME_SEPARATOR}': rename it")
        if stem in found:
            raise PainterlyError(f"two {kind} images are both called {stem!r} ({found[stem]}, {path}): rename one")
        found[stem] = Path(path)
    if not found:
        raise PainterlyError(f"no {kind} images to evaluate: give at least one image file")
    return found


def find_outputs(folder: str | os.PathLike, contents: Sequence[str], styles: Sequence[str]) -> dict[tuple[str, str, str], Path]:
    """Outputs in ``folder`` named ``<content>__<style>__<method>.<suffix>`` for the given stems.

    Returns:
        ``{(content, style, method): path}``; files of other contents or styles are ignored.

    Raises:
        PainterlyError: no file in ``folder`` follows the naming scheme for these inputs.
    """
    wanted_contents, wanted_styles = set(contents), set(styles)
    found: dict[tuple[str, str, str], Path] = {}
    for path in find_images(folder):
        parts = path.stem.split(NAME_SEPARATOR)
        if len(parts) == 3 and parts[0] in wanted_contents and parts[1] in wanted_styles and parts[2]:
            found[(parts[0], parts[1], parts[2])] = path
    if not found:
        raise PainterlyError(
            f"no outputs named <content>{NAME_SEPARATOR}<style>{NAME_SEPARATOR}<method>.png for these contents and "
            f"styles in {folder}: name them so, e.g. {output_name(contents[0], styles[0], 'mymethod')}"
        )
    return found


# --- the evaluation --------------------------------------------------------------------------------


def _load(path: Path, size: int) -> Image.Image:
    return resize_long_side(load_image(path), size)


#: Makes one output: ``(label, content stem, style stem, content, style) -> (image, path, measurement)``,
#: or None where there is none.
OutputSource = Callable[[str, str, str, Image.Image, Image.Image], Optional[tuple[Image.Image, str, "Measurement"]]]


def _running(functions: Mapping[str, MethodFunction], device: torch.device, images_dir: Optional[Path],
             protect: Sequence[Path]) -> OutputSource:  # fmt: skip
    """Outputs made by running ``functions``, timed and measured, saved to ``images_dir`` if given."""

    def produce(label: str, content_stem: str, style_stem: str, content: Image.Image, style: Image.Image):
        with measure(device) as measurement:
            function = functions[label]
            # Functions that pick a model per style (``fast:{style}``) are told the style's name.
            named = {"style_name": style_stem} if getattr(function, "takes_style_name", False) else {}
            image = function(content.copy(), style.copy(), **named)
        image = load_image(image)
        path = ""
        if images_dir is not None:
            path = str(save_image(image, images_dir / output_name(content_stem, style_stem, label), protect=protect))
        return image, path, measurement

    return produce


def _reading(outputs: Mapping[tuple[str, str, str], Path]) -> OutputSource:
    """Outputs read from files found by :func:`find_outputs`; seconds and memory unknown."""

    def produce(label: str, content_stem: str, style_stem: str, content: Image.Image, style: Image.Image):
        path = outputs.get((content_stem, style_stem, label))
        return None if path is None else (load_image(path), str(path), Measurement())

    return produce


def evaluate(
    contents: Sequence[str | os.PathLike],
    styles: Sequence[str | os.PathLike],
    methods: Mapping[str, MethodFunction] | str | os.PathLike,
    *,
    vgg,
    out_dir: str | os.PathLike | None = None,
    size: int = 256,
    device: torch.device | str = "cpu",
    inception: Optional[FeatureExtractor] = None,
    progress: Optional[ProgressCallback] = None,
    keep_methods: Optional[Sequence[str]] = None,
    settings: Optional[Mapping] = None,
    videos: Sequence[str | os.PathLike] = (),
    video_methods: Optional[Mapping[str, "FrameStylizerFactory"]] = None,
    video_settings: Optional["VideoSettings"] = None,
) -> Evaluation:
    """Measure every method on every (content, style) pair.

    Args:
        contents, styles: image files; their stems name the rows and must be unique.
        methods: ``{label: function(content, style) -> image}`` to run (timed, memory measured,
            outputs saved to ``out_dir/images``), or a folder of existing outputs named
            ``<content>__<style>__<method>.png`` (seconds and memory then NaN).
        vgg: a :class:`painterly.features.VGG19` built up to ``relu5_1``, on ``device``.
        out_dir: the report folder (new, empty, or an earlier report): outputs go to
            ``out_dir/images``, then ``report.csv``, ``report.json`` and ``report.html``;
            ``None`` writes nothing.
        size: long side, in pixels, of the contents and styles given to the methods and measured.
        device: where the metrics run (and whose memory is measured).
        inception: a feature extractor for FID and ArtFID per method (outputs against the style
            images), e.g. :func:`painterly.evaluate.inception.load_inception`; ``None`` skips them.
        progress: called after each output with ``ProgressEvent(step, total, stage)``; returning
            ``False`` stops with :class:`painterly.progress.Cancelled`.

    An output that fails (a method raising, an unreadable output file, a clip that cannot be
    stylized) is recorded in ``Evaluation.failures`` and the evaluation goes on with the next,
    so the results computed are kept in the report.
        keep_methods: with an outputs folder, the methods to evaluate (default: all found).
        settings: extra settings recorded in the report (``size`` and ``device`` always are).
        videos: clips to stylize with every method of ``video_methods`` and every style; each
            gives ``<label>+video`` rows (and ``<label>+plain`` frame-by-frame rows) with warping
            error and frames/s (see :mod:`painterly.evaluate.video`). Needs ``out_dir``.
        video_methods: ``{label: factory(style name, painting) -> MethodStylizer}``.
        video_settings: size, length and consistency of the video runs.

    Returns:
        An :class:`Evaluation`; :func:`painterly.evaluate.report.summary_lines` gives one line per method.
    """
    device = torch.device(device)
    content_paths = stems([Path(p) for p in contents], "content")
    style_paths = stems([Path(p) for p in styles], "style")
    images_dir = check_report_dir(out_dir) / "images" if out_dir is not None else None
    protect = list(content_paths.values()) + list(style_paths.values())
    labels, source, notes = _output_source(methods, content_paths, style_paths, keep_methods, device, images_dir, protect)
    if videos and (out_dir is None or not video_methods):
        raise PainterlyError("videos are measured by running methods into a report folder: give methods and -o DIR")
    clips = collect_clips(videos) if videos else []
    video_settings = (video_settings or VideoSettings()).validate()
    suffixes = (VIDEO_SUFFIX,) + ((PLAIN_SUFFIX,) if video_settings.plain else ())
    video_labels = [f"{label}{suffix}" for label in (video_methods or {}) for suffix in suffixes] if clips else []

    output_features: dict[str, list[torch.Tensor]] = {label: [] for label in labels}
    style_features: list[torch.Tensor] = []
    counter = _Counter(progress, len(content_paths) * len(style_paths) * len(labels)
                       + len(clips) * len(style_paths) * len(video_labels))  # fmt: skip
    with torch.no_grad():
        style_images = {stem: _load(path, size) for stem, path in style_paths.items()}
        if inception is not None:
            style_features = [inception(image_to_tensor(image, device=device)) for image in style_images.values()]
        failures: list[Failure] = []
        vgg_vectors: dict[str, list[torch.Tensor]] = {}
        records = _image_records(content_paths, style_images, labels, source, vgg=vgg, size=size, device=device,
                                 inception=inception, output_features=output_features, notes=notes, counter=counter,
                                 failures=failures, vgg_vectors=vgg_vectors)  # fmt: skip
        style_vectors = feature_vectors(vgg, [image_to_tensor(image, device=device) for image in style_images.values()])
        for clip in clips:
            content_paths[clip.stem] = poster(clip, video_settings.size, images_dir, protect=clips)  # type: ignore[arg-type]
            for style_stem, style_image in style_images.items():
                for label, factory in (video_methods or {}).items():
                    rows = 0
                    try:
                        for record in video_rows(clip, (style_stem, style_image), label, factory, vgg=vgg,
                                                 settings=video_settings, work_dir=images_dir, device=device,
                                                 protect=clips):  # type: ignore[arg-type]  # fmt: skip
                            records.append(record)
                            rows += 1
                            counter.done(f"{record.method}: {clip.stem} × {style_stem}")
                    except Exception as error:  # noqa: BLE001 — recorded; the other outputs go on
                        if isinstance(error, Cancelled):
                            raise
                        method = f"{label}{suffixes[rows]}"
                        failures.append(Failure(clip.stem, style_stem, method, failure_message(error)))
                        for suffix in suffixes[rows:]:
                            counter.done(f"{label}{suffix}: {clip.stem} × {style_stem} failed")

    evaluation = Evaluation(records=records, methods=labels + video_labels, contents=content_paths, styles=style_paths,
                            size=size, notes=notes, settings={"size": size, "device": str(device), **(settings or {})},
                            failures=failures)  # fmt: skip
    for label, vectors in vgg_vectors.items():
        # Every method's outputs against the paintings as a set (no downloads): a method that paints
        # in the paintings' manner comes closer than one that only takes their colours.
        evaluation.set_metrics.setdefault(label, {})["vgg_frechet"] = metrics.fid_from_features(torch.cat(vectors), style_vectors)
    if inception is not None:
        for label, values in set_metrics(records, output_features, style_features).items():
            evaluation.set_metrics.setdefault(label, {}).update(values)
    else:
        evaluation.notes.append("FID and ArtFID skipped: no Inception weights given (--inception-weights FILE)")
    if out_dir is not None:
        evaluation.files = write_report(evaluation, out_dir, check=False)
    return evaluation


def _output_source(methods: Mapping[str, MethodFunction] | str | os.PathLike, content_paths: Mapping[str, Path],
                   style_paths: Mapping[str, Path], keep_methods: Optional[Sequence[str]], device: torch.device,
                   images_dir: Optional[Path], protect: Sequence[Path]) -> tuple[list[str], OutputSource, list[str]]:  # fmt: skip
    """The method labels, where their outputs come from (run, or read from a folder), and notes for the report."""
    if isinstance(methods, (str, os.PathLike)):
        outputs = find_outputs(methods, list(content_paths), list(style_paths))
        labels = sorted({method for _, _, method in outputs})
        if keep_methods:
            missing = [label for label in keep_methods if label not in labels]
            if missing:
                raise PainterlyError(
                    f"no outputs of {', '.join(missing)} in {methods}: methods found there: {', '.join(labels)}"
                )
            labels = list(keep_methods)
        return labels, _reading(outputs), [f"outputs read from {methods}: seconds and memory not measured"]
    if not methods:
        raise PainterlyError("no method to evaluate: name at least one, e.g. --method optimize")
    labels = [check_method_label(label) for label in methods]
    return labels, _running(methods, device, images_dir, protect), []


def _image_records(content_paths: Mapping[str, Path], style_images: Mapping[str, Image.Image], labels: Sequence[str],
                   source: OutputSource, *, vgg, size: int, device: torch.device, inception: Optional[FeatureExtractor],
                   output_features: dict[str, list[torch.Tensor]], notes: list[str], counter: "_Counter",
                   failures: list[Failure], vgg_vectors: dict[str, list[torch.Tensor]]) -> list[Record]:  # fmt: skip
    """One record per (content, style, method) output, measured against its pair; outputs that
    fail are added to ``failures`` instead."""
    records: list[Record] = []
    for content_stem, content_path in content_paths.items():
        content_image = _load(content_path, size)
        content = image_to_tensor(content_image, device=device)
        for style_stem, style_image in style_images.items():
            reference = pair_reference(vgg, content, image_to_tensor(style_image, device=device))
            for label in labels:
                try:
                    produced = source(label, content_stem, style_stem, content_image, style_image)
                    if produced is None:
                        counter.skip()
                        notes.append(f"no output of {label} for {content_stem} × {style_stem}")
                        continue
                    output_image, output_path, measurement = produced
                    output = image_to_tensor(output_image, device=device)
                    features = inception(output) if inception is not None else None
                    vectors: list[torch.Tensor] = []
                    values = measure_output(vgg, output, reference, vectors)
                except Exception as error:  # noqa: BLE001 — recorded; the other outputs go on
                    if isinstance(error, Cancelled):
                        raise
                    failures.append(Failure(content_stem, style_stem, label, failure_message(error)))
                    counter.done(f"{label}: {content_stem} × {style_stem} failed")
                    continue
                if features is not None:
                    output_features[label].append(features)
                vgg_vectors.setdefault(label, []).extend(vectors)
                records.append(Record(content=content_stem, style=style_stem, method=label, **values,
                                      seconds=measurement.seconds, peak_memory_mb=measurement.peak_memory_mb,
                                      width=output_image.width, height=output_image.height, output=output_path))  # fmt: skip
                counter.done(f"{label}: {content_stem} × {style_stem}")
    return records


def failure_message(error: BaseException) -> str:
    """One line for a failed output: a project error's message, else the error's type and message."""
    text = " ".join(str(error).split())
    if isinstance(error, PainterlyError):
        return text
    return f"{type(error).__name__}: {text[:300] or 'no message'}"


class _Counter:
    """Counts outputs and reports each; ``progress`` returning ``False`` stops the evaluation."""

    def __init__(self, progress: Optional[ProgressCallback], total: int):
        self.progress, self.total, self.step = progress, total, 0

    def skip(self) -> None:
        self.step += 1

    def done(self, stage: str) -> None:
        self.step += 1
        _report(self.progress, self.step, self.total, stage)


def _report(progress: Optional[ProgressCallback], step: int, total: int, stage: str) -> None:
    if progress is not None and progress(ProgressEvent(step=step, total=total, stage=stage)) is False:
        raise Cancelled(f"evaluation stopped after {step} of {total} outputs")


def set_metrics(
    records: Sequence[Record], output_features: Mapping[str, list[torch.Tensor]], style_features: list[torch.Tensor]
) -> dict[str, dict[str, float]]:
    """FID (outputs against the style images) and ArtFID per method.

    ArtFID's content term is the method's mean normalized VGG content distance (see
    :func:`painterly.evaluate.metrics.art_fid`).
    """
    styles = torch.cat(style_features)
    result: dict[str, dict[str, float]] = {}
    for method, features in output_features.items():
        if not features:
            continue
        fid = metrics.fid_from_features(torch.cat(features), styles)
        distances = [r.content_distance_normalized for r in records if r.method == method]
        result[method] = {"fid": fid, "art_fid": metrics.art_fid(fid, sum(distances) / len(distances))}
    return result
