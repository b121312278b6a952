"""A deployment: which stored version serves, and the operator's defenses applied to it."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

from shared.schemas.model import VersionId


class DeploymentOptions(BaseModel):
    """Defenses the operator toggles; all off by default."""

    model_config = ConfigDict(extra="forbid")

    prune_rate: float = Field(0.0, ge=0.0, lt=1.0, description="fraction of Conv/Linear weights zeroed by "
                              "global L1 unstructured pruning; 0 = off")
    top_k: int | None = Field(None, ge=1, description="return only the k largest probabilities, others 0")
    round_decimals: int | None = Field(None, ge=0, le=15, description="round probabilities to this many decimals")
    label_only: bool = Field(False, description="return a one-hot vector of the predicted class")

    @model_validator(mode="after")
    def _label_only_alone(self) -> DeploymentOptions:
        if self.label_only and (self.top_k is not None or self.round_decimals is not None):
            raise ValueError("label_only already hides all probabilities; do not combine it with top_k or rounding")
        return self


class DeployRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: VersionId
    options: DeploymentOptions = Field(default_factory=DeploymentOptions)


class Deployment(DeployRequest):
    deployed_at: str
