"""The studio's REST API, job queue and safety limits, against a fast fake runner."""

from __future__ import annotations

import contextlib
import io
import sqlite3
import threading
import time

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
from painterly.web.fake import FakeRunner  # noqa: E402
from painterly.web.jobs import JobOptions, JobStore, StylizeRunner  # noqa: E402
from painterly.web.ratelimit import RateLimiter  # noqa: E402
from painterly.web.storage import Storage  # noqa: E402

from conftest import make_gradient_image  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def png_bytes(height: int = 24, width: int = 32, seed: int = 0, image_format: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(make_gradient_image(height, width, seed)).save(buffer, format=image_format)
    return buffer.getvalue()


@contextlib.contextmanager
def studio(tmp_path, runner=None, **settings):
    """A running app (lifespan started) on ``tmp_path/data`` with a fake runner; yields (client, runner)."""
    runner = runner or FakeRunner()
    settings.setdefault("rate_limit_per_minute", 0)
    config = ServerConfig(data_dir=tmp_path / "data", **settings)
    with TestClient(create_app(config, runner=runner)) as client:
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
        for path in ("/api/jobs", "/api/jobs/{job_id}", "/api/jobs/{job_id}/cancel", "/api/jobs/{job_id}/result",
                     "/api/styles", "/api/models", "/api/health"):
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
        ({"model": "toy"}, None, 422, "bad_option"),  # optimize takes no model
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


def test_unknown_job_everywhere(tmp_path):
    with studio(tmp_path) as (client, _):
        missing = "0" * 32
        for method, path in [("get", ""), ("delete", ""), ("post", "/cancel"), ("get", "/result"), ("get", "/preview"),
                             ("get", "/original"), ("get", "/thumbnail")]:
            response = getattr(client, method)(f"/api/jobs/{missing}{path}")
            assert response.status_code == 404 and error_code(response) == "unknown_job", path


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
        job = submit(client).json()
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
    assert result.exit_code == 0 and "without --token" in result.output
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
