"""One photo through a shipped model, without torch: the choice, the result, and the imports."""

from __future__ import annotations

import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from conftest import make_gradient_image
from feedforward_helpers import tiny_model_file
from painterly.api import Stylizer
from painterly.io.images import array_to_image, image_to_array, image_to_tensor, read_metadata, tensor_to_image
from painterly.methods.fast_onnx import OnnxFastStylizer, torch_needed
from painterly.methods.fast_spec import FastConfig
from painterly.methods.feedforward import FastStylizer
from painterly.ops import color, color_arrays
from painterly.registry import create_stylizer

pytestmark = pytest.mark.usefixtures("single_thread")
onnxruntime = pytest.importorskip("onnxruntime")

#: Largest difference allowed from the PyTorch path's image, in 8-bit levels.
LEVELS = 2


def _photo(height: int = 48, width: int = 64) -> Image.Image:
    return Image.fromarray(make_gradient_image(height, width, seed=3))


def _levels_apart(a: Image.Image, b: Image.Image) -> int:
    return int(np.abs(np.asarray(a, dtype=np.int16) - np.asarray(b, dtype=np.int16)).max())


def test_a_shipped_model_on_a_small_photo_needs_no_torch():
    assert torch_needed(FastConfig(model="starry-night"), "auto", (64, 48)) is None
    assert torch_needed(FastConfig(model="starry-night", size=256, strength=0.5, preserve_color="histogram"), "cpu",
                        (4000, 3000)) is None  # fmt: skip


@pytest.mark.parametrize(("changes", "device", "size", "reason"), [
    ({"runtime": "torch"}, "auto", (64, 48), "runtime torch"),
    ({}, "cuda", (64, 48), "GPU"),
    ({"work_scale": 0.5}, "auto", (64, 48), "work_scale"),
    ({}, "auto", (2048, 1536), "tiles"),
    ({"size": 2048}, "auto", (64, 48), "tiles"),
    ({"model": "no-such-model"}, "auto", (64, 48), "not found"),
])  # fmt: skip
def test_torch_is_needed_where_the_numpy_path_cannot_paint(changes, device, size, reason):
    config = FastConfig(**{"model": "starry-night", **changes})
    assert reason in torch_needed(config, device, size)


def test_a_model_without_its_graph_goes_through_torch_which_exports_it(tmp_path, monkeypatch):
    monkeypatch.setenv("PAINTERLY_CACHE_DIR", str(tmp_path / "cache"))  # another test may have exported this tiny model
    model = str(tiny_model_file(tmp_path))
    assert "not exported" in torch_needed(FastConfig(model=model), "auto", (40, 32))
    FastStylizer(FastConfig(model=model))  # exports the graph into the (test's) cache
    assert torch_needed(FastConfig(model=model), "auto", (40, 32)) is None


@pytest.mark.parametrize("options", [{}, {"strength": 0.6}, {"preserve_color": "luminance"},
                                     {"preserve_color": "histogram", "strength": 0.8}, {"size": 40}])  # fmt: skip
def test_the_numpy_path_paints_what_the_torch_path_paints(options):
    """Within 2/255 of today's path (onnxruntime through torch) on a shipped model, same metadata."""
    photo = _photo()
    make = lambda torch_free: create_stylizer("fast", model="starry-night", options=dict(options), device="auto",  # noqa: E731
                                              image_size=photo.size, torch_free=torch_free)  # fmt: skip
    numpy_path, torch_path = make(True), make(False)
    assert isinstance(numpy_path, OnnxFastStylizer) and isinstance(torch_path, FastStylizer)
    ours, theirs = numpy_path.stylize_image(photo), torch_path.stylize_image(photo)
    assert ours.size == theirs.size
    assert _levels_apart(ours, theirs) <= LEVELS
    assert ours.info == theirs.info
    assert numpy_path.settings == torch_path.settings


def test_the_numpy_path_is_within_two_levels_of_pytorch_fp32():
    photo = _photo()
    ours = OnnxFastStylizer(FastConfig(model="starry-night")).stylize_image(photo)
    reference = FastStylizer(FastConfig(model="starry-night", runtime="torch", precision="fp32")).stylize_image(photo)
    assert _levels_apart(ours, reference) <= LEVELS


def test_frames_and_other_devices_keep_the_torch_path():
    size = (64, 48)
    assert isinstance(create_stylizer("fast", model="starry-night", image_size=size, frames=True, torch_free=True), FastStylizer)
    assert isinstance(create_stylizer("fast", model="starry-night", image_size=size), FastStylizer)
    assert isinstance(create_stylizer("fast", model="starry-night", torch_free=True), FastStylizer)  # size unknown


