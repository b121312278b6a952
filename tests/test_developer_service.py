"""The developer's deletion-request service, with a real inference server to deploy to."""

from __future__ import annotations

import json
import time

import httpx
import pytest
from fastapi.testclient import TestClient

from developer.__main__ import main as developer_main
from developer.__main__ import wait_for
from developer.requests_store import RequestStore, StoreInUse
from developer.service import create_app
from developer.settings import DeveloperSettings

pytestmark = pytest.mark.slow

TINY = dict(train_limit=3000, test_limit=300, pretrain_epochs=1, width=4, threads=2)
TOKEN = "dev-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def settings(tmp_path, server) -> DeveloperSettings:
    return DeveloperSettings(workdir=tmp_path / "dev", api_token=TOKEN, server_url=server.url,
                             server_token=server.token, **TINY)


def wait_done(client: TestClient, request_id: str, timeout: float = 120) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = client.get(f"/deletion-requests/{request_id}", headers=AUTH).json()
        if status["state"] in ("deployed", "failed"):
            return status
        time.sleep(0.2)
    raise TimeoutError(status)


def served_version(server) -> str:
    return httpx.get(f"{server.url}/v1/model").json()["version"]


def started(client: TestClient) -> dict:
    """/healthz once the worker's start-up (deploying the original, or resuming) is over."""
    assert client.app.state.worker.ready.wait(timeout=120), "the worker did not finish starting"
    health = client.get("/healthz").json()
    assert health["startup_error"] is None, health
    return health


def test_deletion_requests_are_unlearned_in_order_and_deployed(tmp_path, server_process):
    with TestClient(create_app(settings(tmp_path, server_process))) as client:
        first = client.post("/deletion-requests", json={"classes": [{"class": "cat", "proportion": 0.5},
                                                                    {"class": 1, "proportion": 0.2}]}, headers=AUTH)
        assert first.status_code == 202 and first.json()["state"] == "queued"
        second = client.post("/deletion-requests", json={"classes": [{"class": "cat", "proportion": 0.5}]},
                             headers=AUTH)
        third = client.post("/deletion-requests", json={"classes": [{"class": "dog", "proportion": 1.0}],
                                                        "unlearning": {"method": "approximate"}}, headers=AUTH)
        done = [wait_done(client, r.json()["id"]) for r in (first, second, third)]
        health = client.get("/healthz").json()
    assert [d["state"] for d in done] == ["deployed"] * 3, done
    assert [d["sequence"] for d in done] == [1, 2, 3]
    assert done[0]["removed"] > 0
    assert done[1]["removed"] == 0 and done[1]["version"] == done[0]["version"]  # nothing new to forget
    assert "already forgotten" in done[1]["note"]
    assert done[2]["version"] != done[0]["version"]
    assert served_version(server_process) == done[2]["version"] == health["deployed_version"]
    assert health["forgotten"] == done[0]["removed"] + done[2]["removed"]


@pytest.mark.parametrize("body, words", [
    ({"classes": [{"class": "unicorn", "proportion": 0.5}]}, "unknown class"),
    ({"classes": [{"class": 42, "proportion": 0.5}]}, "unknown class"),
    ({"classes": [{"class": "cat", "proportion": 0.0}]}, "greater than 0"),
    ({"classes": [{"class": "cat", "proportion": 1.5}]}, "less than or equal to 1"),
    ({"sample_ids": []}, "empty"),
    ({"classes": []}, "empty"),
    ({}, "either"),
    ({"sample_ids": [0], "classes": [{"class": "cat", "proportion": 0.5}]}, "either"),
    ({"sample_ids": [10**9]}, "not in D_u"),
    ({"classes": [{"class": "cat", "proportion": 0.5}], "unlearning": {"method": "magic"}}, "method"),
])
def test_invalid_requests_are_422_and_not_queued(tmp_path, server_process, body, words):
    app = create_app(settings(tmp_path, server_process), start_worker=False)
    with TestClient(app) as client:
        r = client.post("/deletion-requests", json=body, headers=AUTH)
        assert r.status_code == 422, r.text
        assert words in r.json()["detail"]
        assert client.get("/deletion-requests", headers=AUTH).json() == []


def test_ids_of_public_data_are_refused(tmp_path, server_process):
    app = create_app(settings(tmp_path, server_process), start_worker=False)
    public_id = int(app.state.worker.developer.splits.d0[0])
    with TestClient(app) as client:
        r = client.post("/deletion-requests", json={"sample_ids": [public_id]}, headers=AUTH)
    assert r.status_code == 422 and "not in D_u" in r.json()["detail"]


