"""The multi-style recipe: conditional instance norm, the style table, fine-tuning, the photo split."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
import torch
from PIL import Image

from conftest import make_gradient_image
from feedforward_helpers import TINY, photo_folder
from painterly.errors import PainterlyError
from painterly.models import ModelInfo, TransformerNet, load_model, save_model
from painterly.train.photos import held_out_photos, list_paintings, pick_paintings, split_photos
from painterly.train.styles import StylesConfig, VaryingCrops, steer_content_weight, styles_at, train_styles

pytestmark = pytest.mark.usefixtures("single_thread")

TINY_CIN = replace(TINY, styles=3)


def cin_net(seed: int = 0) -> TransformerNet:
    """A tiny three-style network whose per-style scales and shifts differ."""
    torch.manual_seed(seed)
    net = TransformerNet(TINY_CIN)
    with torch.no_grad():
        for parameter in net.parameters():
            parameter.add_(0.3 * torch.randn_like(parameter))
    return net.eval()


def painting_folder(folder: Path, count: int = 3) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    rows = ["file\tartist\tartist_death_year\ttitle\tyear"]
    for index in range(count):
        Image.fromarray(make_gradient_image(48, 40 + 8 * index, seed=10 + index)).save(folder / f"painting-{index}.png")
        rows.append(f"painting-{index}.png\tPainter {index}\t1900\tWork {index}\t189{index}")
    (folder / "SOURCES.tsv").write_text("\n".join(rows) + "\n")
    return folder


def test_each_style_paints_differently_with_the_same_convolutions():
    net = cin_net()
    photo = torch.rand(2, 3, 36, 44)
    with torch.no_grad():
        outputs = [net(photo, index) for index in range(3)]
    assert (outputs[0] - outputs[1]).abs().max() > 1e-2 and (outputs[1] - outputs[2]).abs().max() > 1e-2
    plain = TransformerNet(replace(TINY_CIN, styles=0)).state_dict()
    shared = net.state_dict()
    assert set(plain) == set(shared)
    for key, value in plain.items():
        if ".norm" in key:
            assert shared[key].shape == (3, *value.shape)  # one scale/shift row per style
        else:
            assert shared[key].shape == value.shape  # one convolution for every style
    with torch.no_grad():
        per_image = net(photo, torch.tensor([2, 0]))
        assert torch.allclose(per_image[0], outputs[2][0], atol=1e-6)
        assert torch.allclose(per_image[1], outputs[0][1], atol=1e-6)
        # One style extracted as a plain network paints like that style.
        assert torch.allclose(net.single_style(1)(photo), outputs[1], atol=1e-5)
        # Blend weights: a one-hot blend is the style itself.
        assert torch.allclose(net(photo, torch.tensor([0.0, 1.0, 0.0])), outputs[1], atol=1e-6)


def test_a_multi_style_network_needs_a_valid_style():
    net = cin_net()
    with pytest.raises(PainterlyError, match="pick one"):
        net(torch.rand(1, 3, 16, 16))
    with pytest.raises(PainterlyError, match="0 … 2"):
        net(torch.rand(1, 3, 16, 16), 3)


def test_the_model_file_round_trips_its_style_table(tmp_path):
    net = cin_net()
    table = [{"name": f"style-{index}", "credit": f"Work {index} — Painter", "file": f"p{index}.png"} for index in range(3)]
    path = save_model(net, tmp_path / "shared.safetensors", ModelInfo(TINY_CIN, name="shared", styles=table), half=False)
    loaded, info = load_model(path)
    assert info.styles == table and loaded.config.styles == 3
    photo = torch.rand(1, 3, 24, 24)
    with torch.no_grad():
        assert torch.equal(loaded(photo, 2), net(photo, 2))
    with pytest.raises(PainterlyError, match="style table"):
        save_model(net, tmp_path / "bad.safetensors", ModelInfo(TINY_CIN, styles=table[:2]))
    # One-style model files carry no table and no styles count, as before.
    single = save_model(net.single_style(0), tmp_path / "one.safetensors", half=False)
    assert load_model(single)[1].styles == [] and "styles" not in TINY.to_dict()


def test_multi_style_networks_are_not_listed_as_models_and_the_shared_one_ships(tmp_path, monkeypatch):
    from painterly.models.files import list_model_names
    from painterly.train.styles import SHARED_MODEL

    monkeypatch.setenv("PAINTERLY_MODELS_DIR", str(tmp_path))
    net = cin_net()
    table = [{"name": f"style-{index}", "credit": "", "file": f"p{index}.png"} for index in range(3)]
    save_model(net, tmp_path / "several.safetensors", ModelInfo(TINY_CIN, name="several", styles=table), half=False)
    save_model(net.single_style(1), tmp_path / "one.safetensors", half=False)
    names = list_model_names()
    assert "one" in names and "several" not in names
    # The start of every fine-tune ships inside the package, not beside the source tree.
    assert SHARED_MODEL.is_file() and SHARED_MODEL.parent.parent.name == "models"
    assert load_model(SHARED_MODEL)[0].config.styles > 1


def tiny_styles_config(tmp_path: Path, **changes) -> StylesConfig:
    values = dict(
        styles=str(tmp_path / "paintings"), data=str(tmp_path / "photos"), out=str(tmp_path / "shared.safetensors"),
        steps=3, batch_size=2, crop_min=32, crop_max=48, style_size=48, network=TINY, device="cpu",
        precision="fp32", learning_rate=2e-2, log_every=1, checkpoint_every=0, sample_every=0,
    )  # fmt: skip
    values.update(changes)
    return StylesConfig(**values)


@pytest.fixture
def folders(tmp_path):
    photo_folder(tmp_path / "photos", count=12)
    painting_folder(tmp_path / "paintings")
    return tmp_path


def test_pre_training_then_fine_tuning_scale_and_shift_only(folders, random_vgg):
    tmp_path = folders
    shared_path = train_styles(tiny_styles_config(tmp_path), vgg=random_vgg).model_path
    shared, info = load_model(shared_path)
    assert shared.config.styles == 3 and [row["credit"] for row in info.styles][0] == "Work 0, 1890 — Painter 0"

    one = str(tmp_path / "paintings" / "painting-1.png")
    config = tiny_styles_config(tmp_path, styles=one, init=str(shared_path), train_only="norm",
                                out=str(tmp_path / "norm.safetensors"))  # fmt: skip
    tuned, tuned_info = load_model(train_styles(config, vgg=random_vgg).model_path)
    # painting-1 is one of the shared network's paintings: its own scale and shift are the start.
    start = shared.single_style(torch.tensor([0.0, 1.0, 0.0])).state_dict()
    changed = {key for key, value in tuned.state_dict().items() if not torch.equal(value, start[key].half().float())}
    assert tuned.config.styles == 0 and tuned_info.record["credit"] == "Work 1, 1891 — Painter 1"
    assert changed and all(".norm" in key for key in changed)

    config = replace(config, train_only="all", out=str(tmp_path / "all.safetensors"))
    everything, _ = load_model(train_styles(config, vgg=random_vgg).model_path)
    changed = {key for key, value in everything.state_dict().items() if not torch.equal(value, start[key].half().float())}
    assert any(".norm" not in key for key in changed)


def test_a_new_painting_starts_at_the_average_style(folders, random_vgg):
    tmp_path = folders
    shared_path = train_styles(tiny_styles_config(tmp_path), vgg=random_vgg).model_path
    shared, _ = load_model(shared_path)
    new = tmp_path / "new-painting.png"
    Image.fromarray(make_gradient_image(40, 48, seed=99)).save(new)
    config = tiny_styles_config(tmp_path, styles=str(new), init=str(shared_path), steps=1, learning_rate=1e-12,
                                out=str(tmp_path / "new.safetensors"))  # fmt: skip
    tuned, info = load_model(train_styles(config, vgg=random_vgg).model_path)
    average = shared.single_style(torch.full((3,), 1 / 3)).state_dict()
    own = shared.single_style(torch.tensor([1.0, 0.0, 0.0])).state_dict()
    key = next(key for key in average if ".norm.weight" in key)
    assert torch.allclose(tuned.state_dict()[key], average[key], atol=1e-3)
    assert not torch.allclose(tuned.state_dict()[key], own[key], atol=1e-3)
    assert info.record["initialized_from"]["model"] == str(shared_path)


def test_norm_only_needs_a_trained_start(folders):
    with pytest.raises(PainterlyError, match="--init"):
        tiny_styles_config(folders, train_only="norm").validate()


def test_held_out_photos_are_never_trained_on(tmp_path):
    photo_folder(tmp_path / "photos", count=25)
    training, held_out = split_photos(tmp_path / "photos")
    names = sorted(str(path.relative_to(tmp_path / "photos")) for path in training + held_out)
    assert len(held_out) == 3 and len(training) == 22 and len(names) == len(set(names)) == 25
    assert not set(training) & set(held_out)
    assert held_out == [path for index, path in enumerate(sorted(training + held_out)) if index % 10 == 0]
    # The trainer's photo stream is the training share only.
    crops = VaryingCrops(training, sizes=[32, 48], batch_size=2, steps=4)
    assert not set(crops.photos) & set(held_out)


def test_the_shared_photo_set_holds_out_a_tenth():
    shared = held_out_photos()  # ../shared/data/train-photos
    if not shared:
        pytest.skip("no shared training photos here")
    training, held_out = split_photos(shared[0].parent)
    assert held_out == shared and len(held_out) >= 95 and not set(training) & set(held_out)


def test_paintings_carry_their_credits(tmp_path):
    folder = painting_folder(tmp_path / "paintings")
    paintings = list_paintings(folder)
    assert [p.name for p in paintings] == ["painting-0", "painting-1", "painting-2"]
    assert paintings[2].credit == "Work 2, 1892 — Painter 2"
    assert [p.name for p in pick_paintings(f"{folder}/painting-2.png,{folder}/painting-0.png")] == [
        "painting-2", "painting-0",
    ]  # fmt: skip
    with pytest.raises(PainterlyError, match="not found"):
        pick_paintings("no-such-painting")
    # Built-in style names work as they do for --style everywhere else.
    (builtin,) = pick_paintings("starry-night")
    assert builtin.path.is_file() and "Gogh" in builtin.artist and builtin.title


def test_crop_sides_and_styles_are_functions_of_the_step(folders):
    crops = VaryingCrops(sorted((folders / "photos").rglob("*.png")), sizes=[32, 48], batch_size=2, steps=20, seed=3)
    sides = [crops[step].images.shape[-1] for step in range(12)]
    assert set(sides) == {32, 48} and sides == [crops[step].images.shape[-1] for step in range(12)]
    assert torch.equal(styles_at(5, 7, 4, seed=1), styles_at(5, 7, 4, seed=1))
    drawn = torch.cat([styles_at(step, 7, 4, seed=1) for step in range(50)])
    assert int(drawn.min()) == 0 and int(drawn.max()) == 6


def test_train_command_pre_trains_with_styles_and_fine_tunes_from_it(folders):
    from click.testing import CliRunner

    from painterly.cli.train import train_command

    tmp_path = folders
    shared = tmp_path / "shared.safetensors"
    common = ["--data", str(tmp_path / "photos"), "--steps", "2", "--batch-size", "1", "--crop-min", "32",
              "--crop-max", "32", "--style-size", "48", "--device", "cpu", "--quiet", "--checkpoint-every", "0"]  # fmt: skip
    result = CliRunner().invoke(train_command, ["--styles", str(tmp_path / "paintings"), "--out", str(shared), *common])
    assert result.exit_code == 0, result.output
    net, info = load_model(shared)
    assert net.config.styles == 3 and net.config.variant == "light" and len(info.styles) == 3
    tuned = tmp_path / "tuned.safetensors"
    one = str(tmp_path / "paintings" / "painting-2.png")
    result = CliRunner().invoke(
        train_command, ["--style", one, "--init", str(shared), "--out", str(tuned), *common]
    )
    assert result.exit_code == 0, result.output
    assert load_model(tuned)[0].config.styles == 0 and load_model(tuned)[1].name == "painting-2"
    result = CliRunner().invoke(train_command, ["--style", one, "--styles", one, "--out", str(tuned), *common])
    assert result.exit_code == 2 and "not both" in result.output


def test_a_new_style_fine_tunes_the_shipped_shared_network_by_default(folders, monkeypatch):
    from click.testing import CliRunner

    from painterly.cli.train import train_command

    tmp_path = folders
    monkeypatch.setenv("PAINTERLY_MODELS_DIR", str(tmp_path / "models"))
    painting = tmp_path / "My Painting.png"
    Image.fromarray(make_gradient_image(48, 40, seed=5)).save(painting)
    arguments = ["--style", str(painting), "--data", str(tmp_path / "photos"), "--steps", "2", "--batch-size", "1",
                 "--crop-min", "32", "--crop-max", "32", "--style-size", "48", "--device", "cpu", "--quiet"]  # fmt: skip
    result = CliRunner().invoke(train_command, arguments)
    assert result.exit_code == 0, result.output
    model = tmp_path / "models" / "my-painting.safetensors"
    net, info = load_model(model)
    assert net.config.styles == 0 and net.config.variant == "light"
    assert info.training["init"] == "shared" and info.record["initialized_from"]["model"] == "shared"
    assert result.output.strip().endswith("paint with it: painterly stylize PHOTO --model my-painting")
    before = model.read_bytes()
    result = CliRunner().invoke(train_command, arguments)
    assert result.exit_code == 2 and "exists already" in result.output and "--name" in result.output
    assert model.read_bytes() == before


def test_the_recipe_follows_the_options():
    from painterly.cli.train import training_recipe
    from painterly.train.styles import (
        FINE_TUNE_CONTENT_TARGET, FINE_TUNE_CONTENT_WEIGHT, FINE_TUNE_STEPS, FINE_TUNE_STYLE_SIZE, fine_tune_config,
    )  # fmt: skip

    assert training_recipe({"style": "a.jpg"}, from_scratch=False) == "fine-tune shared"
    assert training_recipe({"style": "a.jpg"}, from_scratch=True) == "from scratch"
    assert training_recipe({"style": "a.jpg", "variant": "johnson"}, from_scratch=False) == "from scratch"
    assert training_recipe({"style": "a.jpg", "adversarial_weight": 1.0}, from_scratch=False) == "from scratch"
    assert training_recipe({"styles": "paintings/"}, from_scratch=False) == "multi-style"
    with pytest.raises(PainterlyError, match="--from-scratch"):
        training_recipe({"style": "a.jpg", "train_only": "norm"}, from_scratch=True)
    config = fine_tune_config(styles="a.jpg")
    assert (config.init, config.steps, config.train_only) == ("shared", FINE_TUNE_STEPS, "all")
    assert config.content_weight == FINE_TUNE_CONTENT_WEIGHT < StylesConfig().content_weight
    assert config.content_target == FINE_TUNE_CONTENT_TARGET and StylesConfig().content_target is None
    # The painting measured at the size the photos are painted at in the benchmarks.
    assert config.style_size == FINE_TUNE_STYLE_SIZE < StylesConfig().style_size
    assert fine_tune_config(styles="a.jpg", steps=5).steps == 5
    # A weight the user chose is kept fixed, unless a target is asked for as well.
    assert fine_tune_config(styles="a.jpg", content_weight=2.0).content_target is None
    assert fine_tune_config(styles="a.jpg", content_weight=2.0, content_target=0.3).content_target == 0.3


def test_the_content_weight_steps_toward_the_target_distance():
    assert steer_content_weight(1.0, 0.44, 0.4) == pytest.approx(1.1)  # the photo is being lost: keep more
    assert steer_content_weight(1.0, 0.30, 0.4) == pytest.approx(0.75)  # kept better than asked: more painting
    assert steer_content_weight(1.0, 0.9, 0.3) == pytest.approx(1.5)  # one step is at most ×1.5
    assert steer_content_weight(1.0, 0.01, 0.3) == pytest.approx(1 / 1.5)
    assert steer_content_weight(19.0, 0.9, 0.3) == 20.0 and steer_content_weight(0.21, 0.01, 0.3) == 0.2  # bounds
    assert steer_content_weight(1.3, float("nan"), 0.3) == 1.3


def test_a_steered_fine_tune_measures_content_and_moves_its_weight(folders, random_vgg, monkeypatch):
    """The content check paints fixed photos, measures them as `painterly evaluate` does, and the
    weight follows; a resumed run carries the weight on exactly."""
    import csv
    import math

    import painterly.train.styles as styles

    monkeypatch.setattr(styles, "CHECK_SIZE", 48)
    tmp_path = folders
    one = str(tmp_path / "paintings" / "painting-1.png")
    # A target far below what 4 steps can reach: the weight must rise at every check.
    config = tiny_styles_config(tmp_path, styles=one, steps=4, content_target=0.01, content_check_every=1,
                                content_check_photos=2, content_weight=1.0, out=str(tmp_path / "steered.safetensors"))  # fmt: skip
    result = train_styles(config, vgg=random_vgg)
    with open(Path(result.run_dir) / "losses.csv") as handle:
        rows = list(csv.DictReader(handle))
    weights = [float(row["content_weight"]) for row in rows]
    checks = [float(row["content_check"]) for row in rows]
    assert weights == sorted(weights) and weights[-1] > weights[0] == 1.0
    assert all(math.isfinite(value) and value > 0 for value in checks[1:])  # measured from the first step on
    _, info = load_model(result.model_path)
    assert info.record["content_weight"] == pytest.approx(weights[-1], abs=1e-3)

    part = replace(config, steps=2, checkpoint_every=2, out=str(tmp_path / "part.safetensors"))
    train_styles(part, vgg=random_vgg)
    resumed = train_styles(replace(part, steps=4, resume=True), vgg=random_vgg)
    assert load_model(resumed.model_path)[1].record["content_weight"] == info.record["content_weight"]
    with pytest.raises(PainterlyError, match="one style"):
        train_styles(tiny_styles_config(tmp_path, content_target=0.3), vgg=random_vgg)


def test_an_interrupted_pre_training_resumes_exactly(folders, random_vgg):
    tmp_path = folders
    whole = train_styles(tiny_styles_config(tmp_path, steps=4, out=str(tmp_path / "whole.safetensors")), vgg=random_vgg)
    part = tiny_styles_config(tmp_path, steps=2, checkpoint_every=2, out=str(tmp_path / "part.safetensors"))
    train_styles(part, vgg=random_vgg)
    resumed = train_styles(replace(part, steps=4, resume=True), vgg=random_vgg)
    first, second = load_model(whole.model_path)[0].state_dict(), load_model(resumed.model_path)[0].state_dict()
    assert all(torch.equal(first[key], second[key]) for key in first)


def test_a_list_file_names_paintings_in_order(tmp_path):
    folder = painting_folder(tmp_path / "paintings")
    listing = tmp_path / "list.txt"
    listing.write_text(f"# two of them\n{folder}/painting-1.png\n\n{folder}/painting-0.png\n")
    assert [p.name for p in pick_paintings(str(listing))] == ["painting-1", "painting-0"]


def test_the_shared_network_paintings_are_all_in_the_training_set():
    listing = Path(__file__).resolve().parents[1] / "checkpoints" / "shared-paintings.txt"
    from painterly.train.photos import default_painting_folder

    if not default_painting_folder().is_dir():
        pytest.skip("no shared training paintings here")
    paintings = pick_paintings(str(listing))
    assert 30 <= len(paintings) <= 60 and len({p.name for p in paintings}) == len(paintings)
    assert all(p.title and p.artist for p in paintings)
