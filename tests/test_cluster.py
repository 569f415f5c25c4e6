"""Painting a folder on a local Ray cluster of two workers: the same files as one machine, retries, reruns."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from PIL import Image

from conftest import make_gradient_image
from feedforward_helpers import tiny_model_file
from painterly.errors import PainterlyError

ray = pytest.importorskip("ray")


@pytest.fixture(scope="module")
def local_cluster():
    """A local Ray cluster with two worker CPUs, shared by the tests of this module."""
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield ray
    ray.shutdown()


@pytest.fixture
def photos(tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    for index in range(5):
        Image.fromarray(make_gradient_image(24 + 4 * index, 32, seed=index)).save(folder / f"photo-{index}.png")
    return folder


def stylize(*arguments: str):
    from painterly.cli.main import cli

    return CliRunner().invoke(cli, ["stylize", *arguments])


def test_a_folder_on_two_workers_equals_one_machine_and_a_rerun_skips_it(local_cluster, photos, tmp_path):
    model = str(tiny_model_file(tmp_path))
    one = stylize(str(photos), "--model", model, "-o", str(tmp_path / "one"))
    assert one.exit_code == 0, one.output
    result = stylize(str(photos), "--model", model, "-o", str(tmp_path / "cluster"), "--cluster", "local:2", "--json")
    assert result.exit_code == 0, result.output
    names = sorted(path.name for path in (tmp_path / "one").iterdir())
    assert names == sorted(path.name for path in (tmp_path / "cluster").iterdir()) and len(names) == 5
    for name in names:  # same pixels, same metadata, same bytes
        assert (tmp_path / "one" / name).read_bytes() == (tmp_path / "cluster" / name).read_bytes(), name
    lines = [line for line in result.output.splitlines() if line.startswith("{")]
    assert len({line.split('"worker": ')[1].split(",")[0] for line in lines}) == 2  # both workers painted
    again = stylize(str(photos), "--model", model, "-o", str(tmp_path / "cluster"), "--cluster", "local:2")
    assert again.exit_code == 0 and "skipping 5 of 5 files painted before" in again.output


def test_a_killed_worker_loses_no_file_and_a_broken_file_is_reported(local_cluster, photos, tmp_path):
    from painterly.cluster.folder import job_for, paint_on_cluster

    (photos / "broken.png").write_bytes(b"not an image")
    pairs = [(str(path), tmp_path / "out" / f"{path.stem}-stylized.png") for path in sorted(photos.iterdir())]
    job = job_for("fast", [], {"model": str(tiny_model_file(tmp_path))}, device="cpu")
    killed = []

    def kill_one(actors):
        local_cluster.kill(actors[0])  # before it paints: its files go to the worker that replaces it
        killed.append(actors[0])

    outcomes = list(paint_on_cluster(pairs, job, local_cluster, workers=2, retries=1, started=kill_one))
    assert killed and sorted(outcome.source for outcome in outcomes) == sorted(source for source, _ in pairs)
    painted = [outcome for outcome in outcomes if outcome.error is None]
    assert len(painted) == 5 and all(outcome.result.size[0] == 32 for outcome in painted)
    (broken,) = [outcome for outcome in outcomes if outcome.error is not None]
    assert broken.source.endswith("broken.png") and broken.attempts == 2
    assert "image" in broken.error.lower()


def test_the_cli_says_what_is_missing_or_wrong(photos, tmp_path, monkeypatch):
    from painterly.cluster.runtime import parse_address, require_ray

    assert parse_address("local:2") == (None, 2) and parse_address("ray://head:10001") == ("ray://head:10001", None)
    with pytest.raises(PainterlyError, match="local:N"):
        parse_address("local:zero")
    with pytest.raises(PainterlyError, match="not a cluster address"):
        parse_address("somewhere")
    result = stylize(str(photos), "--model", "starry-night", "-o", str(tmp_path / "out"), "--workers", "2")
    assert result.exit_code != 0 and "--workers applies with --cluster only" in result.output
    monkeypatch.setitem(sys.modules, "ray", None)  # as if Ray were not installed
    with pytest.raises(PainterlyError, match=r"pip install 'painterly\[cluster\]'"):
        require_ray()
    result = stylize(str(photos), "--model", "starry-night", "-o", str(tmp_path / "out"), "--cluster", "auto")
    assert result.exit_code != 0 and "painterly[cluster]" in result.output
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_a_list_of_files_names_outputs_as_one_machine(photos, tmp_path):
    from painterly.cli.cluster import cluster_pairs

    listing = tmp_path / "files.txt"
    listing.write_text(f"# two photos\n{photos / 'photo-1.png'}\n\ns3://bucket/trip/photo-9.jpg\n")
    pairs = cluster_pairs(listing, tmp_path / "out")
    assert pairs == [(str(photos / "photo-1.png"), tmp_path / "out" / "photo-1-stylized.png"),
                     ("s3://bucket/trip/photo-9.jpg", tmp_path / "out" / "photo-9-stylized.png")]  # fmt: skip
    with pytest.raises(PainterlyError, match="output folder"):
        cluster_pairs(listing, None)
    assert Path(cluster_pairs(photos, tmp_path / "o")[0][0]).name == "photo-0.png"
