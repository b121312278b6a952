"""A deployment: which stored version serves, and the operator's defenses applied to it."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

from shared.schemas.model import OutputFormat, VersionId


# `_label_only_alone` below, said in JSON Schema, so that the published schema refuses what the
# validator refuses (a schema-valid deployment request is one the server accepts)
LABEL_ONLY_ALONE = {
    "if": {"properties": {"label_only": {"const": True}}, "required": ["label_only"]},
    "then": {"properties": {"top_k": {"type": "null"}, "round_decimals": {"type": "null"}}},
}


class DeploymentOptions(BaseModel):
    """Defenses the operator toggles; all off by default."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=LABEL_ONLY_ALONE)

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

    def output_format(self) -> OutputFormat:
        """The part a provider discloses: the output format. Pruning stays private."""
        return OutputFormat(top_k=self.top_k, decimals=self.round_decimals, label_only=self.label_only)


class DeployRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: VersionId
    options: DeploymentOptions | None = Field(None, description="defenses; omitted: the server's configured ones")


class Deployment(BaseModel):
    version: str
    options: DeploymentOptions
    options_from_settings: bool = Field(description="the options came from the server's configuration")
    deployed_at: str
