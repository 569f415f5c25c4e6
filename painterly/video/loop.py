"""The frame loop: decode, stylize consistently, keep finished frames, encode.

:class:`VideoJob` checks the input and output, opens the work folder (resuming a run with the
same settings) and :meth:`VideoJob.run` does the work; :func:`stylize_video` does both.
"""

from __future__ import annotations

import json
import os
import time
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable, Optional

import numpy as np
import torch
import torch.nn.functional as F

from painterly.errors import PainterlyError
from painterly.options import check_limits
from painterly.io.files import file_identity, write_bytes_atomically
from painterly.methods.spec import MethodStylizer
from painterly.progress import Cancelled, ProgressCallback, ProgressEvent
from painterly.video.consistency import DETAIL_CELL, Guidance, blend_with_previous, pair_warping_error
from painterly.video.flow import FLOW_PRESETS, estimate_flows, reliable_mask, resize_flow, shrink_for_flow, warp
from painterly.video.media import (
    ENCODER_PRESETS,
    AudioSource,
    VideoInfo,
    VideoWriter,
    check_video_output,
    output_size,
    probe_video,
    read_timed_frames,
)
from painterly.video.store import FrameStore, work_folder_for


@dataclass
class VideoConfig:
    """Options of video stylization; the defaults suit a feed-forward model on a CPU.

    Attributes:
        consistency: temporal consistency strength in [0, 1]: the share of the previous
            stylized frame, carried along the optical flow, kept where the flow is reliable
            (optimization: the temporal loss weight); 0 stylizes each frame on its own.
        size: long side of the output in pixels (default: the input's); sides are rounded
            down to even numbers.
        start: first second of the input to stylize (default: the beginning).
        end: second of the input to stop at (default: the end).
        audio: keep the input's audio track (cut to the same range).
        keep_detail: give the blended frame back the stroke contrast of the new frame that
            averaging washes out (keeps the style loss within a few % of per-frame output).
        flow_preset: optical flow speed/accuracy: ultrafast, fast or medium.
        flow_size: long side at which the optical flow, the occlusion test and the colour test
            run (larger frames are shrunk for them, which is several times faster); only the
            previous output is warped at full size. 0 works at full size.
        colour_tolerance: mean RGB difference above which the warped previous input frame is
            not trusted (scene cuts, flashes); 0 turns the test off.
        crf: video quality, lower is better and larger (18 looks lossless).
        encoder_preset: H.264 speed preset, ultrafast … veryslow (slower: a little smaller files).
        keep_frames: keep the work folder with the stylized frames after a finished run.
    """

    consistency: float = 0.7
    keep_detail: bool = True
    size: Optional[int] = None
    start: Optional[float] = None
    end: Optional[float] = None
    audio: bool = True
    flow_preset: str = "fast"
    flow_size: int = 512
    colour_tolerance: float = 0.15
    crf: int = 18
    encoder_preset: str = "veryfast"
    keep_frames: bool = False

    def validate(self) -> "VideoConfig":
        check_limits(self)  # every number finite
        if not 0 <= self.consistency <= 1:
            raise PainterlyError(f"consistency must be between 0 and 1, got {self.consistency}")
        if self.size is not None and self.size < 16:
            raise PainterlyError(f"size {self.size} is too small: use at least 16 pixels")
        if self.start is not None and self.start < 0:
            raise PainterlyError(f"start must be 0 seconds or more, got {self.start}")
        if self.start is not None and self.end is not None and self.end <= self.start:
            raise PainterlyError(f"end ({self.end} s) must come after start ({self.start} s)")
        if self.flow_preset not in FLOW_PRESETS:
            raise PainterlyError(f"unknown flow preset {self.flow_preset!r}: use one of {', '.join(FLOW_PRESETS)}")
        if self.flow_size and self.flow_size < 32:
            raise PainterlyError(f"flow size must be 0 (full size) or at least 32 pixels, got {self.flow_size}")
        if not 0 <= self.crf <= 63:
            raise PainterlyError(f"crf must be between 0 and 63, got {self.crf}")
        if self.encoder_preset not in ENCODER_PRESETS:
            raise PainterlyError(f"unknown encoder preset {self.encoder_preset!r}: use one of {', '.join(ENCODER_PRESETS)}")
        return self


