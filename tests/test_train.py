"""Training feed-forward style networks: the loop, checkpoints and resume, data, DDP, CLI."""

from __future__ import annotations

import csv
import os
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from ddp_helpers import run_on_two_processes
from feedforward_helpers import TINY, photo_folder
from painterly.errors import PainterlyError
from painterly.models import load_model
from painterly.train import PhotoCrops, TrainConfig, list_photos, train

pytestmark = pytest.mark.usefixtures("single_thread")


def tiny_config(tmp_path: Path, **changes) -> TrainConfig:
    values = dict(
        style="starry-night",
        data=str(tmp_path / "photos"),
        out=str(tmp_path / "model.safetensors"),
        steps=4,
        batch_size=2,
        crop_size=32,
        style_size=64,
        log_every=1,
        checkpoint_every=2,
        sample_every=2,
        network=TINY,
        device="cpu",
        precision="fp32",
        learning_rate=1e-2,
    )
    values.update(changes)
    return TrainConfig(**values)


def read_losses(run_dir: Path) -> dict[int, float]:
    with (run_dir / "losses.csv").open() as handle:
        return {int(row["step"]): float(row["total"]) for row in csv.DictReader(handle)}


@pytest.fixture
def photos(tmp_path):
    return photo_folder(tmp_path / "photos")


def test_training_lowers_the_loss_and_writes_everything(tmp_path, photos, random_vgg):
    events = []
    config = tiny_config(tmp_path, steps=12, batch_size=4, learning_rate=2e-2, log_every=3, sample_every=6)
    result = train(config, vgg=random_vgg, progress=events.append)
    losses = read_losses(result.run_dir)
    assert sorted(losses) == [3, 6, 9, 12]
    assert losses[12] < losses[3]
    assert [event.step for event in events] == [3, 6, 9, 12]
    assert events[-1].losses["images_per_second"] > 0 and "images/s" in events[-1].stage
    assert events[1].preview is not None and events[0].preview is None
    assert sorted(p.name for p in (result.run_dir / "samples").iterdir()) == ["step-000006.jpg", "step-000012.jpg"]
    assert [p.name for p in (result.run_dir / "checkpoints").iterdir()] == ["step-000012.pt"] or len(
        list((result.run_dir / "checkpoints").iterdir())
    ) == config.keep_checkpoints
    net, info = load_model(result.model_path)
    assert info.network == TINY and info.name == "starry-night"
    assert info.training["steps"] == 12 and info.record["steps"] == 12
    assert info.record["losses"]["total"] == pytest.approx(result.losses["total"])
    assert info.record["images_per_second"] > 0


def test_resume_continues_exactly(tmp_path, photos, random_vgg):
    straight = train(tiny_config(tmp_path / "a", data=str(photos)), vgg=random_vgg)
    config = tiny_config(tmp_path / "b", data=str(photos), steps=2)
    train(config, vgg=random_vgg)
    config.steps, config.resume = 4, True
    resumed = train(config, vgg=random_vgg)
    expected, got = read_losses(straight.run_dir), read_losses(resumed.run_dir)
    assert sorted(got) == [1, 2, 3, 4]
    for step in (3, 4):
        assert got[step] == pytest.approx(expected[step], rel=1e-5)
    first, _ = load_model(straight.model_path)
    second, _ = load_model(resumed.model_path)
    for a, b in zip(first.state_dict().values(), second.state_dict().values()):
        torch.testing.assert_close(a, b, atol=1e-3, rtol=0)
    config.steps = 3
    with pytest.raises(PainterlyError, match="already at step 4"):
        train(config, vgg=random_vgg)


def test_init_fine_tunes_a_trained_model(tmp_path, photos, random_vgg):
    first = train(tiny_config(tmp_path / "a", data=str(photos), steps=8, learning_rate=2e-2), vgg=random_vgg)
    trained, _ = load_model(first.model_path)
    # No learning: the fine-tuned model starts (and so stays) exactly where the first one ended.
    config = tiny_config(tmp_path / "b", data=str(photos), steps=1, learning_rate=1e-12, init=str(first.model_path))
    copy, info = load_model(train(config, vgg=random_vgg).model_path)
    for a, b in zip(trained.state_dict().values(), copy.state_dict().values()):
        torch.testing.assert_close(a, b, atol=1e-3, rtol=0)
    assert info.record["initialized_from"]["steps"] == 8
    # Fine-tuning goes on from the trained model's loss, below a fresh network's first steps.
    fresh = read_losses(first.run_dir)
    tuned = train(tiny_config(tmp_path / "c", data=str(photos), steps=2, init=str(first.model_path)), vgg=random_vgg)
    assert read_losses(tuned.run_dir)[1] < fresh[1]
    with pytest.raises(PainterlyError, match="neither a file nor an installed model"):
        train(tiny_config(tmp_path / "d", data=str(photos), init=str(tmp_path / "missing.safetensors")), vgg=random_vgg)


def test_resuming_with_another_network_is_a_clear_error(tmp_path, photos, random_vgg):
    config = tiny_config(tmp_path, data=str(photos), steps=2)
    train(config, vgg=random_vgg)
    config.steps, config.resume, config.network = 4, True, None  # the light variant, not TINY
    with pytest.raises(PainterlyError, match="another network"):
        train(config, vgg=random_vgg)


