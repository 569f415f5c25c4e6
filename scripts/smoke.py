"""Run the documented commands as a user would, on a phone-sized photo and HD clips, at default settings.

Makes a 4000×3000 photo and 1280×720 and 1920×1080 clips with sound (a pan across a photo), runs each
command of the README's and docs' kinds through the installed ``painterly`` CLI in its own
process, and prints a table: command, exit code, wall time, peak memory, what was written.
Exits non-zero when a command fails or writes a wrong or blank output. Lists the documented
subcommands this script does not run, so the list stays complete.

    python scripts/smoke.py                 # everything (about 5 minutes on a 2-core CPU)
    python scripts/smoke.py --quick         # without the optimization method
    python scripts/smoke.py --only video    # commands whose name contains "video"
    python scripts/smoke.py --markdown docs/smoke.md   # also write the table for the docs
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

ROOT = Path(__file__).resolve().parents[1]
PHOTO_SIZE = (4000, 3000)
CLIP_SIZE = (1280, 720)
FULL_HD = (1920, 1080)
CLIP_SECONDS = 1.0
CLIP_FPS = 25


@dataclass
class Command:
    name: str
    args: list[str]
    output: Optional[str] = None  # what it writes, checked after the run (a file or a folder)
    size: Optional[tuple[int, int]] = None  # the output image's or video's (width, height)
    slow: bool = False


@dataclass
class Result:
    command: Command
    exit_code: int
    seconds: float
    peak_mb: float
    check: str


def source_photo() -> Path:
    for candidate in (ROOT.parent / "shared/data/photos/tubingen.jpg", ROOT / "painterly/examples/astronaut.jpg"):
        if candidate.is_file():
            return candidate
    raise SystemExit("no photo to build the test inputs from")


def make_inputs(folder: Path) -> dict[str, Path]:
    """The phone photo, a folder of two photos, a painting, and the HD clips with a tone."""
    from PIL import Image

    base = Image.open(source_photo()).convert("RGB")
    photo = folder / "phone.jpg"
    base.resize(PHOTO_SIZE, Image.Resampling.LANCZOS).save(photo, quality=92)
    photos = folder / "photos"
    photos.mkdir()
    base.resize((3024, 4032), Image.Resampling.LANCZOS).save(photos / "portrait.jpg", quality=92)
    base.resize((1600, 1200), Image.Resampling.LANCZOS).save(photos / "small.jpg", quality=92)
    painting = ROOT / "painterly/styles/data"
    paintings = sorted(painting.glob("*.jpg"))
    clips = {name: write_pan(base, folder / f"{name}.mp4", size) for name, size in (("clip", CLIP_SIZE), ("clip1080", FULL_HD))}
    return {"photo": photo, "photos": photos, **clips, "painting": paintings[0] if paintings else photo}


def write_pan(base, clip: Path, size: tuple[int, int]) -> Path:
    """A pan across the photo ``base``, like a camera moving, with a 440 Hz tone: ``CLIP_SECONDS`` long."""
    import av
    import numpy as np
    from PIL import Image

    wide = np.asarray(base.resize((size[0] * 3 // 2, size[1]), Image.Resampling.LANCZOS))
    frames = int(CLIP_SECONDS * CLIP_FPS)
    with av.open(str(clip), "w") as container:
        stream = container.add_stream("libx264", rate=CLIP_FPS)
        stream.width, stream.height, stream.pix_fmt = size[0], size[1], "yuv420p"
        sound = container.add_stream("aac", rate=44100, layout="mono")
        for index in range(frames):
            left = index * (wide.shape[1] - size[0]) // max(1, frames - 1)
            picture = av.VideoFrame.from_ndarray(np.ascontiguousarray(wide[:, left : left + size[0]]), format="rgb24")
            picture.pts = index
            container.mux(stream.encode(picture))
        container.mux(stream.encode(None))
        samples = int(44100 * CLIP_SECONDS)
        tone = (0.2 * np.sin(2 * np.pi * 440 * np.arange(samples) / 44100)).astype(np.float32)
        for begin in range(0, samples, 1024):
            chunk = av.AudioFrame.from_ndarray(tone[None, begin : begin + 1024], format="fltp", layout="mono")
            chunk.sample_rate, chunk.pts = 44100, begin
            container.mux(sound.encode(chunk))
        container.mux(sound.encode(None))
    return clip


def commands(inputs: dict[str, Path], out: Path) -> list[Command]:
    photo, clip = str(inputs["photo"]), str(inputs["clip"])
    return [
        Command("help", ["--help"]),
        Command("styles", ["styles"]),
        Command("stylize model", ["stylize", photo, "--model", "starry-night", "-o", f"{out}/model.jpg"], "model.jpg", PHOTO_SIZE),
        Command("stylize gan model", ["stylize", photo, "--model", "photo2impressionism", "-o", f"{out}/gan.jpg"], "gan.jpg", PHOTO_SIZE),
        Command("stylize any painting", ["stylize", photo, "--style", "the-scream", "--method", "fast", "-o", f"{out}/any.jpg"],
                "any.jpg", PHOTO_SIZE),
        Command("stylize painting file", ["stylize", photo, "--style", str(inputs["painting"]), "--method", "adain",
                                          "-o", f"{out}/file.jpg"], "file.jpg", PHOTO_SIZE),
        Command("stylize optimize", ["stylize", photo, "--style", "starry-night", "-o", f"{out}/optimize.jpg"], "optimize.jpg",
                None, slow=True),
        Command("stylize folder", ["stylize", str(inputs["photos"]), "--model", "the-scream", "-o", f"{out}/folder"], "folder"),
        Command("video model", ["video", clip, "--model", "starry-night", "-o", f"{out}/video.mp4"], "video.mp4", CLIP_SIZE),
        Command("video model 1080p", ["video", str(inputs["clip1080"]), "--model", "starry-night", "-o", f"{out}/video-1080.mp4"],
                "video-1080.mp4", FULL_HD),
        Command("video any painting", ["video", clip, "--style", "shipwreck", "--method", "fast", "-o", f"{out}/video-any.mp4"],
                "video-any.mp4", CLIP_SIZE),
        Command("gan apply", ["gan", "apply", "photo2impressionism", photo, "-o", f"{out}/gan-apply.jpg"], "gan-apply.jpg", PHOTO_SIZE),
        Command("export onnx", ["export", "starry-night", "--format", "onnx", "-o", f"{out}/starry.onnx"], "starry.onnx"),
    ]  # fmt: skip


def documented_subcommands() -> set[str]:
    """First words after ``painterly`` in the README's and docs' code blocks."""
    found: set[str] = set()
    for path in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        in_code = False
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip().startswith("```"):
                in_code = not in_code
                continue
            indented = line.startswith("    ") and line.strip().startswith("painterly ")
            match = re.search(r"(?:^|[\s&;|])painterly\s+([a-z][\w-]*)", line) if in_code or indented else None
            if match:
                found.add(match.group(1))
    return found


def check_output(command: Command, out: Path) -> str:
    if command.output is None:
        return "-"
    path = out / command.output
    if path.is_dir():
        files = sorted(path.rglob("*.*"))
        return f"{len(files)} files" if files else "EMPTY FOLDER"
    if not path.is_file():
        return "MISSING"
    if command.size is None and path.suffix.lower() not in (".jpg", ".png", ".mp4"):
        return f"{path.stat().st_size / 1e6:.1f} MB"
    if path.suffix.lower() == ".mp4":
        import av

        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            size, audio = (stream.width, stream.height), bool(container.streams.audio)
            frame = next(container.decode(stream)).to_ndarray(format="rgb24")
        blank = frame.std() < 3
        ok = (command.size is None or size == command.size) and audio and not blank
        return f"{size[0]}×{size[1]}{' +audio' if audio else ' NO AUDIO'}{' BLANK' if blank else ''}" + ("" if ok else " WRONG")
    import numpy as np
    from PIL import Image

    with Image.open(path) as image:
        size, pixels = image.size, np.asarray(image.convert("RGB").reduce(8), dtype=float)
    blank = pixels.std() < 3
    ok = (command.size is None or size == command.size) and not blank
    return f"{size[0]}×{size[1]}{' BLANK' if blank else ''}" + ("" if ok else " WRONG")


def run(command: Command, out: Path, cli: list[str]) -> Result:
    # GNU time reports the command's own peak memory; a forked child's rusage would also count the
    # pages it shared with this script at the fork.
    gnu_time = Path("/usr/bin/time")
    peak_file = out / ".peak-kb"
    prefix = [str(gnu_time), "-f", "%M", "-o", str(peak_file)] if gnu_time.is_file() else []
    start = time.perf_counter()
    process = subprocess.Popen([*prefix, *cli, *command.args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - start
    log = process.stdout.read() if process.stdout else ""
    exit_code = os.waitstatus_to_exitcode(status)
    peak_kb = usage.ru_maxrss
    if prefix and peak_file.is_file():
        peak_kb = int((peak_file.read_text().strip().splitlines() or ["0"])[-1] or 0)
        peak_file.unlink()
    check = check_output(command, out) if exit_code == 0 else (log.strip().splitlines() or ["?"])[-1][:120]
    return Result(command, exit_code, seconds, peak_kb / 1024, check)


def table(results: list[Result]) -> str:
    lines = ["| command | exit | seconds | peak memory | output |", "| --- | --- | --- | --- | --- |"]
    for result in results:
        shown = "painterly " + " ".join(Path(arg).name if "/" in arg else arg for arg in result.command.args)
        lines.append(f"| `{shown}` | {result.exit_code} | {result.seconds:.1f} | {result.peak_mb:,.0f} MB | {result.check} |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="skip the slow commands (the optimization method)")
    parser.add_argument("--only", help="run only commands whose name contains this")
    parser.add_argument("--markdown", type=Path, help="also write the table to this file")
    parser.add_argument("--keep", type=Path, help="keep inputs and outputs in this folder")
    args = parser.parse_args()
    executable = shutil.which("painterly")
    cli = [executable] if executable else [sys.executable, "-m", "painterly"]
    folder = Path(tempfile.mkdtemp(prefix="painterly-smoke-")) if args.keep is None else args.keep
    folder.mkdir(parents=True, exist_ok=True)
    out = folder / "out"
    out.mkdir(exist_ok=True)
    print(f"inputs and outputs in {folder}", file=sys.stderr)
    inputs = make_inputs(folder)
    selected = [c for c in commands(inputs, out) if (not args.quick or not c.slow) and (not args.only or args.only in c.name)]
    results = []
    for command in selected:
        result = run(command, out, cli)
        print(f"{command.name}: exit {result.exit_code}, {result.seconds:.1f} s, {result.peak_mb:,.0f} MB, {result.check}",
              file=sys.stderr, flush=True)  # fmt: skip
        results.append(result)
    report = table(results)
    print(report)
    if args.markdown:
        args.markdown.write_text(report + "\n", encoding="utf-8")
    covered = {command.args[0] for command in commands(inputs, out)}
    missing = sorted(documented_subcommands() - covered - {"serve", "train", "train-arbitrary", "evaluate"})
    if missing:
        print(f"documented but not run here: {', '.join(missing)}", file=sys.stderr)
    if args.keep is None:
        shutil.rmtree(folder, ignore_errors=True)
    failed = [r for r in results if r.exit_code != 0 or any(word in r.check for word in ("WRONG", "BLANK", "MISSING", "EMPTY"))]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