@dataclass
class VideoResult:
    """What a run did.

    Attributes:
        output: the written video.
        frames: frames in it.
        resumed: frames taken from an interrupted run instead of being stylized again.
        seconds: wall time of this run.
        frames_per_second: frames stylized (not resumed) per second of this run, including
            decoding, flow and encoding.
        warping_error: mean temporal warping error of the output (``None`` when not measured).
        measured_pairs: consecutive frame pairs the warping error covers.
        width, height, fps, audio: the output's frame size, frame rate and whether it has sound.
    """

    output: Path
    frames: int
    resumed: int
    seconds: float
    frames_per_second: float
    warping_error: Optional[float]
    measured_pairs: int
    width: int
    height: int
    fps: float
    audio: bool
    settings: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["output"] = str(self.output)
        return data


def to_tensor(frame: np.ndarray, device: torch.device | str = "cpu") -> torch.Tensor:
    """``(H, W, 3)`` uint8 → ``(1, 3, H, W)`` float32 in ``[0, 1]``."""
    return torch.from_numpy(np.ascontiguousarray(frame)).to(device).permute(2, 0, 1).unsqueeze(0).float().div(255)


def to_array(frame: torch.Tensor) -> np.ndarray:
    """``(1, 3, H, W)`` in ``[0, 1]`` → ``(H, W, 3)`` uint8 (rounded), contiguous (encoders want it so)."""
    return frame[0].detach().float().clamp(0, 1).mul(255).round().to(torch.uint8).permute(1, 2, 0).contiguous().cpu().numpy()


#: Frames painted side by side by a feed-forward method on a CPU (see ``concurrent_images``).
PAINTING_WORKERS = 2


@dataclass
class _Frame:
    """A decoded frame waiting for its turn, with its network output when painted ahead."""

    index: int
    seconds: float
    frame: torch.Tensor
    painted: Optional[Future] = None


