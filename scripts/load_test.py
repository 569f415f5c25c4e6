#!/usr/bin/env python
"""Load test of the studio's job API, bounded and on loopback only.

Starts the real server (uvicorn, in this process, on a free 127.0.0.1 port) with the fast fake runner
and a throw-away data dir, submits ``--jobs`` small jobs from ``--clients`` client threads while they
also poll job status and health, waits for every job to finish, then checks that none was lost or
failed and prints the API latencies measured while the queue was busy. Stops by itself after
``--timeout`` seconds at most. Exit code 0 when every job succeeded, 1 otherwise.

    python scripts/load_test.py --jobs 200 --clients 10 --workers 2

``--soak`` runs the server in a child process instead, on a data dir that outlives it, and kills it with
SIGKILL ``--kills`` times while the clients submit (after a third and two thirds of the jobs by default),
starting it again each time. The clients retry what the dead server did not answer. At the end it stops the
server cleanly and checks, from the job database and the data dir, that every job the server accepted
(answered 202) ended succeeded, or failed with a reason; none is lost; and no file is left that no job
names (no orphan uploads, results or half-written files). Exit code 0 when all of that holds.

    python scripts/load_test.py --soak --jobs 1000 --clients 10 --kills 2
"""

from __future__ import annotations

import argparse
import io
import os
import signal
import socket
import statistics
import subprocess
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


# -- soak: the server killed and started again under load ---------------------------------------------------

def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def serve_child(args) -> int:
    """The server process of the soak (``--serve-child``): the studio with the fake runner on loopback."""
    import uvicorn

    config = ServerConfig(data_dir=args.data_dir, port=args.port, workers=args.workers, rate_limit_per_minute=0)
    runner = FakeRunner(steps=4, step_seconds=args.step_seconds, preview_every=2)
    uvicorn.run(create_app(config, runner=runner), host="127.0.0.1", port=args.port, log_level="warning")
    return 0


