"""The server's HTTP contract, in process (FastAPI TestClient)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from fastapi.testclient import TestClient

from server.app import create_app
from server.settings import ServerSettings
from tests.helpers import AUTH, TOKEN, deploy, predict_body, upload, versioned


@pytest.fixture
def app_client(tmp_path):
    settings = ServerSettings(store_dir=tmp_path / "store", admin_token=TOKEN, max_images_per_request=64,
                              max_body_bytes=2**20)
    with TestClient(create_app(settings)) as client:
        yield client


@pytest.fixture
def deployed(app_client):
    meta, weights, model = versioned()
    assert upload(app_client, meta, weights).status_code == 201
    assert deploy(app_client, meta.version).status_code == 200
    return app_client, meta, model


def test_not_ready_until_a_model_is_deployed(app_client):
    assert app_client.get("/healthz").json() == {"status": "ok"}
    assert app_client.get("/readyz").status_code == 503
    r = app_client.post("/v1/predict", json=predict_body(np.zeros((1, 3, 32, 32), np.float32)))
    assert r.status_code == 503 and r.json()["error"] == "no_model"


def test_predict_returns_probabilities_of_the_named_version(deployed):
    client, meta, model = deployed
    x = np.random.default_rng(0).random((5, 3, 32, 32), dtype=np.float32)
    r = client.post("/v1/predict", json=predict_body(x))
    assert r.status_code == 200
    body = r.json()
    assert set(body) == {"version", "probabilities"} and body["version"] == meta.version
    probs = np.array(body["probabilities"])
    assert probs.shape == (5, 10)
    np.testing.assert_allclose(probs.sum(1), 1.0, atol=1e-12)
    with torch.inference_mode():
        expected = torch.softmax(model(torch.from_numpy(x)).double(), 1).numpy()
    np.testing.assert_allclose(probs, expected, rtol=1e-5, atol=1e-7)
    assert client.get("/readyz").json()["version"] == meta.version


def test_json_and_binary_encodings_agree(deployed):
    client, _, _ = deployed
    x = np.random.default_rng(1).random((2, 3, 32, 32), dtype=np.float32)
    binary = client.post("/v1/predict", json=predict_body(x)).json()
    plain = client.post("/v1/predict", json={"images": {"encoding": "json", "data": x.tolist()}}).json()
    assert binary == plain


def test_model_info_is_public_metadata_only(deployed):
    client, meta, _ = deployed
    info = client.get("/v1/model").json()
    assert info == {"version": meta.version, "input_shape": [3, 32, 32], "classes": meta.classes,
                    "value_range": [0.0, 1.0], "output": {"top_k": None, "decimals": None, "label_only": False}}


def test_binary_request_and_response_carry_the_same_numbers(deployed):
    client, meta, _ = deployed
    x = np.random.default_rng(2).random((3, 3, 32, 32), dtype=np.float32)
    as_json = np.array(client.post("/v1/predict", json=predict_body(x)).json()["probabilities"])
    r = client.post("/v1/predict", content=x.astype("<f4").tobytes(),
                    headers={"content-type": "application/octet-stream", "x-batch-shape": "3,3,32,32",
                             "accept": "application/octet-stream"})
    assert r.status_code == 200 and r.headers["content-type"] == "application/octet-stream"
    assert r.headers["x-model-version"] == meta.version and r.headers["x-batch-shape"] == "3,10"
    assert np.array_equal(np.frombuffer(r.content, "<f8").reshape(3, 10), as_json)


@pytest.mark.parametrize("headers, body, status, words", [
    ({"content-type": "application/octet-stream"}, b"\0" * 12288, 422, "X-Batch-Shape"),
    ({"content-type": "application/octet-stream", "x-batch-shape": "1,3,32"}, b"\0" * 12288, 422, "four"),
    ({"content-type": "application/octet-stream", "x-batch-shape": "a,b,c,d"}, b"", 422, "integers"),
    ({"content-type": "application/octet-stream", "x-batch-shape": "2,3,32,32"}, b"\0" * 12288, 422, "bytes"),
    ({"content-type": "text/plain"}, b"hello", 415, "content type"),
])
def test_bad_binary_requests_are_refused(deployed, headers, body, status, words):
    client, _, _ = deployed
    r = client.post("/v1/predict", content=body, headers=headers)
    assert r.status_code == status and words in r.json()["detail"]


def _batch(n=1, shape=(3, 32, 32), fill=0.5):
    return np.full((n, *shape), fill, np.float32)


@pytest.mark.parametrize("body, status, words", [
    (predict_body(_batch(shape=(3, 16, 16))), 422, "shape"),
    (predict_body(_batch(shape=(1, 32, 32))), 422, "shape"),
    (predict_body(_batch(fill=1.5)), 422, "[0, 1]"),
    (predict_body(_batch(fill=-0.1)), 422, "[0, 1]"),
    (predict_body(_batch(fill=np.nan)), 422, "NaN"),
    (predict_body(_batch(fill=np.inf)), 422, "[0, 1]"),
    ({"images": {"encoding": "float32-base64", "shape": [0, 3, 32, 32], "data": ""}}, 422, "greater than or equal to 1"),
    ({"images": {"encoding": "json", "data": []}}, 422, "4 dimensions"),
    (predict_body(_batch(n=65)), 413, "limit"),
    ({"images": {"encoding": "float32-base64", "shape": [1, 3, 32, 32], "data": "abc"}}, 422, "base64"),
    ({"images": {"encoding": "float32-base64", "shape": [2, 3, 32, 32], "data": "AAAA"}}, 422, "bytes"),
    ({"images": {"encoding": "float16", "data": "AAAA"}}, 422, "encoding"),
    ({"images": {"encoding": "json", "data": [[[[0.1, 0.2]], [[0.3]]]]}}, 422, "one shape"),
    ({"images": {"encoding": "json", "data": [[[["x"]]]]}}, 422, "valid number"),
    ({"pictures": []}, 422, "images"),
])
def test_bad_predict_input_is_a_4xx_that_says_what_is_wrong(deployed, body, status, words):
    client, _, _ = deployed
    r = client.post("/v1/predict", json=body)
    assert r.status_code == status, r.text
    assert set(r.json()) == {"error", "detail"}
    assert words in r.json()["detail"]


def test_oversized_body_is_413_before_parsing(deployed):
    client, _, _ = deployed
    r = client.post("/v1/predict", content=b"{" + b" " * (2**20 + 10) + b"}",
                    headers={"content-type": "application/json"})
    assert r.status_code == 413 and r.json()["error"] == "payload_too_large"


def test_malformed_json_is_422(deployed):
    client, _, _ = deployed
    r = client.post("/v1/predict", content=b"{not json", headers={"content-type": "application/json"})
    assert r.status_code == 422


@pytest.mark.parametrize("headers, status", [({}, 401), ({"Authorization": "Bearer wrong"}, 403),
                                             ({"Authorization": "Basic dGVzdA=="}, 401)])
def test_admin_routes_need_the_token(app_client, headers, status):
    meta, weights, _ = versioned()
    assert upload(app_client, meta, weights, headers=headers).status_code == status
    assert app_client.get("/admin/models", headers=headers).status_code == status
    assert deploy(app_client, meta.version, headers=headers).status_code == status
    assert app_client.get("/admin/models", headers=AUTH).json() == []


def test_upload_is_idempotent_and_conflicts_are_refused(app_client):
    meta, weights, _ = versioned()
    assert upload(app_client, meta, weights).status_code == 201
    assert upload(app_client, meta, weights).status_code == 200
    _, other_weights, _ = versioned(seed=5)
    r = upload(app_client, meta, other_weights)
    assert r.status_code == 409 and meta.version in r.json()["detail"]
    assert [m["version"] for m in app_client.get("/admin/models", headers=AUTH).json()] == [meta.version]


def test_deploying_an_unknown_version_is_404(app_client):
    r = deploy(app_client, "m-000000000000")
    assert r.status_code == 404 and "upload it first" in r.json()["detail"]
