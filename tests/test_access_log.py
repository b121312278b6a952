"""Healthcheck polls stay out of the access log: the real server process, its real uvicorn log."""

from __future__ import annotations

import subprocess
import sys
import time

import httpx
import pytest

from devtools.processes import ROOT, free_port, stop_process

pytestmark = pytest.mark.slow


def test_successful_healthz_polls_are_not_logged_but_other_requests_are(tmp_path):
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "server", "serve", "--port", str(port), "--store-dir",
                             str(tmp_path / "store"), "--log-level", "info"], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)  # uvicorn's access log is on stdout
    try:
        url = f"http://127.0.0.1:{port}"
        for _ in range(600):
            try:
                httpx.get(f"{url}/healthz", timeout=1).raise_for_status()
                break
            except httpx.HTTPError:
                assert proc.poll() is None, "the server exited during start-up"
                time.sleep(0.1)
        for _ in range(5):
            assert httpx.get(f"{url}/healthz").status_code == 200
        assert httpx.get(f"{url}/readyz").status_code == 503  # no model yet: logged
    finally:
        stop_process(proc)
    log = proc.stdout.read()
    assert "GET /readyz" in log, log
    assert "/healthz" not in log, log
