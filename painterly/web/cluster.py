"""The studio's jobs on a Ray cluster (``painterly serve --cluster ADDRESS``).

:class:`ClusterRunner` is a :class:`painterly.web.jobs.Runner`: an image job runs as one Ray task
on a worker (the method loaded there; workers keep no state between jobs), a video job is split
into segments painted in parallel across the workers and joined without a seam
(:mod:`painterly.cluster.video`). The queue, storage and API are the studio's own; only the work moves.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any, Callable

from PIL import Image

from painterly.progress import Cancelled, ProgressEvent
from painterly.web.jobs import JobOptions, Style, StylizeRunner, video_config


def run_image_job(content: Image.Image, style: Style, method: Any, options: dict[str, Any], device: str) -> Image.Image:
    """One image job, on a worker."""
    from painterly.api import Stylizer

    return Stylizer(device=device).stylize(content, style, method=method, **options)


class ClusterRunner(StylizeRunner):
    """Runs the studio's jobs on the Ray cluster at ``address`` (connected on the first job, kept)."""

    def __init__(self, address: str, device: str = "auto"):
        super().__init__(device=None)
        from painterly.cluster.runtime import require_ray

        require_ray()  # a server without Ray says so at start, not at the first job
        self.address, self.worker_device = address, device
        self._ray: Any = None
        self._connection: Any = None
        self._connect_lock = threading.Lock()

    def ray(self) -> Any:
        with self._connect_lock:
            if self._ray is None:
                from painterly.cluster.runtime import connected

                self._connection = connected(self.address)
                self._ray = self._connection.__enter__()
            return self._ray

    def close(self) -> None:
        if self._connection is not None:
            self._connection.__exit__(None, None, None)
            self._connection, self._ray = None, None

    def __call__(self, content: Image.Image, style: Style, options: JobOptions, progress: Callable) -> Image.Image:
        ray = self.ray()
        if progress(ProgressEvent(step=0, total=1, stage="on the cluster")) is False:
            raise Cancelled("cancelled before it started")
        extra = {"model": options.model} if options.model else {}
        task = ray.remote(num_cpus=1)(run_image_job)
        call = task.remote(content, style, options.method, {**options.stylize_options(), **extra}, self.worker_device)
        while True:  # cancellable while it runs
            done, _ = ray.wait([call], timeout=0.5)
            if done:
                break
            if progress(ProgressEvent(step=0, total=1, stage="on the cluster")) is False:
                ray.cancel(call, force=True)
                raise Cancelled("cancelled")
        try:
            result = ray.get(call)
        except ray.exceptions.RayTaskError as error:
            raise (error.cause if isinstance(error.cause, Exception) else error) from None
        progress(ProgressEvent(step=1, total=1, stage="done"))
        return result

    def video(self, source: Path, style: Style, options: JobOptions, progress: Callable, *, output: Path,
              work_folder: Path) -> None:
        """The clip in segments across the cluster (finished segments are kept beside ``output``)."""
        from dataclasses import asdict

        from painterly.cluster.folder import PaintJob
        from painterly.cluster.video import paint_video_on_cluster

        from painterly.registry import choose_method
        from painterly.web.jobs import VIDEO_OPTIMIZE_MAX_STEPS

        config = video_config(options)
        spec = choose_method(options.method or None, model=options.model, paintings=[style] if style is not None else [])
        styles = ((style, 1.0),) if isinstance(style, str) else ()
        painting_files = {}
        if isinstance(style, Image.Image):  # an uploaded painting travels as a file
            import io

            buffer = io.BytesIO()
            style.save(buffer, format="PNG")
            painting_files["painting.png"] = buffer.getvalue()
            styles = (("painting.png", 1.0),)
        method_options = {key: value for key, value in options.stylize_options().items()
                          if key not in ("size", "preview_every") and spec.takes(key)}  # fmt: skip
        if spec.takes("steps"):  # an optimization per frame: few steps, or a clip takes hours
            method_options.setdefault("steps", VIDEO_OPTIMIZE_MAX_STEPS)
        job = PaintJob(spec.name, styles,
                       {**method_options, **({"model": options.model} if options.model else {})}, painting_files,
                       device=self.worker_device)  # fmt: skip

        def segment_done(segment: Any, done: int, total: int) -> None:
            if progress(ProgressEvent(step=done, total=total, stage=f"{done}/{total} segments")) is False:
                raise Cancelled("cancelled; the finished segments are kept")

        paint_video_on_cluster(source, output, job, self.ray(), video=asdict(config), segment_seconds=10.0,
                               measure=False, progress=segment_done)  # fmt: skip
