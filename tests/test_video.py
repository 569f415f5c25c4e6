"""Video: media round trips, optical flow, consistency, resuming, the CLI command."""

from __future__ import annotations

import json
import os
import threading
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

av = pytest.importorskip("av")
pytest.importorskip("cv2")

from painterly.errors import PainterlyError  # noqa: E402
from painterly.video import (  # noqa: E402
    FrameStylizer,
    VideoConfig,
    VideoJob,
    blend_with_previous,
    estimate_flow,
    estimate_flows,
    occlusion_mask,
    output_size,
    probe_video,
    reliable_mask,
    read_frames,
    stylize_video,
    warp,
    warping_error,
    work_folder_for,
)
from painterly.video.consistency import DETAIL_CELL, box_blur  # noqa: E402
from painterly.video.flow import resize_flow, shrink_for_flow  # noqa: E402
from painterly.video.loop import to_tensor  # noqa: E402
from painterly.video.store import FrameStore  # noqa: E402

FPS = 25
SHIFT = (2, 1)  # (dx, dy) pixels per frame: frame t shows the scene moved by this from frame t - 1


pytestmark = pytest.mark.usefixtures("single_thread")


def make_scene(frames: int = 12, height: int = 48, width: int = 64, shift: tuple[int, int] = SHIFT, seed: int = 0) -> list[np.ndarray]:
    """A smooth random texture seen through a window moving ``shift`` pixels per frame.

    ``frame_t(x) = frame_{t-1}(x + shift)``: the flow from a frame to the one before is ``+shift``.
    """
    rng = np.random.default_rng(seed)
    dx, dy = shift
    big_h, big_w = height + frames * dy + 8, width + frames * dx + 8
    coarse = rng.random((big_h // 4 + 2, big_w // 4 + 2, 3)).astype(np.float32)
    texture = torch.nn.functional.interpolate(
        torch.from_numpy(coarse).permute(2, 0, 1)[None], scale_factor=4, mode="bicubic", align_corners=False
    )[0].permute(1, 2, 0).numpy()
    texture = (np.clip(texture, 0, 1) * 255).astype(np.uint8)
    return [np.ascontiguousarray(texture[t * dy : t * dy + height, t * dx : t * dx + width]) for t in range(frames)]


def write_clip(path: Path, frames: list[np.ndarray], *, fps: int = FPS, audio: bool = True, video_codec: str = "libx264",
               audio_codec: str = "aac", rate: int = 44100) -> Path:  # fmt: skip
    """Encode ``frames`` (and a 440 Hz tone as long as the video) with PyAV."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream(video_codec, rate=fps)
        stream.height, stream.width = frames[0].shape[:2]
        stream.pix_fmt = "yuv420p"
        if video_codec == "libx264":
            stream.options = {"crf": "10"}
        else:
            stream.bit_rate = 4_000_000
        sound = container.add_stream(audio_codec, rate=rate, layout="mono") if audio else None
        for index, frame in enumerate(frames):
            picture = av.VideoFrame.from_ndarray(frame, format="rgb24")
            picture.pts = index
            container.mux(stream.encode(picture))
        container.mux(stream.encode(None))
        if sound is not None:
            samples = int(rate * len(frames) / fps)
            tone = (0.3 * np.sin(2 * np.pi * 440 * np.arange(samples) / rate)).astype(np.float32)
            for begin in range(0, samples, 1000):
                chunk = av.AudioFrame.from_ndarray(tone[None, begin : begin + 1000], format="fltp", layout="mono")
                chunk.sample_rate, chunk.pts = rate, begin
                container.mux(sound.encode(chunk))
            container.mux(sound.encode(None))
    return path


def audio_seconds(path: Path) -> float:
    """Decoded audio length of ``path`` in seconds (0 without audio)."""
    with av.open(str(path)) as container:
        if not container.streams.audio:
            return 0.0
        stream = container.streams.audio[0]
        return sum(frame.samples for frame in container.decode(stream)) / stream.codec_context.sample_rate


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    return write_clip(tmp_path_factory.mktemp("clips") / "scene.mp4", make_scene())


def identity() -> FrameStylizer:
    return FrameStylizer(lambda frame, guidance: frame, {"method": "identity"})


class Flicker:
    """A cheap deterministic "stylizer" that flickers: the frame plus noise that changes every frame."""

    def __init__(self, amount: float = 0.15):
        self.amount = amount
        self.calls = 0

    def __call__(self, frame: torch.Tensor, guidance) -> torch.Tensor:
        generator = torch.Generator().manual_seed(int(frame.mul(255).sum().item()) % 100_003)
        self.calls += 1
        noise = torch.rand(frame.shape, generator=generator) - 0.5
        return (frame + self.amount * noise).clamp(0, 1)

    def stylizer(self) -> FrameStylizer:
        return FrameStylizer(self, {"method": "flicker", "amount": self.amount})


# --- media --------------------------------------------------------------------------------------


@pytest.mark.parametrize("suffix, video_codec, audio_codec", [("mp4", "libx264", "aac"), ("mkv", "mpeg4", "flac")])
def test_round_trip_keeps_frames_fps_and_audio(tmp_path, suffix, video_codec, audio_codec):
    frames = make_scene()
    source = write_clip(tmp_path / f"in.{suffix}", frames, video_codec=video_codec, audio_codec=audio_codec)
    info = probe_video(source)
    assert (info.width, info.height, info.fps, info.frames) == (64, 48, Fraction(FPS), 12)
    assert info.has_audio
    result = stylize_video(source, tmp_path / "out.mp4", identity(), VideoConfig(consistency=0), measure=False)
    out = probe_video(result.output)
    assert (out.width, out.height, out.fps, result.frames) == (64, 48, Fraction(FPS), 12)
    assert out.audio_codec == "aac"
    assert abs(audio_seconds(result.output) - 12 / FPS) < 0.05
    decoded = list(read_frames(result.output))
    assert len(decoded) == 12
    # Lossy codecs with subsampled colour: compare brightness (the neighbouring frame differs by ~30).
    assert np.abs(decoded[5].mean(2) - frames[5].mean(2)).mean() < 10
    assert not work_folder_for(result.output).exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temporary files left


def test_cut_resize_and_no_audio(clip, tmp_path):
    config = VideoConfig(consistency=0, start=0.12, end=0.36, size=33)
    result = stylize_video(clip, tmp_path / "cut.mkv", identity(), config, measure=False)
    assert result.frames == 6
    assert output_size(64, 48, 33) == (32, 24) == (result.width, result.height)
    assert abs(audio_seconds(result.output) - 0.24) < 0.05
    silent = stylize_video(clip, tmp_path / "silent.webm", identity(), VideoConfig(consistency=0, audio=False, end=0.2), measure=False)
    assert silent.frames == 5 and not probe_video(silent.output).has_audio


VFR_TIMES_MS = [0, 40, 80, 200, 240, 280, 500, 540, 560, 600, 700, 740]  # a phone pauses and catches up


def write_vfr_clip(path: Path, frames: list[np.ndarray], times_ms: list[int]) -> Path:
    """Encode ``frames`` shown at ``times_ms`` (a variable frame rate), no audio."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=25)
        stream.height, stream.width = frames[0].shape[:2]
        stream.pix_fmt = "yuv420p"
        stream.codec_context.time_base = Fraction(1, 1000)
        for frame, milliseconds in zip(frames, times_ms):
            picture = av.VideoFrame.from_ndarray(frame, format="rgb24")
            picture.pts = milliseconds
            container.mux(stream.encode(picture))
        container.mux(stream.encode(None))
    return path


def frame_times(path: Path) -> list[float]:
    with av.open(str(path)) as container:
        return [float(frame.time) for frame in container.decode(container.streams.video[0])]


def test_variable_frame_rate_keeps_the_frame_times(tmp_path):
    source = write_vfr_clip(tmp_path / "vfr.mp4", make_scene(len(VFR_TIMES_MS)), VFR_TIMES_MS)
    assert frame_times(source) == pytest.approx([ms / 1000 for ms in VFR_TIMES_MS], abs=1e-3)
    result = stylize_video(source, tmp_path / "out.mp4", identity())
    assert result.frames == len(VFR_TIMES_MS)
    assert frame_times(result.output) == pytest.approx([ms / 1000 for ms in VFR_TIMES_MS], abs=1e-3)
    # A cut starts the output at its first frame, with the same gaps after it.
    cut = stylize_video(source, tmp_path / "cut.mp4", identity(), VideoConfig(start=0.2, end=0.6))
    assert frame_times(cut.output) == pytest.approx([0.0, 0.04, 0.08, 0.3, 0.34, 0.36], abs=1e-3)


def test_constant_frame_rate_output_is_unchanged(clip, tmp_path):
    from painterly.video.media import read_timed_frames

    times = [seconds for seconds, _ in read_timed_frames(clip)]
    assert times == pytest.approx([index / FPS for index in range(12)], abs=1e-6)
    result = stylize_video(clip, tmp_path / "out.mp4", identity(), VideoConfig(consistency=0))
    assert frame_times(result.output) == pytest.approx([index / FPS for index in range(12)], abs=1e-6)
    assert probe_video(result.output).fps == FPS


def test_never_writes_over_the_input(clip):
    with pytest.raises(PainterlyError, match="input"):
        VideoJob(clip, clip, identity())


@pytest.mark.parametrize("content", [b"", b"this is not a video at all" * 40])
def test_unreadable_file_is_a_clear_error(tmp_path, content):
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(content)
    with pytest.raises(PainterlyError, match="cannot read|no video|damaged"):
        probe_video(broken)


# --- flow, warping, occlusion --------------------------------------------------------------------


def test_dis_flow_recovers_a_known_translation():
    frames = [to_tensor(frame) for frame in make_scene(frames=2)]
    backward = estimate_flow(frames[1], frames[0])  # current -> previous: +SHIFT everywhere
    forward = estimate_flow(frames[0], frames[1])
    inner = (slice(None), slice(None), slice(8, -8), slice(8, -8))
    for flow, sign in ((backward, 1), (forward, -1)):
        assert flow.shape == (1, 2, 48, 64)
        assert (flow[:, 0][inner[:1] + inner[2:]] - sign * SHIFT[0]).abs().max() < 0.5
        assert (flow[:, 1][inner[:1] + inner[2:]] - sign * SHIFT[1]).abs().max() < 0.5
    warped = warp(frames[0], backward)
    assert (warped - frames[1])[inner].abs().mean() < 0.02
    mask = occlusion_mask(backward, forward)
    assert mask[inner].mean() > 0.99
    assert mask[..., -1].sum() == 0  # the right column comes from outside the previous frame


def test_flow_estimated_small_is_scaled_to_the_full_frame():
    shift = (4, 2)
    frames = [to_tensor(frame) for frame in make_scene(frames=2, height=96, width=128, shift=shift)]
    assert shrink_for_flow(frames[0], 64).shape == (1, 3, 48, 64)
    assert shrink_for_flow(frames[0], 500) is frames[0]
    backward, forward = estimate_flows(frames[1], frames[0], max_side=64)
    inner = (0, slice(None), slice(16, -16), slice(16, -16))
    assert backward.shape == forward.shape == (1, 2, 96, 128)
    for flow, sign in ((backward, 1), (forward, -1)):
        assert (flow[inner][0] - sign * shift[0]).abs().median() < 0.5  # in full-size pixels
        assert (flow[inner][1] - sign * shift[1]).abs().median() < 0.5
    constant = torch.tensor([1.0, 0.5]).view(1, 2, 1, 1).expand(1, 2, 4, 6)
    assert torch.allclose(resize_flow(constant, (8, 12)), torch.tensor([2.0, 1.0]).view(1, 2, 1, 1).expand(1, 2, 8, 12))


def test_kept_frames_are_lossless(tmp_path):
    frame = (np.random.default_rng(0).random((7, 9, 3)) * 255).astype(np.uint8)
    store = FrameStore(tmp_path / "frames", {"any": "settings"})
    store.save(0, frame, {"warp_error": 0.5})
    store.close()
    assert np.array_equal(FrameStore(tmp_path / "frames", {"any": "settings"}).load(0), frame)


def test_warp_and_occlusion_on_exact_flows():
    image = torch.arange(2 * 5 * 6, dtype=torch.float32).view(1, 2, 5, 6)
    flow = torch.zeros(1, 2, 5, 6)
    flow[:, 0] = 1.0
    assert torch.allclose(warp(image, flow)[..., :-1], image[..., 1:], atol=1e-4)
    assert torch.allclose(warp(image, torch.zeros_like(flow)), image, atol=1e-4)
    consistent = occlusion_mask(flow, -flow)
    assert consistent[..., :-1].min() == 1 and consistent[..., -1].max() == 0
    assert occlusion_mask(flow, flow)[..., :-1].max() == 0  # going and coming back must cancel
    still = torch.zeros(1, 2, 5, 6)
    frame = 0.3 * torch.rand(1, 3, 5, 6)  # so 1 - frame differs by at least 0.4 everywhere
    assert reliable_mask(frame, frame, still, still).min() == 1
    assert reliable_mask(frame, 1 - frame, still, still).max() == 0  # a scene cut: nothing carries over


def test_blend_and_warping_error():
    frames = torch.rand(3, 3, 8, 8)
    still = torch.zeros(2, 2, 8, 8)
    masks = torch.ones(2, 1, 8, 8)
    assert warping_error(frames[:1].expand(3, -1, -1, -1), still, masks) < 1e-10
    assert warping_error(frames, still, masks) > 0
    assert warping_error(frames, still, torch.zeros_like(masks)) == 0
    a, b = frames[:1], frames[1:2]
    mask = torch.zeros(1, 1, 8, 8)
    mask[..., :4] = 1
    blended = blend_with_previous(a, b, mask, 0.75, detail_cell=0)
    assert torch.allclose(blended[..., 4:], a[..., 4:]) and torch.allclose(blended[..., :4], 0.25 * a[..., :4] + 0.75 * b[..., :4])
    assert torch.equal(blend_with_previous(a, b, mask, 0.0), a)


def test_blend_keeps_the_stroke_contrast_of_the_new_frame():
    generator = torch.Generator().manual_seed(0)
    new, previous = 0.5 + 0.2 * (torch.rand(2, 1, 3, 64, 64, generator=generator) - 0.5)  # two unrelated textures
    still = torch.ones(1, 1, 64, 64)
    plain = blend_with_previous(new, previous, still, 0.7, detail_cell=0)
    kept = blend_with_previous(new, previous, still, 0.7)
    contrast = lambda image: (image - box_blur(image, DETAIL_CELL)).std().item()  # noqa: E731
    assert contrast(plain) < 0.8 * contrast(new)  # averaging washes strokes out …
    assert contrast(kept) == pytest.approx(contrast(new), rel=0.1)  # … and the restoration gives it back
    assert (kept.mean() - plain.mean()).abs() < 1e-3  # without moving the colours
    assert torch.allclose(blend_with_previous(new, new, still, 0.7), new, atol=1e-5)  # agreeing frames: untouched
    half = still.clone()
    half[..., 32:] = 0
    partial = blend_with_previous(new, previous, half, 0.7)
    assert torch.allclose(partial[..., 40:], new[..., 40:], atol=1e-5)  # where the mask keeps the new frame


# --- consistency and resuming --------------------------------------------------------------------


def test_warping_error_falls_with_consistency(clip, tmp_path):
    plain = stylize_video(clip, tmp_path / "plain.mp4", Flicker().stylizer(), VideoConfig(consistency=0))
    steady = stylize_video(clip, tmp_path / "steady.mp4", Flicker().stylizer(), VideoConfig(consistency=0.7))
    assert plain.measured_pairs == steady.measured_pairs == 11
    assert steady.warping_error < 0.6 * plain.warping_error  # at least 40 % lower
    assert plain.frames_per_second > 0


def test_interrupted_run_resumes_without_redoing_frames(clip, tmp_path):
    output = tmp_path / "out.mp4"
    first = Flicker()

    def stop_at_five(event):
        if event.step == 5:
            raise RuntimeError("power cut")

    with pytest.raises(RuntimeError, match="power cut"):
        VideoJob(clip, output, first.stylizer(), VideoConfig(keep_frames=True)).run(progress=stop_at_five)
    assert first.calls == 5 and not output.exists()
    assert [p.name for p in tmp_path.iterdir() if "partial" in p.name] == []
    second = Flicker()
    job = VideoJob(clip, output, second.stylizer(), VideoConfig(keep_frames=True))
    assert job.store.done == 5 and not job.store.restarted
    result = job.run()
    assert second.calls == 7 and result.resumed == 5 and result.frames == 12 and result.measured_pairs == 11
    # The same frames as a run that was never interrupted.
    clean = VideoJob(clip, tmp_path / "clean.mp4", Flicker().stylizer(), VideoConfig(keep_frames=True))
    clean_result = clean.run()
    for index in range(12):
        assert np.array_equal(job.store.load(index), clean.store.load(index))
    assert result.warping_error == pytest.approx(clean_result.warping_error)
    # Other settings start over.
    third = Flicker()
    changed = VideoJob(clip, output, third.stylizer(), VideoConfig(consistency=0.3, keep_frames=True))
    assert changed.store.restarted and changed.store.done == 0


def test_cancel_through_progress_keeps_frames(clip, tmp_path):
    from painterly.progress import Cancelled

    output = tmp_path / "out.mp4"
    with pytest.raises(Cancelled):
        VideoJob(clip, output, identity()).run(progress=lambda event: event.step < 3)
    assert VideoJob(clip, output, identity()).store.done == 3


class PaintsAhead(FrameStylizer):
    """The flickering double, as a feed-forward method that can paint two frames at once."""

    def __init__(self):
        self.flicker, self.threads = Flicker(), []
        super().__init__(self._paint, {"method": "flicker", "amount": self.flicker.amount})

    def _paint(self, frame, guidance):
        assert guidance is None  # painted ahead: nothing but the frame itself
        self.threads.append(threading.current_thread().name)
        return self.flicker(frame, guidance)

    def concurrent_images(self, workers: int, height: int, width: int) -> int:
        return workers


def test_frames_painted_ahead_in_threads_match_one_at_a_time(clip, tmp_path):
    ahead = PaintsAhead()
    job = VideoJob(clip, tmp_path / "ahead.mp4", ahead, VideoConfig(keep_frames=True))
    result = job.run()
    assert len(ahead.threads) == 12 and all(name.startswith("painterly-paint") for name in ahead.threads)
    one_at_a_time = VideoJob(clip, tmp_path / "plain.mp4", Flicker().stylizer(), VideoConfig(keep_frames=True))
    reference = one_at_a_time.run()
    for index in range(12):
        assert np.array_equal(job.store.load(index), one_at_a_time.store.load(index))
    assert result.warping_error == pytest.approx(reference.warping_error)


def test_a_cancelled_run_painting_ahead_keeps_its_frames_and_stops_its_threads(clip, tmp_path):
    from painterly.progress import Cancelled

    output = tmp_path / "out.mp4"
    with pytest.raises(Cancelled):
        VideoJob(clip, output, PaintsAhead()).run(progress=lambda event: event.step < 3)
    assert VideoJob(clip, output, PaintsAhead()).store.done == 3
    assert not [thread for thread in threading.enumerate() if thread.name.startswith("painterly-paint")]


def test_a_fast_model_on_onnxruntime_paints_two_frames_at_once(clip, tmp_path):
    pytest.importorskip("onnxruntime")
    from feedforward_helpers import tiny_model_file
    from painterly.methods.feedforward import FastConfig, FastStylizer

    model = str(tiny_model_file(tmp_path))
    fast = FastStylizer(FastConfig(model=model))
    assert fast.runtime == "onnx"
    job = VideoJob(clip, tmp_path / "onnx.mp4", fast, VideoConfig(keep_frames=True))
    job.run()
    # Each of the two frames painted at once gets half of the threads.
    assert fast.session.get_session_options().intra_op_num_threads == max(1, torch.get_num_threads() // 2)
    # Frames painted in tiles go through PyTorch, one at a time.
    assert FastStylizer(FastConfig(model=model, tile_size=32, tile_overlap=8)).concurrent_images(2, 48, 64) == 1
    torch_job = VideoJob(clip, tmp_path / "torch.mp4", FastStylizer(FastConfig(model=model, runtime="torch", precision="fp32")),
                         VideoConfig(keep_frames=True))  # fmt: skip
    torch_job.run()
    for index in range(12):
        difference = np.abs(job.store.load(index).astype(int) - torch_job.store.load(index).astype(int))
        assert difference.max() <= 3 and difference.mean() < 0.1  # rounding, carried along by the blending


KILLED_RUN = """
import os, signal, sys
from painterly.video import FrameStylizer, VideoJob

def kill_at_five(event):
    if event.step == 5:
        os.kill(os.getpid(), signal.SIGKILL)  # no cleanup runs, as with a power cut or `kill -9`

VideoJob(sys.argv[1], sys.argv[2], FrameStylizer(lambda frame, guidance: frame, {"method": "identity"})).run(progress=kill_at_five)
"""


def test_resumed_run_clears_what_a_killed_run_left(clip, tmp_path):
    import signal
    import subprocess
    import sys

    output = tmp_path / "out.mp4"
    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(root), os.environ.get("PYTHONPATH", "")])}
    killed = subprocess.run([sys.executable, "-c", KILLED_RUN, str(clip), str(output)], env=env, capture_output=True, timeout=120)
    assert killed.returncode == -signal.SIGKILL, killed.stderr.decode()
    left = [p.name for p in tmp_path.iterdir() if p.name.endswith(".partial.mp4")]
    assert len(left) == 1 and left[0].startswith(".out.")
    job = VideoJob(clip, output, identity())
    assert job.store.done >= 1  # frames were kept (the last ones may still have been in the writer)
    result = job.run()
    assert result.frames == 12 and output.is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.mp4"]  # no temporary video, no work folder


