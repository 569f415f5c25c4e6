"""Long videos across a Ray cluster: segments painted in parallel, joined without a visible seam.

The clip (or its ``start``–``end`` cut) is split into segments of fixed length (:func:`plan_segments`).
Each segment is painted by one worker as one machine paints a clip, with temporal consistency,
starting ``overlap`` frames early, so its first frames have settled by the time they are shown;
over those frames the join cross-fades from the previous segment to the new one (:func:`join_frames`).
The driver keeps each finished segment in a work folder beside the output (a rerun paints only the
missing ones), encodes the joined frames with the input's audio, and measures the temporal warping
error across every seam against the error within segments (:func:`seam_errors`).

The source travels to the workers through the object store (no shared filesystem needed); each
worker sends back its segment as a high-quality H.264 file.
"""

from __future__ import annotations

import json
import math
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Iterator, Optional, Sequence

import numpy as np

from painterly.cluster.folder import PaintJob
from painterly.errors import PainterlyError

#: Frames each segment starts early, cross-faded with the end of the previous segment.
DEFAULT_OVERLAP = 8
#: Quality of the segments sent back (H.264 crf; the output is encoded once more at the user's).
SEGMENT_CRF = 10


@dataclass(frozen=True)
class Segment:
    """Frames ``[first, last)`` of the cut, painted from ``first - lead`` (``lead`` frames shared with
    the segment before)."""

    index: int
    first: int
    last: int
    lead: int

    @property
    def painted_from(self) -> int:
        return self.first - self.lead


