"""Schemathesis against the served OpenAPI schema, every operation, every check on (the Python
API's `--checks all`): responses are validated against the schema (status codes, headers,
content types, bodies), schema-valid requests must be accepted and invalid ones refused, 405s
must name the allowed methods, auth must not be ignored. Zero failures.

One documented exemption: whether an image batch or an uploaded model is acceptable depends on
what JSON Schema cannot state (the base64 data's byte count against `shape`, pixel values in
[0, 1], the deployed model's input shape, the weights inside a safetensors file). On those
operations a schema-valid request may be refused, but only with the documented status and error
of such a semantic refusal (`semantic_refusals_are_documented`), never anything else.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from server.app import create_app
from server.settings import ServerSettings
from tests.helpers import AUTH, TOKEN, deploy, upload, versioned

KEY = {"X-API-Key": "fuzz-key"}
# per operation and phase: ~30 s for the whole schema on two cores; UIA_FUZZ_EXAMPLES=2000 for a deep run
MAX_EXAMPLES = int(os.environ.get("UIA_FUZZ_EXAMPLES", "60"))

# operation -> {status: error codes of ErrorBody (None: the protocol's {"error": message})}
SEMANTIC_REFUSALS = {
    "POST /v1/predict": {422: {"invalid_input", "invalid_request"}, 413: {"too_many_images", "payload_too_large"}},
    "POST /v2/models/{name}/infer": {400: None, 422: None, 413: None},
    "POST /v2/models/{name}/versions/{version}/infer": {400: None, 422: None, 413: None},
    "POST /admin/models": {422: {"invalid_model"}, 413: {"payload_too_large"}},
}


def served_app():
    store = Path(tempfile.mkdtemp(prefix="uia-fuzz-"))
    app = create_app(ServerSettings(store_dir=store, admin_token=TOKEN, max_images_per_request=16,
                                    max_body_bytes=2**20, max_upload_bytes=2**20, api_keys={"fuzz-key": None},
                                    allow_anonymous=False, allow_shared_memory=True))
    client = TestClient(app)
    meta, weights, _ = versioned()
    upload(client, meta, weights)
    deploy(client, meta.version)
    return app


schema = schemathesis.openapi.from_asgi("/openapi.json", served_app())


def semantic_refusals_are_documented(ctx, response, case) -> None:
    """On the operations above, a schema-valid request is accepted or refused as documented."""
    if case.meta is None or not case.meta.generation.mode.is_positive:
        return
    status = response.status_code
    if status < 300 or status in (401, 403, 404, 409, 429):  # what positive_data_acceptance allows
        return
    allowed = SEMANTIC_REFUSALS[case.operation.label]
    assert status in allowed, f"schema-valid request refused with {status}: {response.text[:200]}"
    body = response.json()
    if allowed[status] is None:
        assert list(body) == ["error"], body
    else:
        assert body["error"] in allowed[status], body


@schema.parametrize()
@settings(max_examples=MAX_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_the_server_conforms_to_its_schema(case):
    headers = {**(case.headers or {}), **AUTH, **KEY}  # ours last: generated keys would only meet 401s
    if case.operation.label in SEMANTIC_REFUSALS:
        case.call_and_validate(headers=headers, excluded_checks=[positive_data_acceptance],
                               additional_checks=[semantic_refusals_are_documented])
    else:
        case.call_and_validate(headers=headers)
