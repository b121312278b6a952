"""Wire schemas shared by the server and its clients (pydantic + numpy only, no weights)."""

from shared.schemas.deletion import ClassTarget, DeletionRequest, DeletionStatus, UnlearningOptions
from shared.schemas.deployment import DeploymentOptions, DeployRequest, Deployment
from shared.schemas.errors import ErrorBody
from shared.schemas.model import Architecture, ModelInfo, ModelMetadata, Normalization, OutputFormat
from shared.schemas.predict import Float32Batch, ImageBatch, JsonBatch, PredictRequest, PredictResponse

__all__ = [
    "Architecture",
    "ClassTarget",
    "DeletionRequest",
    "DeletionStatus",
    "DeployRequest",
    "Deployment",
    "DeploymentOptions",
    "ErrorBody",
    "Float32Batch",
    "ImageBatch",
    "JsonBatch",
    "ModelInfo",
    "ModelMetadata",
    "Normalization",
    "OutputFormat",
    "PredictRequest",
    "PredictResponse",
    "UnlearningOptions",
]
