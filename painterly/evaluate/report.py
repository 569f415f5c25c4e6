"""Write an :class:`~painterly.evaluate.runner.Evaluation` out: CSV, JSON, one self-contained HTML file.

``report.csv`` has one row per output image, ``report.json`` the same rows plus the per-method
summary (mean and population standard deviation), FID/ArtFID, the settings and the outputs that
failed (with their error), and
``report.html`` shows the image grid (rows content × style; columns content, style and each
method; images embedded as JPEG thumbnails), the summary table and, when matplotlib is
installed, a plot of the style/content trade-off per method.
"""

from __future__ import annotations

import base64
import csv
import html
import io
import json
import math
import os
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Optional, Sequence

from PIL import Image

from painterly.errors import PainterlyError
from painterly.evaluate.records import Evaluation, Record
from painterly.io.images import load_image

FORMAT = "painterly-evaluation/1"
REPORT_FILES = ("report.csv", "report.json", "report.html")
THUMBNAIL_SIDE = 256


@dataclass(frozen=True)
class Column:
    """A measured quantity: its record field, a short label and what its values mean."""

    key: str
    label: str
    meaning: str
    digits: int = 3


#: The summary columns, most telling first.
SUMMARY_COLUMNS: tuple[Column, ...] = (
    Column("style_gram_normalized", "style (Gram)", "Gram style distance to the style image; 0 = the style image itself, 1 = the content image itself; lower = more of the style"),
    Column("style_meancov_normalized", "style (mean/cov)", "the same with channel means and covariances"),
    Column("content_distance_normalized", "content", "VGG relu4_2 distance to the content; 0 = the content itself, 1 = the style image; lower = more of the content kept"),
    Column("ssim_luminance", "SSIM", "structural similarity of the luminance to the content (1 = same structure)"),
    Column("colourfulness", "colourfulness", "Hasler & Süsstrunk 2003: 0 grey, ~33 moderately, ~59 quite, ~82 highly colourful", 1),
    Column("seconds", "seconds", "wall-clock time of the method for one image", 2),
    Column("peak_memory_mb", "memory (MiB)", "extra memory at the method's peak (CUDA: allocated; CPU: resident)", 0),
    Column("warping_error", "warping error", "videos: mean squared difference between each stylized frame and the previous one carried along the optical flow, where the flow is reliable; lower = less flicker", 5),
    Column("frames_per_second", "frames/s", "videos: frames stylized per second, decoding, flow and encoding included", 2),
)
#: Raw (unnormalized) distances, in the CSV/JSON and the per-image table only.
RAW_COLUMNS: tuple[Column, ...] = (
    Column("style_gram", "style (Gram, raw)", "mean squared Gram difference over relu1_1 … relu5_1", 4),
    Column("style_meancov", "style (mean/cov, raw)", "mean squared mean and covariance difference over relu1_1 … relu5_1", 4),
    Column("content_distance", "content (raw)", "mean squared relu4_2 feature difference", 4),
)


@dataclass
class MethodSummary:
    """Mean and spread of each column over one method's outputs."""

    method: str
    count: int
    mean: dict[str, float] = field(default_factory=dict)
    std: dict[str, float] = field(default_factory=dict)
    fid: float = math.nan
    art_fid: float = math.nan
    vgg_frechet: float = math.nan
    failed: int = 0


def _finite(values: Sequence[float]) -> list[float]:
    return [value for value in values if value is not None and math.isfinite(value)]