class ServerProcess:
    """The studio in a child process on a fixed loopback port and data dir, to kill and start again."""

    def __init__(self, data_dir: Path, port: int, workers: int, step_seconds: float):
        self.command = [sys.executable, str(Path(__file__).resolve()), "--serve-child", "--data-dir", str(data_dir),
                        "--port", str(port), "--workers", str(workers), "--step-seconds", str(step_seconds)]
        self.base = f"http://127.0.0.1:{port}"
        self.process: subprocess.Popen | None = None

    def start(self, deadline: float) -> float:
        """Start it and wait until it answers; returns the seconds that took."""
        started = time.monotonic()
        self.process = subprocess.Popen(self.command, stdin=subprocess.DEVNULL)
        with httpx.Client(base_url=self.base, timeout=2) as client:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    raise RuntimeError(f"the server exited with {self.process.returncode} while starting")
                try:
                    if client.get("/api/health").status_code == 200:
                        return time.monotonic() - started
                except httpx.TransportError:
                    pass
                time.sleep(0.05)
        raise RuntimeError("the server did not start before the deadline")

    def kill(self) -> None:
        """SIGKILL: no shutdown, no clean-up, as a power cut or the OOM killer would."""
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait()

    def stop(self, timeout: float = 30.0) -> None:
        """SIGTERM, as Ctrl+C or a service manager would, then wait."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()


class Ledger:
    """What the clients saw, from all threads: jobs accepted (202), requests the server did not answer."""

    def __init__(self):
        self.lock = threading.Lock()
        self.accepted: list[str] = []
        self.unanswered = 0
        self.refused: dict[int, int] = defaultdict(int)

    def accept(self, job_id: str) -> int:
        with self.lock:
            self.accepted.append(job_id)
            return len(self.accepted)


def soak_client(base: str, index: int, jobs: int, ledger: Ledger, deadline: float) -> None:
    """Submit ``jobs`` jobs, each until the server answers 202 (a dead server's request is sent again)."""
    with httpx.Client(base_url=base, timeout=10) as client:
        for number in range(jobs):
            files = {"content": ("photo.png", tiny_png(index * 100_000 + number), "image/png")}
            data = {"style": "starry-night", "size": "32", "steps": "4"}
            while time.monotonic() < deadline:
                try:
                    response = client.post("/api/jobs", files=files, data=data)
                except httpx.TransportError:  # the server is down, or died while answering
                    with ledger.lock:
                        ledger.unanswered += 1
                    time.sleep(0.05)
                    continue
                if response.status_code == 202:
                    ledger.accept(response.json()["id"])
                    break
                with ledger.lock:
                    ledger.refused[response.status_code] += 1
                time.sleep(0.05)


def wait_all_finished(base: str, ids: list[str], deadline: float) -> None:
    pending = set(ids)
    with httpx.Client(base_url=base, timeout=10) as client:
        while pending and time.monotonic() < deadline:
            try:
                page = client.get("/api/jobs", params={"limit": 500, "status": "queued"}).json()
                running = client.get("/api/jobs", params={"limit": 500, "status": "running"}).json()
            except httpx.TransportError:
                time.sleep(0.1)
                continue
            if page["total"] == 0 and running["total"] == 0:
                return
            time.sleep(0.1)


def check_data_dir(data_dir: Path, accepted: list[str]) -> dict:
    """What the data dir holds after the server stopped: the jobs by status, and every problem found."""
    from painterly.web.jobs import FAILED, SUCCEEDED, JobStore

    store = JobStore(data_dir / "jobs.sqlite3")
    try:
        jobs = {job.id: job for job in store.list(limit=store.count() + 1)}
    finally:
        store.close()
    problems = []
    lost = [job_id for job_id in accepted if job_id not in jobs]
    if lost:
        problems.append(f"{len(lost)} accepted jobs are lost, e.g. {lost[0]}")
    for job in jobs.values():
        if job.status not in (SUCCEEDED, FAILED):
            problems.append(f"job {job.id} ended {job.status}")
        elif job.status == FAILED and not job.error:
            problems.append(f"job {job.id} failed without a reason")
        elif job.status == SUCCEEDED and not (job.result_file and (data_dir / "results" / job.result_file).is_file()):
            problems.append(f"job {job.id} succeeded without its result file")
        if not (data_dir / "uploads" / job.content_file).is_file():
            problems.append(f"job {job.id} lost its photo")
    named = {f"uploads/{job.content_file}" for job in jobs.values()}
    named |= {f"results/{job.result_file}" for job in jobs.values() if job.result_file}
    named |= {f"previews/{job.preview_file}" for job in jobs.values() if job.preview_file}
    named |= {f"thumbnails/job-{job.id}.jpg" for job in jobs.values()}
    orphans = [f"{folder}/{path.name}" for folder in ("uploads", "results", "previews", "thumbnails", "work")
               for path in (data_dir / folder).iterdir() if f"{folder}/{path.name}" not in named]
    if orphans:
        problems.append(f"{len(orphans)} files no job names, e.g. {orphans[:3]}")
    statuses = defaultdict(int)
    for job in jobs.values():
        statuses[job.status] += 1
    reasons = sorted({job.error for job in jobs.values() if job.status == FAILED})
    interrupted = sum(1 for job in jobs.values() if job.interruptions)
    return {"jobs": len(jobs), "statuses": dict(statuses), "reasons": reasons, "interrupted": interrupted,
            "problems": problems}


def soak(args) -> int:
    start = time.monotonic()
    deadline = start + args.timeout
    ledger = Ledger()
    kill_at = [args.jobs * k // (args.kills + 1) for k in range(1, args.kills + 1)]
    restarts: list[float] = []
    with tempfile.TemporaryDirectory(prefix="painterly-soak-") as folder:
        data_dir = Path(folder) / "data"
        server = ServerProcess(data_dir, free_port(), args.workers, args.step_seconds)
        try:
            first_start = server.start(deadline)
            per_client = [args.jobs // args.clients + (i < args.jobs % args.clients) for i in range(args.clients)]
            threads = [threading.Thread(target=soak_client, args=(server.base, i, n, ledger, deadline))
                       for i, n in enumerate(per_client)]
            for thread in threads:
                thread.start()
            for threshold in kill_at:
                while len(ledger.accepted) < threshold and time.monotonic() < deadline:
                    time.sleep(0.01)
                server.kill()
                restarts.append(server.start(deadline))
            for thread in threads:
                thread.join(max(0.0, deadline - time.monotonic()) + 1)
            submitted_in = time.monotonic() - start
            wait_all_finished(server.base, ledger.accepted, deadline)
            elapsed = time.monotonic() - start
        finally:
            server.stop()
        report = check_data_dir(data_dir, ledger.accepted)
    timed_out = time.monotonic() > deadline
    problems = list(report["problems"])
    if len(ledger.accepted) != args.jobs:
        problems.append(f"only {len(ledger.accepted)} of {args.jobs} jobs were accepted before the deadline")
    if ledger.refused:
        problems.append(f"refused answers: {dict(ledger.refused)}")
    if timed_out:
        problems.append(f"the soak ran past --timeout {args.timeout:g} s")
    print(f"soak: {args.jobs} jobs from {args.clients} clients, {args.workers} workers, server killed (SIGKILL) "
          f"{len(restarts)} times and started again")
    print(f"accepted {len(ledger.accepted)}; requests the dead server did not answer {ledger.unanswered} "
          f"(sent again); jobs stored {report['jobs']} (jobs created whose answer was lost: "
          f"{report['jobs'] - len(set(ledger.accepted))})")
    print(f"by status {report['statuses']}; jobs interrupted by a kill {report['interrupted']}")
    for reason in report["reasons"]:
        print(f"  failed: {reason}")
    print(f"server start {first_start:.1f} s, restarts {', '.join(f'{t:.1f}' for t in restarts)} s; "
          f"all submitted in {submitted_in:.1f} s, all finished in {elapsed:.1f} s")
    for problem in problems:
        print(f"problem: {problem}")
    print("OK: every accepted job ended succeeded or failed with a reason, none lost, no orphan files"
          if not problems else "FAILED (see above)")
    return 0 if not problems else 1


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=200, help="jobs in all")
    parser.add_argument("--clients", type=int, default=10, help="client threads")
    parser.add_argument("--workers", type=int, default=2, help="server worker threads")
    parser.add_argument("--step-seconds", type=float, default=0.01, help="fake runner: seconds per step (4 steps a job)")
    parser.add_argument("--timeout", type=float, default=120.0, help="stop after this many seconds whatever happens")
    parser.add_argument("--soak", action="store_true", help="the server in a child process, killed and started again")
    parser.add_argument("--kills", type=int, default=2, help="soak: times the server is killed (SIGKILL)")
    parser.add_argument("--serve-child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--data-dir", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve_child:
        return serve_child(args)
    if not (1 <= args.jobs <= 5000 and 1 <= args.clients <= 64 and args.timeout <= 600 and 0 <= args.kills <= 10):
        parser.error("keep it bounded: --jobs 1..5000, --clients 1..64, --kills 0..10, --timeout <= 600")
    if args.soak:
        return soak(args)

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
