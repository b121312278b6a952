"""Triton's system shared-memory extension on /v2: register, unregister and list regions.

Served only when `allow_shared_memory` is on (the routes are absent otherwise), to API keys only.
Regions belong to the key that registered them and name objects of its namespace
(`GET /v2/systemsharedmemory/namespace`); errors take the protocol's {"error": ...} shape.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import Response
from pydantic import ValidationError

from server.deps import StateDep, TenantDep
from server.errors import ApiError, describe_errors
from server.shm import SharedMemoryRegistry
from shared.schemas.oip import REGION_NAME, OipError, SharedMemoryNamespace, SharedMemoryRegionStatus, \
    SharedMemoryRegister

router = APIRouter(prefix="/v2/systemsharedmemory", tags=["open inference protocol v2: system shared memory"],
                   responses={code: {"model": OipError} for code in (400, 401, 408, 413, 422, 503)})
RegionPath = Annotated[str, Path(pattern=REGION_NAME, description="the region's name")]
DONE = {200: {"description": "done (empty body, as Triton answers)", "content": {}}}
# tritonclient sends the JSON without a Content-Type: the body is parsed as JSON whatever its type
REGISTER_OPENAPI = {"requestBody": {"required": True, "content": {
    "application/json": {"schema": {"$ref": "#/components/schemas/SharedMemoryRegister"}}}}}


def registry(state: StateDep) -> SharedMemoryRegistry:
    assert state.shared_memory is not None  # the router is mounted only with the extension on
    return state.shared_memory


RegistryDep = Annotated[SharedMemoryRegistry, Depends(registry)]


@router.get("/namespace", response_model=SharedMemoryNamespace, summary="The object names this API key may register")
def namespace(regions: RegistryDep, who: TenantDep) -> SharedMemoryNamespace:
    return SharedMemoryNamespace(prefix=regions.namespace(who.key))


@router.get("/status", response_model=list[SharedMemoryRegionStatus], summary="The caller's registered regions")
def status_all(regions: RegistryDep, who: TenantDep) -> list[SharedMemoryRegionStatus]:
    return regions.status(who.key)


@router.get("/region/{name}/status", response_model=list[SharedMemoryRegionStatus], summary="One region",
            responses={404: {"model": OipError}})
def status_one(name: RegionPath, regions: RegistryDep, who: TenantDep) -> list[SharedMemoryRegionStatus]:
    return regions.status(who.key, name)


@router.post("/region/{name}/register", response_class=Response, openapi_extra=REGISTER_OPENAPI,
             responses={**DONE, **{code: {"model": OipError} for code in (404, 409)}},
             summary="Register a region of a POSIX shared-memory object of the caller's namespace")
async def register(name: RegionPath, request: Request, regions: RegistryDep, who: TenantDep) -> Response:
    try:
        body = SharedMemoryRegister.model_validate_json(await request.body())
    except ValidationError as exc:
        raise ApiError(400, "invalid_request", describe_errors(exc.errors())) from None
    regions.register(who.key, name, body.key, body.offset, body.byte_size)
    return Response(status_code=200)


@router.post("/region/{name}/unregister", response_class=Response, responses=DONE,
             summary="Unregister a region (safe while requests use it; unknown names are no error)")
def unregister_one(name: RegionPath, regions: RegistryDep, who: TenantDep) -> Response:
    regions.unregister(who.key, name)
    return Response(status_code=200)


@router.post("/unregister", response_class=Response, responses=DONE, summary="Unregister all the caller's regions")
def unregister_all(regions: RegistryDep, who: TenantDep) -> Response:
    regions.unregister(who.key)
    return Response(status_code=200)
