"""Quality regression guard: the shared photos × the built-in styles at 256 px, summarized.

Run it before and after changing a method and compare the summaries (``--baseline`` does it):

    python benchmarks/bench_quality.py                                  # optimize on 3 photos × 4 styles
    python benchmarks/bench_quality.py --method fast:starry.pt          # add another method
    python benchmarks/bench_quality.py --baseline benchmarks/results/quality-…/report.json
    python benchmarks/bench_quality.py --max-contents 1 --max-styles 1 --steps 20   # a quick check

The photos are ../shared/data/photos next to the repository (``--photos`` to change). Each run
writes a full report (HTML, CSV, JSON, images) to benchmarks/results/quality-<time>/. It is slow
on a CPU (12 optimizations of a few minutes each) and not part of the test suite.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_PHOTOS = REPO.parent / "shared" / "data" / "photos"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--photos", type=Path, default=DEFAULT_PHOTOS, help="folder of content photos")
    parser.add_argument("--styles", nargs="+", default=["builtin"], help="style folders, files or built-in names")
    parser.add_argument("--method", action="append", dest="methods", help="[LABEL=]METHOD[:MODEL]; repeat (default: optimize)")
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--steps", type=int, help="optimization steps (default: the method's own)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--max-contents", type=int, help="use only the first N photos")
    parser.add_argument("--max-styles", type=int, help="use only the first N styles")
    parser.add_argument("--baseline", type=Path, help="an earlier report.json to compare with")
    parser.add_argument("--out", type=Path, help="report folder (default: benchmarks/results/quality-<time>)")
    args = parser.parse_args(argv)

    from painterly.errors import PainterlyError
    from painterly.evaluate.report import baseline_lines, read_baseline, summary_lines
    from painterly.evaluate.specs import collect_images, evaluate_specs

    out = args.out or REPO / "benchmarks" / "results" / time.strftime("quality-%Y%m%d-%H%M%S")
    try:
        earlier = read_baseline(args.baseline) if args.baseline else None
        contents = collect_images([args.photos], "content")[: args.max_contents]
        styles = collect_images(args.styles, "style", builtin_styles=True)[: args.max_styles]
        started = time.perf_counter()
        evaluation = evaluate_specs(
            contents, styles, methods=args.methods or ["optimize"], out_dir=out, size=args.size, steps=args.steps,
            device=args.device,
        )  # fmt: skip
    except PainterlyError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"quality benchmark: {len(contents)} photos × {len(styles)} styles at {args.size} px, "
          f"device {evaluation.settings['device']}, {time.perf_counter() - started:.0f} s")  # fmt: skip
    for line in summary_lines(evaluation):
        print(line)
    for line in baseline_lines(evaluation, earlier) if earlier else []:
        print(line)
    print(f"report: {evaluation.files['html']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
