"""The server as a real process: hot swaps under concurrent load, and restarts."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import httpx
import numpy as np
import pytest
import torch

from server.serving import build_serving_model
from shared.schemas import DeploymentOptions
from tests.conftest import ServerProcess
from tests.helpers import deploy, predict_body, upload, versioned

pytestmark = pytest.mark.slow

X = np.random.default_rng(0).random((8, 3, 32, 32), dtype=np.float32)


def expected_outputs(model, meta) -> np.ndarray:
    """What the server must answer for X: the same serving path, in this process, one thread."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return build_serving_model(model, meta, DeploymentOptions(), torch.device("cpu")).predict(X)
    finally:
        torch.set_num_threads(threads)


def test_hot_swap_under_load_never_mixes_versions(server_process):
    versions = [versioned(seed=s) for s in range(3)]
    expected = {meta.version: expected_outputs(model, meta) for meta, _, model in versions}
    with server_process.admin() as admin:
        for meta, weights, _ in versions:
            assert upload(admin, meta, weights).status_code == 201
        deploy(admin, versions[0][0].version)

    stop = threading.Event()
    body = predict_body(X)
    seen: list[str] = []  # versions in answer order, all clients together

    def client_loop(_: int) -> tuple[int, dict, list]:
        answered, errors, mismatches = 0, {}, []
        with httpx.Client(base_url=server_process.url, timeout=60) as http:
            while not stop.is_set() or answered == 0:
                r = http.post("/v1/predict", json=body)
                if r.status_code != 200:
                    errors[r.status_code] = errors.get(r.status_code, 0) + 1
                    continue
                answer = r.json()
                if not np.array_equal(np.array(answer["probabilities"]), expected[answer["version"]]):
                    mismatches.append(answer["version"])
                seen.append(answer["version"])
                answered += 1
        return answered, errors, mismatches

    def wait_for_answers(n: int) -> None:
        target = len(seen) + n
        while len(seen) < target:
            stop.wait(0.01)

    with ThreadPoolExecutor(32) as pool:
        futures = [pool.submit(client_loop, i) for i in range(32)]
        with server_process.admin() as admin:
            for swap in range(6):
                wait_for_answers(48)  # the swap lands while requests are in flight
                r = deploy(admin, versions[(swap + 1) % 3][0].version)
                assert r.status_code == 200, r.text
            wait_for_answers(48)
        stop.set()
        results = [f.result() for f in futures]
    assert [r[1] for r in results if r[1]] == []
    assert [r[2] for r in results if r[2]] == []
    assert all(r[0] > 0 for r in results)
    switches = sum(a != b for a, b in zip(seen, seen[1:]))
    assert set(seen) == set(expected) and switches >= 6


def test_restart_serves_the_same_version_bit_for_bit(tmp_path):
    server = ServerProcess(tmp_path / "store").start()
    meta, weights, _ = versioned(seed=4)
    try:
        with server.admin() as admin:
            upload(admin, meta, weights)
            deploy(admin, meta.version, top_k=5)
        before = httpx.post(f"{server.url}/v1/predict", json=predict_body(X)).json()
    finally:
        server.stop()
    server = ServerProcess(tmp_path / "store").start()
    try:
        after = httpx.post(f"{server.url}/v1/predict", json=predict_body(X)).json()
        info = httpx.get(f"{server.url}/v1/model").json()
    finally:
        server.stop()
    assert after["version"] == before["version"] == meta.version
    assert after["probabilities"] == before["probabilities"]
    assert info["output"]["top_k"] == 5