def test_a_finished_writer_keeps_a_running_writers_file(tmp_path):
    fcntl = pytest.importorskip("fcntl")
    from painterly.video.media import VideoWriter, partial_path

    output = tmp_path / "out.mp4"
    running = partial_path(output, "0123abcd")
    running.write_bytes(b"still being written")
    other = partial_path(tmp_path / "other.mp4", "89abcdef")
    other.write_bytes(b"another output's")
    stale = partial_path(output, "fedcba98")
    stale.write_bytes(b"left by a killed run")
    with open(running, "rb") as held:
        fcntl.flock(held, fcntl.LOCK_EX)  # as a live writer holds it
        with VideoWriter(output, (64, 48), Fraction(FPS)) as writer:
            writer.write(make_scene(1)[0])
    assert output.is_file() and running.exists() and other.exists() and not stale.exists()


# --- optimization with a temporal loss -------------------------------------------------------------

SMALL_LAYERS = dict(content_layers=("relu2_1",), style_layers=("relu1_1", "relu2_1"), precision="fp32", optimizer="adam", learning_rate=0.05)


@pytest.fixture
def small_vgg():
    """The first VGG19 blocks with seeded random weights: the temporal term, not the features, is tested."""
    from conftest import make_random_vgg

    return make_random_vgg("relu2_1")


