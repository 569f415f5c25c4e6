"""Per-client rate limit on job creation: one token bucket per client address."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict


class RateLimiter:
    """Token buckets keyed by client: ``burst`` jobs at once, refilled at ``per_minute`` jobs a minute.

    ``per_minute <= 0`` turns the limit off. At most ``max_clients`` buckets are kept; the least recently
    seen client is forgotten first (a forgotten client starts again with a full bucket).
    """

    def __init__(self, per_minute: float, burst: int, *, max_clients: int = 10_000, clock=time.monotonic):
        self.rate_per_s = per_minute / 60.0
        self.burst = max(1, int(burst))
        self.max_clients = max_clients
        self._clock = clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # client → (tokens, time)
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return self.rate_per_s > 0

    def acquire(self, client: str) -> float:
        """Take one token for ``client``; returns 0 when allowed, else the seconds until one is free."""
        if not self.enabled:
            return 0.0
        with self._lock:
            now = self._clock()
            tokens, then = self._buckets.pop(client, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - then) * self.rate_per_s)
            wait = 0.0
            if tokens >= 1.0:
                tokens -= 1.0
            else:
                wait = (1.0 - tokens) / self.rate_per_s
            self._buckets[client] = (tokens, now)
            while len(self._buckets) > self.max_clients:
                self._buckets.popitem(last=False)
            return wait
