"""Deployment options: each defense changes what the server serves, as specified."""

from __future__ import annotations

import numpy as np
import pytest
from fastapi.testclient import TestClient

from server.app import create_app
from server.defenses import harden_outputs, zero_weight_fraction
from server.settings import ServerSettings
from shared.schemas import DeploymentOptions
from tests.helpers import TOKEN, deploy, predict_body, upload, versioned

X = np.random.default_rng(0).random((16, 3, 32, 32), dtype=np.float32)


def make_client(tmp_path, **settings) -> TestClient:
    return TestClient(create_app(ServerSettings(store_dir=tmp_path / "store", admin_token=TOKEN, **settings)))


@pytest.fixture
def client_and_version(tmp_path):
    with make_client(tmp_path) as client:
        meta, weights, _ = versioned(width=8)
        assert upload(client, meta, weights).status_code == 201
        yield client, meta.version


def probabilities(client) -> np.ndarray:
    r = client.post("/v1/predict", json=predict_body(X))
    assert r.status_code == 200, r.text
    return np.array(r.json()["probabilities"])


def test_top_k_leaves_k_non_zero_entries_equal_to_the_plain_ones(client_and_version):
    client, version = client_and_version
    deploy(client, version)
    plain = probabilities(client)
    deploy(client, version, top_k=3)
    top3 = probabilities(client)
    assert ((top3 > 0).sum(1) == 3).all()
    kept = top3 > 0
    assert np.array_equal(top3[kept], plain[kept])
    assert np.array_equal(np.sort(plain, 1)[:, -3:], np.sort(top3, 1)[:, -3:])
    assert client.get("/v1/model").json()["output"] == {"top_k": 3, "decimals": None, "label_only": False}


def test_rounding_and_label_only(client_and_version):
    client, version = client_and_version
    deploy(client, version)
    plain = probabilities(client)
    deploy(client, version, round_decimals=2)
    assert np.array_equal(probabilities(client), np.round(plain, 2))
    deploy(client, version, label_only=True)
    one_hot = probabilities(client)
    assert np.array_equal(one_hot, np.eye(10)[plain.argmax(1)])
    assert client.get("/v1/model").json()["output"]["label_only"] is True


@pytest.mark.parametrize("rate", [0.1, 0.5, 0.9])
def test_pruning_zeroes_the_requested_fraction_of_weights(client_and_version, rate):
    client, version = client_and_version
    deploy(client, version)
    plain = probabilities(client)
    assert deploy(client, version, prune_rate=rate).status_code == 200
    module = client.app.state.uia.deployer.current.module
    assert zero_weight_fraction(module) == pytest.approx(rate, abs=0.002)
    pruned = probabilities(client)
    assert not np.allclose(pruned, plain)
    np.testing.assert_allclose(pruned.sum(1), 1.0)
    # the stored weights are untouched: pruning is a property of the deployment
    deploy(client, version)
    assert np.array_equal(probabilities(client), plain)
    # and the public model info does not disclose it
    assert "prune" not in client.get("/v1/model").text


@pytest.mark.parametrize("options", [{"prune_rate": 1.0}, {"prune_rate": -0.1}, {"top_k": 0},
                                     {"round_decimals": 20}, {"label_only": True, "top_k": 2}, {"unknown": 1}])
def test_invalid_options_are_422_and_change_nothing(client_and_version, options):
    client, version = client_and_version
    deploy(client, version)
    before = probabilities(client)
    r = deploy(client, version, **options)
    assert r.status_code == 422, r.text
    assert np.array_equal(probabilities(client), before)


def test_configured_defenses_apply_to_deployments_without_options(tmp_path):
    with make_client(tmp_path, defenses=DeploymentOptions(top_k=2)) as client:
        meta, weights, _ = versioned()
        upload(client, meta, weights)
        assert deploy(client, meta.version).status_code == 200  # helper sends options={}, i.e. explicit: none
        assert ((probabilities(client) > 0).sum(1) == 10).all()
        r = client.put("/admin/deployment", json={"version": meta.version}, headers={"Authorization": f"Bearer {TOKEN}"})
        assert r.json()["options_from_settings"] is True
        assert ((probabilities(client) > 0).sum(1) == 2).all()
    # after a restart with other configured defenses, such a deployment takes the new ones
    with make_client(tmp_path, defenses=DeploymentOptions(label_only=True)) as client:
        assert client.get("/v1/model").json()["output"]["label_only"] is True


def test_configured_defenses_come_from_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("UIA_SERVER_DEFENSES__TOP_K", "4")
    monkeypatch.setenv("UIA_SERVER_DEFENSES__PRUNE_RATE", "0.25")
    settings = ServerSettings(store_dir=tmp_path)
    assert settings.defenses == DeploymentOptions(top_k=4, prune_rate=0.25)


def test_harden_outputs_handles_ties_and_small_k():
    probs = np.array([[0.25, 0.25, 0.25, 0.25]])
    assert (harden_outputs(probs, DeploymentOptions(top_k=1)) > 0).sum() == 1
    assert np.array_equal(harden_outputs(probs, DeploymentOptions(top_k=10)), probs)