def test_temporal_term_pulls_towards_the_target(small_vgg):
    from painterly.methods.optimize import OptimizeConfig, TemporalTerm, optimize

    torch.manual_seed(0)
    content, style, target = torch.rand(1, 3, 24, 32), torch.rand(1, 3, 24, 32), torch.rand(1, 3, 24, 32)
    mask = torch.zeros(1, 1, 24, 32)
    mask[..., :16] = 1
    config = OptimizeConfig(size=32, steps=6, min_size=32, **SMALL_LAYERS)
    free = optimize(small_vgg, content, [(style, 1.0)], config)
    pulled = optimize(small_vgg, content, [(style, 1.0)], config, temporal=TemporalTerm(target, mask, 1e4))
    left = (slice(None), slice(None), slice(None), slice(0, 16))
    assert (pulled - target)[left].abs().mean() < 0.8 * (free - target)[left].abs().mean()


def test_optimize_frames_use_the_warped_previous_output(clip, tmp_path, small_vgg):
    from painterly.io.images import tensor_to_image
    from painterly.registry import create_stylizer

    styles = [(tensor_to_image(torch.rand(1, 3, 32, 32)), 1.0)]
    options = dict(steps=4, min_size=32, **SMALL_LAYERS)
    results = {}
    for consistency in (0.0, 1.0):
        stylizer = create_stylizer("optimize", paintings=styles, options=options, device="cpu",
                                   feature_network=lambda *args: small_vgg)
        config = VideoConfig(consistency=consistency, size=32, end=0.16)
        results[consistency] = stylize_video(clip, tmp_path / f"opt{consistency}.mp4", stylizer, config)
    assert results[1.0].frames == 4
    assert results[1.0].warping_error < 0.6 * results[0.0].warping_error


