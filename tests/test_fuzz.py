"""Schemathesis fuzzes every operation of the server's OpenAPI schema: no input makes a 5xx."""

from __future__ import annotations

import tempfile
from pathlib import Path

import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings

from server.app import create_app
from server.settings import ServerSettings
from tests.helpers import AUTH, TOKEN, deploy, upload, versioned


def served_app():
    store = Path(tempfile.mkdtemp(prefix="uia-fuzz-"))
    app = create_app(ServerSettings(store_dir=store, admin_token=TOKEN, max_images_per_request=16,
                                    max_body_bytes=2**20, max_upload_bytes=2**20, api_keys={"fuzz-key": None}))
    client = TestClient(app)
    meta, weights, _ = versioned()
    upload(client, meta, weights)
    deploy(client, meta.version)
    return app


schema = schemathesis.openapi.from_asgi("/openapi.json", served_app())


@schema.parametrize()
@settings(max_examples=20, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_no_input_makes_a_server_error(case):
    response = case.call(headers={**AUTH, **(case.headers or {})})
    assert response.status_code < 500, f"{case.method} {case.path} -> {response.status_code}: {response.text[:300]}"
