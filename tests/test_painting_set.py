"""scripts/make_painting_set.py: the Qt resource reader, puzzle assembly and the README filter."""

from __future__ import annotations

import importlib.util
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "make_painting_set.py"


@pytest.fixture(scope="module")
def script():
    spec = importlib.util.spec_from_file_location("make_painting_set", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def build_rcc(files: dict[str, tuple[bytes, bool]]) -> bytes:
    """A version-1 Qt resource file with one folder ``img`` holding ``files`` (name → (bytes, compressed))."""
    names = b""
    name_offsets = {}
    for name in ["img", *files]:
        name_offsets[name] = len(names)
        names += struct.pack(">HI", len(name), 0) + name.encode("utf-16-be")
    payload = b""
    data_offsets = {}
    for name, (contents, compressed) in files.items():
        data_offsets[name] = len(payload)
        blob = struct.pack(">I", len(contents)) + zlib.compress(contents) if compressed else contents
        payload += struct.pack(">I", len(blob)) + blob
    tree = struct.pack(">IHII", 0, 2, 1, 1)  # root: one child, node 1
    tree += struct.pack(">IHII", name_offsets["img"], 2, len(files), 2)
    for name, (_, compressed) in files.items():
        tree += struct.pack(">IHHHI", name_offsets[name], 1 if compressed else 0, 0, 0, data_offsets[name])
    header_size = 20
    tree_at, payload_at = header_size, header_size + len(tree)
    names_at = payload_at + len(payload)
    return b"qres" + struct.pack(">4I", 1, tree_at, payload_at, names_at) + tree + payload + names


def test_reads_plain_and_compressed_files(script):
    rcc = build_rcc({"a.txt": (b"hello " * 50, True), "b.bin": (bytes(range(7)), False)})
    assert script.read_qt_resources(rcc) == {"img/a.txt": b"hello " * 50, "img/b.bin": bytes(range(7))}


def test_rejects_other_files(script):
    with pytest.raises(ValueError, match="qres"):
        script.read_qt_resources(b"\x89PNG\r\n\x1a\n" + bytes(20))


def test_puzzle_pieces_paste_back_into_the_painting(script):
    rng = np.random.default_rng(0)
    painting = rng.integers(0, 256, (30, 40, 3), dtype=np.uint8)
    board_width, board_height, margin = 100, 80, 4
    left, top = 20, 10  # where the painting lies on the board
    pieces, entries = {}, []
    for row in range(2):
        for column in range(2):
            tile = np.zeros((15 + 2 * margin, 20 + 2 * margin, 4), dtype=np.uint8)  # transparent tabs around
            tile[margin:-margin, margin:-margin, :3] = painting[row * 15 : row * 15 + 15, column * 20 : column * 20 + 20]
            tile[margin:-margin, margin:-margin, 3] = 255
            name = f"image/Test_{'ab'[row]}{column + 1}.webp"
            pieces[name] = Image.fromarray(tile, "RGBA")
            centre_x = (left + column * 20 + 10) / board_width
            centre_y = (top + row * 15 + 7.5) / board_height
            entries.append(f'{{"pixmapfile" : "{name}",\n "x" : "{centre_x:.4f}",\n "y" : "{centre_y:.4f}"}}')
    board = (
        'property string instruction: qsTr("A. Painter, Test - 1900")\n'
        f'[{{"pixmapfile": "image/bg.svg", "width": {board_width}, "height": {board_height}}},\n' + ",\n".join(entries) + "]"
    )
    name, title, assembled = script.assemble_puzzle(board, pieces.__getitem__)
    assert (name, title) == ("Test", "A. Painter, Test - 1900")
    np.testing.assert_array_equal(np.asarray(assembled), painting)


def test_only_painting_backgrounds_are_kept(script):
    readme = (
        "Copyright: x\nLicense: CC-BY-SA 4.0\nFiles:\nCastle_0.webp\nCastle_background.webp\n"
        "Comment: based on a photo by Someone\n\n"
        "Copyright: x\nLicense: Public domain\nFiles:\nGogh4_0.webp\nGogh4_background.webp\n"
        "Comment: based on an original painting by Van Gogh, Public domain image.\n"
    )
    assert script.painting_backgrounds(readme) == [("Gogh4_background.webp", "Public domain")]
