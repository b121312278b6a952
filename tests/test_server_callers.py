"""Budgets that cannot be dodged: a key out of budget cannot go on anonymously, anonymous clients
are counted per network, and a key named `anonymous` is a tenant like any other."""

from __future__ import annotations

import json

import httpx
import numpy as np
import pytest
from fastapi.testclient import TestClient

from server.app import create_app
from server.callers import client_network
from server.settings import ServerSettings
from tests.conftest import ServerProcess
from tests.helpers import TOKEN, deploy, predict_body, upload, versioned

X = np.full((4, 3, 32, 32), 0.5, np.float32)


def served_app(tmp_path, **settings):
    app = create_app(ServerSettings(store_dir=tmp_path / "store", admin_token=TOKEN, **settings))
    with TestClient(app) as admin:
        meta, weights, _ = versioned()
        upload(admin, meta, weights)
        deploy(admin, meta.version)
    return app


def predict(client, n: int = 1, **headers) -> httpx.Response:
    return client.post("/v1/predict", json=predict_body(X[:n]), headers=headers)


def test_a_key_out_of_budget_cannot_go_on_without_its_key(tmp_path):
    """Anonymous access is on by default; once a key has a budget, it is off unless anonymous
    callers have a budget of their own: dropping the X-API-Key is no way around a 429."""
    app = served_app(tmp_path, api_keys={"alice": 2})
    client = TestClient(app)
    assert predict(client, 2, **{"X-API-Key": "alice"}).status_code == 200
    assert predict(client, 1, **{"X-API-Key": "alice"}).status_code == 429
    r = predict(client, 1)
    assert r.status_code == 401 and "anonymous access is off" in r.json()["detail"], r.text
    assert {} not in client.get("/openapi.json").json()["paths"]["/v1/predict"]["post"]["security"]


def test_anonymous_callers_with_a_budget_are_counted_per_network(tmp_path):
    app = served_app(tmp_path, api_keys={"alice": 2}, anonymous_budget=3)
    here, there = TestClient(app, client=("192.0.2.1", 5000)), TestClient(app, client=("192.0.2.2", 5000))
    assert predict(here, 3).status_code == 200
    assert predict(here, 1).status_code == 429
    r = predict(there, 3)  # another address: its own budget
    assert r.status_code == 200 and r.headers["x-budget-remaining"] == "0"
    assert predict(TestClient(app, client=("192.0.2.1", 6000)), 1).status_code == 429  # another port: the same
    assert predict(here, 2, **{"X-API-Key": "alice"}).status_code == 200  # the key's budget is its own
    assert {} in here.get("/openapi.json").json()["paths"]["/v1/predict"]["post"]["security"]


def test_an_ipv6_client_is_counted_per_slash_64():
    assert client_network("2001:db8:1:2::1") == client_network("2001:db8:1:2:ffff::7") == "2001:db8:1:2::/64"
    assert client_network("2001:db8:1:3::1") != client_network("2001:db8:1:2::1")
    assert client_network("::ffff:192.0.2.1") == client_network("192.0.2.1") == "192.0.2.1"


def test_a_key_named_anonymous_is_a_tenant_not_the_anonymous_budget(tmp_path):
    app = served_app(tmp_path, api_keys={"anonymous": 5}, anonymous_budget=1)
    client = TestClient(app)
    r = predict(client, 4, **{"X-API-Key": "anonymous"})
    assert r.status_code == 200 and r.headers["x-budget-remaining"] == "1"
    r = predict(client, 1)  # an anonymous caller: the anonymous budget, untouched by the key
    assert r.status_code == 200 and r.headers["x-budget-remaining"] == "0"
    assert predict(client, 1, **{"X-API-Key": "anonymous"}).headers["x-budget-remaining"] == "0"
    assert predict(client, 1).status_code == 429


def test_without_keys_anonymous_callers_are_served_without_limit(tmp_path):
    client = TestClient(served_app(tmp_path))
    for _ in range(3):
        r = predict(client, 4)
        assert r.status_code == 200 and "x-budget-remaining" not in r.headers


@pytest.mark.slow
def test_a_client_cannot_choose_the_address_it_is_counted_under(tmp_path):
    """uvicorn would take X-Forwarded-For from a loopback client: the server runs without proxy
    headers, so rotating the header buys no fresh anonymous budget."""
    server = ServerProcess(tmp_path / "store", extra_env={"UIA_SERVER_API_KEYS": json.dumps({"alice": 10}),
                                                          "UIA_SERVER_ANONYMOUS_BUDGET": "2"}).start()
    try:
        meta, weights, _ = versioned()
        with server.admin() as admin:
            upload(admin, meta, weights)
            deploy(admin, meta.version)
        with httpx.Client(base_url=server.url, timeout=60) as http:
            statuses = [http.post("/v1/predict", json=predict_body(X[:1]),
                                  headers={"X-Forwarded-For": f"203.0.113.{i}"}).status_code for i in range(4)]
    finally:
        server.stop()
    assert statuses == [200, 200, 429, 429]
