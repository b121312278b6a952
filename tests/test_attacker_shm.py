"""The attacker's same-host transport: Triton's system shared-memory extension gives exactly the
answers of the HTTP body, counts the same queries, charges the same budget, and leaves no object
behind."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from attacker.client import ApiError, InferenceClient
from tests.conftest import ServerProcess
from tests.helpers import deploy, upload, versioned

X = np.random.default_rng(3).random((37, 3, 32, 32), dtype=np.float32)


def serve_tiny(tmp_path, **env) -> ServerProcess:
    server = ServerProcess(tmp_path / "store", extra_env=env).start()
    meta, weights, _ = versioned(seed=4)
    with server.admin() as admin:
        assert upload(admin, meta, weights).status_code == 201
        assert deploy(admin, meta.version).status_code == 200
    return server


def objects_of_ours() -> set[str]:
    return {p.name for p in Path("/dev/shm").glob("uia-*-uia-attacker-*")}  # in the key's namespace


def test_shared_memory_answers_equal_http_answers_and_cost_the_same(tmp_path):
    server = serve_tiny(tmp_path, UIA_SERVER_ALLOW_SHARED_MEMORY="true", UIA_SERVER_API_KEYS='{"k": 100}',
                        UIA_SERVER_ALLOW_ANONYMOUS="false")
    before = objects_of_ours()
    try:
        with InferenceClient(server.url, api_key="k", max_batch=16) as http_client:
            via_http, version = http_client.predict(X)
        with InferenceClient(server.url, api_key="k", max_batch=16, shared_memory=True) as shm_client:
            via_shm, shm_version = shm_client.predict(X)  # 3 requests through the same two regions
            assert objects_of_ours() - before  # its objects exist while it runs
            assert shm_client.total_queries == http_client.total_queries == len(X)
            with pytest.raises(ApiError, match="budget exhausted"):  # 74 of 100 used: the budget is shared
                shm_client.predict(X)
    finally:
        server.stop()
    assert np.array_equal(via_shm, via_http) and shm_version == version
    assert objects_of_ours() == before  # unregistered and unlinked


def test_shared_memory_is_refused_clearly_when_the_server_does_not_offer_it(tmp_path):
    server = serve_tiny(tmp_path)
    try:
        with InferenceClient(server.url, shared_memory=True) as client:
            with pytest.raises(ApiError, match="UIA_SERVER_ALLOW_SHARED_MEMORY"):
                client.predict(X[:2])
    finally:
        server.stop()