def summarize(evaluation: Evaluation) -> list[MethodSummary]:
    """Per method: mean and population standard deviation of every column (NaNs left out)."""
    summaries = []
    for method in evaluation.methods:
        rows = [record for record in evaluation.records if record.method == method]
        summary = MethodSummary(method, len(rows), failed=sum(f.method == method for f in evaluation.failures))
        for column in SUMMARY_COLUMNS + RAW_COLUMNS:
            values = _finite([getattr(row, column.key) for row in rows])
            if values:
                mean = sum(values) / len(values)
                summary.mean[column.key] = mean
                summary.std[column.key] = math.sqrt(sum((v - mean) ** 2 for v in values) / len(values))
            else:
                summary.mean[column.key] = summary.std[column.key] = math.nan
        set_values = evaluation.set_metrics.get(method, {})
        summary.fid = set_values.get("fid", math.nan)
        summary.art_fid = set_values.get("art_fid", math.nan)
        summary.vgg_frechet = set_values.get("vgg_frechet", math.nan)
        summaries.append(summary)
    return summaries


def _number(value: float, digits: int) -> str:
    return "–" if value is None or not math.isfinite(value) else f"{value:.{digits}f}"


def summary_line(summary: MethodSummary) -> str:
    """One terminal line, e.g. ``optimize  style 0.41±0.05  content 0.32±0.04  SSIM 0.55  …``."""

    def pair(key: str, digits: int = 2) -> str:
        return f"{_number(summary.mean[key], digits)}±{_number(summary.std[key], digits)}"

    parts = [
        f"{summary.method}:",
        f"style {pair('style_gram_normalized')}",
        f"content {pair('content_distance_normalized')}",
        f"SSIM {pair('ssim_luminance')}",
        f"colour {_number(summary.mean['colourfulness'], 1)}",
    ]
    if math.isfinite(summary.mean["seconds"]):
        parts.append(f"{_number(summary.mean['seconds'], 1)} s")
    if math.isfinite(summary.mean["peak_memory_mb"]):
        parts.append(f"{_number(summary.mean['peak_memory_mb'], 0)} MiB")
    if math.isfinite(summary.mean["warping_error"]):
        parts.append(f"warping {_number(summary.mean['warping_error'], 5)}")
    if math.isfinite(summary.mean["frames_per_second"]):
        parts.append(f"{_number(summary.mean['frames_per_second'], 1)} frames/s")
    if math.isfinite(summary.vgg_frechet):
        parts.append(f"Fréchet {summary.vgg_frechet:.1f}")
    if math.isfinite(summary.fid):
        parts.append(f"FID {summary.fid:.1f} ArtFID {summary.art_fid:.1f}")
    parts.append(f"({summary.count} images" + (f", {summary.failed} failed)" if summary.failed else ")"))
    return "  ".join(parts)


def summary_lines(evaluation: Evaluation) -> list[str]:
    """:func:`summary_line` for every method, in the evaluation's order, labels padded to one width."""
    summaries = summarize(evaluation)
    width = max((len(s.method) for s in summaries), default=0)
    return [summary_line(s).replace(f"{s.method}:", f"{s.method}:".ljust(width + 1), 1) for s in summaries]


#: The columns compared with a baseline, with the direction that counts as better.
COMPARED = (("style_gram_normalized", "style", "lower"), ("content_distance_normalized", "content", "lower"),
            ("ssim_luminance", "SSIM", "higher"), ("seconds", "seconds", "lower"))  # fmt: skip


def read_baseline(path: str | os.PathLike) -> dict[str, dict[str, float]]:
    """``{method: {column: mean}}`` from an earlier ``report.json``."""
    try:
        data = json.loads(Path(path).expanduser().read_text(encoding="utf-8"))
        if data.get("format") != FORMAT:
            raise ValueError("not a report")
        return {entry["method"]: entry["mean"] for entry in data["summary"]}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        raise PainterlyError(f"{path} is not a report.json written by painterly evaluate: give one") from None


