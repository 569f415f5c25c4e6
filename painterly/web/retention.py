"""How long the studio keeps finished jobs: with ``--keep-days N`` the server removes jobs that finished
more than N days ago, with their files, in a sweep when it starts and then every hour; with ``--max-disk-mb``
the same sweep removes the oldest finished jobs while the data dir is over its quota."""

from __future__ import annotations

import logging
import threading
import time
from typing import Callable, Optional

logger = logging.getLogger(__name__)


class Sweeper:
    """A thread that calls ``sweep(now)`` at start and every ``every_s`` seconds until :meth:`stop`."""

    def __init__(self, sweep: Callable[[float], int], every_s: float, clock: Callable[[], float] = time.time):
        self._sweep = sweep
        self._every_s = every_s
        self._clock = clock
        self._stopping = threading.Event()
        self._thread: Optional[threading.Thread] = None

    def start(self) -> None:
        self._stopping.clear()
        self._thread = threading.Thread(target=self._run, name="painterly-retention", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                removed = self._sweep(self._clock())
                if removed:
                    logger.info("removed %d expired jobs", removed)
            except Exception:  # a failed sweep must not end the sweeps: the next one tries again
                logger.exception("sweeping expired jobs failed")
            self._stopping.wait(self._every_s)
