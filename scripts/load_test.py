#!/usr/bin/env python
"""Load test of the studio's job API, bounded and on loopback only.

Starts the real server (uvicorn, in this process, on a free 127.0.0.1 port) with the fast fake runner
and a throw-away data dir, submits ``--jobs`` small jobs from ``--clients`` client threads while they
also poll job status and health, waits for every job to finish, then checks that none was lost or
failed and prints the API latencies measured while the queue was busy. Stops by itself after
``--timeout`` seconds at most. Exit code 0 when every job succeeded, 1 otherwise.

    python scripts/load_test.py --jobs 200 --clients 10 --workers 2
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path

import httpx
import numpy as np
from PIL import Image

from painterly.web import ServerConfig, create_app
from painterly.web.background import serve_in_thread

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))  # the fake runner is a test double
from web_fakes import FakeRunner  # noqa: E402


def tiny_png(seed: int, side: int = 32) -> bytes:
    pixels = np.random.default_rng(seed).integers(0, 255, (side, side, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


class Latencies:
    """Seconds taken by each kind of request, from all threads."""

    def __init__(self):
        self._lock = threading.Lock()
        self.samples: dict[str, list[float]] = defaultdict(list)
        self.errors: dict[str, int] = defaultdict(int)

    def timed(self, kind: str, call):
        start = time.perf_counter()
        try:
            response = call()
        except httpx.HTTPError:
            with self._lock:
                self.errors[kind] += 1
            return None
        elapsed = time.perf_counter() - start
        with self._lock:
            self.samples[kind].append(elapsed)
            if response.status_code >= 400:
                self.errors[kind] += 1
        return response


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


def client_thread(base: str, index: int, jobs: int, latencies: Latencies, submitted: list, deadline: float) -> None:
    with httpx.Client(base_url=base, timeout=30) as client:
        own: list[str] = []
        for number in range(jobs):
            if time.monotonic() > deadline:
                return
            files = {"content": ("photo.png", tiny_png(index * 1000 + number), "image/png")}
            data = {"style": "starry-night", "size": "32", "steps": "4"}
            response = latencies.timed("POST /api/jobs", lambda: client.post("/api/jobs", files=files, data=data))
            if response is not None and response.status_code == 202:
                own.append(response.json()["id"])
            if own:  # a status poll between submissions, as a page would
                job_id = own[number % len(own)]
                latencies.timed("GET /api/jobs/{id}", lambda: client.get(f"/api/jobs/{job_id}"))
        submitted.extend(own)
        pending = list(own)
        while pending and time.monotonic() < deadline:
            job_id = pending[0]
            response = latencies.timed("GET /api/jobs/{id}", lambda: client.get(f"/api/jobs/{job_id}"))
            if response is not None and response.status_code == 200 and response.json()["status"] in (
                "succeeded", "failed", "cancelled"):
                pending.pop(0)
            else:
                time.sleep(0.05)


def monitor_thread(base: str, latencies: Latencies, stop: threading.Event, busy: list) -> None:
    with httpx.Client(base_url=base, timeout=30) as client:
        while not stop.is_set():
            response = latencies.timed("GET /api/health", lambda: client.get("/api/health"))
            if response is not None and response.status_code == 200:
                health = response.json()
                busy.append(health["queued"] + health["running"])
            latencies.timed("GET /api/jobs (history)", lambda: client.get("/api/jobs", params={"limit": 20}))
            stop.wait(0.05)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=200, help="jobs in all")
    parser.add_argument("--clients", type=int, default=10, help="client threads")
    parser.add_argument("--workers", type=int, default=2, help="server worker threads")
    parser.add_argument("--step-seconds", type=float, default=0.01, help="fake runner: seconds per step (4 steps a job)")
    parser.add_argument("--timeout", type=float, default=120.0, help="stop after this many seconds whatever happens")
    args = parser.parse_args(argv)
    if not (1 <= args.jobs <= 5000 and 1 <= args.clients <= 64 and args.timeout <= 600):
        parser.error("keep it bounded: --jobs 1..5000, --clients 1..64, --timeout <= 600")

    latencies = Latencies()
    submitted: list[str] = []
    busy: list[int] = []
    with tempfile.TemporaryDirectory(prefix="painterly-load-") as data_dir:
        config = ServerConfig(data_dir=Path(data_dir), workers=args.workers, rate_limit_per_minute=0)
        runner = FakeRunner(steps=4, step_seconds=args.step_seconds, preview_every=2)
        with serve_in_thread(create_app(config, runner=runner)) as base:
            start = time.monotonic()
            deadline = start + args.timeout
            stop = threading.Event()
            monitor = threading.Thread(target=monitor_thread, args=(base, latencies, stop, busy))
            monitor.start()
            per_client = [args.jobs // args.clients + (i < args.jobs % args.clients) for i in range(args.clients)]
            threads = [threading.Thread(target=client_thread, args=(base, i, n, latencies, submitted, deadline))
                       for i, n in enumerate(per_client)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(max(0.0, deadline - time.monotonic()) + 5)
            elapsed = time.monotonic() - start
            stop.set()
            monitor.join(10)
            with httpx.Client(base_url=base, timeout=30) as client:
                listed = client.get("/api/jobs", params={"limit": 500}).json()
                statuses = defaultdict(int)
                by_id = {}
                offset = 0
                while True:
                    page = client.get("/api/jobs", params={"limit": 500, "offset": offset}).json()["jobs"]
                    by_id.update({job["id"]: job["status"] for job in page})
                    offset += len(page)
                    if len(page) < 500:
                        break
        for status in by_id.values():
            statuses[status] += 1

    lost = [job_id for job_id in submitted if job_id not in by_id]
    not_succeeded = [job_id for job_id in submitted if by_id.get(job_id) != "succeeded"]
    print(f"jobs asked {args.jobs}, accepted {len(submitted)}, stored {listed['total']}, "
          f"by status {dict(statuses)}, lost {len(lost)}")
    print(f"{args.clients} clients, {args.workers} workers, fake runner {4 * args.step_seconds * 1000:.0f} ms of work a job")
    print(f"all done in {elapsed:.1f} s ({len(submitted) / elapsed:.1f} jobs/s); "
          f"queue depth while busy: max {max(busy, default=0)}, mean {statistics.mean(busy) if busy else 0:.1f}")
    print(f"{'request':28} {'count':>6} {'errors':>6} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}")
    for kind, values in sorted(latencies.samples.items()):
        print(f"{kind:28} {len(values):6d} {latencies.errors[kind]:6d} {percentile(values, 0.5) * 1000:8.1f} "
              f"{percentile(values, 0.95) * 1000:8.1f} {max(values) * 1000:8.1f}")
    ok = len(submitted) == args.jobs and not lost and not not_succeeded and not any(latencies.errors.values())
    print("OK: every job accepted and finished" if ok else "FAILED: jobs lost, failed or refused (see above)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