def baseline_lines(evaluation: Evaluation, baseline: dict[str, dict[str, float]]) -> list[str]:
    """Per method also in ``baseline``: each compared mean, then and now, e.g. ``style 0.41 → 0.38 (better)``."""
    lines = []
    for summary in summarize(evaluation):
        before = baseline.get(summary.method)
        if before is None:
            continue
        parts = []
        for key, label, better in COMPARED:
            old, new = before.get(key), summary.mean.get(key)
            if old is None or new is None or not math.isfinite(new):
                continue
            change = "same" if abs(new - old) <= 1e-3 * max(abs(old), 1e-9) else (
                "better" if (new < old) == (better == "lower") else "worse")  # fmt: skip
            parts.append(f"{label} {old:.3g} → {new:.3g} ({change})")
        lines.append(f"{summary.method} vs baseline: " + ", ".join(parts))
    return lines


# --- files ---------------------------------------------------------------------------------------


def check_report_dir(out_dir: str | os.PathLike) -> Path:
    """``out_dir`` if it is new, empty or an earlier report (whose files are replaced); else an error."""
    path = Path(out_dir).expanduser()
    if path.exists() and not path.is_dir():
        raise PainterlyError(f"report folder {path} is a file: give a new or empty folder")
    if path.is_dir() and any(path.iterdir()):
        try:
            earlier = json.loads((path / "report.json").read_text(encoding="utf-8")).get("format") == FORMAT
        except (OSError, ValueError, AttributeError):
            earlier = False
        if not earlier:
            raise PainterlyError(f"report folder {path} already holds other files: give a new or empty folder")
    return path


def _json_value(value):
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: _json_value(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_value(item) for item in value]
    return value


def write_csv(records: Sequence[Record], path: Path) -> Path:
    """One row per output image; NaN (not measured) as an empty cell."""
    names = [f.name for f in fields(Record)]
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=names)
        writer.writeheader()
        for record in records:
            row = record.to_dict()
            writer.writerow({key: "" if isinstance(v, float) and not math.isfinite(v) else v for key, v in row.items()})
    return path


def report_dict(evaluation: Evaluation, summaries: Sequence[MethodSummary]) -> dict:
    """Everything in the JSON report, with NaN as ``null``."""
    return _json_value(
        {
            "format": FORMAT,
            "settings": evaluation.settings,
            "notes": evaluation.notes,
            "contents": {stem: str(path) for stem, path in evaluation.contents.items()},
            "styles": {stem: str(path) for stem, path in evaluation.styles.items()},
            "summary": [
                {"method": s.method, "count": s.count, "failed": s.failed, "mean": s.mean, "std": s.std, "fid": s.fid,
                 "art_fid": s.art_fid, "vgg_frechet": s.vgg_frechet}
                for s in summaries
            ],
            "records": [record.to_dict() for record in evaluation.records],
            "failures": [failure.to_dict() for failure in evaluation.failures],
        }
    )


