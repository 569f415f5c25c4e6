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


def test_segments_cover_the_clip_once_and_fade_into_each_other():
    import numpy as np

    from painterly.cluster.video import join_frames, plan_segments

    segments = plan_segments(30, 10, 3)
    assert [(s.first, s.last, s.lead) for s in segments] == [(0, 10, 0), (10, 20, 3), (20, 30, 3)]
    assert [(s.first, s.last) for s in plan_segments(25, 10, 3)] == [(0, 10), (10, 25)]  # no stub at the end
    painted = [[np.full((2, 2, 3), 10 * k + 100, np.uint8) for _ in range(s.last - s.painted_from)] for k, s in enumerate(segments)]
    joined = [int(frame[0, 0, 0]) for frame in join_frames(segments, painted)]
    assert len(joined) == 30 and joined[:7] == [100] * 7 and joined[10:17] == [110] * 7 and joined[-10:] == [120] * 10
    assert joined[7:10] == [102, 105, 108]  # the earlier segment fading into the later one
    with pytest.raises(PainterlyError, match="paint it again"):
        list(join_frames(segments, [painted[0], painted[1][:-1], painted[2]]))


def test_a_video_in_three_segments_has_every_frame_its_sound_and_no_seam(local_cluster, tmp_path):
    import json

    from web_clips import write_clip

    from painterly.video.media import probe_video

    clip = write_clip(tmp_path / "clip.mp4", frames=30, width=64, height=48, fps=10)
    model = str(tiny_model_file(tmp_path))
    out = tmp_path / "painted.mp4"
    from painterly.cli.main import cli

    result = CliRunner().invoke(cli, ["video", str(clip), "--model", model, "-o", str(out), "--cluster", "local:2",
                                      "--segment-seconds", "1", "--overlap", "4", "--json"])  # fmt: skip
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output.strip().splitlines()[-1])
    assert summary["segments"] == 3 and summary["frames"] == 30 and summary["audio"]
    info = probe_video(out)
    assert info.frames == 30 and info.has_audio and (info.width, info.height) == (64, 48)
    assert summary["seam_warping_error"] <= 1.5 * summary["within_warping_error"], summary
    assert not any(path.name.endswith("painterly-segments") for path in tmp_path.iterdir())  # cleaned up
    # Segments are kept until the video is written: a rerun paints only those missing.
    arguments = ["video", str(clip), "--model", model, "-o", str(out), "--cluster", "local:2", "--segment-seconds", "1",
                 "--overlap", "4", "--json", "--overwrite", "--keep-frames"]  # fmt: skip
    first = json.loads(CliRunner().invoke(cli, arguments).output.strip().splitlines()[-1])
    (next(tmp_path.glob(".painted.mp4.painterly-segments")) / "segment-0001.mp4").unlink()
    again = json.loads(CliRunner().invoke(cli, arguments).output.strip().splitlines()[-1])
    assert first["painted_segments"] == 3 and (again["painted_segments"], again["resumed_segments"]) == (1, 2)


def test_the_studio_runs_its_jobs_on_the_cluster(local_cluster, tmp_path):
    from test_web_api import png_bytes, studio, submit, wait_for

    from painterly.web.cluster import ClusterRunner

    runner = ClusterRunner("local:2", device="cpu")
    with studio(tmp_path, runner=runner) as (client, _):
        created = submit(client, content=png_bytes(24, 32), style="", method="fast", model="starry-night")
        assert created.status_code in (200, 201, 202), created.text
        job = wait_for(client, created.json()["id"], timeout=120)
        assert job["status"] == "succeeded", job
        result = client.get(job["result_url"])
        assert Image.open(__import__("io").BytesIO(result.content)).size == (32, 24)
        bad = submit(client, content=png_bytes(24, 32), style="", method="fast", model="starry-night", strength="7")
        assert bad.status_code == 422  # checked by the studio before anything reaches the cluster


def test_uris_are_read_by_the_driver_through_fsspec(local_cluster, photos, tmp_path):
    fsspec = pytest.importorskip("fsspec")
    memory = fsspec.filesystem("memory")
    for path in sorted(photos.iterdir())[:2]:
        memory.pipe(f"/bucket/{path.name}", path.read_bytes())
    listing = tmp_path / "files.txt"
    listing.write_text("memory://bucket/photo-0.png\nmemory://bucket/photo-1.png\n")
    model = str(tiny_model_file(tmp_path))
    result = stylize(str(listing), "--model", model, "-o", str(tmp_path / "out"), "--cluster", "local:2")
    assert result.exit_code == 0, result.output
    one = stylize(str(photos / "photo-1.png"), "--model", model, "-o", str(tmp_path / "one.png"))
    assert one.exit_code == 0, one.output
    painted = Image.open(tmp_path / "out" / "photo-1-stylized.png")
    assert painted.tobytes() == Image.open(tmp_path / "one.png").tobytes()


def test_the_studio_runs_video_jobs_in_segments(local_cluster, tmp_path):
    from web_clips import write_clip

    from painterly.video.media import probe_video
    from painterly.web.cluster import ClusterRunner
    from painterly.web.jobs import JobOptions

    clip = write_clip(tmp_path / "clip.mp4", frames=24, width=64, height=48, fps=12)
    events = []
    ClusterRunner("local:2", device="cpu").video(clip, None, JobOptions(method="fast", model="starry-night"),
                                                 lambda event: events.append(event.step) or True,
                                                 output=tmp_path / "out.mp4", work_folder=tmp_path / "work")  # fmt: skip
    info = probe_video(tmp_path / "out.mp4")
    assert info.frames == 24 and info.has_audio and events == [1]
