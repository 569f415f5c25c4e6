"""Throughput of ``painterly stylize --cluster`` on a local Ray cluster, 1 and 2 workers, against one machine.

A folder of ``--photos`` photos (the shared example photos, repeated, resized to ``--size`` px long
side) is painted with a shipped model three ways, each a whole ``painterly stylize`` command in a
fresh output folder: on one machine (the baseline), on a local Ray cluster of one worker, and of
two. Each prints seconds and files/s; the ratio is against the baseline of the same run. On a real
cluster start Ray first (``ray start --head`` on one machine, ``ray start --address HEAD:6379`` on the
others) and give ``--cluster auto`` (on the head) or ``--cluster ray://HEAD:10001``.

    python benchmarks/bench_cluster.py
    python benchmarks/bench_cluster.py --photos 48 --size 1024 --model the-scream

Not a test: it prints figures.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PHOTOS = [REPO.parent / "shared" / "data" / "photos", REPO / "painterly" / "examples"]


def make_folder(folder: Path, count: int, size: int) -> Path:
    from PIL import Image

    sources = sorted(path for base in PHOTOS for path in base.glob("*.jpg"))
    folder.mkdir(parents=True, exist_ok=True)
    for index in range(count):
        image = Image.open(sources[index % len(sources)]).convert("RGB")
        image.thumbnail((size, size), Image.LANCZOS)
        image.save(folder / f"photo-{index:03d}.jpg", quality=92)
    return folder


def timed(command: list[str]) -> tuple[float, str]:
    """Seconds of the whole command, and its last line on stderr."""
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"failed: {' '.join(command)}\n{done.stderr[-2000:]}")
    return seconds, (done.stderr.strip().splitlines() or [""])[-1]


class _PainterBatches:
    """Ray Data's form of a worker's painter: a batch of ``{"name", "data"}`` rows in, PNG bytes out."""

    def __init__(self, job):
        from painterly.cluster.folder import Painter

        self.painter = Painter(job)

    def __call__(self, batch: dict) -> dict:
        import io

        import numpy as np

        out = []
        for name, data in zip(batch["name"], batch["data"]):
            image, _ = self.painter.paint(str(name), bytes(data))
            buffer = io.BytesIO()
            image.save(buffer, format="PNG")
            out.append(buffer.getvalue())
        return {"name": batch["name"], "png": np.array(out, dtype=object)}


def compare_ray_data(folder: Path, model: str, workers: int) -> None:
    """Files/s of the actor pool (what --cluster runs) against Ray Data's map_batches, in one local
    cluster of ``workers`` CPUs, the painters built before the clock starts in both."""
    import ray

    from painterly.cluster.folder import job_for, paint_on_cluster

    files = sorted(folder.glob("*.jpg"))
    job = job_for("fast", [], {"model": model}, device="cpu")
    ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False, configure_logging=False)
    try:
        clock = {}
        pairs = [(str(path), folder / "unused.png") for path in files]
        outcomes = paint_on_cluster(pairs, job, ray, workers=workers, started=lambda actors: clock.setdefault("start", time.perf_counter()))
        done = sum(outcome.error is None for outcome in outcomes)
        actors = done / (time.perf_counter() - clock["start"])
        rows = [{"name": path.name, "data": path.read_bytes()} for path in files]
        # One warm-up pass builds the painters (Ray Data starts its actors lazily), then the timed pass.
        for _ in ray.data.from_items(rows[:workers]).map_batches(_PainterBatches, fn_constructor_args=(job,), batch_size=1,
                                                                  concurrency=workers, num_cpus=1).iter_rows():
            pass
        started = time.perf_counter()
        count = sum(1 for _ in ray.data.from_items(rows).map_batches(_PainterBatches, fn_constructor_args=(job,), batch_size=1,
                                                                      concurrency=workers, num_cpus=1).iter_rows())
        data = count / (time.perf_counter() - started)
        print(f"\n{workers} workers, painters built: actor pool (--cluster) {actors:.2f} files/s; "
              f"Ray Data map_batches {data:.2f} files/s (its own start, painters included: its actors are per pipeline)")
    finally:
        ray.shutdown()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--photos", type=int, default=24)
    parser.add_argument("--size", type=int, default=1024, help="long side of the photos")
    parser.add_argument("--model", default="starry-night")
    parser.add_argument("--cluster", default="local", help="local (a new local cluster per run), auto or ray://HOST:PORT")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--ray-data", action="store_true",
                        help="also the same photos through Ray Data's map_batches (needs pandas and pyarrow), against the actor pool")
    parser.add_argument("--video", type=float, default=0, metavar="SECONDS",
                        help="also a clip of this many seconds at 480p (bench_video.py's), one machine against the cluster")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as scratch:
        folder = make_folder(Path(scratch) / "photos", args.photos, args.size)
        base = [sys.executable, "-m", "painterly", "stylize", str(folder), "--model", args.model]
        one, _ = timed([*base, "-o", str(Path(scratch) / "one")])
        print(f"{args.photos} photos, {args.size} px, {args.model}")
        print(f"one machine              {one:6.1f} s  {args.photos / one:5.2f} files/s  ×1.00")
        for workers in args.workers:
            address = f"local:{workers}" if args.cluster == "local" else args.cluster
            seconds, last = timed([*base, "-o", str(Path(scratch) / f"cluster-{workers}"), "--cluster", address,
                                   "--workers", str(workers)])  # fmt: skip
            working = last.rsplit("; ", 1)[-1].split(", ")[1] if "files/s" in last else "?"
            print(f"cluster, {workers} worker{'s' if workers > 1 else ' '}       {seconds:6.1f} s  "
                  f"{args.photos / seconds:5.2f} files/s  ×{one / seconds:.2f}  (whole command, Ray started and models "
                  f"loaded; {working} once the workers are up)")
        if args.ray_data:
            compare_ray_data(folder, args.model, max(args.workers))
        if args.video:
            from bench_video import fetch_clip, with_tone

            cache = Path(tempfile.gettempdir()) / "painterly-bench-video"
            cache.mkdir(exist_ok=True)
            clip = with_tone(fetch_clip("bigbuckbunny.mp4", cache), cache / "bigbuckbunny-tone.mp4")
            base = [sys.executable, "-m", "painterly", "video", str(clip), "--model", args.model, "--size", "480",
                    "--end", str(args.video), "--json"]  # fmt: skip
            one, _ = timed([*base, "-o", str(Path(scratch) / "one.mp4")])
            print(f"\nvideo, {args.video:g} s at 480p, consistency on")
            print(f"one machine              {one:6.1f} s  ×1.00")
            workers = max(args.workers)
            address = f"local:{workers}" if args.cluster == "local" else args.cluster
            started = time.perf_counter()
            done = subprocess.run([*base, "-o", str(Path(scratch) / "cluster.mp4"), "--cluster", address,
                                   "--segment-seconds", str(args.video / workers)], capture_output=True, text=True)  # fmt: skip
            seconds = time.perf_counter() - started
            if done.returncode != 0:
                raise SystemExit(done.stderr[-2000:])
            import json

            summary = json.loads(done.stdout.strip().splitlines()[-1])
            print(f"cluster, {workers} workers       {seconds:6.1f} s  ×{one / seconds:.2f}  ({summary['segments']} segments; "
                  f"warping error at the seams {summary['seam_warping_error']:.5f}, within segments "
                  f"{summary['within_warping_error']:.5f}, ratio {summary['seam_warping_error'] / summary['within_warping_error']:.2f})")


if __name__ == "__main__":
    main()
