"""Wire schemas shared by the server and its clients (pydantic + numpy only, no weights)."""

from shared.schemas.attack_report import AttackReport, Confidence, Detection, QueryCounts, RemovedCount, VersionPair
from shared.schemas.deletion import ClassTarget, DeletionRequest, DeletionStatus
from shared.schemas.deployment import DeploymentOptions, DeployRequest, Deployment
from shared.schemas.errors import ErrorBody
from shared.schemas.model import Architecture, ModelInfo, ModelMetadata, Normalization, OutputFormat
from shared.schemas.probe_methods import (AttackMethodParams, BoundaryParams, NaturalParams, NESParams,
                                          ProbeMethodParams, ProbeParams, ZooParams)
from shared.schemas.predict import Float32Batch, ImageBatch, JsonBatch, PredictRequest, PredictResponse
from shared.schemas.training import TrainingSummary
from shared.schemas.unlearning import UnlearningConfig, UnlearningOptions

__all__ = [
    "Architecture",
    "AttackMethodParams",
    "AttackReport",
    "BoundaryParams",
    "Confidence",
    "ClassTarget",
    "DeletionRequest",
    "DeletionStatus",
    "DeployRequest",
    "Detection",
    "Deployment",
    "DeploymentOptions",
    "ErrorBody",
    "Float32Batch",
    "ImageBatch",
    "JsonBatch",
    "ModelInfo",
    "ModelMetadata",
    "NESParams",
    "NaturalParams",
    "Normalization",
    "OutputFormat",
    "PredictRequest",
    "PredictResponse",
    "ProbeMethodParams",
    "ProbeParams",
    "QueryCounts",
    "RemovedCount",
    "TrainingSummary",
    "UnlearningConfig",
    "UnlearningOptions",
    "VersionPair",
    "ZooParams",
]
