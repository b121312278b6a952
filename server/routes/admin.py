"""Admin API (bearer token): upload model versions, list them, deploy one; per-tenant metrics.

Every route checks the token before it reads a body: the upload parses its multipart body itself,
in the route, after the router's token check (FastAPI would parse declared form fields first).
"""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.datastructures import UploadFile

from server.deps import StateDep, require_admin
from server.errors import ApiError
from server.model_store import VersionConflict
from shared.artifacts import InvalidArtifact
from shared.schemas import DeployRequest, Deployment, ErrorBody, ModelMetadata

router = APIRouter(prefix="/admin", tags=["admin"], dependencies=[Depends(require_admin)],
                   responses={code: {"model": ErrorBody} for code in (401, 403)})

# The parts as the server reads them: `metadata` is the JSON of a ModelMetadata (a file part or a
# plain field), `weights` the safetensors bytes. A JSON Schema cannot say which weights a
# metadata's architecture takes: a schema-valid upload may still be a 422 invalid_model.
UPLOAD_OPENAPI = {"requestBody": {"required": True, "content": {"multipart/form-data": {
    "schema": {"type": "object", "required": ["metadata", "weights"], "additionalProperties": False, "properties": {
        "metadata": {"$ref": "#/components/schemas/ModelMetadata"},
        "weights": {"type": "string", "format": "binary", "description": "model.safetensors"}}},
    "encoding": {"metadata": {"contentType": "application/json"},
                 "weights": {"contentType": "application/octet-stream"}}}}}}


PARTS = ("metadata", "weights")


async def _part(form, name: str) -> bytes:
    value = form.get(name)
    if value is None:
        raise ApiError(422, "invalid_request", "the upload needs two multipart parts: metadata (ModelMetadata "
                                               "JSON) and weights (safetensors)")
    return await value.read() if isinstance(value, UploadFile) else value.encode()


@router.post("/models", status_code=201, response_model=ModelMetadata, summary="Upload a model version",
             openapi_extra=UPLOAD_OPENAPI,
             responses={200: {"model": ModelMetadata, "description": "identical version already stored"},
                        400: {"model": ErrorBody, "description": "the multipart body is malformed"},
                        408: {"model": ErrorBody}, 409: {"model": ErrorBody}, 413: {"model": ErrorBody},
                        422: {"model": ErrorBody}, 503: {"model": ErrorBody}})
async def upload_model(request: Request, state: StateDep):
    async with request.form(max_files=len(PARTS), max_fields=len(PARTS)) as form:  # more: a 400
        if unknown := sorted(set(form.keys()) - set(PARTS)):
            raise ApiError(422, "invalid_request", f"unknown multipart parts {unknown}: the upload has two, metadata "
                                                   f"and weights")
        meta_bytes, weight_bytes = await _part(form, "metadata"), await _part(form, "weights")
    try:
        meta, created = await asyncio.get_running_loop().run_in_executor(
            None, state.store.add, meta_bytes, weight_bytes)
    except InvalidArtifact as exc:
        raise ApiError(422, "invalid_model", str(exc)) from None
    except VersionConflict as exc:
        raise ApiError(409, "version_conflict", str(exc)) from None
    return JSONResponse(meta.model_dump(mode="json"), status_code=201 if created else 200)


@router.get("/models", response_model=list[ModelMetadata], summary="All stored versions, oldest first")
def list_models(state: StateDep) -> list[ModelMetadata]:
    return state.store.versions()


@router.put("/deployment", response_model=Deployment, summary="Deploy a stored version (atomic swap)",
            responses={code: {"model": ErrorBody} for code in (404, 408, 413, 422, 503)})
async def deploy(request: DeployRequest, state: StateDep) -> Deployment:
    if not state.store.has(request.version):
        raise ApiError(404, "unknown_version", f"version {request.version} is not in the store; upload it first")
    deployment = await asyncio.get_running_loop().run_in_executor(None, state.deployer.deploy, request.version,
                                                                  request.options)
    state.metrics.served_version(deployment.version)
    return deployment


@router.get("/deployment", response_model=Deployment, summary="The current deployment",
            responses={404: {"model": ErrorBody}})
def get_deployment(state: StateDep) -> Deployment:
    if state.deployer.deployment is None:
        raise ApiError(404, "not_deployed", "nothing is deployed yet")
    return state.deployer.deployment


@router.get("/metrics", summary="Prometheus metrics: the aggregates and what each caller did",
            response_class=Response)
def tenant_metrics(state: StateDep) -> Response:
    metrics = state.metrics
    return Response(generate_latest(metrics.registry) + generate_latest(metrics.tenants),
                    media_type=CONTENT_TYPE_LATEST)