def test_auth_and_unknown_ids(tmp_path, server_process):
    app = create_app(settings(tmp_path, server_process), start_worker=False)
    with TestClient(app) as client:
        body = {"classes": [{"class": "cat", "proportion": 0.5}]}
        assert client.post("/deletion-requests", json=body).status_code == 401
        assert client.post("/deletion-requests", json=body, headers={"Authorization": "Bearer x"}).status_code == 403
        assert client.get("/deletion-requests/abc123", headers=AUTH).status_code == 404
        assert client.get("/healthz").status_code == 200


def test_a_restart_loses_no_queued_request(tmp_path, server_process):
    config = settings(tmp_path, server_process)
    with TestClient(create_app(config, start_worker=False)) as client:  # accepts, but nobody works
        ids = [client.post("/deletion-requests", json={"classes": [{"class": c, "proportion": 0.5}]},
                           headers=AUTH).json()["id"] for c in ("bird", "ship")]
        assert [s["state"] for s in client.get("/deletion-requests", headers=AUTH).json()] == ["queued"] * 2
    with TestClient(create_app(config)) as client:  # the restarted service works the queue off
        done = [wait_done(client, i) for i in ids]
    assert [d["state"] for d in done] == ["deployed", "deployed"]
    assert served_version(server_process) == done[1]["version"]


def test_failures_are_reported_with_their_reason(tmp_path, server_process):
    config = settings(tmp_path, server_process).model_copy(update={"server_url": "http://127.0.0.1:9"})
    with TestClient(create_app(config)) as client:
        r = client.post("/deletion-requests", json={"classes": [{"class": "cat", "proportion": 0.5}]}, headers=AUTH)
        status = wait_done(client, r.json()["id"])
    assert status["state"] == "failed" and "cannot reach the server" in status["reason"]


def test_a_restart_keeps_the_unlearned_version_deployed(tmp_path, server_process):
    """Deletions stay deleted: a restarted service resumes with θ_u, it never deploys θ again."""
    config = settings(tmp_path, server_process)
    with TestClient(create_app(config)) as client:
        original = started(client)["deployed_version"]
        r = client.post("/deletion-requests", json={"classes": [{"class": "cat", "proportion": 0.5}]}, headers=AUTH)
        unlearned = wait_done(client, r.json()["id"])
    assert unlearned["state"] == "deployed" and unlearned["version"] != original
    with TestClient(create_app(config)) as client:  # the restart
        health = started(client)
        assert served_version(server_process) == unlearned["version"]
        history = client.get("/deletion-requests", headers=AUTH).json()
    assert health["deployed_version"] == unlearned["version"] and health["forgotten"] == unlearned["removed"] > 0
    assert [h["id"] for h in history] == [unlearned["id"]]


def test_reset_replays_from_the_original_only_when_asked_and_stopped(tmp_path, server_process, capsys):
    config = settings(tmp_path, server_process)
    store = RequestStore.of_workdir(config.workdir)
    with TestClient(create_app(config)) as client:
        original = started(client)["deployed_version"]
        r = client.post("/deletion-requests", json={"classes": [{"class": "ship", "proportion": 0.5}]}, headers=AUTH)
        unlearned = wait_done(client, r.json()["id"])
        with pytest.raises(StoreInUse):  # never under a running service
            store.archive()
    capsys.readouterr()
    developer_main(["reset", "--workdir", str(config.workdir)])
    result = json.loads(capsys.readouterr().out)
    assert result["requests"] == 1 and result["deployed_version"] == unlearned["version"]
    archived = RequestStore(result["archived"])  # the history is set aside, not lost
    assert [s.id for s in archived.all()] == [unlearned["id"]] and archived.read_state().version == unlearned["version"]
    assert served_version(server_process) == unlearned["version"]  # resetting changes nothing served
    with TestClient(create_app(config)) as client:  # the next start deploys the original again
        health = started(client)
        assert served_version(server_process) == original == health["deployed_version"]
        assert health["forgotten"] == 0 and client.get("/deletion-requests", headers=AUTH).json() == []


def test_the_data_owner_waits_through_a_restart_of_the_service():
    """A request outlives a restart of the service, so the data owner's wait must too."""
    answers = iter([httpx.ConnectError("refused"), "unlearning", httpx.ConnectError("refused"), "deployed"])

    def service(request: httpx.Request) -> httpx.Response:
        answer = next(answers)
        if isinstance(answer, Exception):
            raise answer
        return httpx.Response(200, json={"id": "r1", "sequence": 1, "state": answer, "version": "v2",
                                          "request": {"classes": [{"class": "cat", "proportion": 0.5}]},
                                          "created_at": "t", "updated_at": "t"})

    with httpx.Client(base_url="http://developer", transport=httpx.MockTransport(service)) as http:
        status = wait_for(http, "r1", timeout=30, poll=0)
    assert status.state == "deployed" and status.version == "v2"
