"""Output defenses (top-k, rounding, label-only) hold on every inference path: /v1/predict in JSON
and in binary, /v2 in JSON and with Triton's binary tensor extension, and shared memory. No path
is a way around the deployment's defenses."""

from __future__ import annotations

import json
import os
import uuid

import numpy as np
import pytest
from fastapi.testclient import TestClient

from server.app import create_app
from server.settings import ServerSettings
from tests.helpers import TOKEN, deploy, predict_body, upload, versioned

shm = pytest.importorskip("tritonclient.utils.shared_memory")

X = np.random.default_rng(5).random((6, 3, 32, 32), dtype=np.float32)
N, CLASSES = len(X), 10
INFER = "/v2/models/classifier/infer"


def v1_json(client) -> np.ndarray:
    r = client.post("/v1/predict", json=predict_body(X))
    assert r.status_code == 200, r.text
    return np.array(r.json()["probabilities"])


def v1_binary(client) -> np.ndarray:
    r = client.post("/v1/predict", content=X.tobytes(), headers={
        "content-type": "application/octet-stream", "x-batch-shape": "6,3,32,32", "accept": "application/octet-stream"})
    assert r.status_code == 200, r.text
    return np.frombuffer(r.content, "<f8").reshape(N, CLASSES)


def v2_json(client) -> np.ndarray:
    r = client.post(INFER, json={"inputs": [{"name": "images", "shape": list(X.shape), "datatype": "FP32",
                                             "data": X.ravel().tolist()}]})
    assert r.status_code == 200, r.text
    return np.array(r.json()["outputs"][0]["data"]).reshape(N, CLASSES)


def v2_binary(client) -> np.ndarray:
    header = json.dumps({"inputs": [{"name": "images", "shape": list(X.shape), "datatype": "FP32",
                                     "parameters": {"binary_data_size": X.nbytes}}],
                         "outputs": [{"name": "probabilities", "parameters": {"binary_data": True}}]}).encode()
    r = client.post(INFER, content=header + X.tobytes(), headers={"Inference-Header-Content-Length": str(len(header))})
    assert r.status_code == 200, r.text
    return np.frombuffer(r.content[int(r.headers["inference-header-content-length"]):], "<f8").reshape(N, CLASSES)


@pytest.fixture
def shared_memory(served):
    """Inference through a pair of registered regions, in the key's namespace."""
    client, _ = served
    prefix = client.get("/v2/systemsharedmemory/namespace").json()["prefix"]
    handles = []
    for part, size in (("in", X.nbytes), ("out", N * CLASSES * 8)):
        key = f"/{prefix}uia-test-{os.getpid()}-{uuid.uuid4().hex[:8]}-{part}"
        handles.append(shm.create_shared_memory_region(key.strip("/"), key, size))
        r = client.post(f"/v2/systemsharedmemory/region/{part}/register", json={"key": key, "byte_size": size})
        assert r.status_code == 200, r.text
    shm.set_shared_memory_region(handles[0], [X])

    def infer(client) -> np.ndarray:
        r = client.post(INFER, json={
            "inputs": [{"name": "images", "shape": list(X.shape), "datatype": "FP32",
                        "parameters": {"shared_memory_region": "in", "shared_memory_byte_size": X.nbytes}}],
            "outputs": [{"name": "probabilities", "parameters": {"shared_memory_region": "out",
                                                                 "shared_memory_byte_size": N * CLASSES * 8}}]})
        assert r.status_code == 200 and "data" not in r.json()["outputs"][0], r.text
        return shm.get_contents_as_numpy(handles[1], np.float64, [N, CLASSES]).copy()

    yield infer
    for handle in handles:
        shm.destroy_shared_memory_region(handle)


@pytest.fixture
def served(tmp_path):
    """A client with an API key (shared memory needs one), and the uploaded version."""
    settings = ServerSettings(store_dir=tmp_path / "store", admin_token=TOKEN, allow_shared_memory=True,
                              api_keys={"k": None})
    with TestClient(create_app(settings)) as client:
        client.headers["X-API-Key"] = "k"
        meta, weights, _ = versioned(width=8)
        upload(client, meta, weights)
        yield client, meta.version


def defended(plain: np.ndarray, options: dict) -> np.ndarray:
    """What the defense must leave of `plain`, written out here, not taken from the server."""
    if options.get("label_only"):
        return np.eye(CLASSES)[plain.argmax(1)]
    if "round_decimals" in options:
        return np.round(plain, options["round_decimals"])
    out = plain.copy()
    for row, keep in zip(out, np.argsort(-plain, axis=1, kind="stable")[:, :options["top_k"]]):
        row[np.setdiff1d(np.arange(CLASSES), keep)] = 0.0
    return out


@pytest.mark.parametrize("options", [{"top_k": 3}, {"round_decimals": 2}, {"label_only": True}])
def test_every_inference_path_answers_with_the_defense_applied(served, shared_memory, options):
    client, version = served
    deploy(client, version)
    plain = v1_json(client)
    assert deploy(client, version, **options).status_code == 200
    expected = defended(plain, options)
    assert not np.array_equal(expected, plain)  # the defense changes something to check
    for path in (v1_json, v1_binary, v2_json, v2_binary, shared_memory):
        answer = path(client)
        assert np.array_equal(answer, expected), f"{getattr(path, '__name__', 'shared memory')}: {answer[0]}"
