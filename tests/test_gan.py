"""GAN style transfer: adversarial losses, the PatchGAN, adversarial style training, CycleGAN, CLI."""

from __future__ import annotations

import csv
import json
import math
import runpy
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from conftest import make_random_vgg
from ddp_helpers import run_on_two_processes
from feedforward_helpers import TINY, photo_folder
from painterly.errors import PainterlyError
from painterly.losses.adversarial import (
    discriminator_loss,
    generator_loss,
    hinge_discriminator_loss,
    lsgan_discriminator_loss,
    r1_penalty,
)
from painterly.models import load_model
from painterly.progress import Cancelled
from painterly.models.discriminator import DiscriminatorConfig, PatchDiscriminator, input_channels
from painterly.train import TrainConfig, train
from painterly.train.adversarial import fit_painting, style_patches
from painterly.train.cyclegan import CycleGANConfig, ImagePool, learning_rate_factor, train_cyclegan

pytestmark = pytest.mark.usefixtures("single_thread")

TINY_DISCRIMINATOR = {"discriminator_channels": 4, "discriminator_layers": 2}


def read_log(run_dir: Path) -> dict[int, dict[str, float]]:
    with (run_dir / "losses.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    return {int(row["step"]): {k: float(v or "nan") for k, v in row.items() if k != "step"} for row in rows}


def checkpoint(run_dir: Path, step: int) -> dict:
    return torch.load(run_dir / "checkpoints" / f"step-{step:06d}.pt", weights_only=True)


def changed(first: dict[str, torch.Tensor], second: dict[str, torch.Tensor]) -> bool:
    return any(not torch.equal(first[name], second[name]) for name in first if first[name].is_floating_point())


# --- losses and the discriminator --------------------------------------------------------------------


def test_gan_losses_on_known_logits():
    real, fake = torch.tensor([[2.0, 0.5]]), torch.tensor([[-2.0, 0.0]])
    assert hinge_discriminator_loss(real, fake) == pytest.approx(0.5 * 0.5 + 0.5 * 1.0)
    assert lsgan_discriminator_loss(real, fake) == pytest.approx(0.5 * ((1 + 0.25) / 2 + (4 + 0) / 2))
    assert generator_loss("hinge", fake) == pytest.approx(1.0)
    assert generator_loss("lsgan", torch.ones(3)) == 0
    assert discriminator_loss("lsgan", torch.ones(2), torch.zeros(2)) == 0
    with pytest.raises(PainterlyError, match="hinge, lsgan"):
        generator_loss("wgan", fake)


def test_r1_penalty_is_the_squared_gradient_norm():
    inputs = torch.rand(2, 3, 4, 4, requires_grad=True)
    weight = torch.randn(3, 4, 4)
    logits = (inputs * weight).sum(dim=(1, 2, 3))  # gradient = weight for each sample
    assert r1_penalty(logits, inputs) == pytest.approx(float(weight.pow(2).sum()), rel=1e-5)
    with pytest.raises(PainterlyError, match="requires_grad"):
        r1_penalty(logits, inputs.detach())


def test_patch_discriminator_shapes_spectral_norm_and_features():
    disc = PatchDiscriminator(DiscriminatorConfig(channels=8))
    assert disc(torch.rand(2, 3, 64, 64)).shape == (2, 1, 6, 6)
    assert DiscriminatorConfig().patch_size == 70
    for _ in range(20):  # power iterations converge in training mode
        disc(torch.rand(1, 3, 32, 32))
    weight = disc.convs[1].weight.detach()
    assert torch.linalg.matrix_norm(weight.flatten(1), ord=2) == pytest.approx(1.0, abs=0.05)
    on_features = PatchDiscriminator(DiscriminatorConfig(features="relu3_1", channels=4, layers=1, norm="instance"))
    assert input_channels("relu3_1") == 256 and input_channels("pool5") == 512
    assert on_features(torch.rand(1, 256, 16, 16)).shape == (1, 1, 6, 6)
    with pytest.raises(PainterlyError, match="expects"):
        on_features(torch.rand(1, 3, 16, 16))
    with pytest.raises(PainterlyError, match="unknown VGG19 layer"):
        DiscriminatorConfig(features="relu9_9")


@pytest.mark.parametrize("gan_loss", ["hinge", "lsgan"])
def test_the_discriminator_learns_to_tell_texture_from_flat_grey(gan_loss):
    from painterly.train.adversarial import Adversary

    torch.manual_seed(0)
    judge = Adversary(DiscriminatorConfig(channels=8, layers=2), gan_loss=gan_loss, learning_rate=2e-3, r1_weight=0.1)
    texture = torch.rand(4, 3, 32, 32)
    grey = torch.full((4, 3, 32, 32), 0.5) + 0.01 * torch.randn(4, 3, 32, 32)
    losses = [judge.step(texture, grey)["discriminator"] for _ in range(40)]
    # The mean of the last ten: with spectral norm the hinge loss oscillates step to step (by how much
    # depends on the CPU's arithmetic), but falls on the whole.
    assert sum(losses[-10:]) / 10 < 0.75 * losses[0]
    assert float(judge.generator_loss(grey)) > float(judge.generator_loss(texture))


def test_style_patches_are_seeded_crops_of_the_painting():
    painting = fit_painting(torch.rand(1, 3, 20, 40), 24)
    assert painting.shape[-2:] == (24, 48)
    first = style_patches(painting, 3, 16, torch.Generator().manual_seed(1))
    again = style_patches(painting, 3, 16, torch.Generator().manual_seed(1))
    assert first.shape == (3, 3, 16, 16) and torch.equal(first, again)


# --- adversarial per-style training -----------------------------------------------------------------


def style_config(tmp_path: Path, photos: Path, **changes) -> TrainConfig:
    values = dict(
        style="starry-night", data=str(photos), out=str(tmp_path / "model.safetensors"), steps=4, batch_size=2,
        crop_size=32, style_size=64, log_every=1, checkpoint_every=1, sample_every=0, keep_checkpoints=5,
        network=TINY, device="cpu", precision="fp32", learning_rate=1e-2,
    )  # fmt: skip
    values.update(changes)
    return TrainConfig(**values)


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    return photo_folder(tmp_path_factory.mktemp("gan") / "photos", count=6)


def test_adversarial_training_changes_both_networks_and_resumes_exactly(tmp_path, photos):
    vgg = make_random_vgg("relu4_3")
    adversarial = dict(adversarial_weight=0.5, warmup_steps=1, **TINY_DISCRIMINATOR)
    straight = train(style_config(tmp_path / "a", photos, **adversarial), vgg=vgg)
    log = read_log(straight.run_dir)
    assert sorted(log) == [1, 2, 3, 4]
    assert all(torch.isfinite(torch.tensor(list(row.values()))).all() for row in log.values())
    assert {"adversarial", "discriminator"} <= set(log[4])
    first, last = checkpoint(straight.run_dir, 1), checkpoint(straight.run_dir, 4)
    assert changed(first["model"], last["model"])
    assert changed(first["extra"]["discriminator"]["weights"], last["extra"]["discriminator"]["weights"])
    _, info = load_model(straight.model_path)
    assert info.record["discriminator"]["channels"] == 4 and info.training["adversarial_weight"] == 0.5

    config = style_config(tmp_path / "b", photos, steps=2, **adversarial)
    train(config, vgg=vgg)
    config.steps, config.resume = 4, True
    resumed = read_log(train(config, vgg=vgg).run_dir)
    for step in (3, 4):
        for name in ("total", "adversarial", "discriminator"):
            assert resumed[step][name] == pytest.approx(log[step][name], rel=1e-5)


def test_multi_scale_discriminators_judge_smaller_copies_and_resume_exactly(tmp_path, photos):
    from painterly.train.adversarial import MultiScaleAdversary, at_scale

    assert at_scale(torch.ones(2, 3, 32, 24), 2).shape == (2, 3, 8, 6)
    vgg = make_random_vgg("relu4_3")
    adversarial = dict(adversarial_weight=0.5, warmup_steps=1, discriminator_scales=2, **TINY_DISCRIMINATOR)
    straight = train(style_config(tmp_path / "a", photos, **adversarial), vgg=vgg)
    log = read_log(straight.run_dir)
    assert all(math.isfinite(log[step]["discriminator"]) and log[step]["discriminator"] > 0 for step in log)
    first, last = checkpoint(straight.run_dir, 1), checkpoint(straight.run_dir, 4)
    scales = [state["weights"] for state in last["extra"]["discriminator"]["scales"]]
    assert len(scales) == 2 and changed(scales[0], scales[1])  # two discriminators, not one shared
    assert all(changed(before["weights"], after["weights"]) for before, after in
               zip(first["extra"]["discriminator"]["scales"], last["extra"]["discriminator"]["scales"]))  # fmt: skip

    config = style_config(tmp_path / "b", photos, steps=2, **adversarial)
    train(config, vgg=vgg)
    config.steps, config.resume = 4, True
    resumed = read_log(train(config, vgg=vgg).run_dir)
    for name in ("total", "adversarial", "discriminator"):
        assert resumed[4][name] == pytest.approx(log[4][name], rel=1e-5)
    assert isinstance(MultiScaleAdversary(3, DiscriminatorConfig(channels=4, layers=2), gan_loss="hinge",
                                          learning_rate=1e-3).judges[2].disc, PatchDiscriminator)  # fmt: skip
    with pytest.raises(PainterlyError, match="discriminator-scales is 1, 2 or 3"):
        style_config(tmp_path, photos, discriminator_scales=4).validate()


def test_feature_discriminator_with_lsgan_and_r1(tmp_path, photos):
    config = style_config(tmp_path, photos, steps=2, adversarial_weight=0.1, warmup_steps=0, gan_loss="lsgan",
                          discriminator_features="relu2_1", r1_weight=1.0, **TINY_DISCRIMINATOR)  # fmt: skip
    log = read_log(train(config, vgg=make_random_vgg("relu4_3")).run_dir)
    assert log[2]["r1"] >= 0 and log[2]["discriminator"] > 0
    with pytest.raises(PainterlyError, match="GAN loss"):
        style_config(tmp_path, photos, gan_loss="wgan").validate()


def test_adversarial_weight_zero_trains_exactly_like_the_plain_trainer(tmp_path, photos):
    vgg = make_random_vgg("relu4_3")
    plain = train(style_config(tmp_path / "plain", photos, steps=2), vgg=vgg)
    off = train(style_config(tmp_path / "off", photos, steps=2, adversarial_weight=0.0, gan_loss="lsgan", r1_weight=1.0,
                             discriminator_features="relu5_1", warmup_steps=0), vgg=vgg)  # fmt: skip
    assert read_log(plain.run_dir).keys() == read_log(off.run_dir).keys()
    for step, row in read_log(plain.run_dir).items():
        assert row.keys() == read_log(off.run_dir)[step].keys()
        assert row["total"] == read_log(off.run_dir)[step]["total"]
    assert "extra" not in checkpoint(off.run_dir, 2) or not checkpoint(off.run_dir, 2)["extra"]
    for a, b in zip(checkpoint(plain.run_dir, 2)["model"].values(), checkpoint(off.run_dir, 2)["model"].values()):
        assert torch.equal(a, b)


def test_adversarial_training_with_two_gloo_processes(tmp_path, photos):
    from test_train import _ddp_worker

    config = style_config(tmp_path, photos, steps=2, adversarial_weight=0.1, warmup_steps=0, **TINY_DISCRIMINATOR)
    state = make_random_vgg("relu5_1").state_dict()
    run_on_two_processes(_ddp_worker, config, state)
    _, info = load_model(config.out)
    assert info.record["processes"] == 2 and "discriminator" in info.record["losses"]


def test_a_plain_run_resumes_as_an_adversarial_one(tmp_path, photos):
    vgg = make_random_vgg("relu4_3")
    config = style_config(tmp_path, photos, steps=2)
    train(config, vgg=vgg)
    config.steps, config.resume, config.adversarial_weight = 3, True, 0.1
    config.discriminator_channels, config.discriminator_layers = 4, 2
    log = read_log(train(config, vgg=vgg).run_dir)
    assert sorted(log) == [1, 2, 3] and log[3]["discriminator"] > 0
    assert log[1]["total"] > 0 and "discriminator" in log[1]  # the earlier rows are kept, by column name


# --- CycleGAN ---------------------------------------------------------------------------------------


def test_image_pool_fills_then_mixes_and_saves_its_state():
    generator = torch.Generator().manual_seed(0)
    assert torch.equal(ImagePool(0).query(torch.ones(2, 3, 4, 4), generator), torch.ones(2, 3, 4, 4))
    pool = ImagePool(3)
    first = torch.stack([torch.full((3, 4, 4), float(i)) for i in range(3)])
    assert torch.equal(pool.query(first, generator), first) and len(pool.images) == 3
    newest = torch.full((8, 3, 4, 4), 9.0)
    returned = pool.query(newest, generator)
    values = {float(image[0, 0, 0]) for image in returned}
    assert returned.shape == newest.shape and 9.0 in values and values - {9.0}  # some old, some new
    assert len(pool.images) == 3
    copy = ImagePool(3)
    copy.load_state_dict(pool.state_dict())
    again = [ImagePool(3), ImagePool(3)]
    for other in again:
        other.load_state_dict(pool.state_dict())
    a = again[0].query(newest, torch.Generator().manual_seed(5))
    assert torch.equal(a, again[1].query(newest, torch.Generator().manual_seed(5)))


def test_learning_rate_decays_linearly_over_the_second_half():
    factors = [learning_rate_factor(step, 10, 0.5) for step in range(10)]
    assert factors[:5] == [1.0] * 5
    assert all(a > b > 0 for a, b in zip(factors[4:], factors[5:]))


def gan_config(tmp_path: Path, **changes) -> CycleGANConfig:
    values = dict(
        domain_a=str(photo_folder(tmp_path / "domain_a", 4)), domain_b=str(tmp_path / "domain_b"),
        out=str(tmp_path / "run"), steps=4, crop_size=32, network=TINY, pool_size=2, checkpoint_every=1,
        sample_every=2, log_every=1, keep_checkpoints=5, device="cpu", **TINY_DISCRIMINATOR,
    )  # fmt: skip
    if not Path(values["domain_b"]).exists():
        paintings = Path(values["domain_b"])
        paintings.mkdir(parents=True)
        for index in range(3):
            pixels = np.random.default_rng(index).integers(0, 256, (36 + 4 * index, 44, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(paintings / f"painting{index}.jpg")
    values.update(changes)
    return CycleGANConfig(**values)


def test_cyclegan_trains_in_bf16_close_to_fp32(tmp_path):
    logs = {precision: read_log(train_cyclegan(gan_config(tmp_path / precision, steps=2, precision=precision)).run_dir)
            for precision in ("bf16", "fp32")}  # fmt: skip
    for name in ("cycle", "identity", "adversarial"):
        # The same first step: bf16 passes change the losses by rounding only.
        assert logs["bf16"][1][name] == pytest.approx(logs["fp32"][1][name], rel=0.05)
        assert logs["bf16"][1][name] != logs["fp32"][1][name]  # bf16 did run
    assert all(math.isfinite(value) for row in logs["bf16"].values() for value in row.values())
    with pytest.raises(PainterlyError, match="unknown precision"):
        gan_config(tmp_path / "c", precision="fp8").validate()


def test_cyclegan_trains_both_directions_and_resumes_exactly(tmp_path):
    from painterly.methods.feedforward import FastConfig, FastStylizer

    events = []
    result = train_cyclegan(gan_config(tmp_path / "a"), progress=events.append)
    log = read_log(result.run_dir)
    assert sorted(log) == [1, 2, 3, 4]
    assert all(torch.isfinite(torch.tensor(list(row.values()))).all() for row in log.values())
    assert [event.step for event in events] == [1, 2, 3, 4] and "ETA" in events[0].stage
    assert events[1].preview is not None
    assert sorted(p.name for p in (result.run_dir / "samples").iterdir()) == ["step-000002.jpg", "step-000004.jpg"]
    first, last = checkpoint(result.run_dir, 1), checkpoint(result.run_dir, 4)
    assert changed(first["model"], last["model"])
    for domain in ("a", "b"):
        assert changed(first["extra"][f"judge_{domain}"]["weights"], last["extra"][f"judge_{domain}"]["weights"])
    photo = torch.rand(1, 3, 30, 42)
    for direction in ("a2b", "b2a"):
        net, info = load_model(result.models[direction])
        assert info.network == TINY and info.training["direction"] == direction
        output = FastStylizer(FastConfig(model=str(result.models[direction])), "cpu").stylize_tensor(photo)
        assert output.shape == photo.shape and 0 <= output.min() and output.max() <= 1
    assert load_model(result.models["a2b"])[1].name == "domain-a-to-domain-b"

    # Stopped after step 2 (a checkpoint is written), then resumed: the learning-rate schedule
    # depends on the planned steps, so the run is interrupted rather than planned shorter.
    config = gan_config(tmp_path / "b", checkpoint_every=0)
    with pytest.raises(Cancelled, match="step 2"):
        train_cyclegan(config, progress=lambda event: event.step < 2)
    config.resume = True
    resumed = read_log(train_cyclegan(config).run_dir)
    for step in (3, 4):
        for name in ("total", "discriminator_a", "discriminator_b"):
            assert resumed[step][name] == pytest.approx(log[step][name], rel=1e-5)


def _cyclegan_ddp_worker(rank: int, world_size: int, port: int, config: CycleGANConfig) -> None:
    import os

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), WORLD_SIZE=str(world_size), RANK=str(rank),
                      LOCAL_RANK=str(rank))  # fmt: skip
    torch.set_num_threads(1)
    from painterly.train.cyclegan import CycleGANStep
    from painterly.train.loop import fit

    built = []
    result = fit(config, lambda run: built.append(CycleGANStep(run)) or built[-1])
    assert (result.models != {}) == (rank == 0)
    torch.save(built[0].model.nets.state_dict(), Path(config.out) / f"rank{rank}.pt")


def test_cyclegan_with_two_gloo_processes(tmp_path):
    config = gan_config(tmp_path, steps=2, sample_every=0)
    run_on_two_processes(_cyclegan_ddp_worker, config)
    _, info = load_model(Path(config.out) / "a2b.safetensors")
    assert info.record["processes"] == 2 and info.record["steps"] == 2
    assert sorted(read_log(Path(config.out))) == [1, 2]
    # Each process trained on its own crops; the averaged gradients keep the generators equal.
    ranks = [torch.load(Path(config.out) / f"rank{rank}.pt") for rank in (0, 1)]
    assert all(torch.equal(ranks[0][name], ranks[1][name]) for name in ranks[0])


def test_bad_domain_folders_are_clear_errors(tmp_path):
    config = gan_config(tmp_path, domain_b=str(tmp_path / "missing"))
    with pytest.raises(PainterlyError, match="domain B .* is not a folder: give --domain-b"):
        train_cyclegan(config)
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("no images here")
    with pytest.raises(PainterlyError, match="domain A .* has no images: give --domain-a"):
        train_cyclegan(gan_config(tmp_path, domain_a=str(tmp_path / "empty")))
    with pytest.raises(PainterlyError, match="decay-from"):
        gan_config(tmp_path, decay_from=2.0).validate()


# --- command line -----------------------------------------------------------------------------------


def test_gan_commands_end_to_end(tmp_path, monkeypatch):
    import painterly.features
    from painterly.cli.gan import gan_group

    config = gan_config(tmp_path)
    run = tmp_path / "run"
    runner = CliRunner()
    arguments = ["train", "--domain-a", config.domain_a, "--domain-b", config.domain_b, "--out", str(run), "--steps", "2",
                 "--crop-size", "32", "--discriminator-channels", "4", "--discriminator-layers", "2", "--device", "cpu",
                 "--sample-every", "0", "--quiet"]  # fmt: skip
    result = runner.invoke(gan_group, arguments)
    assert result.exit_code == 0, result.output
    assert (run / "a2b.safetensors").is_file() and "images/s" in result.output

    photo = tmp_path / "photo.png"
    Image.new("RGB", (40, 28), (200, 120, 40)).save(photo)
    for direction in ("a2b", "b2a"):
        out = tmp_path / f"{direction}.jpg"
        result = runner.invoke(gan_group, ["apply", str(run), str(photo), "-o", str(out), "--direction", direction])
        assert result.exit_code == 0, result.output
        assert Image.open(out).size == (40, 28)
    for bad in (["apply", str(run), str(photo), "-o", str(photo)],
                ["apply", str(run), str(tmp_path / "none.jpg"), "-o", str(tmp_path / "x.jpg")],
                ["apply", str(tmp_path), str(photo), "-o", str(tmp_path / "x.jpg")],
                [*arguments[:2], str(tmp_path / "nowhere"), *arguments[3:]]):  # fmt: skip
        result = runner.invoke(gan_group, bad)
        assert result.exit_code == 2 and result.output.startswith("error:") and result.output.count("\n") == 1, bad
    assert Image.open(photo).size == (40, 28)

    # One generator alone: the run's model file, or a shipped one by name (its other direction with --direction).
    for index, (model, direction) in enumerate(((str(run / "a2b.safetensors"), "a2b"), ("photo2impressionism", "a2b"),
                                                ("photo2impressionism", "b2a"), ("impressionism2photo", "b2a"))):  # fmt: skip
        out = tmp_path / f"model{index}.png"
        result = runner.invoke(gan_group, ["apply", model, str(photo), "-o", str(out), "--size", "24", "--direction", direction])
        assert result.exit_code == 0, result.output
        assert Image.open(out).size == (24, 17)
    # photo2impressionism --direction b2a is impressionism2photo: the same picture.
    assert np.array_equal(np.asarray(Image.open(tmp_path / "model2.png")), np.asarray(Image.open(tmp_path / "model3.png")))
    for bad, message in ((["apply", str(run / "a2b.safetensors"), str(photo), "-o", str(tmp_path / "x.png"), "--direction", "b2a"],
                          "translates a2b only"),
                         (["apply", "no-such-model", str(photo), "-o", str(tmp_path / "x.png")], "neither a GAN run folder")):
        result = runner.invoke(gan_group, bad)
        assert result.exit_code == 2 and message in result.output and result.output.count("\n") == 1, result.output

    monkeypatch.setattr(painterly.features, "load_vgg19", lambda **kwargs: make_random_vgg("relu5_1"))
    report = tmp_path / "report"
    result = runner.invoke(gan_group, ["test", str(run), "--data", config.domain_a, "-o", str(report), "--size", "32",
                                       "--max-images", "3", "--max-references", "2", "--device", "cpu"])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "gan-a2b" in result.output
    frechet = [line for line in result.stdout.splitlines() if "Fréchet distance to the target domain" in line]
    assert len(frechet) == 1 and float(frechet[0].split()[-1]) >= 0
    notes = json.loads((report / "report.json").read_text())["notes"]
    assert [note for note in notes if note.startswith("Fréchet distance") and note.endswith(frechet[0].split()[-1])]
    assert (report / "grid.jpg").is_file() and (report / "report.html").is_file()
    assert Image.open(report / "grid.jpg").size == (3 * 32, 2 * 32)
    with (report / "report.csv").open() as handle:
        assert len(list(csv.DictReader(handle))) == 3 * 2

    # One generator's model file is tested alone, against its own training's other domain by default.
    report = tmp_path / "report-b2a"
    result = runner.invoke(gan_group, ["test", str(run / "b2a.safetensors"), "--data", config.domain_b, "-o", str(report),
                                       "--size", "32", "--max-images", "2", "--max-references", "2", "--device", "cpu"])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "gan-b2a" in result.output and "Fréchet" in result.output
    assert json.loads((report / "report.json").read_text())["settings"]["direction"] == "b2a"

    # Both generators installed by the shipping script, each with its title; --direction finds the other one.
    models = tmp_path / "models"
    models.mkdir()
    monkeypatch.setattr(sys, "argv", ["ship_cyclegan.py", str(run), "--a2b", "mine2paintings", "--b2a", "paintings2mine",
                                      "--a2b-title", "my photos into paintings", "--b2a-title", "paintings into my photos",
                                      "--into", str(models)])  # fmt: skip
    runpy.run_path(str(Path(__file__).resolve().parents[1] / "scripts" / "ship_cyclegan.py"), run_name="__main__")
    monkeypatch.setenv("PAINTERLY_MODELS_DIR", str(models))
    from painterly.cli.gan import gan_model_path
    from painterly.registry import list_models

    titles = {entry.name: entry.title for entry in list_models() if entry.kind == "cyclegan"}
    assert titles["mine2paintings"].startswith("translates my photos into paintings (CycleGAN generator")
    assert titles["paintings2mine"].startswith("translates paintings into my photos (")

    assert gan_model_path(Path("mine2paintings"), "b2a", direction_given=True) == models / "paintings2mine.safetensors"
    assert gan_model_path(Path("mine2paintings"), "a2b", direction_given=True) == models / "mine2paintings.safetensors"
    out = tmp_path / "back.png"
    result = runner.invoke(gan_group, ["apply", "mine2paintings", str(photo), "-o", str(out), "--direction", "b2a"])
    assert result.exit_code == 0 and Image.open(out).size == (40, 28), result.output


def test_train_command_takes_the_adversarial_options(tmp_path, photos):
    from painterly.cli.train import train_command

    model = tmp_path / "gan.safetensors"
    arguments = ["--style", "starry-night", "--data", str(photos), "--out", str(model), "--steps", "2", "--batch-size", "1",
                 "--crop-size", "32", "--style-size", "64", "--device", "cpu", "--quiet", "--adversarial-weight", "0.1",
                 "--gan-loss", "lsgan", "--discriminator-channels", "4", "--warmup-steps", "1"]  # fmt: skip
    result = CliRunner().invoke(train_command, arguments)
    assert result.exit_code == 0, result.output
    _, info = load_model(model)
    assert info.training["gan_loss"] == "lsgan" and "discriminator" in info.record["losses"]
    result = CliRunner().invoke(train_command, [*arguments[:-8], "--gan-loss", "wgan"])
    assert result.exit_code == 2


def test_the_vgg_frechet_distance_is_zero_for_one_set_and_grows_as_sets_part():
    from painterly.evaluate.measure import vgg_frechet_distance

    vgg = make_random_vgg("relu5_1")
    generator = torch.Generator().manual_seed(0)
    photos = [torch.rand(1, 3, 32, 32, generator=generator) for _ in range(6)]
    darker = [photo * 0.8 for photo in photos]
    darkest = [photo * 0.3 for photo in photos]
    apart, further = vgg_frechet_distance(vgg, darker, photos), vgg_frechet_distance(vgg, darkest, photos)
    assert 0 < apart < further
    assert abs(vgg_frechet_distance(vgg, photos, photos)) < 0.01 * apart  # zero, up to round-off

