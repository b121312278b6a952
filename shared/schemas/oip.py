"""The Open Inference Protocol v2 (KServe / Triton) REST messages the server speaks.

Tensors travel as JSON `data` (flat row-major or nested lists), with Triton's binary tensor
extension as raw bytes after the JSON header (`parameters.binary_data_size`), or with Triton's
system shared-memory extension in a registered region (`parameters.shared_memory_region`,
`shared_memory_byte_size`, `shared_memory_offset`). Parameters the server does not know are
allowed and ignored, as the protocol says.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StrictBool

from shared.schemas.numbers import TensorData, json_int

ByteCount = json_int(ge=0)
REGION_NAME = r"^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$"
# a POSIX shared-memory name: one path component, optionally after the leading slash; group 1 is
# the name within the namespace (/dev/shm on Linux)
SHM_KEY = r"/?([A-Za-z0-9_][A-Za-z0-9._-]{0,254})"
RegionName = Annotated[str, Field(pattern=REGION_NAME, description="name of a registered shared-memory region")]


class TensorMetadata(BaseModel):
    name: str
    datatype: str
    shape: list[int]


class ServerMetadataResponse(BaseModel):
    name: str
    version: str
    extensions: list[str] = Field(default_factory=list)


class ModelMetadataResponse(BaseModel):
    name: str
    versions: list[str]
    platform: str
    inputs: list[TensorMetadata]
    outputs: list[TensorMetadata]


class SharedMemoryReference(BaseModel):
    """Where a tensor lies in a registered system shared-memory region (all three or none)."""

    model_config = ConfigDict(extra="allow")

    shared_memory_region: RegionName | None = None
    shared_memory_byte_size: ByteCount | None = None
    shared_memory_offset: ByteCount | None = Field(None, description="bytes into the region; default 0")


class InputParameters(SharedMemoryReference):
    binary_data_size: ByteCount | None = Field(None, description="bytes of this tensor after the JSON header")


class OutputParameters(SharedMemoryReference):
    binary_data: StrictBool | None = Field(None, description="answer this output as raw bytes after the JSON")


class RequestParameters(BaseModel):
    model_config = ConfigDict(extra="allow")

    binary_data_output: StrictBool | None = Field(None, description="every output as raw bytes after the JSON")


class RequestInput(BaseModel):
    name: str
    shape: list[json_int(ge=1)]
    datatype: str
    parameters: InputParameters | None = None
    data: TensorData | None = Field(None, description="the values, row-major: flat, or nested to the "
                                   "four dimensions of `shape`")


class RequestOutput(BaseModel):
    name: str
    parameters: OutputParameters | None = None


class InferenceRequest(BaseModel):
    id: str | None = None
    parameters: RequestParameters | None = None
    inputs: list[RequestInput] = Field(min_length=1)
    outputs: list[RequestOutput] | None = None


class ResponseOutput(BaseModel):
    name: str
    shape: list[int]
    datatype: str
    parameters: dict[str, Any] | None = None
    data: list[Any] | None = None


class InferenceResponse(BaseModel):
    model_name: str
    model_version: str | None = None
    id: str | None = None
    parameters: dict[str, Any] | None = None
    outputs: list[ResponseOutput]


class OipError(BaseModel):
    error: str


class SharedMemoryRegister(BaseModel):
    """`POST /v2/systemsharedmemory/region/{name}/register`: a region of a POSIX shared-memory object."""

    model_config = ConfigDict(extra="forbid")

    key: str = Field(pattern=f"^{SHM_KEY}$",
                     description="the object's POSIX shared-memory name, in the caller's namespace: "
                                 "/<prefix>images")
    offset: ByteCount = Field(0, description="where the region starts in the object, in bytes")
    byte_size: json_int(ge=1) = Field(description="the region's size in bytes")


class SharedMemoryNamespace(BaseModel):
    """`GET /v2/systemsharedmemory/namespace`: the object names an API key may register."""

    prefix: str = Field(description="every object the key registers has a name that begins with this, e.g. "
                                    "/<prefix>images")


class SharedMemoryRegionStatus(BaseModel):
    name: str
    key: str
    offset: int
    byte_size: int
