"""Schemathesis against the served OpenAPI schema, every operation, every check on (the Python
API's `--checks all`): responses are validated against the schema (status codes, headers,
content types, bodies), schema-valid requests must be accepted and invalid ones refused, 405s
must name the allowed methods, auth must not be ignored. Zero failures.

One documented exemption, shared with the run from outside (`python -m devtools.fuzz`, the CLI
against a live server): `devtools.fuzz_contract`.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from devtools.fuzz_contract import SEMANTIC_REFUSALS, semantic_refusals_are_documented
from server.app import create_app
from server.settings import ServerSettings
from tests.helpers import AUTH, TOKEN, deploy, upload, versioned

KEY = {"X-API-Key": "fuzz-key"}
# per operation and phase: ~30 s for the whole schema on two cores; UIA_FUZZ_EXAMPLES=2000 for a deep run
MAX_EXAMPLES = int(os.environ.get("UIA_FUZZ_EXAMPLES", "60"))


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


@schema.parametrize()
@settings(max_examples=MAX_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_the_server_conforms_to_its_schema(case):
    headers = {**(case.headers or {}), **AUTH, **KEY}  # ours last: generated keys would only meet 401s
    if case.operation.label in SEMANTIC_REFUSALS:
        case.call_and_validate(headers=headers, excluded_checks=[positive_data_acceptance],
                               additional_checks=[semantic_refusals_are_documented])
    else:
        case.call_and_validate(headers=headers)
