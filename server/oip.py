"""Open Inference Protocol v2 messages to image batches and back, with Triton's binary extension.

A request body is a JSON `InferenceRequest`; with the ``Inference-Header-Content-Length``
header it is that many bytes of JSON followed by the raw bytes of the inputs that declare
``parameters.binary_data_size``. The model takes one FP32 input of shape [N, C, H, W] and
gives one FP64 output, ``probabilities``, of shape [N, classes], as JSON data or, if asked
(``binary_data`` on the output or ``binary_data_output`` on the request), as raw bytes.
"""

from __future__ import annotations

import json

import numpy as np
from pydantic import ValidationError

from server.errors import ApiError, describe_errors
from shared.schemas.oip import InferenceRequest, InferenceResponse, ResponseOutput

HEADER_LENGTH = "inference-header-content-length"
OUTPUT = "probabilities"
INPUT_DATATYPE = "FP32"
OUTPUT_DATATYPE = "FP64"


def parse_request(body: bytearray, header_length: str | None) -> tuple[InferenceRequest, memoryview]:
    """The JSON header and the binary tail (a view, not a copy) of a request body."""
    if header_length is not None:
        if not header_length.isdigit() or int(header_length) > len(body):
            raise ApiError(400, "invalid_request", f"Inference-Header-Content-Length {header_length!r} does not "
                                                   f"fit a body of {len(body)} bytes")
        cut = int(header_length)
    else:
        cut = len(body)
    view = memoryview(body)
    head, tail = view[:cut], view[cut:]
    try:
        return InferenceRequest.model_validate_json(bytes(head)), tail
    except ValidationError as exc:
        raise ApiError(400, "invalid_request", describe_errors(exc.errors())) from None


def decode_images(request: InferenceRequest, binary: memoryview) -> np.ndarray:
    if len(request.inputs) != 1:
        raise ApiError(400, "invalid_input", f"the model takes one input tensor, got {len(request.inputs)}")
    tensor = request.inputs[0]
    if tensor.datatype != INPUT_DATATYPE:
        raise ApiError(400, "invalid_input", f"input {tensor.name!r} must be {INPUT_DATATYPE}, got {tensor.datatype}")
    if len(tensor.shape) != 4 or min(tensor.shape) < 0:
        raise ApiError(400, "invalid_input", f"input shape must be [N, C, H, W], got {tensor.shape}")
    count = int(np.prod(tensor.shape, dtype=np.int64))
    size = (tensor.parameters or {}).get("binary_data_size")
    if size is not None:
        if not isinstance(size, int) or size != count * 4 or len(binary) != size:
            raise ApiError(400, "invalid_input", f"binary_data_size {size!r} and {len(binary)} binary bytes do not "
                                                 f"match shape {tensor.shape} of FP32")
        return np.frombuffer(binary, dtype="<f4").reshape(tensor.shape)
    if len(binary):
        raise ApiError(400, "invalid_input", "binary data follows the header but no input declares binary_data_size")
    if tensor.data is None:
        raise ApiError(400, "invalid_input", f"input {tensor.name!r} has neither data nor binary_data_size")
    try:
        array = np.array(tensor.data, dtype=np.float32)
    except (ValueError, TypeError) as exc:
        raise ApiError(400, "invalid_input", f"input data must be numbers: {exc}") from None
    if array.size != count:
        raise ApiError(400, "invalid_input", f"input holds {array.size} values, shape {tensor.shape} needs {count}")
    return array.reshape(tensor.shape)


def wants_binary(request: InferenceRequest) -> bool:
    if request.outputs:
        unknown = [o.name for o in request.outputs if o.name != OUTPUT]
        if unknown:
            raise ApiError(400, "invalid_output", f"unknown output {unknown[0]!r}; the model has {OUTPUT!r}")
        return any((o.parameters or {}).get("binary_data", False) for o in request.outputs)
    return bool((request.parameters or {}).get("binary_data_output", False))


def encode_response(request: InferenceRequest, probs: np.ndarray, model_name: str, version: str,
                    binary: bool) -> tuple[bytes, dict[str, str], str]:
    """(body, extra headers, media type) of the response."""
    output = ResponseOutput(name=OUTPUT, shape=list(probs.shape), datatype=OUTPUT_DATATYPE)
    raw = b""
    if binary:
        raw = probs.astype("<f8").tobytes()
        output.parameters = {"binary_data_size": len(raw)}
    else:
        output.data = probs.reshape(-1).tolist()
    response = InferenceResponse(model_name=model_name, model_version=version, id=request.id, outputs=[output])
    head = json.dumps(response.model_dump(exclude_none=True)).encode()
    if not binary:
        return head, {}, "application/json"
    return head + raw, {"Inference-Header-Content-Length": str(len(head))}, "application/octet-stream"