def test_unreadable_files_are_skipped_and_counted(tmp_path, photos, random_vgg):
    (photos / "broken.jpg").write_bytes(b"not a jpeg")
    (photos / "a" / "empty.png").write_bytes(b"")
    with pytest.warns(UserWarning, match="2 training files could not be read"):
        result = train(tiny_config(tmp_path, steps=4, batch_size=4, checkpoint_every=0, sample_every=0), vgg=random_vgg)
    assert len(result.unreadable) == 2


def test_empty_or_unreadable_data_folders_are_errors(tmp_path, random_vgg):
    (tmp_path / "photos").mkdir()
    with pytest.raises(PainterlyError, match="no images found"):
        train(tiny_config(tmp_path), vgg=random_vgg)
    (tmp_path / "photos" / "bad.png").write_bytes(b"junk")
    with pytest.raises(PainterlyError, match="could be read"):
        train(tiny_config(tmp_path), vgg=random_vgg)
    with pytest.raises(PainterlyError, match="not a folder"):
        list_photos(tmp_path / "missing")


def test_bad_options_are_errors(tmp_path):
    for changes in ({"variant": "huge", "network": None}, {"crop_size": 30}, {"steps": 0}, {"precision": "fp8"}):
        with pytest.raises(PainterlyError):
            tiny_config(tmp_path, **changes).validate()


def test_crops_are_deterministic_and_split_between_processes(photos):
    files = list_photos(photos)
    assert len(files) == 8
    make = lambda rank: PhotoCrops(files, batch_size=2, crop_size=16, seed=3, rank=rank, world_size=2, steps=5)  # noqa: E731
    first, again, other = make(0)[2].images, make(0)[2].images, make(1)[2].images
    assert first.shape == (2, 3, 16, 16)
    torch.testing.assert_close(first, again)
    assert not torch.equal(first, other)
    # One epoch over two processes visits every photo once.
    dataset = make(0)
    positions = [(step * 2 + rank) * 2 + i for step in range(2) for rank in range(2) for i in range(2)]
    assert sorted(dataset.photo_index(p) for p in positions) == list(range(8))


def _ddp_worker(rank: int, world_size: int, port: int, config: TrainConfig, vgg_state: dict) -> None:
    from painterly.features.vgg import VGG19

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), WORLD_SIZE=str(world_size), RANK=str(rank),
                      LOCAL_RANK=str(rank))  # fmt: skip
    torch.set_num_threads(1)
    vgg = VGG19(last_layer="relu5_1")
    vgg.load_state_dict(vgg_state)
    result = train(config, vgg=vgg)
    assert (result.model_path is not None) == (rank == 0)


def test_ddp_with_two_gloo_processes(tmp_path, photos, random_vgg):
    config = tiny_config(tmp_path, steps=2, checkpoint_every=1, sample_every=1)
    # fork, not spawn: the children skip re-importing torch (seconds); they use one thread, so no OpenMP pool is inherited.
    run_on_two_processes(_ddp_worker, config, random_vgg.state_dict())
    _, info = load_model(config.out)
    assert info.record["processes"] == 2 and info.record["steps"] == 2
    assert (Path(config.out).with_name("model.run") / "checkpoints" / "step-000002.pt").is_file()


def test_train_and_export_commands(tmp_path, photos):
    from painterly.cli.train import export_command, train_command

    model = tmp_path / "light.safetensors"
    arguments = ["--style", "starry-night", "--data", str(photos), "--out", str(model), "--steps", "2",
                 "--batch-size", "1", "--crop-size", "32", "--style-size", "64", "--device", "cpu", "--quiet", "--from-scratch"]  # fmt: skip
    result = CliRunner().invoke(train_command, arguments)
    assert result.exit_code == 0, result.output
    assert model.is_file() and "images/s" in result.output
    assert load_model(model)[1].training["variant"] == "light" and "initialized_from" not in load_model(model)[1].record
    result = CliRunner().invoke(export_command, [str(model), "--format", "torchscript", "-o", str(tmp_path / "m.pt")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "m.pt").is_file()
    result = CliRunner().invoke(train_command, [*arguments[:3], str(tmp_path / "none"), *arguments[4:]])
    assert result.exit_code == 2 and result.output.startswith("error:")


def test_train_command_names_unreadable_files_and_shows_progress_without_a_terminal(tmp_path, photos):
    from painterly.cli.train import train_command

    for index in range(5):
        (photos / f"broken{index}.jpg").write_bytes(b"not a jpeg")
    model = tmp_path / "light.safetensors"
    arguments = ["--style", "starry-night", "--data", str(photos), "--out", str(model), "--steps", "4",
                 "--batch-size", "4", "--crop-size", "32", "--style-size", "64", "--device", "cpu", "--from-scratch"]  # fmt: skip
    with pytest.warns(UserWarning, match="5 training files could not be read and were skipped: .*broken0.jpg"):
        result = CliRunner().invoke(train_command, arguments)
    assert result.exit_code == 0, result.output
    lines = result.stderr.splitlines()
    progress = [line for line in lines if line.startswith("training: step")]
    assert progress and progress[-1].startswith("training: step 4/4 (100%)") and " elapsed" in progress[-1]
    (warning,) = [line for line in lines if line.startswith("warning:")]
    assert warning == (f"warning: skipped 5 unreadable files: {photos / 'broken0.jpg'}, {photos / 'broken1.jpg'}, "
                       f"{photos / 'broken2.jpg'} and 2 more")  # fmt: skip
