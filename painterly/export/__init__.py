"""Exporting trained style networks to ONNX and TorchScript (see :mod:`painterly.export.exporters`)."""

from painterly.export.exporters import EXPORT_TOLERANCE, FORMATS, check_export, export_arbitrary, export_model
from painterly.inference.onnx import onnx_session, run_onnx

__all__ = ["EXPORT_TOLERANCE", "FORMATS", "check_export", "export_arbitrary", "export_model", "onnx_session", "run_onnx"]
