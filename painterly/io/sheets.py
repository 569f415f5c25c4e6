"""Contact sheets: rows of captioned images in one picture, for READMEs and reports."""

from __future__ import annotations

from typing import Optional, Sequence

from PIL import Image, ImageDraw

#: Height in pixels of the caption strip under each cell.
CAPTION_HEIGHT = 22


def captioned_sheet(
    rows: Sequence[Sequence[tuple[Image.Image, str]]], cell: int = 320, cell_height: Optional[int] = None
) -> Image.Image:
    """Lay out ``rows`` of ``(image, caption)`` on white: each image fitted into a ``cell × cell_height``
    box (aspect kept, centred; square by default), its caption written under it.

    Returns:
        An RGB image ``(columns · cell) × (rows · (cell_height + CAPTION_HEIGHT))``.
    """
    height = cell_height or cell
    columns = max((len(row) for row in rows), default=0)
    sheet = Image.new("RGB", (max(1, columns * cell), max(1, len(rows) * (height + CAPTION_HEIGHT))), "white")
    draw = ImageDraw.Draw(sheet)
    for row_index, row in enumerate(rows):
        for column, (image, caption) in enumerate(row):
            thumb = image.convert("RGB")
            thumb.thumbnail((cell, height))
            x, y = column * cell, row_index * (height + CAPTION_HEIGHT)
            sheet.paste(thumb, (x + (cell - thumb.width) // 2, y + (height - thumb.height) // 2))
            draw.text((x + 6, y + height + 4), caption, fill="black")
    return sheet
