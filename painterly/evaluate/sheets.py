"""Measured contact-sheet rows: each painter's result captioned with its style distance and time."""

from __future__ import annotations

from typing import Callable

from PIL import Image


def measured_row(
    vgg, photo: Image.Image, painting: Image.Image, label: str, painters: dict[str, Callable[[], Image.Image]],
    device=None,
) -> list[tuple[Image.Image, str]]:  # fmt: skip
    """One sheet row: the painting, then each painter's result captioned with its style distance and time.

    Args:
        vgg: VGG19 up to relu5_1, as ``painterly evaluate`` measures.
        photo, painting: the images the results are measured against (same as they were painted).
        painters: ``{name: function returning the painted photo}``, called once each and timed.

    Every result is measured the way ``painterly evaluate`` does (normalized Gram style distance to
    the painting, content distance to the photo) and printed as one line.
    """
    import time

    import torch

    from painterly.evaluate.measure import measure_output, pair_reference
    from painterly.io.images import image_to_tensor

    reference = pair_reference(vgg, image_to_tensor(photo, device=device), image_to_tensor(painting, device=device))
    cells = [(painting, label[:40])]
    for name, paint in painters.items():
        started = time.perf_counter()
        result = paint().convert("RGB").resize(photo.size)
        seconds = time.perf_counter() - started
        with torch.no_grad():
            values = measure_output(vgg, image_to_tensor(result, device=device), reference)
        cells.append((result, f"{name}: style {values['style_gram_normalized']:.2f}, {seconds:.1f} s"))
        print(f"{label:28s} {name:18s} style {values['style_gram_normalized']:.3f} "
              f"content {values['content_distance_normalized']:.3f} {seconds:.1f} s", flush=True)  # fmt: skip
    return cells
