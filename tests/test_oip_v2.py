"""The Open Inference Protocol v2 routes, in process and through the standard Triton client."""

from __future__ import annotations

import json

import numpy as np
import pytest
from fastapi.testclient import TestClient

from server.app import create_app
from server.settings import ServerSettings
from tests.helpers import TOKEN, deploy, predict_body, upload, versioned

X = np.random.default_rng(0).random((4, 3, 32, 32), dtype=np.float32)


@pytest.fixture
def client(tmp_path):
    with TestClient(create_app(ServerSettings(store_dir=tmp_path / "store", admin_token=TOKEN))) as client:
        assert client.get("/v2/health/ready").status_code == 400
        meta, weights, _ = versioned()
        upload(client, meta, weights)
        deploy(client, meta.version)
        yield client


def v1_probabilities(client) -> np.ndarray:
    return np.array(client.post("/v1/predict", json=predict_body(X)).json()["probabilities"])


def test_metadata_and_health(client):
    version = client.get("/v1/model").json()["version"]
    assert client.get("/v2/health/live").status_code == 200
    assert client.get("/v2/health/ready").status_code == 200
    assert "binary_tensor_data" in client.get("/v2").json()["extensions"]
    meta = client.get("/v2/models/classifier").json()
    assert meta["versions"] == [version]
    assert meta["inputs"] == [{"name": "images", "datatype": "FP32", "shape": [-1, 3, 32, 32]}]
    assert meta["outputs"] == [{"name": "probabilities", "datatype": "FP64", "shape": [-1, 10]}]
    assert client.get(f"/v2/models/classifier/versions/{version}/ready").status_code == 200
    assert client.get("/v2/models/classifier/versions/other/ready").status_code == 404
    r = client.get("/v2/models/resnet")
    assert r.status_code == 404 and r.json() == {"error": "unknown model 'resnet'; this server serves 'classifier'"}


@pytest.mark.parametrize("nested", [False, True])
def test_json_inference_matches_v1(client, nested):
    data = X.tolist() if nested else X.reshape(-1).tolist()
    body = {"id": "r1", "inputs": [{"name": "images", "shape": list(X.shape), "datatype": "FP32", "data": data}]}
    r = client.post("/v2/models/classifier/infer", json=body)
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["model_name"] == "classifier" and out["id"] == "r1"
    assert out["model_version"] == client.get("/v1/model").json()["version"]
    [output] = out["outputs"]
    assert output["name"] == "probabilities" and output["shape"] == [4, 10] and output["datatype"] == "FP64"
    assert np.array_equal(np.array(output["data"]).reshape(4, 10), v1_probabilities(client))


def test_binary_extension_in_and_out(client):
    header = json.dumps({"inputs": [{"name": "images", "shape": list(X.shape), "datatype": "FP32",
                                     "parameters": {"binary_data_size": X.nbytes}}],
                         "outputs": [{"name": "probabilities", "parameters": {"binary_data": True}}]}).encode()
    r = client.post("/v2/models/classifier/infer", content=header + X.astype("<f4").tobytes(),
                    headers={"Inference-Header-Content-Length": str(len(header)),
                             "content-type": "application/octet-stream"})
    assert r.status_code == 200, r.text
    n = int(r.headers["inference-header-content-length"])
    head = json.loads(r.content[:n])
    assert head["outputs"][0]["parameters"] == {"binary_data_size": 4 * 10 * 8}
    probs = np.frombuffer(r.content[n:], "<f8").reshape(4, 10)
    assert np.array_equal(probs, v1_probabilities(client))


@pytest.mark.parametrize("body, status, words", [
    ({"inputs": [{"name": "images", "shape": [1, 3, 32, 32], "datatype": "FP16", "data": [0.0] * 3072}]}, 400, "FP32"),
    ({"inputs": [{"name": "images", "shape": [1, 3, 32, 32], "datatype": "FP32", "data": [0.0] * 10}]}, 400, "needs"),
    ({"inputs": [{"name": "images", "shape": [1, 3, 32, 32], "datatype": "FP32", "data": [2.0] * 3072}]}, 422, "[0, 1]"),
    ({"inputs": [{"name": "images", "shape": [1, 3, 16, 16], "datatype": "FP32", "data": [0.0] * 768}]}, 422, "shape"),
    ({"inputs": [{"name": "images", "shape": [1, 3, 32, 32], "datatype": "FP32"}]}, 400, "neither"),
    ({"inputs": [{"name": "images", "shape": [1, 3, 32, 32], "datatype": "FP32", "data": [0.0] * 3072}],
      "outputs": [{"name": "logits"}]}, 400, "unknown output"),
    ({"inputs": []}, 400, "inputs"),
])
def test_bad_requests_get_protocol_errors(client, body, status, words):
    r = client.post("/v2/models/classifier/infer", json=body)
    assert r.status_code == status, r.text
    assert list(r.json()) == ["error"] and words in r.json()["error"]


def test_standard_triton_client_works_unmodified(server_process):
    httpclient = pytest.importorskip("tritonclient.http")
    meta, weights, _ = versioned()
    with server_process.admin() as admin:
        upload(admin, meta, weights)
        deploy(admin, meta.version)
    url = server_process.url.removeprefix("http://")
    triton = httpclient.InferenceServerClient(url=url)
    assert triton.is_server_live() and triton.is_server_ready() and triton.is_model_ready("classifier")
    assert triton.get_model_metadata("classifier")["versions"] == [meta.version]
    reference = None
    for binary in (False, True):
        tensor = httpclient.InferInput("images", list(X.shape), "FP32")
        tensor.set_data_from_numpy(X, binary_data=binary)
        wanted = httpclient.InferRequestedOutput("probabilities", binary_data=binary)
        result = triton.infer("classifier", [tensor], outputs=[wanted])
        probs = result.as_numpy("probabilities")
        assert probs.shape == (4, 10) and probs.dtype == np.float64
        np.testing.assert_allclose(probs.sum(1), 1.0)
        reference = probs if reference is None else reference
        assert np.array_equal(probs, reference)
    triton.close()
