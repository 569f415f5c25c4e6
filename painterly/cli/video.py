"""``painterly video``: stylize a video, frame by frame, kept steady by optical flow."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Optional

import click

from painterly.cli.common import (MAX_MEMORY_HELP, ProgressReporter, check_paintings, chosen_method_options, config_kwargs,
                                  fail, handle_errors, method_options, options_from_config)  # fmt: skip
from painterly.registry import list_methods
from painterly.video.loop import VideoConfig

#: Method options the video command offers (the size is the video's own).
VIDEO_METHOD_OPTIONS = ("decoder", "steps", "strength", "style_scale", "preserve_color", "seed", "precision", "work_scale")
VIDEO_OPTIONS = ["consistency", "keep_detail", "size", "start", "end", "audio", "flow_preset", "flow_size", "colour_tolerance", "crf", "encoder_preset", "keep_frames"]


def preview_path(output: Path) -> Path:
    """``out.mp4`` → ``out-preview.mp4``."""
    return output.with_name(f"{output.stem}-preview{output.suffix}")


def _frame_stylizer(method: Optional[str], model: Optional[str], styles: tuple[str, ...], method_options: dict[str, Any],
                    device: Any, vgg_weights: Optional[Path], frame_size: Optional[tuple[int, int]] = None,
                    max_memory: Optional[str] = None):  # fmt: skip
    """The frame stylizer for the chosen method, its model or feature network loaded once; with
    ``frame_size``, its memory is checked first."""
    from painterly.api import Stylizer, load_style_image, normalize_styles
    from painterly.io.images import DEFAULT_MAX_PIXELS
    from painterly.video.frames import frame_stylizer_for

    stylizer = Stylizer(device=device, vgg_weights=vgg_weights, max_memory=max_memory)  # loads VGG19 only if the method asks
    paintings = [(load_style_image(source, DEFAULT_MAX_PIXELS), weight) for source, weight in normalize_styles(list(styles))]
    return frame_stylizer_for(method, model=model, paintings=paintings, stylizer=stylizer, image_size=frame_size, **method_options)


@click.command("video")
@click.argument("source", type=click.Path(path_type=Path))
@click.option("--output", "-o", type=click.Path(path_type=Path), help="Output video: .mp4, .mov, .mkv or .webm [default: SOURCE-stylized.mp4].")
@click.option("--model", help="Trained style model name or file (the fast method).")
@click.option("--style", "-s", "styles", multiple=True, metavar="STYLE[:WEIGHT]",
              help="Built-in style or painting file, for the optimize method; repeat to blend.")
@click.option("--method", "-m", help="fast (--model, or --style for arbitrary style), adain or optimize (needs --style)  "
              "[default: fast with --model, else optimize]")
@options_from_config(VideoConfig, VIDEO_OPTIONS, overrides={
    "flow_preset": {"type": click.Choice(["ultrafast", "fast", "medium"])},
    "encoder_preset": {"type": click.Choice(["ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow"])},
})  # fmt: skip
@method_options(sorted(list_methods(), key=lambda spec: -len(spec.options)), names=VIDEO_METHOD_OPTIONS,
                overrides={"preserve_color": {"is_flag": False, "flag_value": "luminance"}})
@click.option("--preview", type=int, default=0, metavar="N", help="Stylize only the first N frames into OUT-preview.mp4, then stop; "
              "the full run later continues after them.")
@click.option("--report", is_flag=True, help="Measure the temporal warping error, print it with frames/s, and write OUT.report.json.")
@click.option("--overwrite", is_flag=True, help="Replace an existing output file (never the input).")
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda or cuda:N.")
@click.option("--vgg-weights", type=click.Path(path_type=Path), help="VGG19 weights file (the optimize method).")
@click.option("--max-memory", metavar="SIZE", help=MAX_MEMORY_HELP)
@click.option("--json", "as_json", is_flag=True, help="Print the result as one JSON line instead of a progress bar.")
@click.option("--cluster", metavar="ADDRESS", help="Paint segments of the clip in parallel on a Ray cluster: auto, local:N or "
              "ray://HOST:PORT (pip install 'painterly[cluster]').")
@click.option("--segment-seconds", type=click.FloatRange(min=0.1), default=10.0, show_default=True,
              help="With --cluster: length of each segment.")
@click.option("--overlap", type=click.IntRange(min=1), default=8, show_default=True,
              help="With --cluster: frames each segment starts early, cross-faded with the one before.")
@handle_errors
def video_command(source: Path, output: Optional[Path], model: Optional[str], styles: tuple[str, ...], method: Optional[str],
                  preview: int, report: bool, overwrite: bool, device: str, vgg_weights: Optional[Path],
                  max_memory: Optional[str], as_json: bool, cluster: Optional[str], segment_seconds: float, overlap: int,
                  **values: Any) -> None:  # fmt: skip
    """Stylize the video SOURCE, keeping strokes steady from frame to frame, with its sound.

    Frames are kept in a folder next to the output as they are done, so running the same
    command again after an interrupt continues where it stopped.

    \b
    Examples:
      painterly video clip.mp4 --model starry-night -o painted.mp4 --size 480
      painterly video clip.mp4 --model my.safetensors --start 5 --end 12 --consistency 0.8 --report
      painterly video clip.mp4 --style the-scream --method optimize --steps 100 --size 256 -o out.mp4
    """
    from painterly.devices import resolve_device
    from painterly.video.loop import VideoJob, report_path, write_report
    from painterly.video.media import check_video_output, output_size, probe_video

    from painterly.registry import choose_method

    config = VideoConfig(**config_kwargs(VideoConfig, {key: values.pop(key) for key in VIDEO_OPTIONS})).validate()
    info = probe_video(source)  # a bad input fails here, before any model is loaded
    spec = choose_method(method, model=model, paintings=styles)
    check_paintings(spec, styles)
    method_options = chosen_method_options(spec, values)
    if preview < 0:
        fail(f"--preview takes a number of frames, got {preview}")
    output = output or Path.cwd() / f"{source.stem}-stylized.mp4"
    check_video_output(output, protect=[source])
    if output.exists() and not overwrite and not preview:
        fail(f"{output} exists: pass --overwrite to replace it, or choose another -o")
    if cluster is not None:
        if preview:
            fail("--preview runs on this machine: leave out --cluster")
        return _video_on_cluster(source, output, cluster, spec.name, model, styles, method_options, config, device,
                                 vgg_weights, segment_seconds, overlap, as_json)  # fmt: skip
    frame_stylizer = _frame_stylizer(spec.name, model, styles, method_options, resolve_device(device), vgg_weights,
                                     output_size(info.width, info.height, config.size), max_memory)  # fmt: skip
    job = VideoJob(source, output, frame_stylizer, config, device="cpu")
    if job.store.restarted:
        click.echo(f"note: the frames kept in {job.store.folder} were made with other settings: starting over", err=True)
    elif job.store.done:
        click.echo(f"resuming: {job.store.done} frames already done", err=True)
    measure = report or config.consistency > 0
    with ProgressReporter("preview" if preview else "frames", enabled=not as_json) as reporter:
        if preview:
            result = job.run(progress=reporter, measure=measure, max_frames=preview, output=preview_path(output))
        else:
            result = job.run(progress=reporter, measure=measure)
    summary = result.to_dict()
    summary.pop("settings")
    if report and not preview:
        summary["report"] = str(write_report(result, report_path(output)))
    if as_json:
        click.echo(json.dumps(summary, default=str))
        return
    audio = "with audio" if result.audio else "no audio"
    click.echo(f"wrote {result.output} ({result.frames} frames, {result.width}×{result.height}, {result.fps:g} fps, {audio}) "
               f"in {result.seconds:.1f} s", err=True)  # fmt: skip
    if report:
        error = "n/a (one frame)" if result.warping_error is None else f"{result.warping_error:.6f}"
        click.echo(f"temporal warping error {error} over {result.measured_pairs} frame pairs · "
                   f"{result.frames_per_second:.2f} frames/s" + (f" · report {summary['report']}" if "report" in summary else ""))  # fmt: skip
    if preview:
        click.echo(f"preview done: run the same command without --preview to render the whole video "
                   f"(the first {result.frames} frames are kept)", err=True)  # fmt: skip


def _video_on_cluster(source: Path, output: Path, address: str, method: str, model: Optional[str], styles: tuple[str, ...],
                      method_options: dict[str, Any], config: VideoConfig, device: str, vgg_weights: Optional[Path],
                      segment_seconds: float, overlap: int, as_json: bool) -> None:  # fmt: skip
    from dataclasses import asdict

    from painterly.cluster.folder import job_for
    from painterly.cluster.runtime import connected
    from painterly.cluster.video import paint_video_on_cluster

    options = {**method_options, **({"model": model} if model else {})}
    job = job_for(method, styles, options, device=device, vgg_weights=str(vgg_weights) if vgg_weights else None)

    def segment_done(segment: Any, done: int, total: int) -> None:
        if not as_json:
            click.echo(f"segment {segment.index + 1} painted ({done}/{total} segments)", err=True)

    with connected(address) as ray:
        summary = paint_video_on_cluster(source, output, job, ray, video=asdict(config), segment_seconds=segment_seconds,
                                         overlap=overlap, progress=segment_done)  # fmt: skip
    if as_json:
        click.echo(json.dumps(summary, default=str))
        return
    seams = (f"; warping error at the seams {summary['seam_warping_error']:.6f}, within segments "
             f"{summary['within_warping_error']:.6f}" if "seam_warping_error" in summary else "")  # fmt: skip
    audio = "with audio" if summary["audio"] else "no audio"
    click.echo(f"wrote {summary['output']} ({summary['frames']} frames, {summary['width']}×{summary['height']}, {audio}) from "
               f"{summary['segments']} segments ({summary['resumed_segments']} kept from before){seams}", err=True)  # fmt: skip
