"""Many files through one network, with decoding and encoding overlapped with the painting.

A reader thread decodes the next files while the network paints the current one, and a writer
thread encodes finished ones; bounded queues keep at most ``depth`` decoded images and ``depth``
painted ones waiting, so memory stays bounded on a folder of any length. A file that cannot be
read, painted or written is reported in its :class:`FileOutcome` and the others go on.
"""

from __future__ import annotations

import queue
import threading
import time
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Callable, Generic, Iterator, Optional, Sequence, TypeVar

from painterly.errors import PainterlyError

Item = TypeVar("Item")

#: Errors that concern one file (unreadable, damaged, unwritable): reported, and the others go on.
FILE_ERRORS = (PainterlyError, OSError)

_DONE = object()


@dataclass
class FileOutcome(Generic[Item]):
    """What became of one item.

    Attributes:
        item: the item as given.
        result: what ``save`` returned, or ``None`` when the item failed.
        error: the error that stopped this item (one of :data:`FILE_ERRORS`), or ``None``.
        stage: where it failed: ``read``, ``paint`` or ``write``.
        seconds: from the start of the run until this item was written or failed.
    """

    item: Item
    result: Any = None
    error: Optional[BaseException] = None
    stage: str = ""
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.error is None


class _Worker(threading.Thread):
    """A daemon thread feeding ``out`` from ``work()``; an unexpected error is kept for the main thread."""

    def __init__(self, name: str, work: Callable[[], None]):
        super().__init__(name=name, daemon=True)
        self.work = work
        self.failure: Optional[BaseException] = None

    def run(self) -> None:
        try:
            self.work()
        except BaseException as error:  # noqa: BLE001 — handed to the main thread, which raises it
            self.failure = error


def _put(target: "queue.Queue[Any]", value: Any, stop: threading.Event) -> bool:
    """Put ``value`` unless ``stop`` is set first; whether it was put."""
    while not stop.is_set():
        try:
            target.put(value, timeout=0.1)
            return True
        except queue.Full:
            continue
    return False


def run_files(
    items: Sequence[Item],
    load: Callable[[Item], Any],
    paint: Callable[[Item, Any], Any],
    save: Callable[[Item, Any], Any],
    *,
    depth: int = 2,
    painters: int = 1,
) -> Iterator[FileOutcome[Item]]:
    """Yield one :class:`FileOutcome` per item, in order, as each is written or fails.

    ``load(item)`` runs in a reader thread, ``paint(item, loaded)`` in the calling thread (so
    progress bars and the network's own threads work as for one image) or, with ``painters > 1``,
    on that many items at once in painting threads (results still in order), ``save(item, painted)``
    in a writer thread. Errors in :data:`FILE_ERRORS` fail that item only; any other error stops the
    run and is raised here. Stopping early (closing the generator, an interrupt) stops the threads.
    """
    started = time.perf_counter()
    painters = max(1, painters)
    stop = threading.Event()
    loaded: "queue.Queue[Any]" = queue.Queue(maxsize=max(1, depth))
    painted: "queue.Queue[Any]" = queue.Queue(maxsize=max(1, depth))
    finished: "queue.Queue[FileOutcome[Item]]" = queue.Queue()

    def outcome(item: Item, **fields: Any) -> FileOutcome[Item]:
        return FileOutcome(item, seconds=time.perf_counter() - started, **fields)

    def read_all() -> None:
        for item in items:
            try:
                value: Any = load(item)
                error: Optional[BaseException] = None
            except FILE_ERRORS as failure:
                value, error = None, failure
            if not _put(loaded, (item, value, error), stop):
                return
        _put(loaded, _DONE, stop)

    def write_all() -> None:
        while not stop.is_set():
            try:
                entry = painted.get(timeout=0.1)
            except queue.Empty:
                continue
            if entry is _DONE:
                return
            item, value, error, stage = entry
            if error is None:
                try:
                    finished.put(outcome(item, result=save(item, value)))
                except FILE_ERRORS as failure:
                    finished.put(outcome(item, error=failure, stage="write"))
            else:
                finished.put(outcome(item, error=error, stage=stage))

    reader, writer = _Worker("painterly-read", read_all), _Worker("painterly-write", write_all)
    reader.start()
    writer.start()
    pool = ThreadPoolExecutor(max_workers=painters, thread_name_prefix="painterly-paint") if painters > 1 else None
    in_flight: deque[Any] = deque()  # painted entries, or futures of them, in order
    emitted = 0

    def paint_entry(item: Item, value: Any) -> tuple[Item, Any, Optional[BaseException], str]:
        try:
            return (item, paint(item, value), None, "")
        except FILE_ERRORS as failure:
            return (item, None, failure, "paint")

    def hand_over(entry: tuple[Item, Any, Optional[BaseException], str]) -> Iterator[FileOutcome[Item]]:
        nonlocal emitted
        _put_checked(painted, entry, writer)
        while True:  # hand back what the writer has finished, without waiting
            try:
                yield finished.get_nowait()
                emitted += 1
            except queue.Empty:
                break

    try:
        while True:
            entry = _next(loaded, reader)
            if entry is _DONE:
                break
            item, value, error = entry
            if error is not None:
                ready: Any = (item, None, error, "read")
            elif pool is not None:
                ready = pool.submit(paint_entry, item, value)
            else:
                ready = paint_entry(item, value)
            del value
            in_flight.append(ready)
            # Keep `painters` items painting; the oldest goes on once due (one that failed to read, at once).
            while in_flight and (len(in_flight) >= painters or not isinstance(in_flight[0], Future)):
                yield from hand_over(_settled(in_flight.popleft()))
        while in_flight:
            yield from hand_over(_settled(in_flight.popleft()))
        _put_checked(painted, _DONE, writer)
        writer.join()
        if writer.failure is not None:
            raise writer.failure
        while emitted < len(items):
            yield finished.get()
            emitted += 1
    finally:
        stop.set()
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)


def _settled(entry: Any) -> Any:
    """A painted entry, waiting for it when it is still being painted (a future)."""
    return entry.result() if isinstance(entry, Future) else entry


def _next(source: "queue.Queue[Any]", worker: _Worker) -> Any:
    """The next entry of ``source``; raises the worker's error if it died instead."""
    while True:
        try:
            return source.get(timeout=0.1)
        except queue.Empty:
            if worker.failure is not None:
                raise worker.failure
            if not worker.is_alive() and source.empty():
                raise PainterlyError("the file reader stopped unexpectedly: run again with --debug")


def _put_checked(target: "queue.Queue[Any]", value: Any, worker: _Worker) -> None:
    """Put ``value`` into ``target``, raising the worker's error if it died while the queue was full."""
    while True:
        try:
            target.put(value, timeout=0.1)
            return
        except queue.Full:
            if worker.failure is not None:
                raise worker.failure
