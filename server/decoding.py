"""Request bodies to image batches, with every check the API promises.

`POST /v1/predict` takes either JSON (`PredictRequest`: float32-base64 or nested lists) or
``application/octet-stream``: the raw little-endian float32 bytes of an (N, C, H, W) batch,
with the shape in the ``X-Batch-Shape: N,C,H,W`` header.
"""

from __future__ import annotations

import math

import numpy as np
from pydantic import ValidationError

from server.errors import ApiError, describe_errors
from server.headers import batch_shape
from shared.schemas import PredictRequest

JSON = "application/json"
BINARY = "application/octet-stream"


def media_type(content_type: str | None) -> str:
    return (content_type or "").split(";")[0].strip().lower()


async def read_body(request) -> bytearray:
    """The request body in one writable buffer (numpy and torch share it), grown by what arrives.

    Never sized by Content-Length: that is a client's promise, and a hundred clients promising
    64 MiB each and sending nothing must cost nothing (`server.body_guard` bounds what does
    arrive: size, time, and all bodies together). The growth is amortised (bytearray
    over-allocates), a few copies of a chunk at most."""
    buffer = bytearray()
    async for chunk in request.stream():
        buffer += chunk
    return buffer


def decode_body(content_type: str | None, shape_header: str | None, body: bytes | bytearray) -> np.ndarray:
    kind = media_type(content_type)
    if kind == BINARY:
        shape = batch_shape(shape_header)
        expected = math.prod(shape) * 4  # Python ints: a huge shape cannot overflow
        if len(body) != expected:
            raise ApiError(422, "invalid_input", f"body holds {len(body)} bytes; X-Batch-Shape {shape} "
                                                 f"needs {expected} (float32)")
        return np.frombuffer(body, dtype="<f4").reshape(shape)
    if kind in (JSON, ""):
        try:
            request = PredictRequest.model_validate_json(body)
        except ValidationError as exc:
            raise ApiError(422, "invalid_request", describe_errors(exc.errors())) from None
        try:
            return request.images.to_array()
        except ValueError as exc:
            raise ApiError(422, "invalid_input", str(exc)) from None
    raise ApiError(415, "unsupported_media_type", f"content type {kind!r} is not accepted: use {JSON} or {BINARY}")


def check_images(images: np.ndarray, input_shape: tuple[int, ...], max_images: int) -> np.ndarray:
    """The batch as float32 (N, C, H, W), checked against the model and the limits."""
    expected = tuple(input_shape)
    if images.ndim != 4 or tuple(images.shape[1:]) != expected:
        raise ApiError(422, "invalid_input", f"images have shape {list(images.shape)}; "
                                             f"this model takes (N, {', '.join(map(str, expected))})")
    n = images.shape[0]
    if n == 0:
        raise ApiError(422, "invalid_input", "the batch is empty: send at least one image")
    if n > max_images:
        raise ApiError(413, "too_many_images", f"{n} images in one request; the limit is {max_images}")
    lo, hi = float(images.min()), float(images.max())  # NaN propagates through both; +-inf fails the range
    # The answer names no value: the images may come from a shared-memory object, and an error
    # message must not be a way to read an object's bytes.
    if np.isnan(lo) or np.isnan(hi):
        raise ApiError(422, "invalid_input", "images contain NaN values")
    if lo < 0.0 or hi > 1.0:
        raise ApiError(422, "invalid_input", "pixel values must lie in [0, 1]; some lie outside")
    return images.astype(np.float32, copy=False)
