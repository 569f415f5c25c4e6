"""Reading and writing video files with PyAV (FFmpeg's libraries, bundled in the ``av`` wheel).

Any container and codec FFmpeg reads comes in as RGB frames (``(H, W, 3)`` uint8 arrays, turned
upright when the file says it is rotated); output goes to MP4/MOV/MKV (H.264 + AAC) or WebM
(VP9 + Opus), written to a temporary file next to the target and renamed at the end, so a failed
or interrupted run never leaves half a video, and never over an input. The audio track is cut to
the same time range as the frames and re-encoded into the output.
"""

from __future__ import annotations

import os
import re
import uuid
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any, Iterable, Iterator, Optional

import numpy as np

from painterly.errors import PainterlyError

#: Output suffix → (video encoder, audio encoder, container format).
OUTPUT_FORMATS: dict[str, tuple[str, str, str]] = {
    ".mp4": ("libx264", "aac", "mp4"),
    ".m4v": ("libx264", "aac", "mp4"),
    ".mov": ("libx264", "aac", "mov"),
    ".mkv": ("libx264", "aac", "matroska"),
    ".webm": ("libvpx-vp9", "libopus", "webm"),
}
ENCODER_PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow")


def _av():
    try:
        import av
    except ImportError:  # pragma: no cover - a dependency of the package
        raise PainterlyError("video needs PyAV: pip install av") from None
    return av


@dataclass(frozen=True)
class VideoInfo:
    """What a video file holds.

    Attributes:
        path: the file.
        width, height: frame size as displayed (after rotation).
        fps: frame rate (average, as a fraction, e.g. 30000/1001).
        duration: length in seconds (0 when the file does not say).
        frames: number of frames (stated by the file, or estimated from duration × fps).
        codec: name of the video codec.
        rotation: degrees counter-clockwise the frames are turned to display them upright.
        audio_codec: name of the first audio track's codec, ``None`` when there is no audio.
        start_time: time of the first video frame in the file's clock, in seconds.
        time_base: the unit of the video stream's timestamps (``None`` when the file has none);
            a writer given it keeps the input's frame times exactly (variable frame rate too).
    """

    path: Path
    width: int
    height: int
    fps: Fraction
    duration: float
    frames: int
    codec: str
    rotation: int = 0
    audio_codec: Optional[str] = None
    start_time: float = 0.0
    time_base: Optional[Fraction] = None

    @property
    def has_audio(self) -> bool:
        return self.audio_codec is not None

    def frames_between(self, start: Optional[float], end: Optional[float]) -> int:
        """Estimated number of frames from ``start`` to ``end`` seconds (``None``: the ends)."""
        first = max(0.0, start or 0.0)
        last = self.duration if end is None else min(end, self.duration or end)
        if self.duration and start is None and end is None and self.frames:
            return self.frames
        return max(0, int(round((last - first) * float(self.fps))))


def _open(path: Path):
    av = _av()
    if not path.exists():
        raise PainterlyError(f"video not found: {path}")
    if path.is_dir():
        raise PainterlyError(f"{path} is a folder: give a video file")
    try:
        return av.open(str(path), metadata_errors="ignore")
    except (av.error.FFmpegError, UnicodeDecodeError, ValueError) as error:
        raise PainterlyError(f"cannot read {path.name}: not a video FFmpeg understands ({_one_line(error)}); give an mp4, mov, mkv, webm or avi file") from None


def is_still_image(container: Any) -> bool:
    """Whether an opened PyAV container is a still image (FFmpeg reads JPEG, PNG … as one-frame videos)."""
    formats = set(container.format.name.split(","))
    return "image2" in formats or any(name.endswith("_pipe") for name in formats)


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split())[:200] or type(error).__name__


def _rotation_of(frame) -> int:
    """Counter-clockwise degrees (0, 90, 180, 270) that turn a decoded frame upright."""
    return int(round(getattr(frame, "rotation", 0) or 0) / 90) % 4 * 90