def plan_segments(total: int, length: int, overlap: int = DEFAULT_OVERLAP) -> list[Segment]:
    """Segments of ``length`` frames covering ``total`` frames (the last one may be longer, never a
    stub shorter than ``overlap``), each after the first starting ``overlap`` frames early.

    Example:
        >>> [(s.first, s.last, s.lead) for s in plan_segments(100, 40, 8)]
        [(0, 40, 0), (40, 100, 8)]
    """
    if total < 1 or length < 1 or overlap < 0:
        raise PainterlyError("a video to split needs at least one frame, segments of one frame or more, and overlap ≥ 0")
    count = max(1, total // length)
    bounds = [index * length for index in range(count)] + [total]
    return [Segment(index, bounds[index], bounds[index + 1], min(overlap, bounds[index])) for index in range(count)]


def blend_weights(lead: int) -> np.ndarray:
    """``(lead,)`` weights of the new segment over the shared frames: a linear ramp strictly
    between 0 and 1, so both segments contribute to every shared frame."""
    return (np.arange(1, lead + 1, dtype=np.float32)) / (lead + 1)


def join_frames(segments: Sequence[Segment], frames: Sequence[Sequence[np.ndarray]]) -> Iterator[np.ndarray]:
    """The joined frames of the cut, each once: every segment's own frames and, where two segments
    share frames, the earlier one's cross-faded into the later one's. ``frames[k]`` holds segment
    ``k``'s painted frames (``last - painted_from`` of them, each ``(H, W, 3)`` uint8)."""
    for segment, painted in zip(segments, frames):
        if len(painted) != segment.last - segment.painted_from:
            raise PainterlyError(f"segment {segment.index} has {len(painted)} frames, "
                                 f"{segment.last - segment.painted_from} expected: paint it again")  # fmt: skip
    for index, (segment, painted) in enumerate(zip(segments, frames)):
        if index > 0:
            previous = frames[index - 1]
            for shared, weight in enumerate(blend_weights(segment.lead)):
                old = previous[len(previous) - segment.lead + shared].astype(np.float32)
                new = painted[shared].astype(np.float32)
                yield np.clip(np.rint(old * (1 - weight) + new * weight), 0, 255).astype(np.uint8)
        following = segments[index + 1].lead if index + 1 < len(segments) else 0
        yield from painted[segment.lead : len(painted) - following]


@dataclass
class SegmentTask:
    """What a worker needs to paint one segment."""

    job: PaintJob
    name: str
    start: float
    end: float
    size: tuple[int, int]
    video: dict[str, Any]


def paint_segment(task: SegmentTask, source: bytes) -> tuple[bytes, int]:
    """Paint one segment on a worker: ``(H.264 file bytes, frames)``."""
    from painterly.api import Stylizer, load_style_image, normalize_styles
    from painterly.io.images import DEFAULT_MAX_PIXELS
    from painterly.video.frames import frame_stylizer_for
    from painterly.video.loop import VideoConfig, VideoJob

    with tempfile.TemporaryDirectory(prefix="painterly-segment-") as scratch:
        folder = Path(scratch)
        clip = folder / task.name
        clip.write_bytes(source)
        styles = []
        for style, weight in task.job.styles:
            if style in task.job.painting_files:
                (folder / style).write_bytes(task.job.painting_files[style])
                style = str(folder / style)
            styles.append((style, weight))
        stylizer = Stylizer(device=task.job.device, vgg_weights=task.job.vgg_weights)
        paintings = [(load_style_image(source, DEFAULT_MAX_PIXELS), weight) for source, weight in normalize_styles(styles)]
        options = dict(task.job.options)
        frame_stylizer = frame_stylizer_for(task.job.method, model=options.pop("model", None), paintings=paintings,
                                            stylizer=stylizer, image_size=task.size, **options)  # fmt: skip
        config = VideoConfig(**{**task.video, "start": task.start, "end": task.end, "audio": False, "crf": SEGMENT_CRF,
                                "keep_frames": False, "size": max(task.size)})  # fmt: skip
        out = folder / "segment.mp4"
        result = VideoJob(clip, out, frame_stylizer, config, work_folder=folder / "frames").run(measure=False)
        return out.read_bytes(), result.frames


def decode(path: Path) -> list[np.ndarray]:
    from painterly.video.media import read_timed_frames

    return [array for _, array in read_timed_frames(path)]


def seam_errors(inputs: Sequence[np.ndarray], outputs: Sequence[np.ndarray], seams: Sequence[int], *,
                flow_size: int = 512, reach: int = 0) -> tuple[float, float]:  # fmt: skip
    """``(mean warping error of the pairs at the seams, of all other pairs)`` of a joined clip.

    A pair ``(t − 1, t)`` is at a seam when ``t`` is within ``reach`` frames after a seam frame of
    ``seams`` (the first frame each segment after the first contributes). The error is the
    stylized frame ``t`` against frame ``t − 1`` carried along the input's optical flow, over the
    reliable pixels, as ``painterly video --report`` measures it.
    """
    import torch

    from painterly.video.consistency import pair_warping_error
    from painterly.video.flow import estimate_flows, reliable_mask, resize_flow, shrink_for_flow, warp
    from painterly.video.loop import to_tensor

    at_seam = {seam + offset for seam in seams for offset in range(reach + 1)}
    sums = {True: [0.0, 0.0], False: [0.0, 0.0]}
    previous_small = previous_out = None
    with torch.no_grad():
        for index, (frame, painted) in enumerate(zip(inputs, outputs)):
            small = shrink_for_flow(to_tensor(frame), flow_size or None)
            out = to_tensor(painted)
            if previous_small is not None:
                backward, forward = estimate_flows(small, previous_small, "fast")
                mask = reliable_mask(small, warp(previous_small, backward), backward, forward, 0.15)
                size = tuple(out.shape[-2:])
                if mask.shape[-2:] != size:
                    backward = resize_flow(backward, size)
                    mask = torch.nn.functional.interpolate(mask, size=size, mode="bilinear", align_corners=False)
                error, weight = pair_warping_error(out, warp(previous_out, backward), mask)
                bucket = sums[index in at_seam]
                bucket[0] += error * weight
                bucket[1] += weight
            previous_small, previous_out = small, out
    mean = {key: (total / weight if weight else math.nan) for key, (total, weight) in sums.items()}
    return mean[True], mean[False]


def segment_folder(output: Path) -> Path:
    """Where finished segments are kept: ``.OUT.painterly-segments`` beside the output."""
    return output.with_name(f".{output.name}.painterly-segments")


def paint_video_on_cluster(source: Path, output: Path, job: PaintJob, ray: Any, *, video: dict[str, Any],
                           segment_seconds: float, overlap: int = DEFAULT_OVERLAP, workers: Optional[int] = None,
                           retries: int = 2, measure: bool = True, progress: Any = None) -> dict[str, Any]:  # fmt: skip
    """Paint ``source`` into ``output`` on the cluster, segment by segment; returns a summary
    (frames, segments, painted and resumed segments, seam and within-segment warping errors)."""
    from painterly.io.files import file_identity, write_bytes_atomically
    from painterly.video.loop import VideoConfig
    from painterly.video.media import AudioSource, VideoWriter, check_video_output, output_size, probe_video, read_timed_frames

    config = VideoConfig(**video).validate()
    info = probe_video(source)
    output = check_video_output(output, [source])
    size = output_size(info.width, info.height, config.size)
    fps = float(info.fps)
    start = config.start or 0.0
    total = max(1, info.frames_between(config.start, config.end))
    length = max(overlap + 1, round(segment_seconds * fps))
    segments = plan_segments(total, length, overlap)
    folder = segment_folder(output)
    settings = {"input": file_identity(source), "size": list(size), "video": {k: v for k, v in video.items() if k != "audio"},
                "segments": [asdict(segment) for segment in segments],
                "job": {"method": job.method, "styles": job.styles, "options": {k: str(v) for k, v in job.options.items()}}}  # fmt: skip
    folder.mkdir(parents=True, exist_ok=True)
    plan_file = folder / "plan.json"
    if plan_file.is_file() and json.loads(plan_file.read_text()) != json.loads(json.dumps(settings, default=str)):
        for stale in folder.glob("segment-*.mp4"):  # made with other settings
            stale.unlink()
    write_bytes_atomically(plan_file, json.dumps(settings, default=str).encode())
    paths = [folder / f"segment-{segment.index:04d}.mp4" for segment in segments]
    missing = [segment for segment, path in zip(segments, paths) if not path.is_file()]

    if missing:
        clip = ray.put(source.read_bytes())
        remote = ray.remote(num_cpus=1, max_retries=retries, retry_exceptions=True)(paint_segment)

        def task(segment: Segment) -> SegmentTask:
            # Half a frame inside each bound: the frame at a bound belongs to exactly one side.
            return SegmentTask(job, source.name, start + segment.painted_from / fps, start + segment.last / fps, size,
                               {k: v for k, v in video.items() if k not in ("start", "end")})  # fmt: skip

        running = {remote.remote(task(segment), clip): segment for segment in missing}
        while running:
            done, _ = ray.wait(list(running), num_returns=1)
            segment = running.pop(done[0])
            try:
                data, _frames = ray.get(done[0])
            except Exception as error:  # noqa: BLE001 — the segment's error after its retries, in one line
                raise PainterlyError(f"segment {segment.index} failed after {retries + 1} tries: "
                                     f"{' '.join(str(error).split())[-300:]}; run the same command again to retry it") from None  # fmt: skip
            write_bytes_atomically(paths[segment.index], data)
            if progress is not None:
                progress(segment, len(segments) - len(running), len(segments))

    painted = [decode(path) for path in paths]
    frames = list(join_frames(segments, painted))
    audio = None
    if config.audio and info.has_audio:
        audio = AudioSource(source, start, config.end, info.start_time)
    with VideoWriter(output, size, info.fps, audio=audio, crf=config.crf, preset=config.encoder_preset,
                     protect=[source]) as writer:  # fmt: skip
        for frame in frames:
            writer.write(frame)
    summary: dict[str, Any] = {"output": str(output), "frames": len(frames), "segments": len(segments),
                               "painted_segments": len(missing), "resumed_segments": len(segments) - len(missing),
                               "width": size[0], "height": size[1], "audio": audio is not None}  # fmt: skip
    if measure and len(segments) > 1:
        inputs = [array for _, array in read_timed_frames(source, size=size, start=config.start, end=config.end)]
        seam, within = seam_errors(inputs[: len(frames)], frames, [segment.first - segment.lead for segment in segments[1:]],
                                   reach=overlap + 1)  # fmt: skip
        summary.update(seam_warping_error=seam, within_warping_error=within)
    if not config.keep_frames:
        for path in [*paths, plan_file]:
            path.unlink(missing_ok=True)
        folder.rmdir()
    return summary
