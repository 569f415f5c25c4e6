"""``painterly train-arbitrary`` and ``painterly train-anystyle``: train the networks that paint photos in any painting's style."""

from __future__ import annotations

from typing import Any

import click

from painterly.cli.common import ProgressReporter, config_kwargs, handle_errors, note_time_limit, options_from_config
from painterly.io.files import name_files
from painterly.train.anystyle import AnyStyleConfig
from painterly.train.arbitrary import ArbitraryTrainConfig
from painterly.train.config import PRECISIONS

TRAIN_ARBITRARY_OPTIONS = [
    "data", "styles", "out", "steps", "batch_size", "crop_size", "width", "content_weight", "style_weight",
    "tv_weight", "holdout", "resume", "device", "precision", "seed", "checkpoint_every", "time_limit", "sample_every",
    "learning_rate", "learning_rate_decay", "scale_jitter", "style_scale_jitter", "style_layers", "log_every",
    "keep_checkpoints", "workers", "run_dir", "vgg_weights",
]  # fmt: skip


@click.command("train-arbitrary")
@options_from_config(ArbitraryTrainConfig, TRAIN_ARBITRARY_OPTIONS, overrides={
    "data": {"required": True, "metavar": "PHOTO_DIR",
             "help": "Folder of training photos, searched recursively (COCO train2014 on a GPU)."},
    "styles": {"required": True, "multiple": True, "metavar": "PAINTINGS",
               "help": "A folder of paintings, an image file or a built-in style name; repeat for more."},
    "out": {"required": True, "metavar": "DECODER", "help": "The decoder file to write (.safetensors)."},
    "holdout": {"multiple": True, "metavar": "PAINTING",
                "help": "A painting (file name or stem) to leave out of training, to test on; repeat for more."},
    "precision": {"type": click.Choice(list(PRECISIONS))},
})  # fmt: skip
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
@handle_errors
def train_arbitrary_command(quiet: bool, **values: Any) -> None:
    """Train the AdaIN decoder: one network that paints photos like any painting, in one pass.

    \b
    Examples:
      painterly train-arbitrary --data photos/ --styles paintings/ --out adain-decoder.safetensors
      torchrun --nproc-per-node 4 -m painterly train-arbitrary --data coco/train2014 \\
          --styles wikiart/ --out decoder.safetensors --width 1 --batch-size 8 --steps 160000 --device cuda

    Checkpoints, sample images (photos, paintings, results) and losses.csv go to OUT's run
    folder (OUT without its suffix, plus .run); --resume continues from its last checkpoint.
    """
    from painterly.train.arbitrary import train_arbitrary

    values = {key: (value or None) if key in ("styles", "holdout") else value for key, value in values.items()}
    config = ArbitraryTrainConfig(**config_kwargs(ArbitraryTrainConfig, values))
    with ProgressReporter("training decoder", enabled=not quiet) as reporter:
        result = train_arbitrary(config, progress=reporter)
    if result.model_path is None:
        return  # not the main process of a multi-process run
    losses = ", ".join(f"{name} {value:.4g}" for name, value in result.losses.items())
    skipped = (f"; skipped {len(result.unreadable)} unreadable files: {name_files(result.unreadable)}"
               if result.unreadable else "")  # fmt: skip
    click.echo(f"wrote {result.model_path}: {result.steps} steps, {result.seconds / 60:.1f} min, "
               f"{result.images_per_second:.2f} images/s ({losses}){skipped}", err=True)  # fmt: skip
    note_time_limit(result, config)


TRAIN_ANYSTYLE_OPTIONS = [
    "paintings", "holdout", "data", "out", "init", "styles", "hidden", "views", "colour_views", "steps", "batch_size", "crop_min",
    "crop_max", "style_size", "style_loss", "learning_rate", "network_learning_rate", "content_weight",
    "style_weight", "tv_weight", "max_grad_norm", "resume", "device", "precision", "seed", "checkpoint_every", "time_limit", "sample_every",
    "log_every", "keep_checkpoints", "workers", "run_dir",
]  # fmt: skip


@click.command("train-anystyle")
@options_from_config(AnyStyleConfig, TRAIN_ANYSTYLE_OPTIONS, overrides={
    "paintings": {"metavar": "PAINTING_DIR", "help": "Folder of training paintings [default: the shared train-paintings]."},
    "data": {"metavar": "PHOTO_DIR", "help": "Folder of training photos [default: the shared train-photos]."},
    "holdout": {"multiple": True, "metavar": "PAINTING",
                "help": "A painting (file stem) never trained on; repeat for more [default: eight varied ones]."},
    "init": {"metavar": "MODEL", "help": "Network to start from: shared (the shipped one), a multi-style or any-painting model file, or '' for random."},
    "precision": {"type": click.Choice(list(PRECISIONS))},
})  # fmt: skip
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
@handle_errors
def train_anystyle_command(quiet: bool, **values: Any) -> None:
    """Train the any-painting network: a style predictor and a light style network, photos × paintings.

    \b
    Examples:
      painterly train-anystyle --out anystyle.safetensors --resume          # CPU, resumable, hours
      painterly train-anystyle --out anystyle.safetensors --device cuda --batch-size 16 --steps 20000

    Checkpoints, sample images (training photos painted like held-out paintings) and losses.csv go
    to OUT's run folder (OUT without its suffix, plus .run); --resume continues from its last
    checkpoint. Use the result with `painterly stylize PHOTO --style PAINTING --anystyle-model OUT`.
    """
    from painterly.train.anystyle import train_anystyle

    values = {key: value for key, value in values.items() if not (key == "holdout" and not value)}
    if values.get("init") == "":
        values["init"] = None
    config = AnyStyleConfig(**config_kwargs(AnyStyleConfig, values))
    with ProgressReporter("training any-painting network", enabled=not quiet) as reporter:
        result = train_anystyle(config, progress=reporter)
    if result.model_path is None:
        return  # not the main process of a multi-process run
    losses = ", ".join(f"{name} {value:.4g}" for name, value in result.losses.items())
    click.echo(f"wrote {result.model_path}: {result.steps} steps, {result.seconds / 60:.1f} min, "
               f"{result.images_per_second:.2f} images/s ({losses})", err=True)  # fmt: skip
    note_time_limit(result, config)