def probe_video(path: str | os.PathLike) -> VideoInfo:
    """Open ``path``, check that its first video frame decodes, and describe it.

    Raises:
        PainterlyError: missing or unreadable file, or a file without a video stream.
    """
    path = Path(path).expanduser()
    av = _av()
    with _open(path) as container:
        if is_still_image(container):
            raise PainterlyError(f"{path.name} is a still image: use painterly stylize")
        if not container.streams.video:
            raise PainterlyError(f"{path.name} has no video stream: give a video file (mp4, mov, mkv, webm, avi …)")
        stream = container.streams.video[0]
        try:
            first = next(iter(container.decode(stream)), None)
        except (av.error.FFmpegError, ValueError) as error:
            raise PainterlyError(f"cannot decode the video of {path.name} ({_one_line(error)}): the file is damaged or uses an unsupported codec") from None
        if first is None:
            raise PainterlyError(f"{path.name} has a video stream without frames: give another video file")
        fps = stream.average_rate or stream.guessed_rate or stream.base_rate or Fraction(25)
        fps = Fraction(fps).limit_denominator(100000)
        if stream.duration is not None and stream.time_base is not None:
            duration = float(stream.duration * stream.time_base)
        elif container.duration is not None:
            duration = container.duration / 1_000_000
        else:
            duration = 0.0
        rotation = _rotation_of(first)
        width, height = (first.height, first.width) if rotation in (90, 270) else (first.width, first.height)
        start_time = float(first.time) if first.time is not None else 0.0
        frames = stream.frames or int(round(duration * float(fps)))
        audio = container.streams.audio[0].codec_context.name if container.streams.audio else None
        time_base = Fraction(stream.time_base) if stream.time_base else None
        return VideoInfo(path, width, height, fps, duration, frames, stream.codec_context.name, rotation, audio, start_time, time_base)


