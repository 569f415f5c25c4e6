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
import threading
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
from painterly.web.catalog import ModelInfo  # noqa: E402

from conftest import make_gradient_image  # noqa: E402
from web_fakes import FakeRunner  # noqa: E402

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
TIMEOUT_MS = 15_000
# Assertions wait as long as page actions: a CI machine under load can take over 5 s to finish a fake job.
expect.set_options(timeout=TIMEOUT_MS)
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


def drop_photo(page, data: bytes, name: str = "photo.png", target: str = "drop", media_type: str = "image/png") -> None:
    """Drag and drop a file on the drop zone ``target``, as a person would from the file manager."""
    page.evaluate(
        """([data, name, target, type]) => {
            const bytes = Uint8Array.from(atob(data), (c) => c.charCodeAt(0));
            const transfer = new DataTransfer();
            transfer.items.add(new File([bytes], name, { type }));
            const drop = document.getElementById(target);
            drop.dispatchEvent(new DragEvent("dragover", { dataTransfer: transfer, bubbles: true, cancelable: true }));
            drop.dispatchEvent(new DragEvent("drop", { dataTransfer: transfer, bubbles: true, cancelable: true }));
        }""",
        [base64.b64encode(data).decode(), name, target, media_type],
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
        expect(page.locator("#video-tab")).to_be_visible()
        expect(page.locator("#image-tab")).to_be_hidden()
        assert not errors, errors


def test_video_tab_upload_progress_result_and_download(browser, tmp_path):
    pytest.importorskip("av")
    from web_clips import clip_bytes

    from painterly.video import probe_video

    runner = FakeRunner(video_frame_seconds=0.15)
    with running_server(tmp_path / "data", runner) as base:
        page = browser.new_page(accept_downloads=True)
        errors = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
        page.set_default_timeout(TIMEOUT_MS)
        page.goto(base + "/")
        page.click("#tab-video")
        expect(page.locator("#video-tab")).to_be_visible()
        expect(page.locator("#video-limits")).to_contain_text("30 s")
        expect(page.locator('#video-methods input[value="feedforward"]')).to_be_checked()
        expect(page.locator("#video-model")).to_have_value("toy")
        expect(page.locator("#video-no-model")).to_be_hidden()
        expect(page.locator("#video-style-row")).to_be_hidden()
        page.check('#video-methods input[value="optimize"]')  # tiny sizes only, and a painting
        expect(page.locator("#video-style-row")).to_be_visible()
        expect(page.locator('#video-size option[value="256"]')).to_be_disabled()
        page.check('#video-methods input[value="feedforward"]')

        page.click("#video-run")
        expect(page.locator("#video-form-error")).to_contain_text("choose a clip")
        drop_photo(page, clip_bytes(tmp_path), "clip.mp4", target="video-drop", media_type="video/mp4")
        expect(page.locator("#video-drop-hint")).to_contain_text("clip.mp4")
        page.select_option("#video-size", "128")
        page.fill("#video-consistency", "0.5")
        expect(page.locator("#video-consistency-value")).to_have_text("0.50")
        page.click("#video-run")

        expect(page.locator("#video-progress-text")).to_contain_text(re.compile(r"frame \d+ of 12"))
        expect(page.locator("#video-result")).to_have_attribute("src", BLOB)
        expect(page.locator("#video-message")).to_contain_text("Done: toy, 12 frames")
        page.wait_for_function("document.getElementById('video-result').readyState >= 1")  # the browser reads it
        assert page.evaluate("document.getElementById('video-result').videoWidth") == 128
        with page.expect_download() as download_info:
            page.click("#video-download")
        download = download_info.value
        assert download.suggested_filename.startswith("painterly-") and download.suggested_filename.endswith(".mp4")
        info = probe_video(download.path())
        assert (info.width, info.height, info.frames) == (128, 96, 12)
        kind, style, options = runner.calls[0]
        assert kind == "video" and options.model == "toy" and options.size == 128 and options.consistency == 0.5

        expect(page.locator('#history li button[data-kind="video"]')).to_have_count(1)
        expect(page.locator("#history")).to_contain_text("toy · succeeded")
        page.click("#tab-image")
        page.click('#history li button[data-kind="video"]')  # opens the video tab with the result
        expect(page.locator("#video-tab")).to_be_visible()
        expect(page.locator("#video-result")).to_be_visible()
        page.screenshot(path=str(tmp_path / "video.png"), full_page=True)
        assert not errors, errors


def test_page_asks_for_the_token(browser, tmp_path):
    with running_server(tmp_path / "data", FakeRunner(), token="letmein") as base:
        page = browser.new_page()
        page.set_default_timeout(TIMEOUT_MS)
        page.goto(base + "/")
        expect(page.locator("#token-form")).to_be_visible()
        expect(page.locator('#gallery .tile[data-style="starry-night"]')).to_have_count(0)
        expect(page.locator("#token-error")).to_contain_text("needs an access token")
        page.fill("#token-input", "let-me-out")
        page.click("#token-form button")
        expect(page.locator("#token-error")).to_contain_text("That token was not accepted")
        expect(page.locator("#server-state")).to_have_text("wrong access token")
        page.fill("#token-input", "letmein")
        page.click("#token-form button")
        expect(page.locator("#token-form")).to_be_hidden()
        expect(page.locator('#gallery .tile[data-style="starry-night"] img')).to_have_attribute(
            "src", BLOB)
        assert page.evaluate("sessionStorage.getItem('painterly-token')") == "letmein"


class ShippedModelsRunner(FakeRunner):
    """The fake runner with models like the ones that ship: most named after a built-in painting, one not."""

    def models(self):
        return [ModelInfo("photo2impressionism", "feedforward", "photo2impressionism"),
                ModelInfo("starry-night", "feedforward", "The Starry Night"),
                ModelInfo("the-scream", "feedforward", "The Scream"),
                ModelInfo("toy", "feedforward", "Toy model")]


def test_model_gallery_method_words_and_a_result_at_its_own_size(browser, tmp_path):
    runner = ShippedModelsRunner()
    with running_server(tmp_path / "data", runner) as base:
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.set_default_timeout(TIMEOUT_MS)
        page.goto(base + "/")
        expect(page.locator("#methods small")).to_have_count(2)
        for hint in page.locator("#methods small").all_text_contents():
            assert hint and "--" not in hint  # words for people, no command-line options
        expect(page.locator('#gallery .tile[data-style="the-scream"] img')).to_have_attribute("src", BLOB)
        page.click('#gallery .tile[data-style="the-scream"]')

        page.check('#methods input[value="feedforward"]')  # it ignores the painting: its models take its place
        expect(page.locator("#gallery")).to_be_hidden()
        expect(page.locator("#gallery-note")).to_be_visible()
        expect(page.locator("#gallery-heading")).to_have_text("2. Trained style")
        tiles = page.locator("#model-gallery .tile")
        expect(tiles).to_have_count(4)  # every model, also those without a painting of their name
        assert [tiles.nth(i).get_attribute("data-model") for i in range(4)] == [
            "photo2impressionism", "starry-night", "the-scream", "toy"]
        expect(page.locator('#model-gallery .tile[data-model="starry-night"] img')).to_have_attribute("src", BLOB)
        expect(page.locator('#model-gallery .tile[data-model="toy"]')).to_have_text("Toy model")
        expect(page.locator("#model")).to_have_value("the-scream")  # the painting picked, not the first name
        expect(page.locator('#model-gallery .tile[data-model="the-scream"]')).to_have_class(re.compile("selected"))
        page.click('#model-gallery .tile[data-model="starry-night"]')
        expect(page.locator("#model")).to_have_value("starry-night")
        page.select_option("#model", "toy")
        expect(page.locator('#model-gallery .tile[data-model="toy"]')).to_have_class(re.compile("selected"))

        drop_photo(page, photo_bytes())
        expect(page.locator("#photo-preview")).to_be_visible()
        page.click("#run")
        expect(page.locator("#compare")).to_be_visible()
        style, options = runner.calls[0]
        assert style is None and options.model == "toy"  # no painting sent with a model
        width = page.evaluate("document.getElementById('compare').getBoundingClientRect().width")
        assert width == 64  # the 64 px result at its own size, not enlarged to fill the panel
        expect(page.locator("#job-message")).to_contain_text("Fast model, toy, 64×48 px")

        page.check('#methods input[value="optimize"]')  # back to the paintings, with the last one picked
        expect(page.locator("#gallery")).to_be_visible()
        expect(page.locator("#model-gallery")).to_be_hidden()
        expect(page.locator('#gallery .tile[data-style="starry-night"]')).to_have_class(re.compile("selected"))
        page.click("#tab-video")
        expect(page.locator("#video-model")).to_have_value("starry-night")  # the video's model follows it too


def test_phone_layout(browser, tmp_path):
    with running_server(tmp_path / "data", FakeRunner()) as base:
        page = browser.new_page(viewport={"width": 390, "height": 844}, device_scale_factor=2, is_mobile=True,
                                has_touch=True)
        page.set_default_timeout(TIMEOUT_MS)
        page.goto(base + "/")
        expect(page.locator('#gallery .tile[data-style="starry-night"] img')).to_have_attribute("src", BLOB)
        expect(page.locator("#server-state")).not_to_be_empty()
        drop_photo(page, photo_bytes())
        expect(page.locator("#photo-preview")).to_be_visible()  # the photo is read before Paint is pressed
        page.click('#gallery .tile[data-style="starry-night"]')
        expect(page.locator('#gallery .tile[data-style="starry-night"]')).to_have_class(re.compile("selected"))
        page.click("#run")
        expect(page.locator("#compare")).to_be_visible()
        page.screenshot(path=str(tmp_path / "phone.png"), full_page=True)  # to look at when it fails
        for tab in ("#tab-image", "#tab-video"):
            page.click(tab)
            assert page.evaluate("document.documentElement.scrollWidth") <= 390  # no sideways scrolling
        header = page.evaluate("""() => {
            const top = document.querySelector('.top');
            const style = getComputedStyle(top);
            const title = document.querySelector('.top h1');
            return {height: top.clientHeight - parseFloat(style.paddingTop) - parseFloat(style.paddingBottom),
                    gap: parseFloat(style.rowGap) || 0,
                    tallest: Math.max(...[...top.children].map((child) => child.getBoundingClientRect().height)),
                    title: title.getBoundingClientRect().height,
                    titleLine: parseFloat(getComputedStyle(title).lineHeight) || 0};
        }""")
        assert header["title"] < 1.5 * max(header["titleLine"], 20)  # "Painterly studio" on one line
        assert header["height"] <= 2 * header["tallest"] + header["gap"] + 1  # the header on two lines at most


@contextlib.contextmanager
def other_site():
    """Another web site on a free loopback port serving one page; yields its URL."""
    import http.server

    class Page(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = b"<!doctype html><title>a page elsewhere</title>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Page)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


def test_paint_pressed_before_the_methods_arrive_waits_for_them(browser, tmp_path):
    with running_server(tmp_path / "data", FakeRunner()) as base:
        page = browser.new_page()
        page.set_default_timeout(TIMEOUT_MS)
        held = []
        page.route("**/api/models", lambda route: held.append(route))  # the methods' answer is held back until the press
        page.goto(base + "/")
        expect(page.locator('#gallery .tile[data-style="starry-night"] img')).to_have_attribute("src", BLOB)
        drop_photo(page, photo_bytes())
        expect(page.locator("#photo-preview")).to_be_visible()
        page.click('#gallery .tile[data-style="starry-night"]')
        for _ in range(100):
            if held:
                break
            page.wait_for_timeout(50)
        assert held, "the page asked for the methods"
        expect(page.locator("#methods input")).to_have_count(0)
        page.click("#run")
        held[0].continue_()
        expect(page.locator("#compare")).to_be_visible()
        expect(page.locator("#form-error")).to_have_text("")


def test_another_site_cannot_drive_the_studio(browser, tmp_path):
    import httpx

    gate = threading.Event()  # the first job runs until the end of the test, the second stays queued
    with running_server(tmp_path / "data", FakeRunner(gate=gate)) as base:
        files = {"content": ("photo.png", photo_bytes(), "image/png")}
        with httpx.Client(base_url=base) as client:
            client.post("/api/jobs", files=files, data={"style": "starry-night"})
            queued = client.post("/api/jobs", files=files, data={"style": "starry-night"}).json()

        page = browser.new_page()
        page.set_default_timeout(TIMEOUT_MS)
        with other_site() as elsewhere:  # on loopback too, so the browser's own private-network guard lets it try
            page.goto(elsewhere)
            # requests a page may send to any site without asking it first (no CORS preflight)
            statuses = page.evaluate(
                """async ([base, id]) => {
                    const sent = [];
                    const form = new FormData();
                    const photo = new Blob([new Uint8Array([137, 80, 78, 71])], { type: "image/png" });
                    form.append("content", photo, "x.png");
                    form.append("style", "starry-night");
                    const cancel = base + "/api/jobs/" + id + "/cancel";
                    const requests = [
                        [base + "/api/jobs", { method: "POST", body: form }],
                        [cancel, { method: "POST", body: "x", headers: { "Content-Type": "text/plain" } }],
                        [cancel, { method: "POST" }],
                    ];
                    for (const [url, options] of requests) {
                        const response = await fetch(url, { ...options, mode: "no-cors" });
                        sent.push(response.type);  // opaque: the page learns nothing of the answer
                    }
                    return sent;
                }""",
                [base, queued["id"]],
            )
        assert statuses == ["opaque"] * 3
        with httpx.Client(base_url=base) as client:
            assert client.get(f"/api/jobs/{queued['id']}").json()["status"] == "queued"
            assert client.get("/api/jobs").json()["total"] == 2
        gate.set()
