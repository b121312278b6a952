"""The one exemption of the schemathesis runs, in process (`tests/test_fuzz.py`) and from outside
(`devtools/fuzz.py`): both hold the server to its OpenAPI schema with every check on.

Whether an image batch or an uploaded model is acceptable depends on what JSON Schema cannot state
(the base64 data's byte count against `shape`, pixel values in [0, 1], the deployed model's input
shape, the weights a metadata's architecture takes). On those operations a schema-valid request may
be refused, but only with the documented status and error code of such a semantic refusal, never
anything else: `positive_data_acceptance` is replaced there by `semantic_refusals_are_documented`.
"""

from __future__ import annotations

# operation -> {status: error codes of ErrorBody (None: the protocol's {"error": message})}
SEMANTIC_REFUSALS = {
    "POST /v1/predict": {422: {"invalid_input"}, 413: {"too_many_images", "payload_too_large"}},
    "POST /v2/models/{name}/infer": {400: None, 422: None, 413: None},
    "POST /v2/models/{name}/versions/{version}/infer": {400: None, 422: None, 413: None},
    "POST /admin/models": {422: {"invalid_model"}, 413: {"payload_too_large"}},
}
ALLOWED = (401, 403, 404, 409, 429)  # what positive_data_acceptance allows a schema-valid request anyway


def semantic_refusals_are_documented(ctx, response, case) -> None:
    """On the operations above, a schema-valid request is accepted or refused as documented."""
    label = case.operation.label
    if label not in SEMANTIC_REFUSALS or case.meta is None or not case.meta.generation.mode.is_positive:
        return
    status = response.status_code
    if status < 300 or status in ALLOWED:
        return
    allowed = SEMANTIC_REFUSALS[label]
    assert status in allowed, f"schema-valid request refused with {status}: {response.text[:200]}"
    body = response.json()
    if allowed[status] is None:
        assert list(body) == ["error"], body
    else:
        assert body["error"] in allowed[status], body
