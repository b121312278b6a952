"""Model metadata: the JSON half of a model version (the other half is safetensors weights).

`ModelMetadata` travels from the developer to the server with the weights. `ModelInfo` is the
public part the server shows its users: what an MLaaS API documents anyway (input shape, value
range, class names, which version answers), nothing about training.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from shared.schemas.training import TrainingSummary

VERSION_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
VersionId = Annotated[str, Field(pattern=VERSION_PATTERN, description="model version id")]


class Architecture(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Literal["small_cnn", "convnet"]
    width: int = Field(ge=1, le=1024)


class Normalization(BaseModel):
    model_config = ConfigDict(extra="forbid")

    mean: list[float] = Field(min_length=1, max_length=4)
    std: list[Annotated[float, Field(gt=0)]] = Field(min_length=1, max_length=4)

    @model_validator(mode="after")
    def _same_length(self) -> Normalization:
        if len(self.mean) != len(self.std):
            raise ValueError("normalization mean and std must have one value per channel each")
        return self


class ModelMetadata(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: VersionId
    parent: VersionId | None = None
    architecture: Architecture
    input_shape: tuple[Annotated[int, Field(ge=1, le=4)], Annotated[int, Field(ge=8, le=512)],
                       Annotated[int, Field(ge=8, le=512)]]
    # uniqueItems: the schema states the uniqueness `_consistent` checks
    classes: list[Annotated[str, Field(min_length=1, max_length=100)]] = Field(
        min_length=2, max_length=1000, json_schema_extra={"uniqueItems": True})
    normalization: Normalization
    created_at: datetime
    training: TrainingSummary = Field(default_factory=TrainingSummary,
                                      description="the public training facts (an allow-list)")

    @model_validator(mode="after")
    def _consistent(self) -> ModelMetadata:
        if len(self.normalization.mean) != self.input_shape[0]:
            raise ValueError(f"normalization has {len(self.normalization.mean)} channels, "
                             f"input_shape has {self.input_shape[0]}")
        if len(set(self.classes)) != len(self.classes):
            raise ValueError("class names must be unique")
        return self

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def public_info(self, output: OutputFormat | None = None) -> ModelInfo:
        return ModelInfo(version=self.version, input_shape=self.input_shape, classes=self.classes,
                         output=output or OutputFormat())


class OutputFormat(BaseModel):
    """How probabilities are reported: what an API's users must know to read them."""

    top_k: int | None = Field(None, description="only the k largest probabilities are non-zero")
    decimals: int | None = Field(None, description="probabilities are rounded to this many decimals")
    label_only: bool = Field(False, description="a one-hot vector of the predicted class instead of probabilities")

    @property
    def labels_only(self) -> bool:
        """Whether the answers carry nothing but the predicted label (one-hot, or a lone top-1
        probability): the one place this is decided, for the attacker and the harness alike."""
        return self.label_only or (self.top_k is not None and self.top_k < 2)


class ModelInfo(BaseModel):
    version: str
    input_shape: tuple[int, int, int] = Field(description="(channels, height, width) of one image")
    classes: list[str]
    value_range: tuple[float, float] = (0.0, 1.0)
    output: OutputFormat = Field(default_factory=OutputFormat)
