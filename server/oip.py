"""Open Inference Protocol v2 messages to image batches and back, with Triton's binary extension.

A request body is a JSON `InferenceRequest`; with the ``Inference-Header-Content-Length``
header it is that many bytes of JSON followed by the raw bytes of the inputs that declare
``parameters.binary_data_size``. The model takes one FP32 input of shape [N, C, H, W] and
gives one FP64 output, ``probabilities``, of shape [N, classes], as JSON data or, if asked
(``binary_data`` on the output or ``binary_data_output`` on the request), as raw bytes.
With the system shared-memory extension on, the input and the output may instead name a
region the caller registered (`server.shm`): the input is read from it, the output written
to it, and the response carries neither.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

import numpy as np
from pydantic import ValidationError

from server.errors import ApiError, describe_errors
from server.headers import header_length as parse_header_length
from server.shm import CallerRegions, NoRegions
from shared.schemas.oip import InferenceRequest, InferenceResponse, InputParameters, OutputParameters, ResponseOutput

OUTPUT = "probabilities"
INPUT_DATATYPE = "FP32"
OUTPUT_DATATYPE = "FP64"
Regions = CallerRegions | NoRegions  # what a request may name: the caller's regions, or none


def parse_request(body: bytearray, header_length: str | None) -> tuple[InferenceRequest, memoryview]:
    """The JSON header and the binary tail (a view, not a copy) of a request body."""
    cut = len(body) if header_length is None else parse_header_length(header_length)
    if cut > len(body):
        raise ApiError(400, "invalid_request", f"Inference-Header-Content-Length {cut} does not fit a body of "
                                               f"{len(body)} bytes")
    view = memoryview(body)
    head, tail = view[:cut], view[cut:]
    try:
        return InferenceRequest.model_validate_json(bytes(head)), tail
    except ValidationError as exc:
        raise ApiError(400, "invalid_request", describe_errors(exc.errors())) from None


def decode_images(request: InferenceRequest, binary: memoryview, regions: Regions, max_bytes: int) -> np.ndarray:
    """The input batch, from JSON data, the binary tail or a shared-memory region (`regions`: the
    regions the caller may name; `max_bytes`: the most a region
    input may hold, the limit of a request body, so that no request makes the server allocate
    more than an HTTP body could)."""
    if len(request.inputs) != 1:
        raise ApiError(400, "invalid_input", f"the model takes one input tensor, got {len(request.inputs)}")
    tensor = request.inputs[0]
    if tensor.datatype != INPUT_DATATYPE:
        raise ApiError(400, "invalid_input", f"input {tensor.name!r} must be {INPUT_DATATYPE}, got {tensor.datatype}")
    if len(tensor.shape) != 4:
        raise ApiError(400, "invalid_input", f"input shape must be [N, C, H, W], got {tensor.shape}")
    count = math.prod(tensor.shape)  # Python ints: a huge shape cannot overflow
    params = tensor.parameters or InputParameters()
    sources = [params.shared_memory_region is not None, params.binary_data_size is not None, tensor.data is not None]
    if sum(sources) > 1:
        raise ApiError(400, "invalid_input", f"input {tensor.name!r} must come from one of data, binary_data_size "
                                             f"and shared_memory_region")
    if params.shared_memory_region is not None:
        if count * 4 > max_bytes:
            raise ApiError(413, "payload_too_large", f"input {tensor.name!r} of shape {tensor.shape} holds "
                                                     f"{count * 4} bytes; the limit is {max_bytes}")
        return _from_region(tensor.name, tensor.shape, count * 4, params, regions, binary)
    size = params.binary_data_size
    if size is not None:
        if size != count * 4 or len(binary) != size:
            raise ApiError(400, "invalid_input", f"binary_data_size {size!r} and {len(binary)} binary bytes do not "
                                                 f"match shape {tensor.shape} of FP32")
        return np.frombuffer(binary, dtype="<f4").reshape(tensor.shape)
    if len(binary):
        raise ApiError(400, "invalid_input", "binary data follows the header but no input declares binary_data_size")
    if tensor.data is None:
        raise ApiError(400, "invalid_input", f"input {tensor.name!r} has neither data nor binary_data_size")
    try:  # every element is a finite number already (the schema): only a ragged nesting can fail
        array = np.array(tensor.data, dtype=np.float32)
    except ValueError as exc:
        raise ApiError(400, "invalid_input", f"input data must be nested lists of one shape: {exc}") from None
    if array.size != count:
        raise ApiError(400, "invalid_input", f"input holds {array.size} values, shape {tensor.shape} needs {count}")
    return array.reshape(tensor.shape)


def _from_region(name: str, shape: list[int], nbytes: int, params: InputParameters, regions: Regions,
                 binary: memoryview) -> np.ndarray:
    if isinstance(regions, NoRegions):
        raise regions.error
    if len(binary):
        raise ApiError(400, "invalid_input", "binary data follows the header but no input declares binary_data_size")
    if params.shared_memory_byte_size != nbytes:
        raise ApiError(400, "invalid_input", f"shared_memory_byte_size {params.shared_memory_byte_size!r} does not "
                                             f"match shape {shape} of FP32 ({nbytes} bytes)")
    images = np.empty(shape, dtype="<f4")
    regions.read(params.shared_memory_region, params.shared_memory_offset or 0, images, f"input {name!r}")
    return images


@dataclass(frozen=True)
class OutputPlan:
    """How the probabilities leave: JSON data, raw bytes after the JSON, or a shared-memory region."""

    binary: bool = False
    region: OutputParameters | None = None

    def check(self, regions: Regions, rows: int, classes: int) -> None:
        """Before any work is charged: the region exists and holds the (rows, classes) FP64 answer."""
        if self.region is None:
            return
        if isinstance(regions, NoRegions):
            raise regions.error
        needed = rows * classes * 8
        if self.region.shared_memory_byte_size is None or self.region.shared_memory_byte_size < needed:
            raise ApiError(400, "invalid_output", f"output {OUTPUT!r} needs {needed} bytes of shared memory "
                                                  f"(shape [{rows}, {classes}], FP64); shared_memory_byte_size is "
                                                  f"{self.region.shared_memory_byte_size!r}")
        regions.check(self.region.shared_memory_region, self.region.shared_memory_offset or 0, needed,
                      f"output {OUTPUT!r}")

    def deliver(self, regions: Regions, probs: np.ndarray) -> None:
        if self.region is not None:  # `check` has passed: `regions` are the caller's
            regions.write(self.region.shared_memory_region, self.region.shared_memory_offset or 0,
                          probs.astype("<f8", copy=False), f"output {OUTPUT!r}")


def plan_output(request: InferenceRequest) -> OutputPlan:
    if request.outputs:
        unknown = [o.name for o in request.outputs if o.name != OUTPUT]
        if unknown:
            raise ApiError(400, "invalid_output", f"unknown output {unknown[0]!r}; the model has {OUTPUT!r}")
        params = [o.parameters for o in request.outputs if o.parameters is not None]
        region = next((p for p in params if p.shared_memory_region is not None), None)
        return OutputPlan(binary=any(p.binary_data for p in params), region=region)
    return OutputPlan(binary=bool(request.parameters and request.parameters.binary_data_output))


def encode_response(request: InferenceRequest, probs: np.ndarray, model_name: str, version: str,
                    plan: OutputPlan) -> tuple[bytes, dict[str, str], str]:
    """(body, extra headers, media type) of the response."""
    output = ResponseOutput(name=OUTPUT, shape=list(probs.shape), datatype=OUTPUT_DATATYPE)
    raw = b""
    binary = plan.binary and plan.region is None
    if plan.region is not None:  # the data is in the region already, as Triton answers
        output.parameters = {"shared_memory_region": plan.region.shared_memory_region,
                             "shared_memory_byte_size": probs.size * 8}
        if plan.region.shared_memory_offset:
            output.parameters["shared_memory_offset"] = plan.region.shared_memory_offset
    elif binary:
        raw = probs.astype("<f8").tobytes()
        output.parameters = {"binary_data_size": len(raw)}
    else:
        output.data = probs.reshape(-1).tolist()
    response = InferenceResponse(model_name=model_name, model_version=version, id=request.id, outputs=[output])
    head = json.dumps(response.model_dump(exclude_none=True)).encode()
    if not binary:
        return head, {}, "application/json"
    return head + raw, {"Inference-Header-Content-Length": str(len(head))}, "application/octet-stream"
