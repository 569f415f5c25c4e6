"""``painterly stylize … --cluster ADDRESS``: a folder, an image or a list of files painted on a Ray cluster."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Optional, Sequence

import click

from painterly.cli.common import fail, output_paths
from painterly.errors import PainterlyError

#: A list file: one path or URI per line (``#`` comments), painted into the output folder.
LIST_SUFFIXES = (".txt", ".list")


def cluster_pairs(content: Path, output: Optional[Path]) -> list[tuple[str, Path]]:
    """``(source, target)`` pairs: every image of a folder, one image, or each line of a list file
    (paths or ``s3://``-style URIs), with the names one machine gives them (``<stem>-stylized.png``)."""
    if content.is_file() and content.suffix.lower() in LIST_SUFFIXES:
        if output is None or (output.exists() and not output.is_dir()):
            raise PainterlyError("CONTENT is a list of files: give an output folder with -o DIR")
        lines = [line.strip() for line in content.read_text(encoding="utf-8").splitlines()]
        sources = [line for line in lines if line and not line.startswith("#")]
        if not sources:
            raise PainterlyError(f"{content} lists no files: write one path or URI per line")
        return [(source, output / f"{Path(source.rsplit('/', 1)[-1]).stem}-stylized.png") for source in sources]
    return [(str(source), target) for source, target in output_paths(content, output, content.is_dir())]


def stylize_on_cluster(content: Path, output: Optional[Path], *, address: str, workers: Optional[int], method: Optional[str],
                       styles: Sequence[str], options: dict[str, Any], device: str, vgg_weights: Optional[Path],
                       max_pixels: int, overwrite: bool, as_json: bool) -> None:  # fmt: skip
    """Paint ``content`` on the cluster at ``address``; outputs already there are skipped (a rerun
    goes on where the last one stopped) unless ``overwrite``."""
    from painterly.api import parse_style_spec
    from painterly.cluster.folder import Rate, job_for, paint_on_cluster
    from painterly.cluster.runtime import connected
    from painterly.io.images import check_output_path, save_image
    from painterly.styles.catalog import describe_source

    pairs = cluster_pairs(content, output)
    style_paths = [Path(str(parse_style_spec(spec)[0])) for spec in styles]
    todo = []
    for source, target in pairs:
        protect = [Path(source)] if "://" not in source else []
        check_output_path(target, protect=[*protect, *style_paths])
        if not target.exists() or overwrite:
            todo.append((source, target))
    skipped = len(pairs) - len(todo)
    if skipped:
        click.echo(f"skipping {skipped} of {len(pairs)} files painted before (--overwrite paints them again)", err=True)
    if not todo:
        return
    job = job_for(method, styles, options, device=device, max_pixels=max_pixels,
                  vgg_weights=str(vgg_weights) if vgg_weights else None)  # fmt: skip
    failures = []
    with connected(address) as ray:
        rate = Rate(len(todo))

        def workers_up(actors: list) -> None:  # files/s of the cluster at work, not of its start
            rate.restart()
            click.echo(f"{len(actors)} workers ready", err=True)

        for outcome in paint_on_cluster(todo, job, ray, workers=workers, started=workers_up):
            if outcome.error is not None:
                failures.append(outcome)
                click.echo(f"error: {Path(outcome.source).name}: {outcome.error} (after {outcome.attempts} tries)", err=True)
                continue
            result = outcome.result
            metadata = dict(result.info.get("painterly", {}))
            metadata["content"] = describe_source(Path(outcome.source))
            protect = [Path(outcome.source)] if "://" not in outcome.source else []
            written = save_image(result, outcome.target, metadata=metadata, protect=[*protect, *style_paths])
            progress = rate.add()
            if as_json:
                click.echo(json.dumps({"output": str(written), "size": list(result.size), "worker": outcome.worker,
                                       "attempts": outcome.attempts}))  # fmt: skip
            else:
                click.echo(f"wrote {written} ({result.width}×{result.height}) on worker {outcome.worker}; {progress}", err=True)
    if failures:
        names = ", ".join(Path(outcome.source).name for outcome in failures)
        fail(f"{len(failures)} of {len(todo)} images failed ({names}); the others were written")