def output_size(width: int, height: int, long_side: Optional[int] = None) -> tuple[int, int]:
    """Frame size for the output: scaled so the long side is ``long_side`` (``None``: as is),
    both sides even (yuv420p video needs that) and at least 2.

    Example:
        >>> output_size(1280, 720, 480)
        (480, 270)
        >>> output_size(641, 273)
        (640, 272)
    """
    scale = 1.0 if long_side is None else long_side / max(width, height)
    return max(2, int(width * scale) // 2 * 2), max(2, int(height * scale) // 2 * 2)


def read_frames(
    path: str | os.PathLike,
    *,
    size: Optional[tuple[int, int]] = None,
    start: Optional[float] = None,
    end: Optional[float] = None,
) -> Iterator[np.ndarray]:
    """Decode the frames of ``path`` from ``start`` to ``end`` seconds as RGB arrays.

    Args:
        size: ``(width, height)`` of the returned frames (upright); ``None``: the video's size.
        start, end: seconds from the first frame; ``None``: from the beginning / to the end.

    Yields:
        ``(H, W, 3)`` uint8 arrays, in display order.
    """
    timed = read_timed_frames(path, size=size, start=start, end=end)
    try:
        for _, array in timed:
            yield array
    finally:
        timed.close()


def read_timed_frames(
    path: str | os.PathLike,
    *,
    size: Optional[tuple[int, int]] = None,
    start: Optional[float] = None,
    end: Optional[float] = None,
) -> Iterator[tuple[float, np.ndarray]]:
    """:func:`read_frames` with each frame's time: ``(seconds from the video's first frame, (H, W, 3) uint8)``.

    The times come from the file's timestamps, so a variable-frame-rate video keeps its rhythm.
    """
    path = Path(path).expanduser()
    info = probe_video(path)
    av = _av()
    width, height = size or (info.width, info.height)
    with _open(path) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        if start and stream.time_base is not None:
            container.seek(int((info.start_time + start) / stream.time_base), stream=stream, backward=True, any_frame=False)
        index = 0
        try:
            for frame in container.decode(stream):
                seconds = (float(frame.time) - info.start_time) if frame.time is not None else index / float(info.fps)
                index += 1
                # Half a frame of tolerance: a frame shown at `start` belongs to the cut.
                if start is not None and seconds < start - 0.5 / float(info.fps):
                    continue
                if end is not None and seconds >= end - 0.5 / float(info.fps):
                    break
                quarter_turns = _rotation_of(frame) // 90
                coded = (height, width) if quarter_turns % 2 else (width, height)
                array = frame.to_ndarray(format="rgb24", width=coded[0], height=coded[1], interpolation="BICUBIC")
                yield seconds, (np.ascontiguousarray(np.rot90(array, quarter_turns)) if quarter_turns else array)
        except (av.error.FFmpegError, ValueError) as error:
            raise PainterlyError(f"cannot decode {path.name} after {index} frames ({_one_line(error)}): the file is damaged; try --end to stop before that point") from None


def _audio_packets(source: Path, stream, start: float, end: Optional[float], origin: float) -> list:
    """Decode the audio of ``source`` between ``start`` and ``end`` seconds and encode it with
    ``stream``'s encoder; the packets, in order, with time 0 at ``start``."""
    av = _av()
    rate = stream.codec_context.sample_rate
    layout = stream.codec_context.layout.name
    resampler = av.AudioResampler(format="fltp", layout=layout, rate=rate)
    limit = None if end is None else int(round((end - start) * rate))
    packets: list = []
    position: Optional[int] = None  # samples from the cut's start, of the next resampled sample

    def encode(frame) -> None:
        nonlocal position
        samples = frame.to_ndarray()  # (channels, n) float32, planar
        begin = max(0, -position)
        stop = samples.shape[1] if limit is None else min(samples.shape[1], limit - position)
        if stop > begin:
            piece = av.AudioFrame.from_ndarray(np.ascontiguousarray(samples[:, begin:stop]), format="fltp", layout=layout)
            piece.sample_rate = rate
            piece.pts = position + begin
            packets.extend(stream.encode(piece))
        position += samples.shape[1]

    with _open(source) as container:
        audio = container.streams.audio[0]
        if start and audio.time_base is not None:
            container.seek(int((origin + start) / audio.time_base), stream=audio, backward=True)
        try:
            for decoded in container.decode(audio):
                if position is None:
                    seconds = float(decoded.time) - origin - start if decoded.time is not None else 0.0
                    position = int(round(seconds * rate))
                decoded.pts = None  # the resampler keeps its own clock; we count samples instead
                for frame in resampler.resample(decoded):
                    encode(frame)
                if limit is not None and position >= limit:
                    break
            if position is not None:
                for frame in resampler.resample(None):
                    encode(frame)
        except (av.error.FFmpegError, ValueError) as error:
            raise PainterlyError(f"cannot decode the audio of {source.name} ({_one_line(error)}): pass --no-audio to leave it out") from None
    packets.extend(stream.encode(None))
    return packets


@dataclass(frozen=True)
class AudioSource:
    """The audio track to put in an output: the first audio stream of ``path`` from ``start`` to ``end``
    seconds, measured from ``origin`` (the time of the video's first frame in that file)."""

    path: Path
    start: float = 0.0
    end: Optional[float] = None
    origin: float = 0.0


class VideoWriter:
    """Encode RGB frames (and an audio track) into a video file, atomically.

    Frames go to a temporary file beside ``path``; :meth:`close` renames it to ``path``;
    :meth:`abort` (or an exception inside ``with``) deletes it. A finished file also clears the
    temporary files that killed runs for the same ``path`` left behind. Audio packets are
    interleaved with the frames by time.

    Args:
        path: output file: .mp4, .m4v, .mov, .mkv (H.264 + AAC) or .webm (VP9 + Opus).
        size: ``(width, height)``, both even.
        fps: frame rate (nominal when frames are written with their times).
        time_base: unit of the frame times, e.g. the input's (:attr:`VideoInfo.time_base`);
            ``None``: ``1 / fps``.
        audio: the audio track to copy in (re-encoded), or ``None``.
        crf: quality (lower is better and larger; 18 looks lossless for H.264).
        preset: x264 speed preset (``"veryfast"`` …); ignored for VP9.
        protect: paths that must never be written (the inputs).

    Example:
        >>> with VideoWriter("out.mp4", (640, 360), Fraction(25)) as writer:   # doctest: +SKIP
        ...     for frame in frames:
        ...         writer.write(frame)
    """

    def __init__(
        self,
        path: str | os.PathLike,
        size: tuple[int, int],
        fps: Fraction,
        *,
        time_base: Optional[Fraction] = None,
        audio: Optional[AudioSource] = None,
        crf: int = 18,
        preset: str = "veryfast",
        protect: Iterable[str | os.PathLike] = (),
    ):
        av = _av()
        self.path = check_video_output(path, protect)
        width, height = size
        if width % 2 or height % 2:
            raise PainterlyError(f"video frames must have even sides, got {width}×{height}")
        if preset not in ENCODER_PRESETS:
            raise PainterlyError(f"unknown encoder preset {preset!r}: use one of {', '.join(ENCODER_PRESETS)}")
        video_codec, audio_codec, container_format = OUTPUT_FORMATS[self.path.suffix.lower()]
        self.temporary = partial_path(self.path, uuid.uuid4().hex[:8])
        self._lock: Optional[int] = None
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # os.open with 0o666 lets the umask decide permissions, like any new file (mkstemp gives 0600).
            self._lock = os.open(self.temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
            _try_lock(self._lock)  # held until the end: marks the file as in use (see remove_stale_partials)
        except OSError as error:
            raise PainterlyError(f"cannot write {self.path}: {error.strerror or _one_line(error)}") from None
        self.size = size
        self.frames = 0
        self._closed = False
        try:
            self._container = av.open(str(self.temporary), mode="w", format=container_format)
            self._video = self._container.add_stream(video_codec, rate=Fraction(fps))
            self._video.width, self._video.height = width, height
            self._time_base = Fraction(time_base) if time_base else 1 / Fraction(fps)
            self._video.codec_context.time_base = self._time_base
            self._video.pix_fmt = "yuv420p"
            options = {"crf": str(crf)}
            options.update({"preset": preset} if video_codec == "libx264" else {"b": "0", "row-mt": "1"})
            self._video.options = options
            self._audio_packets: list = []
            if audio is not None:
                rate, layout = self._audio_format(audio.path, audio_codec)
                self._audio = self._container.add_stream(audio_codec, rate=rate, layout=layout)
                self._audio_packets = _audio_packets(audio.path, self._audio, audio.start, audio.end, audio.origin)
        except BaseException:
            self.abort()
            raise
        self._fps = Fraction(fps)
        self._frame_ticks = max(1, round(1 / (self._fps * self._time_base)))  # one frame at the frame rate
        self._last_pts: Optional[int] = None

    @staticmethod
    def _audio_format(source: Path, codec: str) -> tuple[int, str]:
        with _open(source) as container:
            context = container.streams.audio[0].codec_context
            rate, channels = context.sample_rate or 48000, context.channels or 2
        if codec == "libopus" and rate not in (48000, 24000, 16000, 12000, 8000):
            rate = 48000
        return rate, "mono" if channels == 1 else "stereo"

    def _mux_audio_until(self, seconds: Optional[float]) -> None:
        while self._audio_packets:
            packet = self._audio_packets[0]
            if seconds is not None and packet.pts is not None and packet.time_base is not None and packet.pts * packet.time_base > seconds:
                break
            self._container.mux(self._audio_packets.pop(0))

    def write(self, frame: np.ndarray, seconds: Optional[float] = None) -> None:
        """Append one ``(H, W, 3)`` uint8 RGB frame of the writer's size, shown at ``seconds``
        from the start (``None``: right after the previous frame, at the frame rate)."""
        av = _av()
        if frame.shape != (self.size[1], self.size[0], 3) or frame.dtype != np.uint8:
            raise PainterlyError(f"frame of shape {frame.shape} {frame.dtype} does not fit a {self.size[0]}×{self.size[1]} uint8 RGB video")
        picture = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")
        if seconds is None:
            pts = 0 if self._last_pts is None else self._last_pts + self._frame_ticks
        else:
            pts = round(Fraction(seconds) / self._time_base)
            if self._last_pts is not None and pts <= self._last_pts:
                pts = self._last_pts + 1  # timestamps must increase
        picture.pts = self._last_pts = pts
        self._container.mux(self._video.encode(picture))
        self.frames += 1
        self._mux_audio_until(float((pts + self._frame_ticks) * self._time_base))

    def close(self) -> Path:
        """Finish the file and move it to ``path``; returns ``path``."""
        if self._closed:
            return self.path
        if self.frames == 0:
            self.abort()
            raise PainterlyError("no frames to write: the cut (--start/--end) holds no frame of the video")
        try:
            self._container.mux(self._video.encode(None))
            self._mux_audio_until(None)
            self._container.close()
            self._closed = True
            os.replace(self.temporary, self.path)
        except BaseException:
            self.abort()
            raise
        finally:
            self._unlock()
        remove_stale_partials(self.path)
        return self.path

    def abort(self) -> None:
        """Drop the unfinished file."""
        if not self._closed:
            self._closed = True
            container = getattr(self, "_container", None)
            if container is not None:
                try:
                    container.close()
                except Exception:  # the file is deleted anyway
                    pass
        if self.temporary.exists():
            self.temporary.unlink()
        self._unlock()

    def _unlock(self) -> None:
        if getattr(self, "_lock", None) is not None:
            os.close(self._lock)
            self._lock = None

    def __enter__(self) -> "VideoWriter":
        return self

    def __exit__(self, kind, error, traceback) -> None:
        if kind is None:
            self.close()
        else:
            self.abort()


def partial_path(path: Path, token: str) -> Path:
    """The temporary file a writer of ``path`` fills: ``dir/out.mp4`` → ``dir/.out.TOKEN.partial.mp4``."""
    return path.with_name(f".{path.stem}.{token}.partial{path.suffix}")


def _try_lock(descriptor: int) -> bool:
    """Take an exclusive advisory lock on an open file without waiting; ``False`` when another
    process holds it. The system drops a process's locks when it dies, however it dies."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows: no advisory locks, every file counts as in use
        return False
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False
    return True


def remove_stale_partials(path: Path) -> list[Path]:
    """Delete the temporary files that killed writers of ``path`` left behind (a hard kill or a
    power cut skips :meth:`VideoWriter.abort`). A live writer holds a lock on its file, so a
    writer still at work on the same output keeps it. Returns the deleted files."""
    pattern = re.compile(re.escape(f".{path.stem}.") + r"[0-9a-f]{8}" + re.escape(f".partial{path.suffix}"))
    removed = []
    try:
        candidates = list(path.parent.iterdir())
    except OSError:
        return removed
    for candidate in candidates:
        if not pattern.fullmatch(candidate.name):
            continue
        try:
            descriptor = os.open(candidate, os.O_RDONLY)
        except OSError:  # gone already, or not ours to read: the output is written either way
            continue
        try:
            if _try_lock(descriptor):
                candidate.unlink()
                removed.append(candidate)
        except OSError:
            pass
        finally:
            os.close(descriptor)
    return removed


def check_video_output(path: str | os.PathLike, protect: Iterable[str | os.PathLike] = ()) -> Path:
    """Check before any work that a video can be written to ``path``; returns it as a Path."""
    path = Path(path).expanduser()
    if path.suffix.lower() not in OUTPUT_FORMATS:
        raise PainterlyError(f"cannot write video {path.name}: use one of {', '.join(OUTPUT_FORMATS)}")
    if path.is_dir():
        raise PainterlyError(f"{path} is a folder: give a file name such as out.mp4")
    for protected in protect:
        other = Path(protected).expanduser()
        if path.resolve() == other.resolve() or (path.exists() and other.exists() and os.path.samefile(path, other)):
            raise PainterlyError(f"refusing to write {path}: it is an input; choose another output path")
    return path
