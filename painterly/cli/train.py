"""``painterly train`` and ``painterly export``: train a feed-forward style model, export it."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import click

from painterly.cli.common import ProgressReporter, config_kwargs, handle_errors, note_time_limit, options_from_config
from painterly.errors import PainterlyError
from painterly.io.files import name_files
from painterly.losses.adversarial import GAN_LOSSES
from painterly.train.config import PRECISIONS, TrainConfig
from painterly.train.styles import (
    FINE_TUNE_CONTENT_TARGET, FINE_TUNE_CONTENT_WEIGHT, FINE_TUNE_STEPS, FINE_TUNE_STYLE_SIZE, STYLE_LOSSES, TRAINABLE,
    StylesConfig, fine_tune_config,
)  # fmt: skip

TRAIN_OPTIONS = [
    "style", "data", "out", "steps", "batch_size", "variant", "resume", "device", "crop_size", "scale_jitter",
    "style_size", "learning_rate", "content_weight", "style_weight", "tv_weight", "content_layers", "style_layers",
    "seed", "checkpoint_every", "sample_every", "log_every", "keep_checkpoints", "time_limit", "precision", "workers", "run_dir",
    "init", "name", "adversarial_weight", "gan_loss", "discriminator_features", "discriminator_channels",
    "discriminator_layers", "discriminator_spectral_norm", "discriminator_scales", "d_learning_rate", "warmup_steps", "r1_weight",
]  # fmt: skip


@click.command("train")
@options_from_config(TrainConfig, TRAIN_OPTIONS, overrides={
    "style": {"metavar": "PAINTING", "help": "The painting: a built-in style name or an image path."},
    "data": {"required": True, "metavar": "PHOTO_DIR",
             "help": "Folder of training photos, searched recursively (COCO train2014 on a GPU)."},
    "out": {"metavar": "MODEL", "help": "The model file to write (.safetensors); default: NAME in your models "
            "folder, so `--model NAME` paints with it at once."},
    "steps": {"help": f"Optimizer steps  [default: {FINE_TUNE_STEPS} fine-tuning the shared network, "
              "2000 from scratch]"},
    "name": {"help": "The model's name (default: the painting's name)."},
    "style_size": {"help": "Long side the painting is resized to before its style statistics are taken; larger "
                   f"gives smaller brush strokes relative to the crops  [default: {FINE_TUNE_STYLE_SIZE} fine-tuning, "
                   "512 from scratch, 384 with --styles]"},
    "content_weight": {"help": "Weight of the relative content loss (how much of the photo is kept); fixed when "
                       "given, else fine-tuning starts here and steers it (--content-target)  "
                       f"[default: {FINE_TUNE_CONTENT_WEIGHT} fine-tuning, 1.0 from scratch, 3.0 with --styles]"},
    "variant": {"type": click.Choice(["light", "johnson"])},
    "precision": {"type": click.Choice(list(PRECISIONS))},
    "gan_loss": {"type": click.Choice(list(GAN_LOSSES))},
    "init": {"metavar": "MODEL", "help": "Start from this model: `shared` (the shared multi-style network: "
             "fine-tune the multi-style recipe), a model file or a built-in name."},
})  # fmt: skip
@options_from_config(StylesConfig, ["styles", "train_only", "style_loss", "crop_min", "crop_max", "content_target"], overrides={
    "styles": {"metavar": "DIR_OR_LIST",
               "help": "Pre-train one multi-style network on these paintings: a folder, a file listing one per line, "
                       "or comma-separated files or names from train-paintings."},
    "train_only": {"type": click.Choice(list(TRAINABLE))},
    "style_loss": {"type": click.Choice(list(STYLE_LOSSES))},
    "content_target": {"type": click.FloatRange(0, 1, min_open=True, max_open=True), "metavar": "DISTANCE",
                       "help": "Steer the content weight during training so the photo's content distance (as "
                               "`painterly evaluate` measures it: 0 = the photo, 1 = the painting) settles here; "
                               "lower keeps more of the photo  [default: "
                               f"{FINE_TUNE_CONTENT_TARGET} fine-tuning, unless --content-weight is given]"},
})  # fmt: skip
@click.option("--from-scratch", is_flag=True, help="Train a new network from random weights (hours on a CPU) "
              "instead of fine-tuning the shipped shared network (minutes).")  # fmt: skip
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
@handle_errors
def train_command(quiet: bool, from_scratch: bool, **values: Any) -> None:
    """Train a feed-forward network that paints photos in one style, in one pass.

    By default a new style is fine-tuned from the shipped shared network (a few minutes on a CPU)
    and saved in your models folder under the painting's name.

    \b
    Examples:
      painterly train --style my-painting.jpg --data photos/
      painterly stylize photo.jpg --model my-painting
      painterly train --style starry-night --data photos/ --out starry.safetensors --from-scratch
      torchrun --nproc-per-node 4 -m painterly train --style scream.jpg --data coco/train2014 \\
          --out scream.safetensors --variant johnson --steps 40000 --device cuda
      painterly train --style starry-night --data photos/ --out starry-gan.safetensors \\
          --adversarial-weight 1 --discriminator-channels 32
      painterly train --styles ../shared/data/train-paintings --data ../shared/data/train-photos \\
          --out shared.safetensors --steps 20000
      painterly train --style my-painting.jpg --train-only norm --steps 300 \\
          --data ../shared/data/train-photos --out my-painting.safetensors

    Fine-tuning and --styles use the multi-style recipe (held-out photos skipped, 128-192 px
    crops, VGG19 to relu4_1, style statistics computed once); --from-scratch, --variant johnson
    and --adversarial-weight train one network from random weights.

    Checkpoints, sample images and losses.csv go to OUT's run folder (OUT without its suffix,
    plus .run); --resume continues from its last checkpoint.
    """
    from painterly.train import train
    from painterly.train.styles import train_styles

    if values.get("styles") and values.get("style"):
        raise PainterlyError("give either --style (one painting) or --styles (several), not both")
    if not values.get("styles") and not values.get("style"):
        raise PainterlyError("name the painting with --style PAINTING (or several with --styles DIR_OR_LIST)")
    recipe = training_recipe(values, from_scratch)
    if not values.get("out"):
        if values.get("styles"):
            raise PainterlyError("name the multi-style model file to write with --out FILE.safetensors")
        values["out"] = str(_default_model_path(values))
    if recipe == "from scratch":
        config: Any = TrainConfig(**config_kwargs(TrainConfig, values))
        run = train
    else:
        values["styles"] = values.get("styles") or values.get("style")
        if values.get("crop_size"):
            values["crop_min"] = values["crop_max"] = values["crop_size"]
        kwargs = config_kwargs(StylesConfig, values)
        config = fine_tune_config(**kwargs) if recipe == "fine-tune shared" else StylesConfig(**kwargs)
        run = train_styles
    with ProgressReporter("training", enabled=not quiet) as reporter:
        result = run(config, progress=reporter)
    if result.model_path is not None:
        losses = ", ".join(f"{name} {value:.4g}" for name, value in result.losses.items())
        click.echo(
            f"wrote {result.model_path} after {result.steps} steps in {result.seconds / 60:.1f} min "
            f"({result.images_per_second:.2f} images/s; {losses})",
            err=True,
        )
        if result.unreadable:
            click.echo(f"warning: skipped {len(result.unreadable)} unreadable files: {name_files(result.unreadable)}", err=True)
        note_time_limit(result, config)
        if not values.get("styles") or recipe == "fine-tune shared":
            click.echo(f"paint with it: painterly stylize PHOTO --model {_model_reference(result.model_path)}", err=True)


def training_recipe(values: dict[str, Any], from_scratch: bool) -> str:
    """Which trainer the options call for: ``multi-style`` (--styles, --train-only or a multi-style
    --init), ``from scratch`` (asked for, or what only it trains: the johnson variant, an adversarial
    loss, a one-style --init) or, by default, ``fine-tune shared``."""
    init = values.get("init")
    if values.get("styles") or values.get("train_only") or _is_multi_style(init):
        if from_scratch and values.get("style"):
            raise PainterlyError("--from-scratch trains a new network: leave out --init and --train-only")
        return "multi-style"
    scratch_only = (values.get("variant") or "light") != "light" or (values.get("adversarial_weight") or 0) > 0
    return "from scratch" if from_scratch or scratch_only or init else "fine-tune shared"


def _default_model_path(values: dict[str, Any]) -> Path:
    """``NAME.safetensors`` in the user's models folder; an existing model there is never overwritten."""
    from painterly.models.files import MODEL_SUFFIX, user_models_dir

    name = values.get("name") or Path(str(values["style"])).stem
    slug = "-".join("".join(c if c.isalnum() else " " for c in name.lower()).split()) or "my-style"
    path = user_models_dir() / f"{slug}{MODEL_SUFFIX}"
    if path.exists() and not values.get("resume"):
        raise PainterlyError(f"a model named {slug!r} exists already ({path}): choose another with --name or --out")
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def _model_reference(path: Path) -> str:
    """How ``--model`` names ``path``: its name when found by name from the models folders, else the path."""
    from painterly.models.files import MODEL_SUFFIX, resolve_model_path

    name = path.name[: -len(MODEL_SUFFIX)] if path.name.endswith(MODEL_SUFFIX) else ""
    try:
        found = bool(name) and resolve_model_path(name).resolve() == path.resolve()
    except PainterlyError:
        found = False
    return name if found else str(path)


