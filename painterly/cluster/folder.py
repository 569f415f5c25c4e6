"""Painting many images across a Ray cluster.

The driver (the ``painterly stylize … --cluster`` process) reads each input's bytes (a local file, or
an ``s3://``-style URI through ``fsspec`` when it is installed) and hands them to a pool of
:class:`Painter` actors, one per worker CPU (``--workers``), each of which builds the method once
(model read, paintings prepared) and paints image after image. Results come back as images and
the driver writes them with the same names, format and metadata as one machine, atomically. A
file whose worker died is handed to a new worker; a file that fails is tried again on another
worker, up to ``retries`` times, then reported. No shared filesystem is needed: paintings and
inputs travel with the calls.
"""

from __future__ import annotations

import collections
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Optional, Sequence

from painterly.errors import PainterlyError

#: Calls in flight per worker: one painting, one waiting (its input already sent).
IN_FLIGHT = 2


@dataclass(frozen=True)
class PaintJob:
    """What every worker builds once: the method, its model and paintings, its options.

    Attributes:
        styles: ``[(style, weight)]`` as the user gave them: built-in names, or painting files
            (their bytes travel in ``painting_files``).
        painting_files: ``{file name: bytes}`` of the painting files among ``styles``.
    """

    method: Optional[str]
    styles: tuple[tuple[str, float], ...]
    options: dict[str, Any] = field(default_factory=dict)
    painting_files: dict[str, bytes] = field(default_factory=dict)
    device: str = "auto"
    max_pixels: Optional[int] = None
    vgg_weights: Optional[str] = None


@dataclass
class ClusterOutcome:
    """One input's result: ``result`` (the painted PIL image) or ``error`` (one line), and where."""

    source: str
    target: Path
    result: Any = None
    error: Optional[str] = None
    attempts: int = 0
    worker: Optional[int] = None


def read_input(source: str) -> bytes:
    """The bytes of a local file or (with ``fsspec`` and its filesystem package) of a URI."""
    if "://" in source:
        try:
            import fsspec
        except ImportError:
            raise PainterlyError(f"{source}: reading URIs needs fsspec and its filesystem package (e.g. pip install s3fs)") from None
        with fsspec.open(source, "rb") as handle:
            return handle.read()
    return Path(source).read_bytes()


def job_for(method: Optional[str], styles: Sequence[str], options: dict[str, Any], **settings: Any) -> PaintJob:
    """A :class:`PaintJob` from the command line's styles (``NAME``, ``FILE`` or ``FILE:WEIGHT``)."""
    from painterly.api import parse_style_spec

    parsed, files = [], {}
    for spec in styles:
        source, weight = parse_style_spec(spec)
        path = Path(str(source)).expanduser()
        if path.is_file():
            files[path.name] = path.read_bytes()
            source = path.name
        parsed.append((str(source), float(weight)))
    return PaintJob(method, tuple(parsed), dict(options), files, **settings)


class Painter:
    """A worker's painter: the method built once, then images painted one after another.

    Runs inside a Ray actor (see :func:`paint_on_cluster`); plain Python otherwise, so tests and a
    single machine can use it as it is.
    """

    def __init__(self, job: PaintJob):
        import os

        from painterly.api import Stylizer

        self.folder = Path(tempfile.mkdtemp(prefix="painterly-worker-"))
        styles = []
        for source, weight in job.styles:
            if source in job.painting_files:  # the painting under its own name, so the metadata names it alike
                path = self.folder / source
                path.write_bytes(job.painting_files[source])
                source = str(path)
            styles.append((source, weight))
        self.stylizer = Stylizer(device=job.device, vgg_weights=job.vgg_weights,
                                 **({"max_pixels": job.max_pixels} if job.max_pixels else {}))  # fmt: skip
        self.prepared = self.stylizer.prepare(styles or None, method=job.method, **dict(job.options))
        self.pid = os.getpid()

    def paint(self, name: str, data: bytes) -> tuple[Any, int]:
        """Paint the image whose file ``name`` holds ``data``; returns ``(PIL image, this worker's pid)``."""
        source = self.folder / f"input{Path(name).suffix.lower()}"
        source.write_bytes(data)
        try:
            loaded = self.stylizer.load_content(source)
        finally:
            source.unlink(missing_ok=True)
        return self.prepared.paint(loaded, Path(name)), self.pid

    def worker_pid(self) -> int:
        return self.pid