# --- the command ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def light_model(tmp_path_factory) -> Path:
    from painterly.models import TransformerNet, save_model, variant_config

    torch.manual_seed(0)
    return save_model(TransformerNet(variant_config("light")), tmp_path_factory.mktemp("models") / "light.safetensors")


def test_cli_stylizes_with_a_model_and_reports(clip, tmp_path, light_model):
    from painterly.cli.video import video_command

    output = tmp_path / "painted.mp4"
    runner = CliRunner()
    preview = runner.invoke(video_command, [str(clip), "--model", str(light_model), "-o", str(output), "--preview", "4"])
    assert preview.exit_code == 0, preview.output
    assert probe_video(tmp_path / "painted-preview.mp4").frames == 4 and not output.exists()
    result = runner.invoke(video_command, [str(clip), "--model", str(light_model), "-o", str(output), "--report", "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output.strip().splitlines()[-1])
    assert summary["frames"] == 12 and summary["resumed"] == 4 and summary["audio"] is True
    assert summary["warping_error"] >= 0 and summary["frames_per_second"] > 0
    report = json.loads(Path(summary["report"]).read_text())
    assert report["measured_pairs"] == 11
    again = runner.invoke(video_command, [str(clip), "--model", str(light_model), "-o", str(output)])
    assert again.exit_code == 2 and "--overwrite" in again.output


def test_cli_bad_inputs_exit_2(tmp_path, clip):
    from painterly.cli.video import video_command

    runner = CliRunner()
    garbage = tmp_path / "garbage.mp4"
    garbage.write_bytes(b"\x00\x01not a video" * 100)
    audio_only = tmp_path / "tone.m4a"
    with av.open(str(audio_only), "w") as container:
        sound = container.add_stream("aac", rate=8000, layout="mono")
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 4000), np.float32), format="fltp", layout="mono")
        frame.sample_rate, frame.pts = 8000, 0
        container.mux(sound.encode(frame))
        container.mux(sound.encode(None))
    cases = {
        garbage: "cannot read",
        audio_only: "no video stream",
        tmp_path / "missing.mp4": "not found",
    }
    for source, message in cases.items():
        result = runner.invoke(video_command, [str(source), "--model", "x", "-o", str(tmp_path / "o.mp4")])
        assert result.exit_code == 2, result.output
        assert message in result.output and len(result.output.strip().splitlines()) == 1
    no_style = runner.invoke(video_command, [str(clip), "-o", str(tmp_path / "o.mp4")])
    assert no_style.exit_code == 2 and "--style" in no_style.output
    over_input = runner.invoke(video_command, [str(clip), "--model", "x", "-o", str(clip)])
    assert over_input.exit_code == 2 and "input" in over_input.output