class VideoJob:
    """One video to stylize: checked, with its work folder opened (see :mod:`painterly.video.store`).

    Args:
        source: the input video.
        output: the output video (.mp4, .mov, .mkv, .webm).
        stylizer: how to stylize a frame.
        config: video options.
        device: where flow warping and blending run.
        work_folder: where finished frames are kept (default: ``.OUT.painterly-frames`` beside ``output``).
        protect: more paths that must not be overwritten (the input always is).

    Attributes:
        info: the input's description; ``size`` the output frame size; ``total`` the frames
        expected; ``store.done`` the frames already finished; ``store.restarted`` whether
        frames of a run with other settings were discarded.
    """

    def __init__(
        self,
        source: str | os.PathLike,
        output: str | os.PathLike,
        stylizer: MethodStylizer,
        config: VideoConfig = VideoConfig(),
        *,
        device: torch.device | str = "cpu",
        work_folder: Optional[str | os.PathLike] = None,
        protect: Iterable[str | os.PathLike] = (),
    ):
        self.config = config.validate()
        self.info: VideoInfo = probe_video(source)
        self.source = self.info.path
        self.protect = [self.source, *protect]
        self.output = check_video_output(output, self.protect)
        self.stylizer = stylizer
        self.device = torch.device(device)
        self.size = output_size(self.info.width, self.info.height, config.size)
        if self.config.start is not None and self.info.duration and self.config.start >= self.info.duration:
            raise PainterlyError(f"start {self.config.start} s is past the end of the video ({self.info.duration:.2f} s)")
        self.total = max(1, self.info.frames_between(self.config.start, self.config.end))
        self.settings = {
            "input": file_identity(self.source),
            "size": list(self.size),
            "start": self.config.start,
            "end": self.config.end,
            "consistency": self.config.consistency,
            "keep_detail": self.config.keep_detail,
            "flow_preset": self.config.flow_preset,
            "flow_size": self.config.flow_size,
            "colour_tolerance": self.config.colour_tolerance,
            "stylizer": stylizer.settings,
        }
        self.store = FrameStore(work_folder or work_folder_for(self.output), self.settings)

    def run(
        self,
        *,
        progress: Optional[ProgressCallback] = None,
        measure: bool = True,
        max_frames: Optional[int] = None,
        output: Optional[str | os.PathLike] = None,
    ) -> VideoResult:
        """Stylize the frames not done yet and write the video.

        Args:
            progress: called after every frame (``step`` = frames done, ``stage`` shows
                frames/s); returning ``False`` stops (raises ``Cancelled``, frames are kept).
            measure: compute the temporal warping error (needs the optical flow even with
                consistency off).
            max_frames: stop after this many frames (a preview); the work folder is kept so the
                full run continues from there.
            output: write to this file instead of the job's output (for a preview).

        Returns:
            A :class:`VideoResult`. The work folder is deleted after a full run unless
            ``config.keep_frames``.
        """
        config = self.config
        target = check_video_output(output, self.protect) if output is not None else self.output
        audio = None
        if config.audio and self.info.has_audio:
            audio = AudioSource(self.source, config.start or 0.0, config.end, self.info.start_time)
        if max_frames is not None:
            preview_end = audio.start + max_frames / float(self.info.fps) if audio is not None else 0.0
            audio = None if audio is None else AudioSource(audio.path, audio.start, min(preview_end, audio.end or preview_end), audio.origin)
        total = self.total if max_frames is None else min(self.total, max_frames)
        consistency = config.consistency
        use_flow = consistency > 0 or measure
        started = time.perf_counter()
        stylized_count, resumed = 0, 0
        error_sum, weight_sum, pairs = 0.0, 0.0, 0
        previous_input: Optional[torch.Tensor] = None  # at the flow size
        previous_output: Optional[torch.Tensor] = None
        frames = read_timed_frames(self.source, size=self.size, start=config.start, end=config.end)
        first_time: Optional[float] = None  # the output starts at the first frame of the cut, keeping the input's frame times
        # The network needs nothing but its own frame, so feed-forward frames are painted ahead, in
        # worker threads, while this thread carries the previous output along the flow, blends and encodes.
        workers = self._painting_workers()
        painter = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="painterly-paint") if workers > 1 else None
        ahead: deque[_Frame] = deque()
        try:
            with VideoWriter(target, self.size, self.info.fps, time_base=self.info.time_base, audio=audio, crf=config.crf,
                             preset=config.encoder_preset, protect=self.protect) as writer:  # fmt: skip

                def finish(item: _Frame) -> None:
                    nonlocal first_time, previous_input, previous_output, stylized_count, resumed, error_sum, weight_sum, pairs
                    index, seconds, frame = item.index, item.seconds, item.frame
                    first_time = seconds if first_time is None else first_time
                    small = shrink_for_flow(frame, config.flow_size or None) if use_flow else frame
                    if index < self.store.done:
                        result = self.store.load(index)
                        result_tensor = to_tensor(result, self.device)
                        record = self.store.records[index]
                        resumed += 1
                    else:
                        painted = item.painted.result() if item.painted is not None else None
                        result, result_tensor, record = self._stylize(frame, small, previous_input, previous_output, use_flow, painted)
                        self.store.save(index, result, record)
                        stylized_count += 1
                    if record.get("warp_weight"):
                        error_sum += record["warp_error"] * record["warp_weight"]
                        weight_sum += record["warp_weight"]
                        pairs += 1
                    writer.write(result, seconds - first_time)
                    previous_input, previous_output = small, result_tensor
                    if progress is not None:
                        elapsed = time.perf_counter() - started
                        rate = stylized_count / elapsed if elapsed > 0 else 0.0
                        losses = {"warping_error": error_sum / weight_sum} if weight_sum else {}
                        event = ProgressEvent(step=index + 1, total=max(total, index + 1), stage=f"{rate:.1f} frames/s", losses=losses)
                        if progress(event) is False:
                            raise Cancelled(f"stopped after frame {index + 1}; run the same command again to continue")

                for index, (seconds, array) in enumerate(frames):
                    if max_frames is not None and index >= max_frames:
                        break
                    frame = to_tensor(array, self.device)
                    future = None
                    if painter is not None and index >= self.store.done:
                        future = painter.submit(self._paint, frame)
                    ahead.append(_Frame(index, seconds, frame, future))
                    if len(ahead) > workers:
                        finish(ahead.popleft())
                while ahead:
                    finish(ahead.popleft())
                written = writer.frames
        finally:
            if painter is not None:
                painter.shutdown(wait=True, cancel_futures=True)
            frames.close()
            self.store.close()  # frames finished before an error or an interrupt stay on disk
        seconds = time.perf_counter() - started
        if max_frames is None and not config.keep_frames:
            self.store.remove()
        return VideoResult(
            output=target,
            frames=written,
            resumed=resumed,
            seconds=seconds,
            frames_per_second=stylized_count / seconds if seconds > 0 else 0.0,
            warping_error=error_sum / weight_sum if pairs else None,
            measured_pairs=pairs,
            width=self.size[0],
            height=self.size[1],
            fps=float(self.info.fps),
            audio=audio is not None,
            settings=self.settings,
        )

    def _stylize(
        self,
        frame: torch.Tensor,
        small: torch.Tensor,
        previous_input: Optional[torch.Tensor],
        previous_output: Optional[torch.Tensor],
        use_flow: bool,
        painted: Optional[torch.Tensor] = None,
    ) -> tuple[np.ndarray, torch.Tensor, dict[str, Any]]:
        """One new frame: flow to the previous one, stylize, blend; the uint8 result (also as a
        ``(1, 3, H, W)`` tensor of the same values) and its record.

        ``small`` and ``previous_input`` are this and the previous input frame at the flow size;
        ``painted`` the network's output for ``frame`` when it was painted ahead (no guidance).
        """
        consistency = self.config.consistency
        guidance = warped = mask = None
        if use_flow and previous_input is not None and previous_output is not None:
            warped, mask = self._carry(frame, small, previous_input, previous_output)
            if consistency > 0:
                guidance = Guidance(warped, mask, consistency)
        with torch.no_grad():
            stylized = painted if painted is not None else self._paint(frame, guidance)
            if stylized.shape != frame.shape:
                raise PainterlyError(f"the method returned a {tuple(stylized.shape)} frame for a {tuple(frame.shape)} one")
            if guidance is not None and not self.stylizer.uses_guidance:
                detail_cell = DETAIL_CELL if self.config.keep_detail else 0
                stylized = blend_with_previous(stylized, guidance.warped, guidance.mask, consistency, detail_cell)
            result = to_array(stylized)
            result_tensor = to_tensor(result, self.device)  # what the file holds: measured, and carried on
            record: dict[str, Any] = {}
            if warped is not None and mask is not None:
                error, weight = pair_warping_error(result_tensor, warped, mask)
                record = {"warp_error": error, "warp_weight": weight}
        return result, result_tensor, record

    def _painting_workers(self) -> int:
        """How many frames are painted at once (1: one after the other, in this thread)."""
        concurrent = getattr(self.stylizer, "concurrent_images", None)
        if self.stylizer.uses_guidance or concurrent is None or self.device.type != "cpu":
            return 1
        width, height = self.size
        return concurrent(PAINTING_WORKERS, height, width)

    def _paint(self, frame: torch.Tensor, guidance: Optional[Guidance] = None) -> torch.Tensor:
        """The method's output for ``frame``, float32 on this job's device."""
        with torch.no_grad():
            return self.stylizer.stylize_frame(frame, guidance).to(self.device, torch.float32)

    def _carry(
        self, frame: torch.Tensor, small: torch.Tensor, previous_small: torch.Tensor, previous_output: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The previous output warped onto this frame, and where it is reliable, both ``frame``'s size.

        Flow, occlusion test and colour test run at the flow size; only the warp of the output
        runs at full size (it carries the painting's detail).
        """
        with torch.no_grad():
            backward, forward = estimate_flows(small, previous_small, self.config.flow_preset)
            mask = reliable_mask(small, warp(previous_small, backward), backward, forward, self.config.colour_tolerance)
            size = tuple(frame.shape[-2:])
            if mask.shape[-2:] != size:
                backward = resize_flow(backward, size)  # type: ignore[arg-type]
                mask = F.interpolate(mask, size=size, mode="bilinear", align_corners=False)
            return warp(previous_output, backward), mask


def stylize_video(
    source: str | os.PathLike,
    output: str | os.PathLike,
    stylizer: MethodStylizer,
    config: VideoConfig = VideoConfig(),
    *,
    progress: Optional[ProgressCallback] = None,
    measure: bool = True,
    device: torch.device | str = "cpu",
) -> VideoResult:
    """Stylize every frame of ``source`` into ``output`` (resuming an interrupted run).

    Example:
        >>> stylizer = fast_frame_stylizer("starry-night", device=torch.device("cpu"))   # doctest: +SKIP
        >>> stylize_video("clip.mp4", "out.mp4", stylizer, VideoConfig(size=480))         # doctest: +SKIP
    """
    return VideoJob(source, output, stylizer, config, device=device).run(progress=progress, measure=measure)


def report_path(output: str | os.PathLike) -> Path:
    """``out.mp4`` → ``out.report.json``."""
    output = Path(output)
    return output.with_name(f"{output.stem}.report.json")


def write_report(result: VideoResult, path: str | os.PathLike) -> Path:
    """Write ``result`` as JSON (atomically)."""
    return write_bytes_atomically(path, json.dumps(result.to_dict(), indent=2, default=str).encode("utf-8"))


__all__ = ["VideoConfig", "VideoJob", "VideoResult", "report_path", "stylize_video", "to_array", "to_tensor", "write_report"]