def paint_on_cluster(
    pairs: Sequence[tuple[str, Path]],
    job: PaintJob,
    ray: Any,
    *,
    workers: Optional[int] = None,
    retries: int = 2,
    read: Callable[[str], bytes] = read_input,
    started: Optional[Callable[[list[Any]], None]] = None,
) -> Iterator[ClusterOutcome]:
    """Paint every ``(source, target)`` of ``pairs`` on the cluster ``ray`` is connected to; yields
    each :class:`ClusterOutcome` as it comes (in the order they finish).

    Args:
        workers: painters to start (default: the cluster's CPUs), one CPU each.
        retries: tries after the first for a file that fails or whose worker dies.
        started: called with the actors once they are up (tests kill one).
    """
    count = workers or max(1, int(ray.cluster_resources().get("CPU", 1)))
    remote = ray.remote(num_cpus=1)(Painter)
    actors = [remote.remote(job) for _ in range(count)]
    try:
        ray.get([actor.worker_pid.remote() for actor in actors])  # built (model loaded) before the clock counts files
    except Exception as error:  # noqa: BLE001 — the first worker's error, in one line
        raise PainterlyError(f"the workers could not load the method: {_one_line(error)}") from None
    if started is not None:
        started(actors)
    waiting = collections.deque((index, 0) for index in range(len(pairs)))
    running: dict[Any, tuple[int, int, int]] = {}  # call → (pair index, attempt, actor slot)
    load = {slot: 0 for slot in range(count)}
    while waiting or running:
        for slot in range(count):
            while waiting and load[slot] < IN_FLIGHT:
                index, attempt = waiting.popleft()
                source = pairs[index][0]
                try:
                    data = read(source)
                except OSError as error:
                    yield ClusterOutcome(source, pairs[index][1], error=f"cannot read: {_one_line(error)}", attempts=attempt + 1)
                    continue
                running[actors[slot].paint.remote(Path(source).name, data)] = (index, attempt, slot)
                load[slot] += 1
        if not running:
            break
        done, _ = ray.wait(list(running), num_returns=1)
        call = done[0]
        index, attempt, slot = running.pop(call)
        load[slot] -= 1
        source, target = pairs[index]
        try:
            image, pid = ray.get(call)
        except ray.exceptions.RayActorError:
            # The worker died (killed, out of memory): a new one takes its place and its files.
            actors[slot] = remote.remote(job)
            load[slot] = 0
            for other, (other_index, other_attempt, other_slot) in list(running.items()):
                if other_slot == slot:
                    running.pop(other)
                    waiting.append((other_index, other_attempt))
            outcome = _retry_or_fail(waiting, index, attempt, retries, source, target, "its worker died")
        except ray.exceptions.RayTaskError as error:
            outcome = _retry_or_fail(waiting, index, attempt, retries, source, target, _one_line(error.cause or error))
        else:
            outcome = ClusterOutcome(source, target, result=image, attempts=attempt + 1, worker=pid)
        if outcome is not None:
            yield outcome


def _retry_or_fail(waiting: Any, index: int, attempt: int, retries: int, source: str, target: Path,
                   reason: str) -> Optional[ClusterOutcome]:  # fmt: skip
    if attempt < retries:
        waiting.append((index, attempt + 1))
        return None
    return ClusterOutcome(source, target, error=reason, attempts=attempt + 1)


def _one_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return " ".join(text[-1].split()) if text else type(error).__name__


class Rate:
    """Files per second of the whole cluster, and the time left, for progress lines."""

    def __init__(self, total: int):
        self.total, self.done, self.started = total, 0, time.perf_counter()

    def restart(self) -> None:
        self.started = time.perf_counter()

    def add(self) -> str:
        self.done += 1
        seconds = time.perf_counter() - self.started
        rate = self.done / seconds if seconds > 0 else 0.0
        left = (self.total - self.done) / rate if rate > 0 else 0.0
        return f"{self.done}/{self.total} files, {rate:.2f} files/s, {left:.0f} s left"
