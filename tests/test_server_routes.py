"""Every route, walked: nothing but probabilities and public metadata leaves the server.
And bad uploads change nothing."""

from __future__ import annotations

import io
import json
import pickle

import numpy as np
import pytest
import torch
from fastapi.testclient import TestClient
from safetensors.torch import save as save_safetensors

from server.app import create_app
from server.settings import ServerSettings
from shared.artifacts import weights_to_bytes
from tests.conftest import make_meta, make_model
from tests.helpers import AUTH, TOKEN, deploy, predict_body, upload, versioned

X = np.random.default_rng(0).random((3, 3, 32, 32), dtype=np.float32)


@pytest.fixture
def served(tmp_path):
    with TestClient(create_app(ServerSettings(store_dir=tmp_path / "store", admin_token=TOKEN))) as client:
        meta, weights, model = versioned()
        upload(client, meta, weights)
        deploy(client, meta.version)
        yield client, meta, model, tmp_path / "store"


def numbers(value) -> list[float]:
    if isinstance(value, bool):
        return []
    if isinstance(value, (int, float)):
        return [float(value)]
    if isinstance(value, dict):
        return [x for v in value.values() for x in numbers(v)]
    if isinstance(value, list):
        return [x for v in value for x in numbers(v)]
    return []


def numeric_lists(value):
    """Every list of numbers anywhere in a JSON value."""
    if isinstance(value, dict):
        for v in value.values():
            yield from numeric_lists(v)
    elif isinstance(value, list):
        if value and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value):
            yield value
        for v in value:
            yield from numeric_lists(v)


def documented_operations(client) -> list[tuple[str, str]]:
    """(path template, method) of every operation of the served OpenAPI schema: the public surface.
    (Walking `app.routes` would not do: included routers are not flattened there.)"""
    paths = client.get("/openapi.json").json()["paths"]
    return [(path, method.upper()) for path, operations in paths.items() for method in operations]


def call(client, template: str, method: str, meta) -> object:
    path = template.replace("{name}", "classifier").replace("{version}", meta.version)
    if path == "/v1/predict":
        return client.post(path, json=predict_body(X))
    if path.endswith("/infer"):
        return client.post(path, json={"inputs": [{"name": "images", "shape": list(X.shape), "datatype": "FP32",
                                                   "data": X.reshape(-1).tolist()}]})
    if path == "/admin/models" and method == "POST":
        other, weights, _ = versioned(seed=9)
        return upload(client, other, weights)
    if path == "/admin/deployment" and method == "PUT":
        return deploy(client, meta.version)
    return client.request(method, path, headers=AUTH)


def test_no_route_returns_weights_logits_or_gradients(served):
    client, meta, model, _ = served
    with torch.inference_mode():
        logits = model(torch.from_numpy(X)).numpy().astype(np.float64)
    secrets = np.concatenate([p.detach().numpy().ravel() for p in model.state_dict().values()
                              if p.is_floating_point()] + [logits.ravel()])
    # 0 and +-1 appear in any JSON (value_range, a one-hot answer) and as initial BatchNorm weights
    secrets = secrets[(np.abs(secrets) > 1e-3) & (np.abs(np.abs(secrets) - 1) > 1e-6)]
    operations = documented_operations(client)
    assert len(operations) >= 17 and ("POST", "/v1/predict") in {(m, p) for p, m in operations}
    visited = set()
    for template, method in operations:
        r = call(client, template, method, meta)
        assert r.status_code < 400, f"{method} {template}: {r.status_code} {r.text[:200]}"
        visited.add((template, method))
        if template in ("/metrics", "/admin/metrics"):
            assert "uia_requests_total" in r.text
            continue
        assert r.headers["content-type"].startswith("application/json"), template
        body = r.json()
        for values in numeric_lists(body):
            if len(values) == len(meta.classes) or len(values) == 3 * len(meta.classes):
                rows = np.array(values).reshape(-1, len(meta.classes))
                assert (rows >= 0).all() and np.allclose(rows.sum(1), 1.0), f"{template}: not probabilities"
            else:
                assert len(values) <= 4, f"{template} returns a numeric array of length {len(values)}"
        found = np.array(numbers(body))
        if found.size:
            leaked = np.isin(np.float32(found), np.float32(secrets))
            assert not leaked.any(), f"{template} returns weight or logit values {found[leaked][:3]}"
    assert visited == set(operations)


def _files(metadata: bytes | None, weights: bytes | None) -> dict:
    files = {}
    if metadata is not None:
        files["metadata"] = ("metadata.json", metadata, "application/json")
    if weights is not None:
        files["weights"] = ("model.safetensors", weights, "application/octet-stream")
    return files


def _bad_uploads():
    meta, weights, model = versioned(seed=3)
    state = model.state_dict()
    buffer = io.BytesIO()
    torch.save(state, buffer)
    wrong = {k: (torch.zeros(2, 2) if k == "network.0.weight" else v) for k, v in state.items()}
    unknown = meta.model_dump(mode="json")
    unknown["architecture"] = {"name": "resnet18", "width": 64}
    other_width = make_meta(version=meta.version, width=16)
    good_meta = meta.model_dump_json().encode()
    return {
        "truncated weights": (good_meta, weights[: len(weights) // 3], 422),
        "torch.save pickle": (good_meta, buffer.getvalue(), 422),
        "plain pickle": (good_meta, pickle.dumps(state), 422),
        "wrong shapes": (good_meta, save_safetensors(wrong), 422),
        "weights of another width": (other_width.model_dump_json().encode(), weights, 422),
        "unknown architecture": (json.dumps(unknown).encode(), weights, 422),
        "metadata not json": (b"{version: 1", weights, 422),
        "metadata missing fields": (b'{"version": "m-1"}', weights, 422),
        "missing metadata": (None, weights, 422),
        "missing weights": (good_meta, None, 422),
        "path in version": (meta.model_copy(update={"version": "a"}).model_dump_json().replace(
            '"version":"a"', '"version":"../evil"').encode(), weights, 422),
        "non-finite weights": (good_meta, save_safetensors(
            {k: (v.clone().fill_(float("inf")) if k == "network.0.weight" else v) for k, v in state.items()}), 422),
    }


@pytest.mark.parametrize("case", list(_bad_uploads()))
def test_bad_uploads_are_refused_and_change_nothing(served, case):
    client, meta, _, store = served
    metadata, weights, status = _bad_uploads()[case]
    before = client.post("/v1/predict", json=predict_body(X)).json()
    r = client.post("/admin/models", files=_files(metadata, weights), headers=AUTH)
    assert r.status_code == status, r.text
    assert r.json()["detail"]
    assert client.post("/v1/predict", json=predict_body(X)).json() == before
    assert sorted(p.name for p in (store / "versions").iterdir()) == [meta.version]
    # beside the versions, the store holds only the deployment record and the budget database
    assert sorted(p.name for p in store.iterdir() if not p.name.startswith("budgets.sqlite3")) == \
        ["deployment.json", "versions"]


def test_upload_of_the_paper_convnet_round_trips(served):
    client, _, _, _ = served
    meta = make_meta(version="convnet-tiny", arch="convnet", width=2)
    model = make_model(meta)
    assert upload(client, meta, weights_to_bytes(model)).status_code == 201
    assert deploy(client, meta.version).status_code == 200
    probs = np.array(client.post("/v1/predict", json=predict_body(X)).json()["probabilities"])
    with torch.inference_mode():
        expected = torch.softmax(model(torch.from_numpy(X)).double(), 1).numpy()
    np.testing.assert_allclose(probs, expected, rtol=1e-5, atol=1e-8)
