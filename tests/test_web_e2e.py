"""End to end: the real server (uvicorn, fake fast runner) driven by Debian's Chromium through Playwright.

Needs ``/usr/bin/chromium`` and the ``playwright`` Python package (``scripts/install_browser.sh``
installs both); skipped with a reason otherwise. Playwright's own browser downloads are not used.
"""

from __future__ import annotations

import base64
import contextlib
import io
import re
import shutil
from pathlib import Path

import pytest
from PIL import Image

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
if not Path(CHROMIUM).exists():
    pytest.skip("Debian's chromium is not installed: run scripts/install_browser.sh", allow_module_level=True)
pytest.importorskip("playwright.sync_api", reason="playwright is not installed: run scripts/install_browser.sh")
pytest.importorskip("uvicorn", reason="the web studio needs uvicorn")
pytest.importorskip("multipart", reason="the web studio needs python-multipart")

from playwright.sync_api import expect, sync_playwright  # noqa: E402

from painterly.web import ServerConfig, create_app  # noqa: E402
from painterly.web.background import serve_in_thread  # noqa: E402
from painterly.web.fake import FakeRunner  # noqa: E402

from conftest import make_gradient_image  # noqa: E402

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
TIMEOUT_MS = 15_000
BLOB = re.compile("^blob:")


@contextlib.contextmanager
def running_server(data_dir: Path, runner, **settings):
    """The studio served by uvicorn on a free loopback port, in a thread; yields its base URL."""
    app = create_app(ServerConfig(data_dir=data_dir, rate_limit_per_minute=0, **settings), runner=runner)
    with serve_in_thread(app) as base:
        yield base


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def photo_bytes() -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(make_gradient_image(48, 64)).save(buffer, format="PNG")
    return buffer.getvalue()


def drop_photo(page, data: bytes, name: str = "photo.png") -> None:
    """Drag and drop a file on the drop zone, as a person would from the file manager."""
    page.evaluate(
        """([data, name]) => {
            const bytes = Uint8Array.from(atob(data), (c) => c.charCodeAt(0));
            const transfer = new DataTransfer();
            transfer.items.add(new File([bytes], name, { type: "image/png" }));
            const drop = document.getElementById("drop");
            drop.dispatchEvent(new DragEvent("dragover", { dataTransfer: transfer, bubbles: true, cancelable: true }));
            drop.dispatchEvent(new DragEvent("drop", { dataTransfer: transfer, bubbles: true, cancelable: true }));
        }""",
        [base64.b64encode(data).decode(), name],
    )


def test_upload_pick_style_paint_compare_and_download(browser, tmp_path):
    runner = FakeRunner(steps=12, step_seconds=0.12, preview_every=2)
    with running_server(tmp_path / "data", runner) as base:
        page = browser.new_page(accept_downloads=True)
        errors = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
        page.set_default_timeout(TIMEOUT_MS)
        page.goto(base + "/")

        expect(page.locator('#gallery .tile[data-style="starry-night"] img')).to_have_attribute("src", BLOB)
        expect(page.locator("#history")).to_contain_text("No paintings yet")
        expect(page.locator('#methods input[value="optimize"]')).to_be_checked()
        expect(page.locator('#methods input[value="feedforward"]')).to_be_enabled()

        drop_photo(page, photo_bytes())
        expect(page.locator("#photo-preview")).to_be_visible()
        expect(page.locator("#drop-hint")).to_contain_text("photo.png")
        page.click('#gallery .tile[data-style="starry-night"]')
        expect(page.locator('#gallery .tile[data-style="starry-night"]')).to_have_class(re.compile("selected"))
        page.fill("#strength", "0.8")
        expect(page.locator("#strength-value")).to_have_text("0.80")
        page.select_option("#size", "256")
        page.fill("#steps", "12")
        page.check("#preserve-color")
        page.click("#run")

        expect(page.locator("#progress")).to_be_visible()
        expect(page.locator("#preview")).to_have_attribute("src", BLOB)  # a live preview
        expect(page.locator("#compare")).to_be_visible()
        assert page.evaluate("document.getElementById('compare-after').naturalWidth") == 64
        page.fill("#compare-slider", "20")
        assert "20%" in page.evaluate("document.getElementById('compare-after').style.clipPath")
        expect(page.locator("#job-message")).to_contain_text("Done")

        with page.expect_download() as download_info:
            page.click("#download")
        download = download_info.value
        assert download.suggested_filename.startswith("painterly-") and download.suggested_filename.endswith(".png")
        with Image.open(download.path()) as result:
            assert result.size == (64, 48)

        expect(page.locator("#history li button[data-job]")).to_have_count(1)
        expect(page.locator("#history")).to_contain_text("starry-night · succeeded")
        style, options = runner.calls[0]
        assert style == "starry-night" and options.strength == 0.8 and options.size == 256
        assert options.steps == 12 and options.preserve_color == "luminance"

        page.screenshot(path=str(tmp_path / "studio.png"), full_page=True)  # to look at when it fails
        page.check('#methods input[value="feedforward"]')  # a model method: model choice, no style scale or steps
        expect(page.locator("#model-row")).to_be_visible()
        expect(page.locator("#model")).to_have_value("toy")
        expect(page.locator('[data-option="style_scale"]')).to_be_hidden()
        expect(page.locator('[data-option="steps"]')).to_be_hidden()
        expect(page.locator('[data-option="strength"]')).to_be_visible()
        page.check('#methods input[value="optimize"]')
        expect(page.locator("#model-row")).to_be_hidden()
        page.click("#history li button.delete")
        expect(page.locator("#history")).to_contain_text("No paintings yet")
        page.click("#tab-video")
        expect(page.locator("#video-tab")).to_contain_text("coming soon")
        expect(page.locator("#image-tab")).to_be_hidden()
        assert not errors, errors


def test_page_asks_for_the_token(browser, tmp_path):
    with running_server(tmp_path / "data", FakeRunner(), token="letmein") as base:
        page = browser.new_page()
        page.set_default_timeout(TIMEOUT_MS)
        page.goto(base + "/")
        expect(page.locator("#token-form")).to_be_visible()
        expect(page.locator('#gallery .tile[data-style="starry-night"]')).to_have_count(0)
        page.fill("#token-input", "letmein")
        page.click("#token-form button")
        expect(page.locator("#token-form")).to_be_hidden()
        expect(page.locator('#gallery .tile[data-style="starry-night"] img')).to_have_attribute(
            "src", BLOB)
