"""Evaluation: quality metrics, method comparison and visual reports.

``metrics`` holds the metric functions, ``inception`` the FID network (user-supplied weights),
``runner`` runs methods over (content, style) pairs and measures the outputs, ``report`` writes
CSV, JSON and a self-contained HTML report, ``specs`` turns ``--method`` strings into methods.
"""

from painterly.evaluate.metrics import (
    art_fid,
    colourfulness,
    content_distance,
    fid_from_features,
    frechet_distance,
    gram_style_distance,
    meancov_style_distance,
    normalized_content_distance,
    normalized_style_distance,
    ssim,
    ssim_luminance,
    style_distance,
    temporal_warping_error,
)
from painterly.evaluate.records import Evaluation, Record
from painterly.evaluate.report import summary_lines, write_report
from painterly.evaluate.runner import evaluate

__all__ = [
    "Evaluation",
    "Record",
    "art_fid",
    "colourfulness",
    "content_distance",
    "evaluate",
    "fid_from_features",
    "frechet_distance",
    "gram_style_distance",
    "meancov_style_distance",
    "normalized_content_distance",
    "normalized_style_distance",
    "ssim",
    "ssim_luminance",
    "style_distance",
    "summary_lines",
    "temporal_warping_error",
    "write_report",
]