def test_photos_painted_side_by_side_equal_those_painted_one_by_one():
    """A folder's photos go two at a time through one session, one thread each."""
    stylizer = create_stylizer("fast", model="starry-night", image_size=(64, 48), torch_free=True)
    assert isinstance(stylizer, OnnxFastStylizer)
    photos = [_photo(48, 64), _photo(40, 40).transpose(Image.Transpose.ROTATE_90), _photo(32, 48)]
    alone = [np.asarray(stylizer.stylize_image(photo)) for photo in photos]
    assert stylizer.concurrent_images(2, 48, 64) == 2
    assert stylizer.session.get_session_options().intra_op_num_threads >= 1
    with ThreadPoolExecutor(2) as pool:
        together = list(pool.map(lambda photo: np.asarray(stylizer.stylize_image(photo)), photos * 2))
    for index, painted in enumerate(together):
        assert np.array_equal(painted, alone[index % len(photos)])
    assert stylizer.concurrent_images(1, 48, 64) == 1


def test_the_stylizer_written_image_matches_the_torch_path(tmp_path):
    """What ``painterly stylize`` writes: the alpha band back, the same metadata, atomically."""
    photo = Image.fromarray(np.dstack([make_gradient_image(48, 64), np.full((48, 64), 128, np.uint8)]), "RGBA")
    path = tmp_path / "photo.png"
    photo.save(path)
    stylizer = Stylizer(device="auto")
    loaded = stylizer.load_content(path)
    results = [stylizer.prepare(image_size=photo.size, torch_free=free, model="starry-night").paint(loaded, path)
               for free in (True, False)]  # fmt: skip
    assert results[0].mode == results[1].mode == "RGBA"
    assert _levels_apart(*results) <= LEVELS
    assert results[0].info == results[1].info


def test_colour_finish_on_arrays_matches_the_tensor_finish():
    generator = torch.Generator().manual_seed(0)
    stylized, content = torch.rand(1, 3, 24, 32, generator=generator), torch.rand(1, 3, 24, 32, generator=generator)
    for strength, mode in ((1.0, None), (0.3, None), (1.0, "luminance"), (0.7, "histogram")):
        expected = color.finish_stylized(stylized, content, strength, mode).numpy()
        got = color_arrays.finish_stylized(stylized.numpy(), content.numpy(), strength, mode)
        assert got.dtype == np.float32 and got.shape == expected.shape
        assert np.abs(got - expected).max() < 1e-5, (strength, mode)


def test_image_arrays_round_as_image_tensors_do():
    photo = _photo(20, 30)
    assert np.array_equal(image_to_array(photo), image_to_tensor(photo).numpy())
    values = np.linspace(-0.2, 1.2, 3 * 20 * 30, dtype=np.float32).reshape(1, 3, 20, 30)
    values[0, 0, 0, :3] = [np.nan, 0.5 / 255, 1.5 / 255]  # NaN → 0; ties to even, as torch.round
    assert np.array_equal(np.asarray(array_to_image(values)), np.asarray(tensor_to_image(torch.from_numpy(values))))


def _run_without_torch(arguments: list[str]) -> None:
    """Run the CLI in a fresh interpreter; fail if it imported torch."""
    script = (
        "import sys\nfrom painterly.cli.main import main\n"
        f"try:\n    main({arguments!r})\nexcept SystemExit as end:\n    assert not end.code, end.code\n"
        "print('TORCH', sorted(name for name in sys.modules if name == 'torch' or name.startswith('torch.')))"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert done.stdout.rpartition("TORCH")[2].strip() == "[]"


def test_a_folder_command_imports_no_torch_and_paints_what_torch_paints(tmp_path):
    """``painterly stylize FOLDER --model NAME``: photos of several sizes, painted two at a time
    through onnxruntime, each within two levels of PyTorch's in fp32."""
    from painterly.cli.main import cli

    folder = tmp_path / "photos"
    folder.mkdir()
    sizes = {"wide.png": (48, 64), "tall.png": (64, 40), "small.png": (24, 32)}
    for name, (height, width) in sizes.items():
        _photo(height, width).save(folder / name)
    _run_without_torch(["stylize", str(folder), "--model", "starry-night", "-o", str(tmp_path / "free")])
    done = CliRunner().invoke(cli, ["stylize", str(folder), "--model", "starry-night", "--runtime", "torch", "--precision", "fp32",
                                    "-o", str(tmp_path / "torch")])  # fmt: skip
    assert done.exit_code == 0, done.output
    for name, (height, width) in sizes.items():
        free, torched = (Image.open(tmp_path / kind / f"{Path(name).stem}-stylized.png") for kind in ("free", "torch"))
        assert free.size == torched.size == (width, height)
        assert _levels_apart(free.convert("RGB"), torched.convert("RGB")) <= LEVELS


def test_the_one_photo_command_imports_no_torch(tmp_path):
    """``painterly stylize photo --model NAME`` under the default runtime, in a fresh interpreter."""
    photo, output = tmp_path / "photo.jpg", tmp_path / "out.jpg"
    _photo().save(photo)
    _run_without_torch(["stylize", str(photo), "--model", "starry-night", "-o", str(output)])
    assert Image.open(output).size == (64, 48)
    assert read_metadata(output)["model"] == "starry-night"
