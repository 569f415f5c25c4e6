"""Tiny generated clips for the web studio's video tests (PyAV)."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def write_clip(path: Path, frames: int = 12, width: int = 64, height: int = 48, fps: int = 25, audio: bool = True,
               video: bool = True) -> Path:
    """A clip of a gradient sliding sideways (H.264 in MP4), with a 440 Hz tone as long as the video (AAC);
    ``video=False`` writes the tone only."""
    import av

    ramp = np.linspace(0, 255, width * 2, dtype=np.float32)
    with av.open(str(path), "w", format="mp4") as container:
        stream = None
        if video:
            stream = container.add_stream("libx264", rate=fps)
            stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
            stream.options = {"crf": "20", "preset": "ultrafast"}
        sound = container.add_stream("aac", rate=16000, layout="mono") if audio else None
        for index in range(frames if video else 0):
            row = ramp[2 * index : 2 * index + width]
            pixels = np.stack([np.tile(row, (height, 1)), np.full((height, width), 40.0 + 10 * index),
                               np.tile(np.linspace(0, 255, height)[:, None], (1, width))], axis=2)
            picture = av.VideoFrame.from_ndarray(pixels.astype(np.uint8), format="rgb24")
            picture.pts = index
            container.mux(stream.encode(picture))
        if stream is not None:
            container.mux(stream.encode(None))
        if sound is not None:
            samples = int(16000 * frames / fps)
            tone = (0.3 * np.sin(2 * np.pi * 440 * np.arange(samples) / 16000)).astype(np.float32)
            for begin in range(0, samples, 1024):
                chunk = av.AudioFrame.from_ndarray(tone[None, begin : begin + 1024], format="fltp", layout="mono")
                chunk.sample_rate, chunk.pts = 16000, begin
                container.mux(sound.encode(chunk))
            container.mux(sound.encode(None))
    return path


def clip_bytes(folder: Path, **options) -> bytes:
    return write_clip(Path(folder) / "clip.mp4", **options).read_bytes()