def _is_multi_style(init: Optional[str]) -> bool:
    """Whether ``--init`` names the shared network or another multi-style model (the multi-style recipe's start)."""
    if not init:
        return False
    if init.strip().lower() == "shared":
        return True
    from painterly.models import resolve_model_path
    from painterly.models.files import read_model_file

    return read_model_file(resolve_model_path(init))[0].network.styles > 0


@click.command("export")
@click.argument("model")
@click.option("--format", "-f", "export_format", type=click.Choice(["onnx", "torchscript"]), default="onnx",
              show_default=True, help="File format to write.")  # fmt: skip
@click.option("--output", "-o", type=click.Path(path_type=Path), help="Output file (default: MODEL's name + .onnx/.pt).")
@click.option("--check/--no-check", default=True, show_default=True,
              help="Run the exported file once and compare it with PyTorch (max difference 2/255).")  # fmt: skip
@click.option("--style", metavar="PAINTING", help="MODEL is an AdaIN decoder: export the whole network (encoder, AdaIN "
              "to this painting, decoder) for this painting; MODEL is `anystyle` (or an any-painting model file): "
              "export its network for this painting.")  # fmt: skip
@click.option("--strength", type=click.FloatRange(0, 1), default=1.0, show_default=True, help="With --style: style strength.")
@click.option("--style-size", type=click.IntRange(min=16), default=1024, show_default=True,
              help="With --style: long side the painting is measured at; set it to the size of the photos you will paint.")
