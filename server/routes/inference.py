"""The public API: model information and predictions (probability vectors only)."""

from __future__ import annotations

import asyncio

import numpy as np
from fastapi import APIRouter, Depends, Request

from server.deps import AppState, get_state, serving_model
from server.errors import ApiError
from server.serving import ServingModel
from shared.schemas import ErrorBody, ModelInfo, PredictRequest, PredictResponse

router = APIRouter(prefix="/v1", tags=["inference"])

ERRORS = {code: {"model": ErrorBody} for code in (413, 422, 503)}


@router.get("/model", response_model=ModelInfo, summary="Public information about the serving model",
            responses={503: {"model": ErrorBody}})
def model_info(serving: ServingModel = Depends(serving_model)) -> ModelInfo:
    return serving.meta.public_info()


def decode_images(body: PredictRequest, serving: ServingModel, max_images: int) -> np.ndarray:
    """The request's images as float32 (N, C, H, W), checked against the model and the limits."""
    try:
        images = body.images.to_array()
    except ValueError as exc:
        raise ApiError(422, "invalid_input", str(exc)) from None
    expected = tuple(serving.meta.input_shape)
    if images.ndim != 4 or tuple(images.shape[1:]) != expected:
        raise ApiError(422, "invalid_input", f"images have shape {list(images.shape)}; "
                       f"this model takes (N, {', '.join(map(str, expected))})")
    n = images.shape[0]
    if n == 0:
        raise ApiError(422, "invalid_input", "the batch is empty: send at least one image")
    if n > max_images:
        raise ApiError(413, "too_many_images", f"{n} images in one request; the limit is {max_images}")
    if not np.isfinite(images).all():
        raise ApiError(422, "invalid_input", "images contain NaN or infinite values")
    lo, hi = float(images.min()), float(images.max())
    if lo < 0.0 or hi > 1.0:
        raise ApiError(422, "invalid_input", f"pixel values must lie in [0, 1]; got min {lo:g}, max {hi:g}")
    return images


@router.post("/predict", response_model=PredictResponse, summary="Probability vectors for a batch of images",
             responses=ERRORS)
async def predict(body: PredictRequest, request: Request, serving: ServingModel = Depends(serving_model),
                  state: AppState = Depends(get_state)) -> PredictResponse:
    loop = asyncio.get_running_loop()
    pool = request.app.state.inference_pool
    images = await loop.run_in_executor(None, decode_images, body, serving, state.settings.max_images_per_request)
    probs = await loop.run_in_executor(pool, serving.predict, images)
    return PredictResponse(version=serving.version, probabilities=probs.tolist())
