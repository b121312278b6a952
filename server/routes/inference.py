"""The public API: model information and predictions (probability vectors only)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from server.decoding import BINARY, check_images, decode_body, media_type, read_body
from server.deps import CallerDep, ServingDep, StateDep, classify
from server.headers import BATCH_SHAPE, BATCH_SHAPE_PATTERN, batch_shape, parameter
from shared.schemas import ErrorBody, ModelInfo, PredictResponse

router = APIRouter(prefix="/v1", tags=["inference"])

PREDICT_OPENAPI = {
    "requestBody": {"required": True, "content": {
        "application/json": {"schema": {"$ref": "#/components/schemas/PredictRequest"}},
        BINARY: {"schema": {"type": "string", "format": "binary",
                            "description": "little-endian float32 bytes of an (N, C, H, W) batch"}},
    }},
    # checked whenever it is sent, whatever the body: the schema says what the server enforces
    "parameters": [parameter(BATCH_SHAPE, BATCH_SHAPE_PATTERN, "N,C,H,W of a binary body (needed with one)")],
}
PREDICT_RESPONSES = {
    200: {"content": {BINARY: {"schema": {"type": "string", "format": "binary"},
                               "description": "with Accept: application/octet-stream: little-endian float64 "
                                              "(N, classes); X-Model-Version and X-Batch-Shape headers"}}},
    **{code: {"model": ErrorBody} for code in (401, 408, 413, 415, 422, 429, 503)},
}


@router.get("/model", response_model=ModelInfo, summary="Public information about the serving model",
            responses={503: {"model": ErrorBody}})
def model_info(serving: ServingDep) -> ModelInfo:
    return serving.meta.public_info(serving.options.output_format())


@router.post("/predict", response_model=PredictResponse, summary="Probability vectors for a batch of images",
             responses=PREDICT_RESPONSES, openapi_extra=PREDICT_OPENAPI)
async def predict(request: Request, serving: ServingDep, state: StateDep, who: CallerDep) -> Response:
    content_type, shape = request.headers.get("content-type"), request.headers.get(BATCH_SHAPE)
    if shape is not None:
        batch_shape(shape)  # a malformed header is refused, whatever the body
    body = await read_body(request)

    def decode():
        images = decode_body(content_type, shape, body)
        return check_images(images, serving.meta.input_shape, state.settings.max_images_per_request)

    probs, headers = await classify(request, state, serving, decode, who)
    if media_type(request.headers.get("accept")) == BINARY:
        headers["X-Batch-Shape"] = ",".join(map(str, probs.shape))
        return Response(probs.astype("<f8").tobytes(), media_type=BINARY, headers=headers)
    return JSONResponse({"version": serving.version, "probabilities": probs.tolist()}, headers=headers)

