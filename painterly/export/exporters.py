"""Exporting trained style networks to ONNX and TorchScript, and running the ONNX file.

``export_model("starry-night", "starry.onnx")`` writes a graph that takes ``image``
``(B, 3, H, W)`` RGB in ``[0, 1]`` of any height and width and returns ``stylized`` of the same
shape; with ``check=True`` (the default) the file is run once under onnxruntime and compared
with PyTorch. ``onnx`` and ``onnxruntime`` are optional: ``pip install onnx onnxruntime``; running the
file is :mod:`painterly.inference.onnx`.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import torch

from painterly.errors import PainterlyError
from painterly.io.files import atomic_write
from painterly.inference.onnx import onnx_session

FORMATS = ("onnx", "torchscript")
#: The largest difference an exported model may make, in ``[0, 1]`` pixel units.
EXPORT_TOLERANCE = 2 / 255
ONNX_OPSET = 17


def export_model(
    model: str | Path,
    out: str | Path,
    *,
    format: str = "onnx",
    check: bool = True,
) -> Path:
    """Write the model ``model`` (a built-in name or a model file) as ONNX or TorchScript to ``out``.

    Args:
        format: ``"onnx"`` or ``"torchscript"``.
        check: run the written file on a test image and raise if it differs from PyTorch by more
            than :data:`EXPORT_TOLERANCE`.

    Returns:
        ``out`` as a path. The file is written atomically.
    """
    from painterly.models.files import load_model, resolve_model_path

    if format not in FORMATS:
        raise PainterlyError(f"unknown export format {format!r}: use onnx or torchscript")
    net, _ = load_model(resolve_model_path(model))
    out = Path(out).expanduser()
    # Both sides need padding, so the traced graph keeps the padding (with amounts computed from the shape).
    example = torch.rand(1, 3, 67, 93, generator=torch.Generator().manual_seed(0))
    return _write_export(net, example, out, format, check)


def _write_export(net: torch.nn.Module, example: torch.Tensor, out: Path, format: str, check: bool) -> Path:
    """Trace ``net`` on ``example`` into ``out`` (ONNX or TorchScript), checked, written atomically."""
    with atomic_write(out) as temporary:
        if format == "onnx":
            _export_onnx(net, example, temporary)
        else:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # tracer warnings about shape arithmetic, which is traced correctly
                traced = torch.jit.trace(net, example, check_trace=False)
            traced.save(str(temporary))
        if check:
            check_export(net, temporary, format)
    return out


def export_arbitrary(
    style: str | Path | Any,
    out: str | Path,
    *,
    decoder: str | Path | None = None,
    strength: float = 1.0,
    style_size: int = 1024,
    format: str = "onnx",
    check: bool = True,
    encoder: Any = None,
) -> Path:
    """Write the AdaIN network (VGG19 encoder, AdaIN to one painting, decoder) as one ONNX or TorchScript file.

    The graph takes ``image`` ``(B, 3, H, W)`` RGB in ``[0, 1]`` of any size and returns
    ``stylized`` of the same shape in the style of ``style``, whose statistics are stored in it.

    Args:
        style: the painting: a built-in style name, an image path, a PIL image or a
            ``(1, 3, H, W)`` tensor in ``[0, 1]``.
        decoder: a decoder file or installed name (default: the shipped decoder).
        strength: feature interpolation between the photo (0) and the painting (1).
        style_size: long side the painting is resized to before its statistics are stored. The
            adain method measures the painting at the size of each photo; a file has one fixed
            painting, so give the size of the photos it will paint (smaller: larger strokes).
        encoder: the VGG19 network (default: ImageNet weights up to relu4_1).
    """
    from painterly.methods.adain import load_adain_network
    from painterly.models.adain import FixedStyleAdaIN

    if format not in FORMATS:
        raise PainterlyError(f"unknown export format {format!r}: use onnx or torchscript")
    model = load_adain_network(decoder, device=torch.device("cpu"), encoder=encoder)
    net = FixedStyleAdaIN(model, _style_tensor(style, style_size), strength).eval()
    example = torch.rand(1, 3, 67, 93, generator=torch.Generator().manual_seed(0))
    return _write_export(net, example, Path(out).expanduser(), format, check)


def _style_tensor(style: Any, long_side: int = 512) -> torch.Tensor:
    from painterly.io.images import image_to_tensor
    from painterly.ops.resize import resize_to_long_side

    if not isinstance(style, torch.Tensor):
        from painterly.styles.catalog import load_style_image

        style = image_to_tensor(load_style_image(style, max_pixels=10**9))
    return resize_to_long_side(style.float(), long_side)


def _export_onnx(net: torch.nn.Module, example: torch.Tensor, path: Path) -> None:
    try:
        import onnx  # noqa: F401  (the exporter needs it)
    except ImportError:
        raise PainterlyError("onnx is not installed: pip install onnx onnxruntime") from None
    dynamic = {0: "batch", 2: "height", 3: "width"}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # The TorchScript-based exporter handles the any-size padding as shape arithmetic in the graph.
        torch.onnx.export(
            net,
            (example,),
            str(path),
            dynamo=False,
            input_names=["image"],
            output_names=["stylized"],
            dynamic_axes={"image": dynamic, "stylized": dynamic},
            opset_version=ONNX_OPSET,
        )


def check_export(net: torch.nn.Module, path: Path, format: str) -> float:
    """Largest difference between ``net`` and the exported file on test images of two sizes."""
    worst = 0.0
    generator = torch.Generator().manual_seed(1)
    for shape in ((1, 3, 64, 96), (1, 3, 75, 53)):
        image = torch.rand(shape, generator=generator)
        with torch.no_grad():
            expected = net(image)
        if format == "onnx":
            session = onnx_session(path)
            got = torch.from_numpy(session.run(None, {"image": image.numpy()})[0])
        else:
            got = torch.jit.load(str(path))(image)
        worst = max(worst, float((got - expected).abs().max()))
    if worst > EXPORT_TOLERANCE:
        raise PainterlyError(
            f"the exported {format} model differs from PyTorch by {worst * 255:.1f}/255: "
            "report this with your torch and onnxruntime versions"
        )
    return worst


