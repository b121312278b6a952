"""Admin API (bearer token): upload model versions, list them, deploy one."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Depends, File, UploadFile
from fastapi.responses import JSONResponse

from server.deps import StateDep, require_admin
from server.errors import ApiError
from server.model_store import VersionConflict
from shared.artifacts import InvalidArtifact
from shared.schemas import DeployRequest, Deployment, ErrorBody, ModelMetadata

router = APIRouter(prefix="/admin", tags=["admin"], dependencies=[Depends(require_admin)],
                   responses={code: {"model": ErrorBody} for code in (401, 403)})


@router.post("/models", status_code=201, response_model=ModelMetadata, summary="Upload a model version",
             responses={200: {"model": ModelMetadata, "description": "identical version already stored"},
                        400: {"model": ErrorBody, "description": "the multipart body is malformed"},
                        409: {"model": ErrorBody}, 413: {"model": ErrorBody}, 422: {"model": ErrorBody}})
async def upload_model(metadata: Annotated[UploadFile, File(description="metadata.json (ModelMetadata)")],
                       weights: Annotated[UploadFile, File(description="model.safetensors")], state: StateDep):
    meta_bytes, weight_bytes = await metadata.read(), await weights.read()
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
            responses={404: {"model": ErrorBody}, 422: {"model": ErrorBody}})
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