def tradeoff_plot_png(evaluation: Evaluation) -> Optional[bytes]:
    """A PNG of normalized style vs content distance, one colour per method; None without matplotlib."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        return None
    # Figure + Agg canvas directly: pyplot would change process-wide state.
    figure = Figure(figsize=(6.0, 4.5), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    for method in evaluation.methods:
        rows = [r for r in evaluation.records if r.method == method]
        x = [r.content_distance_normalized for r in rows]
        y = [r.style_gram_normalized for r in rows]
        points = axes.scatter(x, y, alpha=0.45, s=22)
        if rows:
            axes.scatter([sum(x) / len(x)], [sum(y) / len(y)], s=140, marker="*", color=points.get_facecolor()[0],
                         edgecolor="black", label=method)
    axes.set_xlabel("content distance (0 = content, 1 = style image)")
    axes.set_ylabel("style distance, Gram (0 = style, 1 = content)")
    axes.set_title("Style/content trade-off (stars: method means; lower-left is better)")
    axes.title.set_fontsize(9)
    axes.grid(alpha=0.3)
    if evaluation.records:
        axes.legend(fontsize=8)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def thumbnail_data_uri(source: Image.Image | str | os.PathLike, side: int = THUMBNAIL_SIDE) -> str:
    """An image as a ``data:image/jpeg;base64,…`` URI, its long side at most ``side`` pixels."""
    image = load_image(source)
    image.thumbnail((side, side), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=85)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


_STYLE_SHEET = """
body { font-family: system-ui, sans-serif; margin: 1.5em; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.5em; text-align: right; }
th { background: #f3f3f3; } td.name, th.name { text-align: left; }
.grid td { vertical-align: top; text-align: center; font-size: 0.8em; }
.grid img { max-width: 256px; max-height: 256px; display: block; margin: 0 auto 0.2em; }
.note { color: #8a5a00; } .failure { color: #a00; }
"""


#: What the summary's Fréchet column means (the report's legend and the column's tooltip).
FRECHET_MEANING = ("Fréchet distance between all of a method's outputs and the style images as a set, in VGG19 relu5_1 "
                   "features (no downloads); lower is closer to the paintings' manner; grows for small sets, so compare "
                   "methods within one report")


def _summary_table(summaries: Sequence[MethodSummary], with_fid: bool) -> str:
    head = "".join(f'<th title="{html.escape(c.meaning)}">{html.escape(c.label)}</th>' for c in SUMMARY_COLUMNS)
    with_frechet = any(math.isfinite(s.vgg_frechet) for s in summaries)
    if with_frechet:
        head += f'<th title="{html.escape(FRECHET_MEANING)}">Fréchet (VGG19)</th>'
    if with_fid:
        head += "<th>FID</th><th>ArtFID</th>"
    rows = []
    for s in summaries:
        cells = "".join(
            f"<td>{_number(s.mean[c.key], c.digits)} ± {_number(s.std[c.key], c.digits)}</td>" for c in SUMMARY_COLUMNS
        )
        if with_frechet:
            cells += f"<td>{_number(s.vgg_frechet, 1)}</td>"
        if with_fid:
            cells += f"<td>{_number(s.fid, 2)}</td><td>{_number(s.art_fid, 2)}</td>"
        rows.append(f'<tr><td class="name">{html.escape(s.method)}</td><td>{s.count}</td>{cells}</tr>')
    return f'<table class="summary"><tr><th class="name">method</th><th>n</th>{head}</tr>{"".join(rows)}</table>'


def _legend() -> str:
    items = "".join(
        f"<li><b>{html.escape(c.label)}</b>: {html.escape(c.meaning)}</li>" for c in SUMMARY_COLUMNS + RAW_COLUMNS
    )
    items += f"<li><b>Fréchet (VGG19)</b>: {html.escape(FRECHET_MEANING)}</li>"
    return f"<ul>{items}</ul>"


def _grid(evaluation: Evaluation) -> str:
    by_key = {(r.content, r.style, r.method): r for r in evaluation.records}
    failed = {(f.content, f.style, f.method) for f in evaluation.failures}
    head = "<th>content</th><th>style</th>" + "".join(f"<th>{html.escape(m)}</th>" for m in evaluation.methods)
    style_uris = {stem: thumbnail_data_uri(path) for stem, path in evaluation.styles.items()}
    rows = []
    for content, content_path in evaluation.contents.items():
        content_uri = thumbnail_data_uri(content_path)
        for style in evaluation.styles:
            cells = [
                f'<td><img src="{content_uri}" alt="{html.escape(content)}">{html.escape(content)}</td>',
                f'<td><img src="{style_uris[style]}" alt="{html.escape(style)}">{html.escape(style)}</td>',
            ]
            for method in evaluation.methods:
                record = by_key.get((content, style, method))
                if (content, style, method) in failed:
                    cells.append('<td class="failure">failed</td>')
                    continue
                if record is None or not record.output:
                    cells.append("<td>–</td>")
                    continue
                caption = (
                    f"style {_number(record.style_gram_normalized, 2)} · content "
                    f"{_number(record.content_distance_normalized, 2)} · SSIM {_number(record.ssim_luminance, 2)}"
                )
                alt = html.escape(f"{content} × {style} by {method}")
                cells.append(f'<td><img src="{thumbnail_data_uri(record.output)}" alt="{alt}">{caption}</td>')
            rows.append(f"<tr>{''.join(cells)}</tr>")
    return f'<table class="grid"><tr>{head}</tr>{"".join(rows)}</table>'


def _records_table(records: Sequence[Record]) -> str:
    columns = SUMMARY_COLUMNS + RAW_COLUMNS
    head = "<th class=name>content</th><th class=name>style</th><th class=name>method</th>" + "".join(
        f"<th>{html.escape(c.label)}</th>" for c in columns
    )
    rows = "".join(
        f'<tr><td class="name">{html.escape(r.content)}</td><td class="name">{html.escape(r.style)}</td>'
        f'<td class="name">{html.escape(r.method)}</td>'
        + "".join(f"<td>{_number(getattr(r, c.key), c.digits)}</td>" for c in columns)
        + "</tr>"
        for r in records
    )
    return f'<table class="records"><tr>{head}</tr>{rows}</table>'


def render_html(evaluation: Evaluation, summaries: Sequence[MethodSummary]) -> str:
    """The whole report as one HTML page with every image embedded."""
    plot = tradeoff_plot_png(evaluation)
    if plot is None:
        plot_html = '<p class="note">Plot skipped: matplotlib is not installed (pip install matplotlib).</p>'
    else:
        plot_html = f'<img alt="style/content trade-off" src="data:image/png;base64,{base64.b64encode(plot).decode("ascii")}">'
    notes = "".join(f'<li class="note">{html.escape(note)}</li>' for note in evaluation.notes)
    failures = "".join(f'<li class="failure">{html.escape(failure.line())}</li>' for failure in evaluation.failures)
    settings = ", ".join(f"{html.escape(str(k))}: {html.escape(str(v))}" for k, v in evaluation.settings.items())
    with_fid = any(math.isfinite(s.fid) for s in summaries)
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<title>Painterly evaluation</title><style>{_STYLE_SHEET}</style></head><body>\n"
        f"<h1>Painterly evaluation</h1>\n<p>{len(evaluation.contents)} contents × {len(evaluation.styles)} styles × "
        f"{len(evaluation.methods)} methods; {settings}</p>\n"
        f"{f'<ul>{notes}</ul>' if notes else ''}\n"
        f"{f'<h2>Failed ({len(evaluation.failures)})</h2><ul>{failures}</ul>' if failures else ''}\n"
        f"<h2>Summary (mean ± standard deviation)</h2>\n{_summary_table(summaries, with_fid)}\n{_legend()}\n"
        f"<h2>Style/content trade-off</h2>\n{plot_html}\n"
        f"<h2>Images</h2>\n{_grid(evaluation)}\n"
        f"<h2>Per image</h2>\n{_records_table(evaluation.records)}\n"
        "</body></html>\n"
    )


def write_report(evaluation: Evaluation, out_dir: str | os.PathLike, *, check: bool = True) -> dict[str, Path]:
    """Write ``report.csv``, ``report.json`` and ``report.html`` into ``out_dir``; their paths by kind.

    ``check=False`` skips :func:`check_report_dir`, for a caller that checked the folder before
    writing into it.
    """
    folder = check_report_dir(out_dir) if check else Path(out_dir)
    folder.mkdir(parents=True, exist_ok=True)
    summaries = summarize(evaluation)
    paths = {name.split(".")[1]: folder / name for name in REPORT_FILES}
    write_csv(evaluation.records, paths["csv"])
    paths["json"].write_text(
        json.dumps(report_dict(evaluation, summaries), indent=2, ensure_ascii=False), encoding="utf-8"
    )
    paths["html"].write_text(render_html(evaluation, summaries), encoding="utf-8")
    return paths