@handle_errors
def export_command(model: str, export_format: str, output: Optional[Path], check: bool, style: Optional[str],
                   strength: float, style_size: int) -> None:  # fmt: skip
    """Export MODEL (a built-in model name or a model file) to ONNX or TorchScript.

    \b
    Examples:
      painterly export starry-night --format onnx -o starry-night.onnx
      painterly export my-decoder.safetensors --style my-painting.jpg -o my-painting.onnx
      painterly export anystyle --style my-painting.jpg -o my-painting.onnx
    """
    from painterly.export import export_arbitrary, export_model
    from painterly.methods.anystyle import export_anystyle
    from painterly.models.anystyle import is_anystyle_file

    if output is None:
        stem = Path(style).stem if style else Path(model).stem
        output = Path(stem + (".onnx" if export_format == "onnx" else ".pt"))
    shipped_anystyle = model.strip().lower() in ("anystyle", "any")
    if shipped_anystyle or is_anystyle_file(Path(model).expanduser()):
        if not style:
            raise PainterlyError("an any-painting model paints the painting it is given: add --style PAINTING")
        if strength != 1.0:
            raise PainterlyError("--strength is not stored in an any-painting export: blend with the photo when you run it")
        written = export_anystyle(style, output, anystyle_model=None if shipped_anystyle else model, format=export_format,
                                  check=check)  # fmt: skip
    elif style:
        written = export_arbitrary(style, output, decoder=model, strength=strength, style_size=style_size,
                                   format=export_format, check=check)  # fmt: skip
    else:
        written = export_model(model, output, format=export_format, check=check)
    click.echo(f"wrote {written}", err=True)
