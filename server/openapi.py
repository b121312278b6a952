"""The served OpenAPI schema: the public contract, saying exactly what the server accepts.

FastAPI's generated schema, completed where generation cannot know:
- the request bodies the raw-body routes parse themselves (`/v1/predict`, `/v2/.../infer`, the
  shared-memory register), documented by reference;
- the API key is optional exactly on the operations that serve anonymous callers (those of
  `server.deps.caller`, security scheme APIKeyHeader), and only while the settings serve them
  (an empty security requirement); the shared-memory routes (`server.deps.tenant`, scheme
  TenantAPIKey) always need a key.
`tests/test_fuzz.py` (in process) and `devtools/fuzz.py` (from outside, against a live server)
hold the server to it with every schemathesis check.
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from server.settings import ServerSettings
from shared.schemas import PredictRequest
from shared.schemas.oip import InferenceRequest, SharedMemoryRegister

RAW_BODIES = (PredictRequest, InferenceRequest, SharedMemoryRegister)
ANONYMOUS_CAPABLE = "APIKeyHeader"  # the security scheme of `server.deps.caller`; `tenant`'s is TenantAPIKey


def build_openapi(app: FastAPI, settings: ServerSettings) -> dict:
    schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    for model in RAW_BODIES:
        body = model.model_json_schema(ref_template="#/components/schemas/{model}")
        components.update(body.pop("$defs", {}))
        components[model.__name__] = body
    if settings.serves_anonymous:
        for operation in (op for path in schema["paths"].values() for op in path.values()):
            requirements = operation.get("security", [])
            if any(ANONYMOUS_CAPABLE in r for r in requirements) and {} not in requirements:
                requirements.append({})
    return schema
