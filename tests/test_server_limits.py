"""Query budgets, API keys, timeouts and metrics (aggregates public, per-tenant ones for the admin)."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
from fastapi.testclient import TestClient

from server.app import create_app
from server.budget import BudgetExceeded, QueryBudget
from server.settings import ServerSettings
from tests.helpers import AUTH, TOKEN, deploy, predict_body, upload, versioned


def served_client(tmp_path, **settings) -> TestClient:
    client = TestClient(create_app(ServerSettings(store_dir=tmp_path / "store", admin_token=TOKEN, **settings)))
    meta, weights, _ = versioned()
    upload(client, meta, weights)
    deploy(client, meta.version)
    return client


def images(n: int) -> dict:
    return predict_body(np.full((n, 3, 32, 32), 0.5, np.float32))


def test_budget_counts_images_and_answers_429_with_retry_after(tmp_path):
    with served_client(tmp_path, api_keys={"alice": 10, "bob": None}, allow_anonymous=False) as client:
        alice = {"X-API-Key": "alice"}
        r = client.post("/v1/predict", json=images(6), headers=alice)
        assert r.status_code == 200 and r.headers["x-budget-remaining"] == "4"
        r = client.post("/v1/predict", json=images(5), headers=alice)
        assert r.status_code == 429
        assert 1 <= int(r.headers["retry-after"]) <= 3600
        assert "budget of 10 images" in r.json()["detail"]
        assert client.post("/v1/predict", json=images(4), headers=alice).status_code == 200  # nothing was charged
        assert client.post("/v1/predict", json=images(1), headers=alice).status_code == 429
        for _ in range(3):  # bob has no limit
            assert client.post("/v1/predict", json=images(8), headers={"X-API-Key": "bob"}).status_code == 200


def test_invalid_requests_are_not_charged(tmp_path):
    with served_client(tmp_path, api_keys={"alice": 4}) as client:
        bad = predict_body(np.full((4, 3, 32, 32), 2.0, np.float32))
        assert client.post("/v1/predict", json=bad, headers={"X-API-Key": "alice"}).status_code == 422
        assert client.post("/v1/predict", json=images(4), headers={"X-API-Key": "alice"}).status_code == 200


def test_keys_are_checked(tmp_path):
    with served_client(tmp_path, api_keys={"alice": None}, allow_anonymous=False) as client:
        assert client.post("/v1/predict", json=images(1)).status_code == 401
        r = client.post("/v1/predict", json=images(1), headers={"X-API-Key": "mallory"})
        assert r.status_code == 401 and r.json()["detail"] == "unknown API key"
    with served_client(tmp_path, anonymous_budget=2) as client:
        assert client.post("/v1/predict", json=images(2)).status_code == 200
        assert client.post("/v1/predict", json=images(1)).status_code == 429


def test_budget_window_slides_past_a_charge(tmp_path):
    now = [0.0]
    budget = QueryBudget(tmp_path / "budgets.sqlite3", window_s=60, clock=lambda: now[0])
    assert budget.charge("k", 5, 5) == 0
    with pytest.raises(BudgetExceeded) as exc:
        budget.charge("k", 5, 1)
    assert exc.value.retry_after == 60
    now[0] = 59.5
    with pytest.raises(BudgetExceeded) as exc:
        budget.charge("k", 5, 1)
    assert exc.value.retry_after == 1
    now[0] = 60.0
    assert budget.charge("k", 5, 3) == 2
    assert budget.charge("unlimited", None, 10**9) is None


def test_inference_past_the_timeout_is_503(tmp_path):
    with served_client(tmp_path, request_timeout_s=1e-6) as client:
        r = client.post("/v1/predict", json=images(64))
        assert r.status_code == 503 and r.json()["error"] == "timeout"


def test_metrics_count_requests_images_latency_and_version(tmp_path):
    with served_client(tmp_path) as client:
        version = client.get("/v1/model").json()["version"]
        client.post("/v1/predict", json=images(3))
        client.post("/v1/predict", json=images(2))
        client.post("/v1/predict", json={"images": {}})
        text = client.get("/metrics").text
    assert 'uia_requests_total{method="POST",route="/v1/predict",status="200"} 2.0' in text
    assert 'uia_requests_total{method="POST",route="/v1/predict",status="422"} 1.0' in text
    assert 'uia_images_total{route="/v1/predict"} 5.0' in text
    assert 'uia_request_duration_seconds_count{route="/v1/predict"} 3.0' in text
    assert f'uia_model_version_info{{version="{version}"}} 1.0' in text


def test_public_metrics_are_aggregates_and_per_tenant_ones_need_the_admin_token(tmp_path):
    with served_client(tmp_path, api_keys={"alice": None, "bob": 3}) as client:
        alice, bob = {"X-API-Key": "alice"}, {"X-API-Key": "bob"}
        client.post("/v1/predict", json=images(3), headers=alice)
        client.post("/v1/predict", json=images(2), headers=bob)
        assert client.post("/v1/predict", json=images(2), headers=bob).status_code == 429
        public = client.get("/metrics").text
        assert client.get("/admin/metrics").status_code == 401
        assert client.get("/admin/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 403
        private = client.get("/admin/metrics", headers=AUTH).text
    assert 'uia_images_total{route="/v1/predict"} 5.0' in public
    assert "tenant" not in public
    alice_label, bob_label = (f"key-{hashlib.sha256(key).hexdigest()[:12]}" for key in (b"alice", b"bob"))
    assert f'uia_tenant_images_total{{tenant="{alice_label}"}} 3.0' in private
    assert f'uia_tenant_images_total{{tenant="{bob_label}"}} 2.0' in private
    assert f'uia_tenant_budget_refusals_total{{tenant="{bob_label}"}} 1.0' in private
    assert 'uia_images_total{route="/v1/predict"} 5.0' in private  # the aggregates too, for one scrape
    assert "alice" not in private and "bob" not in private  # keys never in clear
