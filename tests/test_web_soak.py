"""The soak of ``scripts/load_test.py``, small: the real server in a child process, killed (SIGKILL) once
while four clients submit 60 jobs, then started again; every accepted job must end succeeded or failed
with a reason, none lost, no orphan file left."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("fastapi", reason="the web studio needs fastapi")
pytest.importorskip("uvicorn", reason="the web studio needs uvicorn")
pytest.importorskip("multipart", reason="the web studio needs python-multipart")
pytest.importorskip("httpx", reason="the load test needs httpx")

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.skipif(not hasattr(os, "kill") or sys.platform == "win32", reason="needs SIGKILL")
def test_a_killed_server_loses_no_job_and_leaves_no_file():
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    result = subprocess.run([sys.executable, str(ROOT / "scripts" / "load_test.py"), "--soak", "--jobs", "60",
                             "--clients", "4", "--kills", "1", "--timeout", "90"],
                            capture_output=True, text=True, timeout=150, env=environment)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "killed (SIGKILL) 1 times" in result.stdout and "accepted 60;" in result.stdout
    assert "OK: every accepted job ended succeeded or failed with a reason" in result.stdout


def test_the_soak_check_finds_lost_jobs_unfinished_jobs_and_orphan_files(tmp_path):
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        import load_test
    finally:
        sys.path.remove(str(ROOT / "scripts"))
    from painterly.web.jobs import JobOptions, JobStore
    from painterly.web.storage import Storage

    storage = Storage(tmp_path / "data")
    store = JobStore(storage.database_path)
    (storage.root / "uploads" / "photo.png").write_bytes(b"x")
    queued = store.create(JobOptions(), "photo.png", "starry-night", None)
    store.close()
    (storage.root / "uploads" / "orphan.png").write_bytes(b"x")
    report = load_test.check_data_dir(storage.root, [queued.id, "f" * 32])
    assert report["statuses"] == {"queued": 1}
    problems = " | ".join(report["problems"])
    assert "1 accepted jobs are lost" in problems and "ended queued" in problems
    assert "files no job names" in problems and "uploads/orphan.png" in problems and "uploads/photo.png" not in problems
