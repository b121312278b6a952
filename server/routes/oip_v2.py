"""Open Inference Protocol v2 REST routes (KServe / Triton), for standard inference clients.

Errors on these routes take the protocol's shape, {"error": "<message>"}.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from server.callers import Caller
from server.decoding import check_images, read_body
from server.deps import AppState, CallerDep, StateDep, classify, regions_of, serving_model
from server.errors import ApiError
from server.headers import HEADER_LENGTH, HEADER_LENGTH_PATTERN, parameter
from server.oip import INPUT_DATATYPE, OUTPUT, OUTPUT_DATATYPE, OutputPlan, decode_images, encode_response, \
    parse_request, plan_output
from server.serving import ServingModel
from shared.schemas.oip import InferenceRequest, InferenceResponse, ModelMetadataResponse, OipError, \
    ServerMetadataResponse, TensorMetadata

router = APIRouter(prefix="/v2", tags=["open inference protocol v2"])
ERRORS = {code: {"model": OipError} for code in (400, 404, 413, 422, 429, 503)}
INFER_ERRORS = {**ERRORS, 401: {"model": OipError}, 408: {"model": OipError}}  # an API key; a body in time

INFER_OPENAPI = {
    "requestBody": {"required": True, "content": {
        "application/json": {"schema": {"$ref": "#/components/schemas/InferenceRequest"}},
        "application/octet-stream": {"schema": {"type": "string", "format": "binary",
                                                "description": "JSON header then binary tensors (Triton extension)"}},
    }},
    "parameters": [parameter(HEADER_LENGTH, HEADER_LENGTH_PATTERN, "bytes of JSON before the binary tensors "
                                                                   "(Triton's binary tensor extension)")],
}


@router.get("", response_model=ServerMetadataResponse, summary="Server metadata")
def server_metadata(state: StateDep) -> ServerMetadataResponse:
    extensions = ["binary_tensor_data"] + (["system_shared_memory"] if state.shared_memory is not None else [])
    return ServerMetadataResponse(name="unlearning-inversion-server", version="1.0", extensions=extensions)


@router.get("/health/live", summary="The server is live", responses=ERRORS)
def live() -> dict:
    return {"live": True}


@router.get("/health/ready", summary="The server is ready (a model is deployed)", responses=ERRORS)
def ready(state: StateDep) -> dict:
    if state.deployer.current is None:
        raise ApiError(400, "not_ready", "no model version is deployed yet")
    return {"ready": True}


def named_model(name: str, state: StateDep) -> ServingModel:
    """The served model if `name` names it; else 404."""
    if name != state.settings.model_name:
        raise ApiError(404, "unknown_model", f"unknown model {name!r}; this server serves {state.settings.model_name!r}")
    return serving_model(state)


NamedModel = Annotated[ServingModel, Depends(named_model)]


def named_version(version: str, serving: NamedModel) -> ServingModel:
    if version != serving.version:
        raise ApiError(404, "unknown_version", f"the model serves version {serving.version}, not {version}")
    return serving


NamedVersion = Annotated[ServingModel, Depends(named_version)]


@router.get("/models/{name}", response_model=ModelMetadataResponse, summary="Model metadata", responses=ERRORS)
def model_metadata(serving: NamedModel, state: StateDep) -> ModelMetadataResponse:
    meta = serving.meta
    return ModelMetadataResponse(
        name=state.settings.model_name, versions=[serving.version], platform="pytorch",
        inputs=[TensorMetadata(name="images", datatype=INPUT_DATATYPE, shape=[-1, *meta.input_shape])],
        outputs=[TensorMetadata(name=OUTPUT, datatype=OUTPUT_DATATYPE, shape=[-1, meta.num_classes])])


@router.get("/models/{name}/versions/{version}", response_model=ModelMetadataResponse, responses=ERRORS,
            summary="Model metadata of a version")
def version_metadata(serving: NamedVersion, state: StateDep) -> ModelMetadataResponse:
    return model_metadata(serving, state)


@router.get("/models/{name}/ready", summary="The model is ready", responses=ERRORS)
def model_ready(serving: NamedModel) -> dict:
    return {"version": serving.version, "ready": True}


@router.get("/models/{name}/versions/{version}/ready", summary="The version is ready", responses=ERRORS)
def version_ready(serving: NamedVersion) -> dict:
    return {"version": serving.version, "ready": True}


@router.post("/models/{name}/infer", response_model=InferenceResponse, summary="Inference", responses=INFER_ERRORS,
             openapi_extra=INFER_OPENAPI)
async def infer(request: Request, serving: NamedModel, state: StateDep, who: CallerDep) -> Response:
    return await _infer(request, serving, state, who)


@router.post("/models/{name}/versions/{version}/infer", response_model=InferenceResponse, responses=INFER_ERRORS,
             summary="Inference on a named version (the served one)", openapi_extra=INFER_OPENAPI)
async def infer_version(request: Request, serving: NamedVersion, state: StateDep, who: CallerDep) -> Response:
    return await _infer(request, serving, state, who)


async def _infer(request: Request, serving: ServingModel, state: AppState, who: Caller) -> Response:
    header_length = request.headers.get(HEADER_LENGTH)
    body = await read_body(request)
    regions = regions_of(state, who)
    message: InferenceRequest | None = None
    plan = OutputPlan()

    def decode():  # on the inference pool, like everything that touches the tensors
        nonlocal message, plan
        message, binary = parse_request(body, header_length)
        plan = plan_output(message)
        images = check_images(decode_images(message, binary, regions, state.settings.max_body_bytes),
                              serving.meta.input_shape, state.settings.max_images_per_request)
        plan.check(regions, len(images), serving.meta.num_classes)  # before the budget is charged
        return images

    probs, headers = await classify(request, state, serving, decode, who, lambda probs: plan.deliver(regions, probs))
    assert message is not None  # decode succeeded
    content, extra, media = encode_response(message, probs, state.settings.model_name, serving.version, plan)
    return Response(content, media_type=media, headers={**headers, **extra})
